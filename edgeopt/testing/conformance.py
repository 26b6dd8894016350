"""What every family and every solver promises, checked on given instances (see the package docstring)."""
from __future__ import annotations

import inspect
import json
import math
import time
from typing import Mapping, Sequence

import numpy as np

from edgeopt import registry
from edgeopt.api import get_solver, solve
from edgeopt.document import InstanceError, canonical_json, check_schema
from edgeopt.io import instance_from_data, loads
from edgeopt.result import Status, agree, relative_gap

#: Relative tolerance when comparing objectives with a reference value or with each other.
RTOL = 1e-6
#: A solve with time limit T must return within T x TIME_FACTOR + TIME_SLACK seconds, model building included.
TIME_FACTOR, TIME_SLACK = 1.1, 2.0
#: The option name no solver has, to check that unknown options are refused.
BOGUS_OPTION = "no_such_option_for_conformance"


class ConformanceError(AssertionError):
    """Broken promises of a family or a solver, one per line."""

    def __init__(self, subject: str, problems: Sequence[str]):
        self.problems = list(problems)
        super().__init__(f"{subject} breaks {len(self.problems)} promise(s):\n" +
                         "\n".join(f"  - {p}" for p in self.problems))


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= RTOL * max(1.0, abs(a), abs(b))


def _decisions(instance, solution) -> str:
    return canonical_json(registry.family_of(instance).solution_to_data(instance, solution))


# -- families ---------------------------------------------------------------------------------------
def check_family(kind: str, instances: Sequence, *, solver: str | None = None) -> None:
    """Check the family ``kind`` on ``instances`` (small ones: each is solved once).

    Its schema is a valid JSON Schema that accepts each instance's document; rebuilding an instance
    from its document gives the same content hash; the generator is seeded and deterministic and its
    command-line options are parameters of ``generate``; ``describe`` and the pre-check answer; a
    solution (from ``solver``, default the family's first solver that gives one) goes to its file form,
    passes the solution schema and comes back with the same evaluation; and, for a MILP family, the
    formulation's ``encode`` of a feasible plan satisfies every row and bound, has the evaluator's
    objective, and ``decode`` gives the plan back.
    """
    import jsonschema

    family = registry.family(kind)
    problems: list[str] = []
    try:
        jsonschema.Draft202012Validator.check_schema(family.schema)
        jsonschema.Draft202012Validator.check_schema(family.solution_schema)
    except jsonschema.SchemaError as exc:
        problems.append(f"a schema is not a valid JSON Schema: {exc.message}")
    problems += _generator_problems(family)
    solved = 0
    for inst in instances:
        where = f"instance {inst.name!r}"
        if inst.kind != kind or inst.sense not in ("min", "max") or family.sense not in (None, inst.sense):
            problems.append(f"{where}: kind {inst.kind!r} or sense {inst.sense!r} does not fit the family")
        try:
            check_schema(inst.data, family.schema, where)
            if instance_from_data(inst.data, where).hash != inst.hash:
                problems.append(f"{where}: rebuilt from its document, it has another content hash")
        except InstanceError as exc:
            problems.append(f"{where}: its own document is refused: {exc}")
        text = family.describe(inst)
        if not isinstance(text, str) or not text.strip():
            problems.append(f"{where}: describe() gives no text")
        reason = family.infeasibility_reason(inst)
        if reason is not None and not (isinstance(reason, str) and reason):
            problems.append(f"{where}: infeasibility_reason() must give None or a sentence, got {reason!r}")
        sol = _a_solution(kind, inst, solver)
        if sol is not None:
            solved += 1
            problems += _solution_problems(family, inst, sol)
    if instances and not solved:
        problems.append("no instance given had a solution to check the solution file and formulation with")
    if problems:
        raise ConformanceError(f"family {kind!r}", problems)


