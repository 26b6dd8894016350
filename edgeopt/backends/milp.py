"""The shared path of every exact MILP backend: formulate, hand the matrix form over, decode.

A backend implements :meth:`MILPSolver.solve_matrix`, mapping its own status codes through a local
table into :class:`~edgeopt.result.Status` and keeping its own words in ``raw_status``. Backends know
no family: the family's ``formulate`` (found through the registry) builds the model, its ``decode``
turns the backend's vector back into the family's solution.
"""
from __future__ import annotations

import time
from typing import ClassVar

import numpy as np

from edgeopt import registry
from edgeopt.modeling import MatrixForm, Model, Outcome
from edgeopt.result import Result, Status, relative_gap
from edgeopt.solver import Solver, seconds_left

#: Widest ratio between the largest and the smallest nonzero coefficient of one row at which a backend
#: that computes in floating point is trusted to prove anything. Beyond it presolve treats the small
#: coefficients as noise: for a gap capacity row of 1e12 beside resources of 1 and 1.77, HiGHS and SCIP
#: both returned as "optimal" a plan 25% worse than the optimum. The bundled instances stay below 1e3.
MAX_ROW_RANGE = 1e9


def _row_name(model: Model, i: int) -> str:
    for block in model.row_blocks.values():
        hit = np.flatnonzero(block.ids.ravel() == i)
        if hit.size:
            return f"{block.name}[{','.join(map(str, np.unravel_index(int(hit[0]), block.ids.shape)))}]"
    return f"row {i}"


def too_wide(mf: MatrixForm, model: Model) -> str | None:
    """Why the backends' proofs cannot be trusted on this model (its widest row), or None."""
    A = mf.A.tocsr(copy=True)
    A.eliminate_zeros()
    a = np.abs(A.data)
    starts = A.indptr[:-1][np.diff(A.indptr) > 0]
    if not starts.size:
        return None
    # In decades, so that a subnormal coefficient (5e-324 beside 1) cannot overflow the ratio.
    decades = np.log10(np.maximum.reduceat(a, starts)) - np.log10(np.minimum.reduceat(a, starts))
    k = int(np.argmax(decades))
    if not decades[k] > np.log10(MAX_ROW_RANGE):
        return None
    row = int(np.flatnonzero(np.diff(A.indptr) > 0)[k])
    part = a[A.indptr[row]:A.indptr[row + 1]]
    return (f"row {_row_name(model, row)} has coefficients from {part.min():.3g} to {part.max():.3g}, a ratio of "
            f"1e{decades[k]:.1f}, more than {MAX_ROW_RANGE:g}: a floating-point MILP solver's proof is not "
            "trusted there (its presolve takes the small coefficients for noise)")


class MILPSolver(Solver):
    """Base of the exact backends: subclasses set the class attributes and implement ``solve_matrix``."""

    exact = True
    gives_bound = True
    #: Whether the backend computes in floating point with tolerances (its proofs are then not trusted on a
    #: row of too wide a range, :data:`MAX_ROW_RANGE`); CP-SAT computes in exact integers.
    floating_point: ClassVar[bool] = True

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
        status, message = out.status, out.message
        if status == Status.OPTIMAL and bound is None:
            bound = objective
        why = too_wide(mf, form.model) if self.floating_point and status != Status.ERROR else None
        if why is not None:
            # A plan is still a plan (the evaluator checks it); what the backend proved is dropped.
            bound = None
            if status == Status.OPTIMAL:
                status, message = Status.FEASIBLE, f"{self.name} reports optimal, not trusted: {why}"
            elif status in (Status.INFEASIBLE, Status.UNBOUNDED):
                status, message = Status.ERROR, f"{self.name} reports {status.value}, not trusted: {why}"
            elif message == "":
                message = f"bound dropped: {why}"
        return Result(
            status=status, solver=self.name, objective=objective, bound=bound,
            gap=relative_gap(objective, bound, instance.sense), solution=solution, build_seconds=build,
            solve_seconds=solve_seconds, message=message, raw_status=out.raw_status,
        )
