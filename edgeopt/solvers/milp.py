"""The shared path of every exact MILP backend: formulate, hand the matrix form over, decode.

A backend implements :meth:`MILPSolver.solve_matrix`, mapping its own status codes through a local
table into :class:`~edgeopt.result.Status` and keeping its own words in ``raw_status``.
"""
from __future__ import annotations

import abc
import time
from dataclasses import dataclass

import numpy as np

from edgeopt.modeling import MatrixForm, Model
from edgeopt.result import Result, Status, relative_gap


@dataclass
class Outcome:
    """What a backend returns for a matrix-form model."""

    status: Status
    raw_status: str
    x: np.ndarray | None = None
    objective: float | None = None
    bound: float | None = None
    message: str = ""


class MILPSolver(abc.ABC):
    """Base of the exact backends: subclasses set the properties and implement ``solve_matrix``."""

    name = ""
    families: tuple[str, ...] = ("deployment", "gap")
    exact = True
    gives_bound = True
    description = ""
    module = ""  # the import that must succeed for the backend to be available

    def available(self) -> bool:
        try:
            __import__(self.module)
        except Exception:  # an import can fail with ImportError or a broken shared library
            return False
        return True

    @abc.abstractmethod
    def solve_matrix(self, mf: MatrixForm, model: Model, *, time_limit: float | None, seed: int | None,
                     **options) -> Outcome:
        """Solve the matrix-form model; ``model`` gives names and blocks where a backend wants them."""

    def solve(self, instance, *, time_limit: float | None = None, seed: int | None = None, **options) -> Result:
        from edgeopt.models import family_of

        family = family_of(instance)
        t0 = time.perf_counter()
        form = family.formulate(instance)
        mf = form.model.matrix()
        build = time.perf_counter() - t0
        t1 = time.perf_counter()
        out = self.solve_matrix(mf, form.model, time_limit=time_limit, seed=seed, **options)
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
