"""Every exact backend (highs, cpsat, scip, pyomo) on one catalogue of small MILPs with known optima,
then on generated deployment instances through edgeopt.solve: agreement, infeasibility, time limits."""
from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

import edgeopt
from edgeopt.io import instance_from_data
from edgeopt.modeling import Model
from edgeopt.result import Status

EXACT = ("highs", "cpsat", "scip", "pyomo")


def backend(name: str):
    """The backend, ready to run: a pinned backend that does not import fails the test (ValueError), never skips."""
    return edgeopt.get_solver("deployment", name)


# -- the catalogue ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Problem:
    build: Callable[[], Model]
    status: Status
    objective: float | None = None
    integer_only: bool = True  # every variable integer (CP-SAT takes nothing else)
    bounded: bool = True  # every variable has finite bounds (CP-SAT needs finite domains)


def knapsack() -> Model:
    """max value of items packed within the capacity; decimal values."""
    m = Model("knapsack", sense="max")
    x = m.add_variables("take", (5,), ub=1, integer=True)
    m.add_objective(x, [10.5, 13.25, 7.0, 8.1, 4.0])
    cap = m.add_rows("capacity", (1,), hi=10)
    m.add_terms(cap.ids[:, None], x.ids[None, :], np.array([[5, 6, 3, 4, 2]]))
    return m


def set_cover() -> Model:
    """min cost of sets covering every element."""
    sets = np.array([[1, 1, 1, 0, 0], [0, 0, 1, 1, 0], [0, 0, 0, 1, 1], [1, 0, 0, 0, 1], [0, 1, 0, 1, 0]])
    m = Model("set_cover", sense="min")
    x = m.add_variables("use", (5,), ub=1, integer=True)
    m.add_objective(x, [3.0, 2.0, 2.0, 2.5, 1.5])
    cover = m.add_rows("cover", (5,), lo=1)
    m.add_terms(cover.ids[:, None], x.ids[None, :], sets.T, where=sets.T > 0)
    return m


def equality_rows() -> Model:
    """min x + y + z  s.t. 3x + 5y = 14, y + z = 2: only x=3, y=1 solves the first row."""
    m = Model("equality_rows", sense="min")
    v = m.add_variables("v", (3,), ub=10, integer=True)
    m.add_objective(v, 1.0)
    rows = m.add_rows("eq", (2,), lo=[14, 2], hi=[14, 2])
    m.add_terms(rows.ids[:, None], v.ids[None, :], np.array([[3, 5, 0], [0, 1, 1]]))
    return m


def negative_bounds() -> Model:
    """min 2x - 3y + 0.5 over x in [-5, 5], y in [-3, 4] with three rows."""
    m = Model("negative_bounds", sense="min")
    v = m.add_variables("v", (2,), lb=[-5, -3], ub=[5, 4], integer=True)
    m.add_objective(v, [2.0, -3.0])
    m.add_objective_constant(0.5)
    rows = m.add_rows("r", (3,), lo=[1, -np.inf, -np.inf], hi=[np.inf, 1, 3])
    m.add_terms(rows.ids[:, None], v.ids[None, :], np.array([[1, 1], [1, -1], [2, 1]]))
    return m


def decimals() -> Model:
    """Coefficients and bounds with different numbers of decimals per row (CP-SAT scales each row)."""
    m = Model("decimals", sense="min")
    v = m.add_variables("v", (3,), ub=4, integer=True)
    m.add_objective(v, [0.1, 0.2, 0.35])
    need = m.add_rows("need", (1,), lo=2.75)
    m.add_terms(need.ids[:, None], v.ids[None, :], np.array([[0.25, 1.5, 0.75]]))
    most = m.add_rows("most", (1,), hi=4)
    m.add_terms(most.ids[:, None], v.ids[None, :], 1.0)
    return m


def no_objective() -> Model:
    """A feasibility problem: the objective is the constant 3."""
    m = Model("no_objective", sense="min")
    v = m.add_variables("v", (2,), ub=5, integer=True)
    m.add_objective_constant(3.0)
    rows = m.add_rows("sum", (1,), lo=3, hi=3)
    m.add_terms(rows.ids[:, None], v.ids[None, :], 1.0)
    return m


