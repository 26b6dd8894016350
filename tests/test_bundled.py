"""The bundled instances against instances/reference.solu, with every exact backend and heuristic."""
from __future__ import annotations

import math
import sys
from types import SimpleNamespace

import pytest

import edgeopt
from edgeopt.comparison.reference import read_solu
from edgeopt.result import agree

from conftest import INSTANCES, ROOT
from oracles import assignment_optimum, deployment_cost, deployment_violations, solu_values

FILES = sorted((INSTANCES / "deployment").glob("*.json"))
ASSIGNMENT_FILES = sorted((INSTANCES / "assignment").glob("*.json"))
OFFLOADING_FILES = sorted((INSTANCES / "offloading").glob("*.json"))
SERVING_FILES = sorted((INSTANCES / "serving").glob("*.json"))
REFERENCE = read_solu(INSTANCES / "reference.solu")
#: The same file parsed by tests/oracles.py (name -> =opt= value, nan for =inf=), not by edgeopt.
SOLU = solu_values(INSTANCES / "reference.solu")
EXACT = [s.name for s in edgeopt.solvers() if s.exact and s.family == "deployment"]
HEURISTICS = [s.name for s in edgeopt.solvers() if not s.exact and s.family == "deployment"]
#: Instances every exact backend must prove (HiGHS needs seconds at most; the largest take the others ~20 s).
AGREEMENT_MAX_VARIABLES = 13_000


def _load(path):
    return edgeopt.load(path)


def test_every_bundled_instance_has_a_reference():
    assert len(FILES) >= 12 and len(ASSIGNMENT_FILES) >= 10
    names = {_load(f).name for f in FILES + ASSIGNMENT_FILES}
    assert names <= set(REFERENCE), names - set(REFERENCE)
    assert max(_load(f).num_variables for f in FILES) >= 100_000


def test_bundled_files_are_what_make_py_generates():
    """The bundled files can be rebuilt from their generator parameters, bit for bit (same content hash)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_instances", INSTANCES / "make.py")
    make = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make)
    built = {**make.build_all(), **make.build_assignment(), **make.build_offloading(), **make.build_serving()}
    assert len(OFFLOADING_FILES) >= 10 and len(SERVING_FILES) >= 10
    assert {f.stem for f in FILES + ASSIGNMENT_FILES + OFFLOADING_FILES + SERVING_FILES} == set(built)
    for f in FILES + ASSIGNMENT_FILES + OFFLOADING_FILES + SERVING_FILES:
        assert _load(f).hash == built[f.stem].hash, f.stem


def test_references_are_consistent():
    deployment = {_load(f).name for f in FILES}  # minimisation: a bound lies below the best value
    for ref in REFERENCE.values():
        if ref.name in deployment and ref.best is not None:
            assert ref.bound is not None and ref.bound <= ref.best + 1e-9 * max(1.0, abs(ref.best))


SMALL = [f for f in FILES if _load(f).num_variables <= AGREEMENT_MAX_VARIABLES]


@pytest.mark.parametrize("solver", EXACT)
@pytest.mark.parametrize("path", SMALL, ids=lambda p: p.stem)
def test_exact_backends_reproduce_reference(path, solver):
    inst = _load(path)
    ref = REFERENCE[inst.name]
    # A limit only against a hang: each proof takes 0.1-25 s here (small-1 and medium-3 the longest), and the
    # status compared must not depend on the machine's speed.
    result = edgeopt.solve(inst, solver, time_limit=600)
    if ref.infeasible:
        assert result.status == edgeopt.Status.INFEASIBLE
        return
    assert result.status == edgeopt.Status.OPTIMAL, (result.status, result.message)
    assert ref.optimum is not None
    assert result.objective == pytest.approx(ref.optimum, rel=1e-6)
    assert result.evaluation.feasible


@pytest.mark.parametrize("solver", HEURISTICS)
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_heuristics_feasible_and_never_beat_a_proof(path, solver):
    inst = _load(path)
    ref = REFERENCE[inst.name]
    # Feasible and never below the proof is what is checked, not how good: 6 s (each heuristic has a plan by
    # then, on the large instances too) keeps the suite short; their quality is measured in benchmarks/.
    result = edgeopt.solve(inst, solver, seed=0, time_limit=6)
    if ref.infeasible:
        assert result.status == edgeopt.Status.INFEASIBLE
        return
    if solver == "cloud-only" and not inst.cloud_enabled:
        # A heuristic cannot prove infeasibility: it says it found no plan, and why.
        assert result.status == edgeopt.Status.ERROR and "cloud disabled" in result.message
        return
    # A heuristic says optimal only where the bound it proved (lns: HiGHS's) meets its plan; then the plan's value
    # is the reference optimum.
    proven = result.bound is not None and agree(result.objective, result.bound)
    assert result.status == (edgeopt.Status.OPTIMAL if proven else edgeopt.Status.FEASIBLE), \
        (result.status, result.message)
    assert result.evaluation.feasible
    floor = ref.optimum if ref.optimum is not None else ref.bound
    assert result.objective >= floor - 1e-6 * max(1.0, abs(floor))
    if proven:
        assert ref.optimum is not None and agree(result.objective, ref.optimum), (result.objective, ref.optimum)


@pytest.mark.parametrize("path", ASSIGNMENT_FILES, ids=lambda p: p.stem)
def test_assignment_reference_and_enumerate_equal_an_independent_oracle(path):
    """reference.solu's assignment optima were written by ``enumerate``; both are checked against
    tests/oracles.assignment_optimum, an enumeration of category -> model maps and steps written from
    the instance document alone (itself checked against prompt-level brute force in test_oracles.py)."""
    inst = _load(path)
    oracle = assignment_optimum(inst)
    assert SOLU[inst.name] == pytest.approx(oracle, rel=1e-9)
    result = edgeopt.solve(inst, "enumerate")
    assert result.status == edgeopt.Status.OPTIMAL
    assert result.objective == pytest.approx(oracle, rel=1e-9)


def _best_on_one_model(inst) -> float:
    """The oracle's optimum when every prompt must go to one and the same model (the best such model)."""
    return max(assignment_optimum(SimpleNamespace(data={**inst.data, "models": [m]})) for m in inst.data["models"])


