"""Test-only solvers for the compare tests; importing this module registers them.

compare(..., setup=["sleepy_solver"]) imports it in every worker process, so the workers know them too.
"sleepy" ignores its time limit (a hung backend); "crashy" kills its own process (a crashed backend).
"""
from __future__ import annotations

import os
import time

from edgeopt.result import Result, Status
from edgeopt.solvers import REGISTRY, register

SLEEP_SECONDS = 60.0


class _TestSolver:
    families = ("deployment",)
    exact = False
    gives_bound = False

    def available(self) -> bool:
        return True


class Sleepy(_TestSolver):
    name = "sleepy"
    description = "test only: sleeps far past any time limit"

    def solve(self, instance, *, time_limit=None, seed=None, **options) -> Result:
        time.sleep(SLEEP_SECONDS)
        return Result(status=Status.TIME_LIMIT, solver=self.name, message="slept")


class Crashy(_TestSolver):
    name = "crashy"
    description = "test only: its process dies while solving"

    def solve(self, instance, *, time_limit=None, seed=None, **options) -> Result:
        os._exit(3)


for _solver in (Sleepy(), Crashy()):
    if _solver.name not in REGISTRY:
        register(_solver)
