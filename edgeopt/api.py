"""The public entry points: solve, evaluate, solvers."""
from __future__ import annotations

import math

from edgeopt.models import family_of
from edgeopt.result import Evaluation, Result, Status

#: Relative tolerance between a solver's own objective and the evaluator's (denominator max(1, |eval|)).
OBJECTIVE_RTOL = 1e-6


def evaluate(instance, solution) -> Evaluation:
    """The family's evaluator: objective, its parts and every violated constraint, from the decisions."""
    return family_of(instance).evaluate(instance, solution)


def verify(instance, result: Result) -> Result:
    """Re-evaluate ``result.solution``; a violated constraint or an objective mismatch turns it into ERROR."""
    if result.solution is None:
        return result
    ev = evaluate(instance, result.solution)
    result = result.with_(evaluation=ev)
    if ev.violations:
        first = "; ".join(str(v) for v in ev.violations[:3])
        more = f" (and {len(ev.violations) - 3} more)" if len(ev.violations) > 3 else ""
        return result.with_(status=Status.ERROR, message=f"solution from {result.solver} violates "
                            f"{len(ev.violations)} constraint(s): {first}{more}")
    if result.objective is None or not math.isfinite(result.objective):
        return result.with_(objective=ev.objective)
    if abs(result.objective - ev.objective) > OBJECTIVE_RTOL * max(1.0, abs(ev.objective)):
        return result.with_(status=Status.ERROR, message=f"{result.solver} reports objective {result.objective!r} "
                            f"but the evaluator computes {ev.objective!r} for its solution")
    return result


def solve(instance, solver: str = "highs", *, time_limit: float | None = None, seed: int | None = None,
          **options) -> Result:
    """Solve ``instance`` with the named solver; the result is always re-checked by the evaluator.

    If the family's pre-check proves the instance infeasible (e.g. a requested model fits nowhere and
    the cloud is disabled), every solver returns ``infeasible`` with that reason without running.
    """
    from edgeopt.solvers import get

    s = get(solver)
    family = family_of(instance)
    if family.KIND not in s.families:
        raise ValueError(f"solver {solver!r} does not solve {family.KIND!r} instances (it solves: "
                         f"{', '.join(s.families)})")
    if not s.available():
        raise ValueError(f"solver {solver!r} is not available: its backend ({getattr(s, 'module', '?')}) "
                         "does not import here")
    if time_limit is not None and not (time_limit > 0):
        raise ValueError(f"time_limit must be a positive number of seconds, got {time_limit!r}")
    reason = family.infeasibility_reason(instance)
    if reason is not None:
        return Result(status=Status.INFEASIBLE, solver=solver, message=reason, raw_status="edgeopt pre-check")
    result = s.solve(instance, time_limit=time_limit, seed=seed, **options)
    return verify(instance, result)


def solvers():
    """Every registered solver with name, families, exact, gives_bound, available, description."""
    from edgeopt.solvers import listing

    return listing()
