"""Test-only solvers for the compare tests; importing this module registers them.

compare(..., setup=["sleepy_solver"]) imports it in every worker process, so the workers know them too.
"sleepy" ignores its time limit (a hung backend); "crashy" kills its own process (a crashed backend).
"""
from __future__ import annotations

import os
import time

from edgeopt.registry import SOLVERS, register_solver
from edgeopt.result import Result, Status
from edgeopt.solver import Solver

SLEEP_SECONDS = 60.0


class Sleepy(Solver):
    """Test only: sleeps far past any time limit."""

    name, family = "sleepy", "deployment"

    def run(self, instance, options, *, time_limit, seed, started) -> Result:
        time.sleep(SLEEP_SECONDS)
        return Result(status=Status.TIME_LIMIT, solver=self.name, message="slept")


class Crashy(Solver):
    """Test only: its process dies while solving."""

    name, family = "crashy", "deployment"

    def run(self, instance, options, *, time_limit, seed, started) -> Result:
        os._exit(3)


for _solver in (Sleepy, Crashy):
    if (_solver.family, _solver.name) not in SOLVERS:
        register_solver(_solver)
