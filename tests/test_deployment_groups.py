"""The ``groups`` solver (decomposition by groups of models): its optima and bounds against independent oracles (the
optima HiGHS proved on the whole MILP, in instances/reference.solu and checked against the other backends in
test_bundled.py; here HiGHS on the whole MILP again), the relaxation its groups rest on, and its merging rule."""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
import pytest

import edgeopt
from edgeopt.comparison.reference import read_solu
from edgeopt.families.deployment.formulate import formulate
from edgeopt.families.deployment.solvers.groups import Split, merged
from edgeopt.highs import solve_matrix
from edgeopt.result import Status

from interrupting import ctrl_c_after, no_backend_left

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


@pytest.mark.parametrize("name", ["small-1", "medium-3", "small-nocloud"])
def test_two_workers_give_the_same_run_as_one(name):
    """Each group's MILP is solved alone with the seed, so solving them two at a time changes no plan, no bound
    and no merge: the same run, whatever the workers' relative speed."""
    inst = load(name)
    one = edgeopt.solve(inst, "groups", seed=0)
    two = edgeopt.solve(inst, "groups", seed=0, workers=2)
    assert two.status == one.status == Status.OPTIMAL
    assert two.objective == pytest.approx(OPTIMA[name], rel=1e-9) and two.objective == one.objective
    assert two.bound == one.bound
    assert np.array_equal(two.solution.stored, one.solution.stored)
    assert np.array_equal(two.solution.loaded, one.solution.loaded)
    assert {k: v for k, v in two.extra.items() if k != "bound_seconds"} == \
        {k: v for k, v in one.extra.items() if k != "bound_seconds"}


def test_a_merged_group_stopped_short_keeps_the_bound_of_its_parts(monkeypatch):
    """A merged group whose HiGHS run stops before a proof (a time or node limit) may have a weaker dual bound
    than its parts solved apart, which relax it: the group keeps the higher of the two, so no round's bound
    falls below the round before. Here every merged group's bound is made 100 lower than HiGHS proved."""
    import edgeopt.families.deployment.solvers.groups as groups_module

    real = groups_module.solve_many

    def weak(mfs, **kwargs):
        outs = real(mfs, **kwargs)
        one_model = min(mf.num_cols for mf in mfs)  # every model has as many columns in a deployment MILP
        return [out if mf.num_cols == one_model and len(mfs) > 1 else
                dataclasses.replace(out, status=Status.FEASIBLE, bound=out.bound - 100.0) for mf, out in zip(mfs, outs)]

    monkeypatch.setattr(groups_module, "solve_many", weak)
    inst = load("small-1")  # merged over three rounds, one group more each round
    r = edgeopt.solve(inst, "groups", seed=0)
    history = r.extra["bounds"]
    assert r.extra["rounds"] > 1 and history == sorted(history), history
    assert history[-1] >= history[0] and r.bound <= OPTIMA["small-1"] + 1e-9 * OPTIMA["small-1"]
    assert r.status == Status.FEASIBLE  # no proof from a bound that does not meet the plan
    assert edgeopt.evaluate(inst, r.solution).feasible


def test_a_node_limit_per_group_gives_a_plan_and_a_valid_bound_the_same_each_run():
    inst = load("small-1")
    runs = [edgeopt.solve(inst, "groups", seed=0, group_nodes=1) for _ in range(2)]
    r = runs[0]
    assert edgeopt.evaluate(inst, r.solution).feasible
    assert r.bound <= OPTIMA["small-1"] + 1e-9 * OPTIMA["small-1"] <= r.objective + 2e-9 * OPTIMA["small-1"]
    assert r.extra["bounds"] == sorted(r.extra["bounds"])
    assert (runs[1].objective, runs[1].bound, runs[1].extra["bounds"]) == (r.objective, r.bound, r.extra["bounds"])


@pytest.mark.parametrize("options, words", [({"workers": 0}, "workers"), ({"workers": 9}, "workers"),
                                            ({"group_nodes": -1}, "group_nodes")])
def test_options_out_of_range_are_refused_by_name(options, words):
    with pytest.raises(ValueError, match=words):
        edgeopt.solve(load("tiny-1"), "groups", **options)


def test_ctrl_c_stops_the_groups_being_solved_at_once():
    """KeyboardInterrupt 1 s into large-1's first round (13 groups, about 25 s of HiGHS) with two workers: it
    reaches the caller within seconds and no HiGHS thread is left running."""
    inst = load("large-1")
    started = time.perf_counter()
    with ctrl_c_after(1.0):
        with pytest.raises(KeyboardInterrupt):
            edgeopt.solve(inst, "groups", seed=0, workers=2)
        assert time.perf_counter() - started < 1.0 + 4.0
    assert no_backend_left()