def _generator_problems(family) -> list[str]:
    problems = []
    params = inspect.signature(family.generate).parameters
    for opt in family.generator_options:
        if opt.name not in params:
            problems.append(f"generator option {opt.name!r} is not a parameter of generate()")
    for needed in ("seed", "name"):
        if needed not in params:
            problems.append(f"generate() takes no {needed!r}")
    a, b = family.generate(seed=11), family.generate(seed=11)
    if a.hash != b.hash:
        problems.append("generate(seed=11) twice gave two different instances")
    if loads(json.dumps(a.data)).hash != a.hash:
        problems.append("a generated instance does not survive writing and reading its document")
    return problems


def _a_solution(kind: str, inst, solver: str | None):
    names = [solver] if solver else registry.names(kind)
    for name in names:
        try:
            result = solve(inst, name, seed=0, time_limit=30)
        except ValueError:
            continue
        if result.solution is not None and result.status in (Status.OPTIMAL, Status.FEASIBLE, Status.TIME_LIMIT):
            return result.solution
    return None


def _solution_problems(family, inst, sol) -> list[str]:
    where = f"instance {inst.name!r}"
    problems = []
    ev = family.evaluate(inst, sol)
    data = family.solution_to_data(inst, sol)
    try:
        check_schema({"decisions": data}, {"type": "object", "properties": {"decisions": family.solution_schema}},
                     where)
        back = family.solution_from_data(inst, json.loads(json.dumps(data)), where)
    except InstanceError as exc:
        return [f"{where}: its own solution file is refused: {exc}"]
    ev_back = family.evaluate(inst, back)
    if ev_back.feasible != ev.feasible or not _close(ev_back.objective, ev.objective):
        problems.append(f"{where}: a solution read back from its file evaluates to {ev_back.objective!r} "
                        f"(feasible {ev_back.feasible}), not {ev.objective!r} (feasible {ev.feasible})")
    if family.has_formulation and ev.feasible:
        problems += _formulation_problems(family, inst, sol, ev.objective)
    return problems


def _formulation_problems(family, inst, sol, objective: float) -> list[str]:
    where = f"instance {inst.name!r}"
    form = family.formulate(inst)
    mf = form.model.matrix()
    x = np.asarray(form.encode(sol), dtype=float)
    problems = []
    tol = 1e-6 * np.maximum(1.0, np.abs(np.concatenate([mf.row_lo, mf.row_hi])))
    ax = mf.A @ x
    lo_tol, hi_tol = tol[:mf.num_rows], tol[mf.num_rows:]
    bad_rows = np.flatnonzero((ax < mf.row_lo - lo_tol) | (ax > mf.row_hi + hi_tol))
    bad_cols = np.flatnonzero((x < mf.col_lo - 1e-9) | (x > mf.col_hi + 1e-9))
    if bad_rows.size or bad_cols.size:
        rows = form.model.row_names()
        problems.append(f"{where}: the encoded feasible plan violates {bad_rows.size} row(s) and {bad_cols.size} "
                        f"bound(s) of the formulation (first: {rows[bad_rows[0]] if bad_rows.size else 'a bound'})")
    value = float(mf.c @ x + mf.offset)
    if not _close(value, objective):
        problems.append(f"{where}: the formulation's objective at the encoded plan is {value!r}, the evaluator's "
                        f"{objective!r}")
    if _decisions(inst, form.decode(x)) != _decisions(inst, sol):
        problems.append(f"{where}: decode(encode(plan)) is not the plan")
    return problems


