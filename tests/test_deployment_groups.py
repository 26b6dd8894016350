"""The ``groups`` solver (decomposition by groups of models): its optima and bounds against independent oracles (the
optima HiGHS proved on the whole MILP, in instances/reference.solu and checked against the other backends in
test_bundled.py; here HiGHS on the whole MILP again), the relaxation its groups rest on, and its merging rule."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

import edgeopt
from edgeopt.comparison.reference import read_solu
from edgeopt.families.deployment.formulate import formulate
from edgeopt.families.deployment.solvers.groups import Split, merged
from edgeopt.highs import solve_matrix
from edgeopt.result import Status

ROOT = Path(__file__).resolve().parents[1]
OPTIMA = {name: ref.optimum for name, ref in read_solu(ROOT / "instances" / "reference.solu").items()}
SMALL = ("tiny-1", "tiny-2", "tiny-3", "small-1", "small-2", "small-nocloud", "medium-1", "medium-2", "medium-3",
         "medium-warm")


def load(name):
    return edgeopt.load(ROOT / "instances" / "deployment" / f"{name}.json")


@pytest.mark.parametrize("name", SMALL)
def test_it_proves_the_optimum_of_every_small_bundled_instance(name):
    inst = load(name)
    r = edgeopt.solve(inst, "groups", seed=0)
    optimum = OPTIMA[name]
    assert r.status == Status.OPTIMAL, r.message
    assert r.objective == pytest.approx(optimum, rel=1e-9, abs=1e-9)
    assert r.bound <= optimum + 1e-9 * max(1.0, optimum)
    ev = edgeopt.evaluate(inst, r.solution)
    assert ev.feasible and ev.objective == pytest.approx(r.objective, rel=1e-12)
    assert r.extra["bounds"] == sorted(r.extra["bounds"])  # merging groups only tightens the relaxation


@pytest.mark.parametrize("merge", ["pair", "all"])
def test_instances_that_need_merging_reach_the_optimum_either_way(merge):
    # small-1 and medium-3: the one-model groups' plans overfill GPU memory, so groups must be merged.
    for name in ("small-1", "medium-3"):
        r = edgeopt.solve(load(name), "groups", seed=0, merge=merge)
        assert r.extra["rounds"] > 1 and max(r.extra["largest_group"]) > 1
        assert r.status == Status.OPTIMAL and r.objective == pytest.approx(OPTIMA[name], rel=1e-9)


@pytest.mark.parametrize("name", ["small-1", "medium-3"])
def test_every_group_relaxes_the_whole_milp(name):
    """HiGHS's optimum of the whole MILP, restricted to any group of models, satisfies that group's MILP, so each
    group's minimum is at most the optimum's cost on its columns, and a partition's minima sum to at most the
    optimum."""
    inst = load(name)
    form = formulate(inst, cuts=("compute",))
    mf = form.model.matrix()
    whole = solve_matrix(mf, seed=0)
    assert whole.status == Status.OPTIMAL and whole.objective == pytest.approx(OPTIMA[name], rel=1e-9)
    split = Split(inst, form, mf)
    M = inst.num_models
    partitions = [[(m,) for m in range(M)], [tuple(range(0, M, 2)), tuple(range(1, M, 2))], [tuple(range(M))]]
    for groups in partitions:
        total = mf.offset
        for g in groups:
            cols, sub = split.problem(g)
            ax = sub.A @ whole.x[cols]
            assert np.all(ax >= sub.row_lo - 1e-6) and np.all(ax <= sub.row_hi + 1e-6)
            out = solve_matrix(sub, seed=0)
            assert out.status == Status.OPTIMAL
            assert out.objective <= float(mf.c[cols] @ whole.x[cols]) + 1e-6
            total += out.bound
        assert total <= whole.objective + 1e-6
    # the one group of every model is the whole MILP (less its empty rows)
    cols, sub = split.problem(tuple(range(M)))
    nonempty = np.diff(mf.A.tocsr().indptr) > 0
    assert cols.size == mf.num_cols and sub.A.shape == (int(nonempty.sum()), mf.num_cols)
    assert abs(sub.A - mf.A.tocsr()[nonempty]).max() == 0


def test_a_shared_row_that_dropping_terms_would_not_relax_is_refused():
    inst = load("small-1")
    form = formulate(inst)
    mf = form.model.matrix()
    row = int(np.asarray(form.model.row_blocks["gpu_memory"].ids).ravel()[0])
    A = mf.A.tocsr().copy()
    A.data[A.indptr[row]:A.indptr[row + 1]] *= -1.0  # a row -sum <= G: dropping a term would tighten it
    with pytest.raises(ValueError, match="dropping terms would not relax it"):
        Split(inst, form, dataclasses.replace(mf, A=A.tocsc()))
    lo = mf.row_lo.copy()
    lo[row] = 1.0  # a lower bound on a shared sum: dropping a term would tighten it too
    with pytest.raises(ValueError, match="dropping terms would not relax it"):
        Split(inst, form, dataclasses.replace(mf, row_lo=lo))


class _FakeSplit:
    """Two violated rows of one edge's GPU memory, one of another edge; users per model."""

    def __init__(self):
        self.shared_where = [("gpu_memory", 0), ("gpu_memory", 0), ("gpu_memory", 1)]
        self._use = [np.array([5.0, 3.0, 1.0, 0.0]), np.array([0.0, 4.0, 4.0, 0.0]), np.array([0.0, 0.0, 2.0, 2.5])]

    def users(self, i, x):
        return self._use[i]


def test_merging_takes_the_two_largest_users_of_each_edges_worst_row_or_all_of_them():
    groups = [(0,), (1,), (2,), (3,)]
    bad = np.array([0, 1, 2])  # most violated first
    assert merged(groups, _FakeSplit(), bad, None, "pair") == [(0, 1), (2, 3)]
    assert merged(groups, _FakeSplit(), bad, None, "all") == [(0, 1, 2, 3)]
    # users already in one group count as one: the group (0, 1) and model 2 are merged
    assert merged([(0, 1), (2,), (3,)], _FakeSplit(), np.array([0]), None, "pair") == [(0, 1, 2), (3,)]


def test_a_time_limit_returns_the_best_plan_with_no_false_bound():
    inst = load("large-1")
    r = edgeopt.solve(inst, "groups", seed=0, time_limit=3.0)
    assert r.status == Status.FEASIBLE and r.extra["stop"] == "time limit"
    assert edgeopt.evaluate(inst, r.solution).feasible
    assert r.bound is None or r.bound <= OPTIMA["large-1"] + 1e-6


def test_a_round_that_merges_nothing_ends_the_run(monkeypatch):
    """If no violated row has two groups to merge (a group's own plan over a row within HiGHS's tolerance), the
    groups cannot change: the run stops at once with the bound it has instead of repeating the same round."""
    import edgeopt.families.deployment.solvers.groups as groups_module

    monkeypatch.setattr(groups_module, "merged", lambda groups, *args: list(groups))
    inst = load("small-1")  # its one-model groups overfill GPU memory
    r = edgeopt.solve(inst, "groups", seed=0)
    assert r.extra["rounds"] == 1 and r.extra["stop"] == "a violated row with one group only"
    assert r.status == Status.FEASIBLE and r.bound <= OPTIMA["small-1"] + 1e-9 * OPTIMA["small-1"]
    assert edgeopt.evaluate(inst, r.solution).feasible
