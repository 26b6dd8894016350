"""The shared path of every exact MILP backend: formulate, hand the matrix form over, decode.

A backend implements :meth:`MILPSolver.solve_matrix`, mapping its own status codes through a local
table into :class:`~edgeopt.result.Status` and keeping its own words in ``raw_status``. Backends know
no family: the family's ``formulate`` (found through the registry) builds the model, its ``decode``
turns the backend's vector back into the family's solution.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, TypeVar

import numpy as np

from edgeopt import registry
from edgeopt.modeling import MatrixForm, Model
from edgeopt.result import Result, Status, relative_gap
from edgeopt.solver import Solver, seconds_left

T = TypeVar("T")


@dataclass
class Outcome:
    """What a backend returns for a matrix-form model."""

    status: Status
    raw_status: str
    x: np.ndarray | None = None
    objective: float | None = None
    bound: float | None = None
    message: str = ""


class MILPSolver(Solver):
    """Base of the exact backends: subclasses set the class attributes and implement ``solve_matrix``."""

    exact = True
    gives_bound = True

    def solve_matrix(self, mf: MatrixForm, model: Model, options, *, time_limit: float | None,
                     seed: int | None) -> Outcome:
        """Solve the matrix-form model; ``model`` gives names and blocks where a backend wants them."""
        raise NotImplementedError

    def run(self, instance, options, *, time_limit, seed, started) -> Result:
        form = registry.family_of(instance).formulate(instance)
        mf = form.model.matrix()
        build = time.perf_counter() - started
        t1 = time.perf_counter()
        # The time limit bounds the whole call: what building took is taken off the backend's share.
        out = self.solve_matrix(mf, form.model, options, time_limit=seconds_left(started, time_limit), seed=seed)
        solve_seconds = time.perf_counter() - t1
        solution = form.decode(out.x) if out.x is not None else None
        objective = out.objective if solution is not None else None
        bound = out.bound
        if out.status == Status.OPTIMAL and bound is None:
            bound = objective
        return Result(
            status=out.status, solver=self.name, objective=objective, bound=bound,
            gap=relative_gap(objective, bound, instance.sense), solution=solution, build_seconds=build,
            solve_seconds=solve_seconds, message=out.message, raw_status=out.raw_status,
        )


def settle_infeasible_or_unbounded(is_ambiguous: bool, rerun: Callable[[float | None], T], started: float,
                                   time_limit: float | None) -> T | None:
    """HiGHS's MIP presolve cannot tell an infeasible model from an unbounded one; its search without
    presolve can (it then reports unbounded only with a feasible point, or infeasible). When the first
    run was ambiguous and time is left, ``rerun(seconds left)`` runs again without presolve."""
    if not is_ambiguous:
        return None
    left = seconds_left(started, time_limit, floor=0.0)
    if left is not None and left <= 0:
        return None
    return rerun(left)
