"""The ``lagrange`` solver: its bound against independent oracles (the optima HiGHS proved on the whole MILP, in
instances/reference.solu and checked against other backends in test_bundled.py; the LP relaxation solved here by
HiGHS on the plain formulate() model), its plans against the evaluator, and its decomposition against a plan."""
from __future__ import annotations

import itertools
import time
from pathlib import Path

import numpy as np
import pytest

import edgeopt
from edgeopt.comparison.reference import read_solu
from edgeopt.families.deployment.formulate import formulate
from edgeopt.families.deployment.solvers.lagrange import _simplex_qp, _Split
from edgeopt.highs import solve_matrix
from edgeopt.result import Status

ROOT = Path(__file__).resolve().parents[1]
OPTIMA = {name: ref.optimum for name, ref in read_solu(ROOT / "instances" / "reference.solu").items()}
#: Per instance the options of its run: few iterations, and on small-1 (whose one-slot MILPs take HiGHS about half
#: a second each) no forward pass, to keep the file fast.
RUNS = {"tiny-1": {}, "tiny-2": {}, "tiny-3": {}, "small-2": {}, "small-nocloud": {}, "medium-1": {}, "medium-2": {},
        "medium-warm": {}, "small-1": {"iterations": 1, "forward": False, "compute_cuts": False},
        "medium-3": {"iterations": 1, "window": 4, "compute_cuts": False, "polish": False, "forward": False}}


def load(name):
    return edgeopt.load(ROOT / "instances" / "deployment" / f"{name}.json")


def lp_bound(inst) -> float:
    """The LP relaxation of the plain MILP, by HiGHS: an independent bound the Lagrangian one must reach."""
    out = solve_matrix(formulate(inst).model.matrix().relaxed())
    assert out.status == Status.OPTIMAL
    return out.objective


@pytest.fixture(scope="module")
def runs():
    cache = {}

    def run(name):
        if name not in cache:
            inst = load(name)
            cache[name] = inst, edgeopt.solve(inst, "lagrange", seed=0, **{"iterations": 2, **RUNS[name]})
        return cache[name]
    return run


@pytest.mark.parametrize("name", sorted(RUNS))
def test_the_bound_never_exceeds_the_proven_optimum_and_the_plan_is_feasible(name, runs):
    inst, r = runs(name)
    optimum = OPTIMA[name]
    tol = 1e-6 * max(1.0, abs(optimum))
    assert r.status in (Status.OPTIMAL, Status.FEASIBLE)
    ev = edgeopt.evaluate(inst, r.solution)
    assert ev.feasible and r.objective == pytest.approx(ev.objective, rel=1e-9)
    assert r.objective >= optimum - tol
    assert r.bound is not None and r.bound <= optimum + tol
    assert r.extra["lagrangian_bound"] <= optimum + tol
    assert all(b <= optimum + tol for b in r.extra["bounds"])
    # optimal exactly when the bound meets the plan
    assert (r.status == Status.OPTIMAL) == edgeopt.result.agree(r.objective, r.bound)


@pytest.mark.parametrize("name", ["small-1", "small-nocloud", "medium-3"])
def test_the_bound_reaches_the_lp_relaxation(name, runs):
    # From the LP's duals the first iteration is already at the LP bound; integer subproblems can only raise it.
    inst, r = runs(name)
    lp = lp_bound(inst)
    assert r.extra["lagrangian_bound"] >= lp - 1e-6 * max(1.0, abs(lp))
    assert r.bound >= lp - 1e-6 * max(1.0, abs(lp))


@pytest.mark.parametrize("name,share", [("small-1", 0.5), ("medium-3", 0.3)])
def test_the_bound_is_stronger_than_the_lp_where_subproblems_have_an_integrality_gap(name, share, runs):
    # small-1: LP 397.90, optimum 420.26 (compute-bound slots: the one-slot MILPs close most of that gap);
    # medium-3: LP 5429.83, optimum 5439.31, a gap across slots that windows of four slots close in part. One
    # iteration, from the LP's duals, without the compute cuts (they would raise the LP the multipliers start from).
    inst, r = runs(name)
    lp, optimum = lp_bound(inst), OPTIMA[name]
    assert r.extra["iterations"] == 1
    assert r.extra["lagrangian_bound"] >= lp + share * (optimum - lp)


