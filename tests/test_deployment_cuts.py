"""The optional valid inequalities of the deployment MILP (formulate(..., cuts=...)): they cut off no plan
the evaluator accepts, leave the optimum where brute force puts it, and tighten the LP relaxation."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

import edgeopt
from edgeopt.comparison.reference import read_solu
from edgeopt.families.deployment.formulate import CUTS, formulate
from edgeopt.highs import solve_matrix
from edgeopt.result import Status

from bruteforce import brute_force

ROOT = Path(__file__).resolve().parents[1]
DEPLOYMENT = ROOT / "instances" / "deployment"


def load(name):
    return edgeopt.load(DEPLOYMENT / f"{name}.json")


def lp_bound(inst, cuts=()):
    mf = formulate(inst, cuts=cuts).model.matrix()
    out = solve_matrix(dataclasses.replace(mf, integrality=np.zeros_like(mf.integrality)))
    assert out.status == Status.OPTIMAL
    return out.objective


@pytest.mark.parametrize("name", ["tiny-1", "tiny-2", "tiny-3"])
def test_with_every_cut_the_optimum_is_the_brute_force_one(name):
    inst = load(name)
    r = edgeopt.solve(inst, "highs", formulation={"cuts": tuple(CUTS)})
    assert r.status == Status.OPTIMAL
    assert r.objective == pytest.approx(brute_force(inst), rel=1e-9)


@pytest.mark.parametrize("name", ["small-1", "small-2", "small-nocloud", "medium-1", "medium-3"])
def test_no_feasible_plan_is_cut_off(name):
    """Plans from independent solvers (random, greedy, genetic, the optimum) satisfy every added row."""
    inst = load(name)
    form = formulate(inst, cuts=tuple(CUTS))
    mf = form.model.matrix()
    rows = np.concatenate([form.model.row_blocks[f"{c}_cuts"].ids.ravel() for c in CUTS])
    plans = [edgeopt.solve(inst, s, seed=k).solution for s in ("greedy", "genetic", "random") for k in range(2)]
    plans.append(edgeopt.solve(inst, "highs", time_limit=120).solution)
    for plan in plans:
        assert plan is not None and edgeopt.evaluate(inst, plan).feasible
        activity = mf.A[rows] @ form.encode(plan)
        assert np.all(activity <= mf.row_hi[rows] + 1e-9), name


def test_the_compute_cuts_tighten_the_relaxation_and_keep_the_optimum():
    inst = load("small-1")
    # The proven optimum of instances/reference.solu (HiGHS without cuts, checked against an independent Pyomo
    # model in test_bundled.py): CP-SAT takes 8-24 s to prove it, too close to any time limit on a busy machine.
    optimum = read_solu(ROOT / "instances" / "reference.solu")["small-1"].optimum
    plain, cut = lp_bound(inst), lp_bound(inst, cuts=("compute",))
    assert plain < cut <= optimum + 1e-9
    with_cuts = edgeopt.solve(inst, "highs", formulation={"cuts": ("compute",)})
    assert with_cuts.status == Status.OPTIMAL
    assert with_cuts.objective == pytest.approx(optimum, rel=1e-9)


def test_unknown_cuts_and_other_families_are_refused():
    with pytest.raises(ValueError, match="unknown cuts 'symmetry'"):
        edgeopt.solve(load("tiny-1"), "highs", formulation={"cuts": ("symmetry",)})
    gap = edgeopt.load(ROOT / "instances" / "gap" / "gap1.txt")[0]
    with pytest.raises(ValueError, match="option formulation: the gap formulation does not take 'cuts'"):
        edgeopt.solve(gap, "highs", formulation={"cuts": ("compute",)})
