"""The ``lns`` matheuristic: its plans against independent optima (brute force; the optima HiGHS proved on the
whole MILP, stored in instances/reference.solu and checked against an independent Pyomo model in test_bundled.py)."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

import edgeopt
from edgeopt.comparison.reference import read_solu
from edgeopt.modeling import Model
from edgeopt.result import Status

from bruteforce import brute_force

ROOT = Path(__file__).resolve().parents[1]
DEPLOYMENT = ROOT / "instances" / "deployment"
#: Proven optima: HiGHS on these takes 1-20 s, which a time limit would make depend on the machine's speed.
OPTIMA = {name: ref.optimum for name, ref in read_solu(ROOT / "instances" / "reference.solu").items()}


def load(name):
    return edgeopt.load(DEPLOYMENT / f"{name}.json")


def proof_status(result):
    """The status an lns result must have: optimal exactly when its proven bound meets its plan."""
    from edgeopt.result import agree

    met = result.bound is not None and result.objective is not None and agree(result.objective, result.bound)
    return Status.OPTIMAL if met else Status.FEASIBLE


@pytest.mark.parametrize("name", ["tiny-1", "tiny-2", "tiny-3"])
def test_lns_finds_the_brute_force_optimum_of_tiny_instances(name):
    inst = load(name)
    r = edgeopt.solve(inst, "lns", seed=0)
    assert r.status == proof_status(r)
    assert r.objective == pytest.approx(brute_force(inst), rel=1e-9)


@pytest.mark.parametrize("name", ["small-1", "small-nocloud", "medium-1", "medium-warm"])
def test_lns_is_between_its_bound_and_the_proven_optimum_and_beats_greedy(name):
    inst = load(name)
    optimum = OPTIMA[name]
    assert optimum is not None
    r = edgeopt.solve(inst, "lns", seed=1, steps=12)
    assert r.status == proof_status(r) and edgeopt.evaluate(inst, r.solution).feasible
    tol = 1e-9 * max(1.0, abs(optimum))
    assert r.objective >= optimum - tol
    assert r.bound is not None and r.bound <= optimum + tol
    assert r.objective <= edgeopt.solve(inst, "greedy").objective + tol
    assert r.gap == pytest.approx(edgeopt.relative_gap(r.objective, r.bound, "min"))


def test_lns_is_deterministic_for_a_seed():
    inst = load("medium-3")
    a = edgeopt.solve(inst, "lns", seed=7, steps=6, start_seconds=0)
    b = edgeopt.solve(inst, "lns", seed=7, steps=6, start_seconds=0)
    assert a.objective == b.objective
    for key in ("stored", "loaded", "local", "neighbour", "cloud"):
        assert np.array_equal(getattr(a.solution, key), getattr(b.solution, key))


def test_lns_blocks_improve_a_poor_start():
    # Without the LP-induced start and the polished LP plan the search begins at the greedy plan; the blocks
    # alone must improve it.
    inst = load("medium-3")
    greedy = edgeopt.solve(inst, "greedy").objective
    r = edgeopt.solve(inst, "lns", seed=0, steps=9, start_seconds=0, polish=False)
    assert r.extra["start"].startswith("greedy plan")
    assert r.extra["improving_steps"] >= 1
    assert r.objective < greedy


def test_lns_keeps_its_time_limit():
    inst = load("large-1")
    t = time.perf_counter()
    r = edgeopt.solve(inst, "lns", time_limit=3, seed=0)
    assert time.perf_counter() - t < 20  # a 3-s limit: generous slack for a loaded machine
    assert r.status == Status.FEASIBLE


def test_a_restricted_model_keeps_the_fixed_columns_contribution():
    # Oracle: the restricted model's objective plus the fixed part equals the full model at any point.
    m = Model("toy", sense="min")
    x = m.add_variables("x", (4,), ub=3, integer=True)
    m.add_objective(x, np.array([1.0, 2.0, -1.0, 0.5]))
    rows = m.add_rows("r", (2,), lo=np.array([1.0, -np.inf]), hi=np.array([5.0, 4.0]))
    m.add_terms(rows.ids[:, None], x, np.array([[1.0, 1.0, 0.0, 0.0], [0.0, 1.0, 1.0, 1.0]]))
    mf = m.matrix()
    point = np.array([1.0, 2.0, 0.0, 3.0])
    free = np.array([True, False, True, False])
    sub, rows_kept = mf.restricted(free, point)
    assert sub.num_cols == 2 and list(rows_kept) == [0, 1]
    assert sub.c @ point[free] + sub.offset == pytest.approx(mf.c @ point + mf.offset)
    fixed_part = mf.A[:, ~free] @ point[~free]
    assert np.allclose(sub.row_hi, mf.row_hi - fixed_part)
    assert np.allclose(sub.A.toarray(), mf.A[:, free].toarray())


def test_the_polished_lp_plan_is_a_start_no_worse_than_what_it_polishes():
    """Stage 2a: the LP's flags rounded at 1/2, repaired, then genetic's local search. Its plan is offered as a
    start only when the evaluator prices it below the greedy plan; the oracle is the evaluator on the plans
    of the greedy solver and of an independent rounding of HiGHS's LP written here."""
    from edgeopt.families.deployment.formulate import formulate
    from edgeopt.families.deployment.solvers.routing import repair, route
    from edgeopt.highs import solve_matrix

    inst = load("medium-3")
    form = formulate(inst)
    lp = solve_matrix(form.model.matrix().relaxed())
    rounded = route(inst, *repair(inst, *(lp.x[form.blocks[k].ids] > 0.5 for k in ("stored", "loaded"))))
    rounded_cost = edgeopt.evaluate(inst, rounded).objective
    greedy = edgeopt.solve(inst, "greedy").objective
    r = edgeopt.solve(inst, "lns", seed=0, steps=1, start_seconds=0)
    assert r.extra["start"].startswith(("LP rounded, repaired, local search", "greedy plan"))
    start = float(r.extra["start"].rsplit("cost ", 1)[1])
    assert start <= min(greedy, rounded_cost) + 1e-6
    off = edgeopt.solve(inst, "lns", seed=0, steps=1, start_seconds=0, polish=False)
    assert off.extra["start"].startswith("greedy plan")