def test_same_seed_same_result(runs):
    inst, a = runs("small-nocloud")
    b = edgeopt.solve(inst, "lagrange", seed=0, **{"iterations": 2, **RUNS["small-nocloud"]})
    assert (a.objective, a.bound, a.extra["bounds"]) == (b.objective, b.bound, b.extra["bounds"])
    for key in ("stored", "loaded", "local", "neighbour", "cloud"):
        assert np.array_equal(getattr(a.solution, key), getattr(b.solution, key))


@pytest.mark.parametrize("name,window", [("medium-3", 1), ("medium-3", 3), ("small-nocloud", 2)])
def test_every_plan_is_a_point_of_the_split_model_at_its_own_cost(name, window):
    # The relaxation's premise, checked on a plan of another solver: cut into subproblems with copies equal to the
    # originals, the plan satisfies every subproblem's rows and bounds, and the subproblems' objectives under any
    # multipliers sum to the evaluator's cost (the multiplier terms cancel).
    inst = load(name)
    plan = edgeopt.solve(inst, "greedy").solution
    form = formulate(inst)
    mf = form.model.matrix()
    split = _Split(inst, form, mf, window)
    x = form.encode(plan)
    lam = np.random.default_rng(5).normal(scale=10.0, size=(split.K - 1, split.n))
    total = 0.0
    for k, sub in enumerate(split.subs):
        xk = np.concatenate([x[split.cols[k]], x[split.copies[k]]])
        ax = sub.A @ xk
        assert np.all(ax >= sub.row_lo - 1e-6) and np.all(ax <= sub.row_hi + 1e-6)
        assert np.all(xk >= sub.col_lo) and np.all(xk <= sub.col_hi)
        total += split.costs(k, lam) @ xk + sub.offset
    assert total == pytest.approx(edgeopt.evaluate(inst, plan).objective, rel=1e-9)


def test_the_bundle_qp_finds_the_simplex_minimum():
    # Oracle: a fine grid over the simplex of three weights.
    rng = np.random.default_rng(2)
    grid = np.array([(i, j, 400 - i - j) for i, j in itertools.product(range(401), repeat=2) if i + j <= 400]) / 400
    for _ in range(5):
        G = np.round(rng.normal(size=(30, 3)))
        a, Q = rng.normal(size=3) * 5, 0.1 * G.T @ G
        alpha = _simplex_qp(a, Q)
        assert alpha.min() >= 0 and alpha.sum() == pytest.approx(1.0)
        on_grid = grid @ a + 0.5 * np.einsum("ni,ij,nj->n", grid, Q, grid)
        assert a @ alpha + 0.5 * alpha @ Q @ alpha <= on_grid.min() + 1e-9


def test_the_time_limit_bounds_the_whole_call():
    inst = load("large-1")
    t = time.perf_counter()
    r = edgeopt.solve(inst, "lagrange", seed=0, time_limit=1.0)
    assert time.perf_counter() - t < 15.0  # generous slack for a loaded machine
    assert r.status == Status.FEASIBLE and edgeopt.evaluate(inst, r.solution).feasible


@pytest.mark.parametrize("options,named", [({"window": 0}, "window"), ({"step": 0.01, "min_step": 0.1}, "min_step"),
                                           ({"method": "newton"}, "method"), ({"iterations": 0}, "iterations"),
                                           ({"subproblem_seconds": 0}, "subproblem_seconds")])
def test_bad_options_are_refused_by_name(options, named):
    with pytest.raises(ValueError, match=f"option {named}"):
        edgeopt.solve(load("tiny-1"), "lagrange", **options)
