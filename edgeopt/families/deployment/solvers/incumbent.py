"""What the deployment family's decomposition solvers (``lagrange``, ``groups``) share: their clock, the best plan
found so far, as the evaluator prices it, and the last step of their results, a proven bound beside the plan."""
from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from edgeopt.families.deployment.evaluate import evaluate
from edgeopt.result import Result, Status, agree, relative_gap
from edgeopt.solver import deadline


def clock(started: float, time_limit: float | None, floor: float) -> tuple[float | None, Callable, Callable]:
    """The deadline of a run that started at ``started`` (None: no limit), a function giving the seconds left
    (None: no limit), and one telling whether fewer than ``floor`` seconds are left (no further solve then)."""
    until = deadline(started, time_limit)

    def left() -> float | None:
        return None if until is None else until - time.perf_counter()

    def out_of_time() -> bool:
        return until is not None and left() < floor

    return until, left, out_of_time


def _tol(c: float) -> float:
    return 1e-9 * max(1.0, abs(c))


class Incumbent:
    """The cheapest feasible plan offered so far (``plan``, its ``cost`` and where it came from, ``origin``)."""

    def __init__(self, inst):
        self.inst = inst
        self.plan, self.cost, self.origin = None, np.inf, "none"

    def offer(self, sol, where: str) -> bool:
        """Price ``sol`` (None: nothing) with the evaluator; keep it if feasible and cheaper. True if kept."""
        if sol is None:
            return False
        ev = evaluate(self.inst, sol)
        if ev.feasible and (self.plan is None or ev.objective < self.cost - _tol(self.cost)):
            self.plan, self.cost, self.origin = sol, ev.objective, where
            return True
        return False

    def meets(self, bound: float) -> bool:
        """Whether the proven lower bound ``bound`` meets the plan's cost (within the proof tolerance, or above)."""
        return self.plan is not None and bool(np.isfinite(bound)) and (agree(self.cost, bound) or bound >= self.cost)


def with_bound(result: Result, bound: float | None, sense: str, trusted: bool, what: str) -> Result:
    """``result`` (a plan priced by the evaluator) with the proven ``bound`` and the gap; ``optimal`` when they
    agree. Nothing is added when the matrix has a row of too wide a range (``trusted`` False) or no bound."""
    if not trusted or bound is None or result.status != Status.FEASIBLE:
        return result
    if result.objective < bound <= result.objective + _tol(result.objective):
        bound = result.objective  # HiGHS's bounds are known to its tolerance, not beyond
    result = result.with_(bound=bound, gap=relative_gap(result.objective, bound, sense))
    if agree(result.objective, bound):
        result = result.with_(status=Status.OPTIMAL, message=f"proven optimal: {what} meets the plan")
    return result