def mixed() -> Model:
    """min x + 2z, x integer in [0, 3], z continuous in [0, 10], x + z >= 1.5: x=2 or x=1, z=0.5 give 2."""
    m = Model("mixed", sense="min")
    x = m.add_variables("x", (1,), ub=3, integer=True)
    z = m.add_variables("z", (1,), ub=10)
    m.add_objective(x, 1.0)
    m.add_objective(z, 2.0)
    rows = m.add_rows("r", (1,), lo=1.5)
    m.add_terms(rows, x, 1.0)
    m.add_terms(rows, z, 1.0)
    return m


def infeasible_parity() -> Model:
    """2x + 4y = 5 has no integer solution, though its LP relaxation has many."""
    m = Model("infeasible_parity", sense="min")
    v = m.add_variables("v", (2,), ub=5, integer=True)
    m.add_objective(v, 1.0)
    rows = m.add_rows("odd", (1,), lo=5, hi=5)
    m.add_terms(rows.ids[:, None], v.ids[None, :], np.array([[2, 4]]))
    return m


def infeasible_empty_row() -> Model:
    """A row with no terms whose bounds exclude 0."""
    m = Model("infeasible_empty_row", sense="min")
    v = m.add_variables("v", (2,), ub=5, integer=True)
    m.add_objective(v, 1.0)
    m.add_rows("impossible", (1,), lo=1)
    return m


def unbounded() -> Model:
    """max x + y with x - y <= 1 and no upper bounds."""
    m = Model("unbounded", sense="max")
    v = m.add_variables("v", (2,), integer=True)
    m.add_objective(v, 1.0)
    rows = m.add_rows("r", (1,), hi=1)
    m.add_terms(rows.ids[:, None], v.ids[None, :], np.array([[1, -1]]))
    return m


CATALOGUE = {
    "knapsack": Problem(knapsack, Status.OPTIMAL, 21.5),
    "set_cover": Problem(set_cover, Status.OPTIMAL, 5.0),
    "equality_rows": Problem(equality_rows, Status.OPTIMAL, 5.0),
    "negative_bounds": Problem(negative_bounds, Status.OPTIMAL, -17.5),
    "decimals": Problem(decimals, Status.OPTIMAL, 0.4),
    "no_objective": Problem(no_objective, Status.OPTIMAL, 3.0),
    "mixed": Problem(mixed, Status.OPTIMAL, 2.0, integer_only=False),
    "infeasible_parity": Problem(infeasible_parity, Status.INFEASIBLE),
    "infeasible_empty_row": Problem(infeasible_empty_row, Status.INFEASIBLE),
    "unbounded": Problem(unbounded, Status.UNBOUNDED, bounded=False),
}


def enumerate_optimum(mdl: Model) -> float:
    """Best objective over every integer point in the (finite) box, inf / -inf when none is feasible."""
    mf = mdl.matrix()
    A = mf.A.toarray()
    sign = 1.0 if mf.sense == "min" else -1.0
    best = np.inf
    axes = [range(int(lo), int(hi) + 1) for lo, hi in zip(mf.col_lo, mf.col_hi)]
    for point in itertools.product(*axes):
        x = np.array(point, dtype=float)
        act = A @ x
        if np.all(act >= mf.row_lo - 1e-9) and np.all(act <= mf.row_hi + 1e-9):
            best = min(best, sign * (mf.c @ x + mf.offset))
    return sign * best


@pytest.mark.parametrize("name", [n for n, p in CATALOGUE.items() if p.integer_only and p.bounded])
def test_catalogue_expectations_match_enumeration(name):
    problem = CATALOGUE[name]
    value = enumerate_optimum(problem.build())
    if problem.status == Status.INFEASIBLE:
        assert np.isinf(value)
    else:
        assert value == pytest.approx(problem.objective, abs=1e-12)


