"""The shared path of every exact MILP backend: formulate, hand the matrix form over, decode.

A backend implements :meth:`MILPSolver.solve_matrix`, mapping its own status codes through a local
table into :class:`~edgeopt.result.Status` and keeping its own words in ``raw_status``. Backends know
no family: the family's ``formulate`` (found through the registry) builds the model, its ``decode``
turns the backend's vector back into the family's solution.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from edgeopt import registry
from edgeopt.modeling import MatrixForm, Model, Outcome, too_wide
from edgeopt.result import Result, Status, relative_gap
from edgeopt.solver import Options, Solver, option, seconds_left


@dataclass(frozen=True)
class MILPOptions(Options):
    """Options every MILP backend takes (each backend's own Options extend these)."""

    #: A plan to start from: the name of a solver of the instance's family (run first, inside the time
    #: limit, with the same seed), a :class:`~edgeopt.result.Result` holding a plan, or the family's solution
    #: itself (what ``edgeopt.load_solution`` returns). The backend receives it as its first incumbent
    #: (HiGHS ``setSolution``, CP-SAT a complete hint, SCIP a solution hint, Pyomo the variables' values).
    warm_start: Any = option(None)
    #: Keyword arguments for the family's ``formulate`` (deployment: ``{"cuts": ("compute",)}``).
    formulation: dict = option(factory=dict)

    def check(self) -> None:
        if isinstance(self.warm_start, str) and not self.warm_start:
            raise ValueError("option warm_start: must be a solver name, a Result or a solution, got ''")


def formulate(instance, formulation: dict):
    """The family's formulation of ``instance``, with the ``formulation`` option's keyword arguments."""
    family = registry.family_of(instance)
    if not formulation:
        return family.formulate(instance)
    try:
        return family.formulate(instance, **formulation)
    except TypeError as exc:
        raise ValueError(f"option formulation: the {family.kind} formulation does not take "
                         f"{', '.join(map(repr, formulation))} ({exc})") from None


class WarmStart:
    """What a warm start came to: the plan's vector (or None) and one line for the result's ``extra``."""

    def __init__(self, x: np.ndarray | None, note: str):
        self.x, self.note = x, note

class MILPSolver(Solver):
    """Base of the exact backends: subclasses set the class attributes and implement ``solve_matrix``."""

    exact = True
    gives_bound = True
    #: Whether the backend computes in floating point with tolerances (its proofs are then not trusted on a
    #: row of too wide a range, :data:`edgeopt.modeling.MAX_ROW_RANGE`); CP-SAT computes in exact integers.
    floating_point: ClassVar[bool] = True

    def solve_matrix(self, mf: MatrixForm, model: Model, options, *, time_limit: float | None,
                     seed: int | None, start: np.ndarray | None = None) -> Outcome:
        """Solve the matrix-form model; ``model`` gives names and blocks where a backend wants them; ``start``
        is a feasible solution vector to begin from (a warm start), or None."""
        raise NotImplementedError

    def warm_start(self, instance, form, plan, *, time_limit, seed, started) -> WarmStart:
        """The starting vector of ``plan`` (a solver name, a Result or a solution), priced by the evaluator.
        A plan that the evaluator finds infeasible, or a solver that finds none, gives no start (the note
        says why); the solve goes on without one."""
        family = registry.family_of(instance)
        where = "plan given"
        if isinstance(plan, str):
            cls = registry.solver_class(instance.kind, plan)
            if cls is type(self):
                raise ValueError(f"option warm_start: {plan!r} is this solver itself; name a heuristic of "
                                 f"{instance.kind!r} ({', '.join(registry.names(instance.kind))})")
            error = registry.import_error(cls)
            if error is not None:
                raise ValueError(f"option warm_start: solver {plan!r} is not available here: {error}")
            result = cls().solve(instance, time_limit=seconds_left(started, time_limit), seed=seed)
            if result.solution is None:
                return WarmStart(None, f"{plan} found no plan ({result.status.value}: {result.message}); no start")
            plan, where = result.solution, f"{plan}'s plan"
        elif isinstance(plan, Result):
            if plan.solution is None:
                return WarmStart(None, f"the Result given ({plan.solver}, {plan.status.value}) holds no plan; no start")
            plan, where = plan.solution, f"{plan.solver}'s plan"
        try:
            evaluation = family.evaluate(instance, plan)
            x = np.asarray(form.encode(plan), dtype=float)
        except (AttributeError, IndexError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"option warm_start: not a {instance.kind} solution of this instance: {exc}") from None
        if not evaluation.feasible:
            return WarmStart(None, f"{where} violates {evaluation.violations[0]}; no start")
        return WarmStart(x, f"{where}, cost {evaluation.objective:.10g}")

    def run(self, instance, options, *, time_limit, seed, started) -> Result:
        form = formulate(instance, options.formulation)
        start = None
        if options.warm_start is not None:
            start = self.warm_start(instance, form, options.warm_start, time_limit=time_limit, seed=seed,
                                    started=started)
        mf = form.model.matrix()
        build = time.perf_counter() - started
        t1 = time.perf_counter()
        # The time limit bounds the whole call: what building (and the warm start) took is taken off the
        # backend's share.
        out = self.solve_matrix(mf, form.model, options, time_limit=seconds_left(started, time_limit), seed=seed,
                                start=None if start is None else start.x)
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
            extra={} if start is None else {"warm_start": start.note},
        )
