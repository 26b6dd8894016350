"""The public entry points: solve, evaluate, verify, solvers, generate."""
from __future__ import annotations

import inspect
import math
import numbers
import os
import typing

from edgeopt import registry
from edgeopt.document import brief, check_schema
from edgeopt.result import PROOF_RTOL, Evaluation, Result, Status, agree, relative_gap
from edgeopt.solver import MAX_SEED

#: Relative tolerance between a solver's own objective and the evaluator's (denominator max(1, |eval|)): the
#: proof tolerance, one rule for both (docs/solvers.md).
OBJECTIVE_RTOL = PROOF_RTOL


def evaluate(instance, solution) -> Evaluation:
    """The family's evaluator: objective, its parts and every violated constraint, from the decisions.

    ``solution`` is the family's solution (as :func:`solve` returns in ``result.solution``) or a dict: the
    ``decisions`` object of a solution file, checked and converted as a file's is (a bad one is a ValueError
    naming its JSON path). Anything else is a ValueError saying what the family takes."""
    family = registry.family_of(instance)
    if isinstance(solution, dict):
        check_schema(solution, family.solution_schema, "decisions")
        solution = family.solution_from_data(instance, solution, "decisions")
    else:
        expected = _solution_type(family.evaluate)
        if expected is not None and not isinstance(solution, expected):
            article = "an" if family.kind[0] in "aeiou" else "a"
            raise ValueError(f"evaluate() takes {article} {family.kind} solution (as solve() returns in "
                             f"result.solution, or the decisions object of a solution file), "
                             f"got {type(solution).__name__}")
    return family.evaluate(instance, solution)


def _solution_type(evaluate) -> type | None:
    """The class of the family's solutions, as its evaluator annotates it; None when it does not (gap's
    takes an array or a list and checks it itself)."""
    try:
        parameter = list(inspect.signature(evaluate).parameters)[1]
        hint = typing.get_type_hints(evaluate).get(parameter)
    except Exception:  # no such parameter, or an annotation that does not resolve: the evaluator checks
        return None
    return hint if isinstance(hint, type) else None


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
    if result.objective is not None and math.isfinite(result.objective) and not agree(result.objective,
                                                                                      ev.objective):
        return result.with_(status=Status.ERROR, message=f"{result.solver} reports objective {result.objective!r} "
                            f"but the evaluator computes {ev.objective!r} for its solution")
    return _evaluated(instance, result, ev.objective)


def _evaluated(instance, result: Result, objective: float) -> Result:
    """``result`` with the evaluator's objective (the truth, reported and stored as it computes it: the GAP
    optimum 1321, not HiGHS's 1320.9999999999975). A proven optimum's bound within the proof tolerance, and
    any bound on the wrong side of the objective by no more than it, is the solver's rounding: it is set to
    the objective. The gap is recomputed (0 within the
    tolerance)."""
    bound = result.bound
    sense = getattr(instance, "sense", None)
    if sense not in ("min", "max"):
        return result.with_(objective=objective)
    if bound is not None and math.isfinite(bound) and agree(bound, objective):
        beyond = bound > objective if sense == "min" else bound < objective
        bound = objective if beyond or result.status == Status.OPTIMAL else bound
    gap = result.gap if bound is None else relative_gap(objective, bound, sense)
    return result.with_(objective=objective, bound=bound, gap=gap)


def get_solver(kind: str, name: str):
    """The solver registered as ``name`` for the family ``kind``, ready to run here.

    ValueError (naming what exists) for an unknown name, a solver of another family, or a solver whose
    backend package does not import here (with the import error)."""
    cls = registry.solver_class(kind, name)
    error = registry.import_error(cls)
    if error is not None:
        raise ValueError(f"solver {name!r} is not available here: {error}")
    return cls()


def solve(instance, solver: str | None = None, *, time_limit: float | None = None, seed: int | None = None,
          **options) -> Result:
    """Solve ``instance`` with the named solver (default: its family's exact method, ``default_solver``:
    highs for deployment and gap, enumerate, offload-oa, hindsight); the result is always re-checked by
    the evaluator.

    If the family's pre-check proves the instance infeasible (e.g. a requested model fits nowhere and
    the cloud is disabled), every solver returns ``infeasible`` with that reason without running.
    A bad solver name, option, time limit or seed (an integer in [0, 2**31-1]) is a ValueError naming
    it. ``instance`` may also be the path of an instance file (read by :func:`edgeopt.load`; a file
    holding several problems is refused: solve each).
    """
    instance = _one_instance(instance)
    solver = registry.family_of(instance).default_solver if solver is None else solver
    s = get_solver(instance.kind, solver)
    if time_limit is not None and not (isinstance(time_limit, (int, float)) and time_limit > 0):
        raise ValueError(f"time_limit must be a positive number of seconds, got {time_limit!r}")
    if seed is not None and not (isinstance(seed, numbers.Integral) and not isinstance(seed, bool)
                                 and 0 <= seed <= MAX_SEED):
        raise ValueError(f"seed must be an integer between 0 and {MAX_SEED}, got {brief(seed)}")
    seed = None if seed is None else int(seed)  # a numpy integer, as every backend takes it
    s.parse_options(options)  # refuse a bad option before anything runs, the pre-check included
    reason = registry.family_of(instance).infeasibility_reason(instance)
    if reason is not None:
        return Result(status=Status.INFEASIBLE, solver=solver, message=reason, raw_status="edgeopt pre-check")
    result = s.solve(instance, time_limit=time_limit, seed=seed, **options)
    return verify(instance, result)


def _one_instance(instance):
    """An instance, from itself or from the path of a file holding exactly one; else a ValueError saying what
    was given."""
    if isinstance(instance, (str, os.PathLike)):
        from edgeopt.io import load

        loaded = load(instance)
        if isinstance(loaded, list):
            if len(loaded) != 1:
                raise ValueError(f"{os.fspath(instance)} holds {len(loaded)} problems; solve each one: "
                                 f"for inst in edgeopt.load({os.fspath(instance)!r}): edgeopt.solve(inst, ...)")
            loaded = loaded[0]
        return loaded
    if not isinstance(getattr(instance, "kind", None), str):
        raise ValueError(f"solve() takes an instance (edgeopt.load(path), edgeopt.generate(kind, ...)) or the "
                         f"path of an instance file, got {type(instance).__name__}")
    return instance


def solvers(family: str | None = None) -> list[registry.SolverEntry]:
    """Every registered (family, solver) pair, in a stable order, with availability and the import error."""
    if family is not None:
        registry.family(family)
    return [e for e in registry.entries(check=True) if family is None or e.family == family]


def generate(kind: str, **params):
    """A seeded, deterministic instance of the family ``kind`` (see each family's ``generate``)."""
    return registry.family(kind).generate(**params)