def test_assignment_set_is_as_representative_as_documented():
    """instances/README.md: 6 of the 13 bundled assignment optima need two models (the three assign-mixed-*
    among them), 7 are served by a single model. By the independent oracle: an optimum needs several models
    when it is strictly above the best plan that puts every prompt on one model."""
    mixed, single = set(), set()
    for path in ASSIGNMENT_FILES:
        inst = _load(path)
        best, one = assignment_optimum(inst), _best_on_one_model(inst)
        assert one <= best + 1e-9 * max(1.0, abs(best))
        (mixed if best > one + 1e-9 * max(1.0, abs(best)) else single).add(inst.name)
    assert {n for n in mixed | single if n.startswith("assign-mixed-")} <= mixed
    assert (len(mixed), len(single)) == (6, 7), (sorted(mixed), sorted(single))


# -- deployment references against a second, separately written MILP --------------------------------
def _algebraic_pyomo():
    """benchmarks/pyomo_algebraic.build (imported as tests/test_pyomo_algebraic.py does) and pyomo.environ."""
    pyo = pytest.importorskip("pyomo.environ")
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from pyomo_algebraic import build

    return build, pyo


def _pyomo_plan(pm, pyo) -> dict:
    """The decisions of a solved algebraic model, in the solution-file form tests/oracles.py reads."""
    on = lambda var: pyo.value(var) > 0.5
    slots = [{"stored": {}, "loaded": {}} for _ in pm.T]
    for key in ("stored", "loaded"):
        for (e, m, t), var in getattr(pm, key).items():
            slots[t][key].setdefault(e, [])
            if on(var):
                slots[t][key][e].append(m)
    routes = []
    for (r, m, t), var in pm.local.items():
        routes.append({"region": r, "model": m, "slot": t, "at": pm.home[r], "requests": round(pyo.value(var))})
    for (r, e, m, t), var in pm.neighbour.items():
        routes.append({"region": r, "model": m, "slot": t, "at": e, "requests": round(pyo.value(var))})
    for (r, m, t), var in pm.cloud.items():
        routes.append({"region": r, "model": m, "slot": t, "at": "cloud", "requests": round(pyo.value(var))})
    return {"slots": slots, "routes": [x for x in routes if x["requests"]]}


@pytest.mark.parametrize("path", SMALL, ids=lambda p: p.stem)
def test_deployment_reference_equals_the_algebraic_pyomo_model(path):
    """reference.solu's deployment values come from HiGHS on formulate(); here the MILP written separately
    in benchmarks/pyomo_algebraic.py is solved with Pyomo's appsi_highs at gap 0, and its optimal plan is
    priced and checked by tests/oracles.py (from the instance document alone)."""
    build, pyo = _algebraic_pyomo()
    inst = _load(path)
    expected = SOLU[inst.name]
    pm = build(inst)
    outcome = pyo.SolverFactory("appsi_highs").solve(pm, options={"mip_rel_gap": 0.0, "mip_abs_gap": 1e-9},
                                                      load_solutions=False)
    condition = outcome.solver.termination_condition
    if math.isnan(expected):  # =inf=
        assert condition == pyo.TerminationCondition.infeasible
        return
    assert condition == pyo.TerminationCondition.optimal
    pm.solutions.load_from(outcome)
    assert pyo.value(pm.total_cost) == pytest.approx(expected, rel=1e-6)
    plan = _pyomo_plan(pm, pyo)
    assert deployment_violations(inst, plan) == []
    assert deployment_cost(inst, plan) == pytest.approx(expected, rel=1e-6)


def test_the_algebraic_check_covers_the_reference_kinds():
    """The check above must see an infeasible instance and most of the proven optima, or it tests little."""
    names = {_load(p).name for p in SMALL}
    assert "infeasible-gpu" in names and math.isnan(SOLU["infeasible-gpu"])
    proven = {n for n in names if n in SOLU and not math.isnan(SOLU[n])}
    assert len(proven) >= 10, proven