# -- solvers ----------------------------------------------------------------------------------------
def check_solver(kind: str, name: str, instances: Sequence, references: Mapping | None = None, *,
                 long_case: tuple | None = None, seed: int = 3) -> None:
    """Check the solver (``kind``, ``name``) on ``instances``.

    It refuses an unknown option with a ValueError naming it; on every instance its answer is verified
    by the evaluator (no ``error``), never better than a proven optimum of ``references`` (by instance
    name; ``.optimum``, ``.infeasible`` as in a .solu file), ``infeasible`` or no plan where the
    reference says infeasible, ``optimal`` only at the proven optimum, a bound (only from a solver registered
    with ``gives_bound``) never beyond the proven optimum, and the same seed gives the same decisions; with ``long_case`` = (instance, seconds), a solve with that time limit returns
    within seconds x 1.1 + 2, model building included.
    """
    references = references or {}
    cls = registry.solver_class(kind, name)
    problems: list[str] = []
    if not cls.description():
        problems.append("has no description (its docstring's first paragraph)")
    if instances:
        try:
            solve(instances[0], name, **{BOGUS_OPTION: 1})
            problems.append(f"accepted an unknown option {BOGUS_OPTION!r}")
        except ValueError as exc:
            if BOGUS_OPTION not in str(exc):
                problems.append(f"refused an unknown option without naming it: {exc}")
    for inst in instances:
        problems += _run_problems(cls, inst, references.get(inst.name), seed)
    if long_case is not None:
        inst, limit = long_case
        started = time.perf_counter()
        result = solve(inst, name, time_limit=limit, seed=seed)
        wall = time.perf_counter() - started
        if wall > limit * TIME_FACTOR + TIME_SLACK:
            problems.append(f"took {wall:.2f} s with time_limit={limit:g} on {inst.name!r} (allowed "
                            f"{limit * TIME_FACTOR + TIME_SLACK:.2f} s)")
        if result.status == Status.ERROR:
            problems.append(f"ended in error under a time limit on {inst.name!r}: {result.message}")
    get_solver(kind, name)
    if problems:
        raise ConformanceError(f"solver {name!r} of family {kind!r}", problems)


def _run_problems(cls, inst, ref, seed: int) -> list[str]:
    where = f"on {inst.name!r}"
    first = solve(inst, cls.name, seed=seed)
    problems = []
    if first.status == Status.ERROR and not (first.solution is None and not cls.exact and ref is not None
                                             and ref.infeasible):
        return [f"{where}: ended in error: {first.message}"]
    if first.solution is not None and (first.evaluation is None or not first.evaluation.feasible):
        problems.append(f"{where}: returned a plan the evaluator finds infeasible")
    if ref is not None and ref.infeasible:
        if first.solution is not None or (cls.exact and first.status != Status.INFEASIBLE):
            problems.append(f"{where}: the instance is proven infeasible, but the solver says {first.status.value}")
        return problems
    optimum = None if ref is None else ref.optimum
    if optimum is not None and first.objective is not None:
        gap = relative_gap(first.objective, optimum, inst.sense)
        if gap is not None and gap < -RTOL:
            problems.append(f"{where}: objective {first.objective!r} is better than the proven optimum {optimum!r}")
        if first.status == Status.OPTIMAL and not _close(first.objective, optimum):
            problems.append(f"{where}: claims optimal at {first.objective!r}, the proven optimum is {optimum!r}")
    if optimum is not None and first.bound is not None:
        beyond = relative_gap(optimum, first.bound, inst.sense)  # negative: the bound cuts the optimum off
        if beyond is not None and beyond < -RTOL:
            problems.append(f"{where}: bound {first.bound!r} is beyond the proven optimum {optimum!r}")
    if first.bound is not None and not cls.gives_bound:
        problems.append(f"{where}: reports a bound but is not registered as giving one (gives_bound)")
    proven_by_bound = (cls.gives_bound and first.bound is not None and first.objective is not None
                       and agree(first.objective, first.bound))
    if first.status == Status.OPTIMAL and not cls.exact and not proven_by_bound:
        # a heuristic that reports a proven bound meeting its plan (lns: HiGHS's bound) has proved optimality
        problems.append(f"{where}: a heuristic claims a proof of optimality without a bound that meets its plan")
    if first.status == Status.INFEASIBLE and first.raw_status != "edgeopt pre-check" and not cls.exact:
        problems.append(f"{where}: a heuristic claims the instance infeasible")
    again = solve(inst, cls.name, seed=seed)
    same = (again.status == first.status and (again.objective == first.objective or (
        again.objective is not None and first.objective is not None and math.isnan(first.objective)
        and math.isnan(again.objective))))
    if same and first.solution is not None:
        same = again.solution is not None and _decisions(inst, again.solution) == _decisions(inst, first.solution)
    if not same:
        problems.append(f"{where}: the same seed gave two answers ({first.status.value} {first.objective!r}, then "
                        f"{again.status.value} {again.objective!r})")
    return problems