def check_point(mf, x, objective) -> None:
    """x is integral where it must be, within every bound and row, and c.x + offset is the objective."""
    assert x is not None and x.shape == (mf.num_cols,)
    assert np.all(x >= mf.col_lo - 1e-9) and np.all(x <= mf.col_hi + 1e-9)
    assert np.all(np.abs(x[mf.integrality] - np.round(x[mf.integrality])) <= 1e-6)
    act = mf.A @ x
    assert np.all(act >= mf.row_lo - 1e-6) and np.all(act <= mf.row_hi + 1e-6)
    assert mf.c @ x + mf.offset == pytest.approx(objective, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("problem_name", list(CATALOGUE))
@pytest.mark.parametrize("solver_name", EXACT)
def test_catalogue(solver_name, problem_name):
    problem = CATALOGUE[problem_name]
    if solver_name == "cpsat" and not problem.integer_only:
        pytest.skip("CP-SAT solves integer models only (its refusal is tested below)")
    if solver_name == "cpsat" and not problem.bounded:
        pytest.skip("CP-SAT needs finite variable bounds, so it cannot state an unbounded model")
    solver = backend(solver_name)
    mdl = problem.build()
    mf = mdl.matrix()
    out = solver.solve_matrix(mf, mdl, solver.Options(), time_limit=None, seed=0)
    assert out.status == problem.status, f"{solver_name}: {out.status} ({out.raw_status}) {out.message}"
    assert out.raw_status
    if problem.status == Status.OPTIMAL:
        assert out.objective == pytest.approx(problem.objective, rel=1e-9, abs=1e-9)
        check_point(mf, out.x, out.objective)
        assert out.bound is not None
        assert out.bound == pytest.approx(out.objective, rel=1e-9, abs=1e-6)
    else:
        assert out.bound is None


@pytest.mark.parametrize("solver_name", EXACT)
def test_an_unknown_option_is_an_error_naming_it(solver_name):
    inst = edgeopt.generate("deployment", edges=1, regions_per_edge=1, models=2, slots=1, seed=1)
    with pytest.raises(ValueError, match="bogus_option"):
        edgeopt.solve(inst, solver_name, bogus_option=3)


# -- CP-SAT's exact scaling and its refusals ------------------------------------------------------------
def test_cpsat_scales_each_row_and_the_objective_separately():
    from edgeopt.backends.ortools import integer_scaling

    mdl = decimals()
    indptr, indices, coefficients, row_lo, row_hi, objective, k_obj, _, _ = integer_scaling(mdl.matrix(), mdl)
    # need: 0.25 v0 + 1.5 v1 + 0.75 v2 >= 2.75 needs 10**2; most: v0 + v1 + v2 <= 4 needs none.
    assert coefficients.tolist() == [25, 150, 75, 1, 1, 1]
    assert row_lo[0] == 275 and row_hi[1] == 4
    assert k_obj == 2 and objective.tolist() == [10, 20, 35]


def _one_row(coefficient: float, name: str = "compute", lo=0.0, ub=3, integer=True, cost=1.0) -> Model:
    m = Model("refuse", sense="min")
    x = m.add_variables("x", (2, 2), ub=ub, integer=integer)
    m.add_objective(x, cost)
    lows = np.zeros((4, 2))
    lows[3, 1] = lo
    rows = m.add_rows(name, (4, 2), lo=lows)  # the other rows stay empty and harmless
    m.add_terms(rows.ids[3, 1], x.ids[1, 0], coefficient)
    m.add_terms(rows.ids[3, 1], x.ids[0, 0], 1.0)
    return m


@pytest.mark.parametrize("mdl, words", [
    (_one_row(1 / 3), ["row compute[3,1]", "0.333333", "not a decimal with at most 9 digits"]),
    (_one_row(1e15 + 0.5), ["row compute[3,1]", "beyond 2**53"]),
    (_one_row(1.0, lo=1 / 3), ["row compute[3,1] has lower bound 0.333333", "not a decimal"]),
    (_one_row(1.0, cost=1 / 7), ["objective has coefficient 0.142857", "x[0,0]", "not a decimal"]),
    (_one_row(1.0, integer=False), ["variable x[0,0] is continuous"]),
    (_one_row(1.0, ub=np.inf), ["variable x[0,0] has no upper bound"]),
    (_one_row(1.0, ub=2.5), ["variable x[0,0] has non-integer upper bound 2.5"]),
], ids=["one-third", "too-big", "bound-one-third", "objective-one-seventh", "continuous", "no-bound",
        "fractional-bound"])
def test_cpsat_refuses_what_it_cannot_take_exactly(mdl, words):
    out = backend("cpsat").solve_matrix(mdl.matrix(), mdl, backend("cpsat").Options(), time_limit=None, seed=0)
    assert out.status == Status.ERROR and out.raw_status == "not integer"
    assert out.x is None
    for w in words:
        assert w in out.message


def test_cpsat_overflow_is_an_error_with_cpsat_words():
    mdl = _one_row(2.0 ** 53, ub=2000)  # exact, but 2**53 * 2000 overflows CP-SAT's 64-bit sums
    out = backend("cpsat").solve_matrix(mdl.matrix(), mdl, backend("cpsat").Options(), time_limit=None, seed=0)
    assert out.status == Status.ERROR and out.raw_status == "MODEL_INVALID"
    assert "overflow" in out.message and out.x is None


def test_cpsat_solves_the_same_row_with_a_decimal():
    mdl = _one_row(0.3, lo=1.3)
    out = backend("cpsat").solve_matrix(mdl.matrix(), mdl, backend("cpsat").Options(), time_limit=None, seed=0)
    assert out.status == Status.OPTIMAL
    check_point(mdl.matrix(), out.x, out.objective)
    assert out.objective == pytest.approx(enumerate_optimum(mdl), abs=1e-12)


# -- deployment instances through edgeopt.solve ---------------------------------------------------------
def _variant(base, name, cloud=None, **edge_fields):
    data = copy.deepcopy(base.data)
    data["name"] = name
    if cloud is not None:
        data["cloud"]["enabled"] = cloud
    for edge in data["edges"]:
        edge.update(edge_fields)
    return instance_from_data(data, name)


DEPLOYMENTS = {
    "e2-m3-t2-s0": dict(edges=2, regions_per_edge=1, models=3, slots=2, seed=0),
    "e2-m3-t2-s1": dict(edges=2, regions_per_edge=2, models=3, slots=2, seed=1),
    "e3-m2-t3-s2": dict(edges=3, regions_per_edge=1, models=2, slots=3, seed=2),
    "e3-m3-t1-s3-nocloud": dict(edges=3, regions_per_edge=1, models=3, slots=1, load=0.3, cloud=False, seed=3),
}


@pytest.fixture(scope="module")
def deployment_results():
    out = {}
    for name, params in DEPLOYMENTS.items():
        inst = edgeopt.generate("deployment", **params)
        out[name] = (inst, {s: edgeopt.solve(inst, s, seed=0) for s in EXACT})
    return out


@pytest.mark.parametrize("name", list(DEPLOYMENTS))
def test_backends_agree_on_generated_deployments(deployment_results, name):
    inst, results = deployment_results[name]
    assert edgeopt.family_of(inst).infeasibility_reason(inst) is None
    assert set(results) == set(EXACT), "every exact backend must be installed for this test"
    for solver, r in results.items():
        assert r.status == Status.OPTIMAL, f"{solver}: {r.status} {r.message}"
        assert r.evaluation is not None and r.evaluation.feasible
        assert r.bound == pytest.approx(r.objective, rel=1e-6)
    reference = results["highs"].objective
    for solver, r in results.items():
        assert r.objective == pytest.approx(reference, rel=1e-6), solver


def test_nocloud_instance_makes_the_edges_work(deployment_results):
    """The cloud-disabled instance is served entirely at the edges (so it tests more than cloud routing)."""
    inst, results = deployment_results["e3-m3-t1-s3-nocloud"]
    sol = results["highs"].solution
    assert sol.cloud.sum() == 0 and inst.demand.sum() > 0
    assert sol.local.sum() + sol.neighbour.sum() == inst.demand.sum()


@pytest.mark.parametrize("solver_name", EXACT)
def test_each_backend_proves_infeasibility_the_precheck_misses(solver_name):
    """Cloud disabled and demand far beyond the edges' compute: every model fits, so the pre-check passes."""
    backend(solver_name)
    inst = edgeopt.generate("deployment", edges=2, regions_per_edge=1, models=2, slots=1, load=6.0, cloud=False,
                            seed=5)
    assert edgeopt.family_of(inst).infeasibility_reason(inst) is None
    r = edgeopt.solve(inst, solver_name, seed=0)
    assert r.status == Status.INFEASIBLE, f"{r.status} {r.message}"
    assert r.raw_status != "edgeopt pre-check"
    assert r.solution is None and r.bound is None


@pytest.mark.parametrize("solver_name", EXACT)
def test_precheck_reports_a_model_that_fits_nowhere(solver_name):
    backend(solver_name)
    base = edgeopt.generate("deployment", edges=2, regions_per_edge=1, models=2, slots=1, seed=6)
    smallest = float(min(base.model_gpu_memory_gb))
    inst = _variant(base, "fits-nowhere", cloud=False, gpu_memory_gb=smallest / 2)
    r = edgeopt.solve(inst, solver_name)
    assert r.status == Status.INFEASIBLE
    assert r.raw_status == "edgeopt pre-check"
    assert "cloud is disabled" in r.message


# -- time limits -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def time_limit_instance():
    # Bundled small-1 (288 variables) is hard for its size: every backend takes seconds to prove it
    # here, and each has an incumbent within 0.2 s even at load 5 on 2 cores (CP-SAT the last: none at 0.1 s),
    # so the limit path with an incumbent is exercised; the 2-s limit leaves that margin on a busy machine.
    return edgeopt.load(Path(__file__).resolve().parent.parent / "instances" / "deployment" / "small-1.json")


@pytest.mark.parametrize("solver_name", EXACT)
def test_time_limit_returns_incumbent_and_bound(solver_name, time_limit_instance):
    backend(solver_name)
    r = edgeopt.solve(time_limit_instance, solver_name, time_limit=2, seed=0)
    assert r.status in (Status.TIME_LIMIT, Status.OPTIMAL), f"{r.status} {r.message}"
    assert r.solution is not None
    assert r.evaluation.feasible
    assert r.bound is not None
    assert r.bound <= r.objective + 1e-9 * max(1.0, abs(r.objective))
    assert r.gap is not None and r.gap >= 0


@pytest.mark.parametrize("solver_name", EXACT)
def test_a_limit_far_too_short_says_time_limit(solver_name):
    """A limit no solver can meet on this size: the status says so; whatever comes back is sound."""
    backend(solver_name)
    inst = edgeopt.generate("deployment", edges=8, regions_per_edge=3, models=8, slots=6, seed=3)
    r = edgeopt.solve(inst, solver_name, time_limit=0.01, seed=0)
    assert r.status == Status.TIME_LIMIT, f"{r.status} {r.message}"
    if r.solution is not None:
        assert r.evaluation.feasible
    if r.solution is not None and r.bound is not None:
        assert r.bound <= r.objective + 1e-9 * max(1.0, abs(r.objective))


def test_cpsat_objective_is_exact_after_scaling_back():
    """CP-SAT's optimum, divided back from its integer objective, equals HiGHS's to float precision."""
    inst = edgeopt.generate("deployment", edges=2, regions_per_edge=1, models=3, slots=2, seed=8)
    a = edgeopt.solve(inst, "cpsat", seed=0)
    b = edgeopt.solve(inst, "highs", seed=0)
    assert a.status == b.status == Status.OPTIMAL
    assert a.objective == pytest.approx(b.objective, rel=1e-12, abs=1e-9)
    assert a.objective == pytest.approx(edgeopt.evaluate(inst, a.solution).objective, rel=1e-12, abs=1e-9)
