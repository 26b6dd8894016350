"""The optional valid inequalities of the deployment MILP (formulate(..., cuts=...)): they cut off no plan
the evaluator accepts, leave the optimum where brute force puts it, and tighten the LP relaxation."""
from __future__ import annotations

import copy
import dataclasses
import itertools
from pathlib import Path

import numpy as np
import pytest
from bruteforce import brute_force

import edgeopt
from edgeopt.comparison.reference import read_solu
from edgeopt.families.deployment.formulate import CUTS, formulate
from edgeopt.families.deployment.instance import from_data
from edgeopt.highs import solve_matrix
from edgeopt.result import Status

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


def with_gpu(inst, model_gb, edge_gb):
    """``inst`` with the models' and edges' GPU memory replaced (the knapsacks the cover cuts work on)."""
    data = copy.deepcopy(inst.data)
    for model, gb in zip(data["models"], model_gb):
        model["gpu_memory_gb"] = float(gb)
    for edge, gb in zip(data["edges"], edge_gb):
        edge["gpu_memory_gb"] = float(gb)
    return from_data(data)


@pytest.mark.parametrize("seed", range(6))
def test_the_cover_rows_keep_every_set_of_models_that_fits(seed):
    """Every set of loaded models whose GPU memory fits an edge (within the evaluator's tolerance,
    docs/formulations.md) satisfies every cover row, enumerated over all 2^M sets; the rows are not vacuous."""
    rng = np.random.default_rng(seed)
    base = edgeopt.generate("deployment", edges=3, regions_per_edge=1, models=8, slots=2, seed=seed)
    g = np.round(rng.uniform(1.0, 30.0, size=8), 3)
    g[rng.integers(8)] = g[rng.integers(8)]  # sometimes a tie: the cliques order models by (size, index)
    G = np.array([24.0, 30.0, 48.0])
    if seed == 0:
        g[:2] = 12.0  # two models that fill edge 0 to the last byte: they fit together
    if seed == 1:
        g[:2] = 12.000001  # over by 2e-6 GB, within the evaluator's tolerance of 2.4e-5: they fit together
    inst = with_gpu(base, g, G)
    form = formulate(inst, cuts=("cover",))
    mf = form.model.matrix()
    rows = form.model.row_blocks["cover_cuts"].ids  # (E, M, T)
    y = form.blocks["loaded"].ids
    subsets = np.array(list(itertools.product((0.0, 1.0), repeat=8)))  # (256, M)
    refused = 0
    for e in range(3):
        for t in range(2):
            A = mf.A[rows[e, :, t]][:, y[e, :, t]].toarray()  # the rows of (e, t) over its loaded flags
            assert mf.A[rows[e, :, t]].nnz == np.count_nonzero(A)  # they hold no other column
            fits = subsets @ g - G[e] <= 1e-6 * max(1.0, G[e])
            ok = np.all(subsets @ A.T <= mf.row_hi[rows[e, :, t]] + 1e-9, axis=1)
            assert np.all(ok[fits]), (seed, e, t)
            refused += int(np.sum(~ok))
    assert refused > 0  # the rows do cut off sets that overflow


def gpu_bound_tiny():
    """tiny-1 with a third model: two models that fit the edge's GPU alone but not together, one that never fits;
    with enough demand that the optimum would load two of them if the memory allowed (it does at 80 GB)."""
    data = copy.deepcopy(load("tiny-1").data)
    data["models"][1]["edge_inference_seconds"] = 1.0
    data["models"].append(dict(data["models"][1], name="third", gpu_memory_gb=20.0))
    data["demand"][0]["requests"], data["demand"][1]["requests"] = [6], [5]
    data["demand"].append({"region": "region0_0", "model": "third", "requests": [2]})
    data["edges"][0]["gpu_memory_gb"] = 12.0  # 3.5 + 10 > 12; 20 > 12
    return from_data(data)


def test_with_the_cover_cuts_the_optimum_is_the_brute_force_one():
    inst = gpu_bound_tiny()
    form = formulate(inst, cuts=("cover",))
    assert form.model.matrix().A[form.model.row_blocks["cover_cuts"].ids.ravel()].nnz == 3  # {sd, whisper}, third
    r = edgeopt.solve(inst, "highs", formulation={"cuts": ("cover",)})
    assert r.status == Status.OPTIMAL
    assert r.objective == pytest.approx(brute_force(inst), rel=1e-9)
    roomy = with_gpu(inst, inst.model_gpu_memory_gb, [80.0])
    assert brute_force(roomy) < brute_force(inst) - 0.1  # the GPU memory binds


@pytest.mark.parametrize("name", ["gpu-bound tiny", "medium-3"])
def test_the_cover_cuts_tighten_the_relaxation(name):
    """The LP bound rises, and stays below the optimum (brute force; instances/reference.solu for medium-3)."""
    if name == "medium-3":
        inst, optimum = load(name), read_solu(ROOT / "instances" / "reference.solu")[name].optimum
    else:
        inst = gpu_bound_tiny()
        optimum = brute_force(inst)
    plain, cut = lp_bound(inst), lp_bound(inst, cuts=("cover",))
    assert plain + 0.01 < cut <= optimum + 1e-9


# -- odd-cycle inequalities: tried, not kept (docs/formulations.md); benchmarks/deployment_formulation.py separates them
def triangle():
    """Three edges A -> B -> C -> A (one-way links), a region at each, one model, two slots, no cloud: the LP
    opens every edge by one half (each region half at home, half at the next edge); an optimum opens two."""
    base = load("tiny-1").data
    data = copy.deepcopy(base)
    data.update(name="triangle", slots=2, models=base["models"][:1])
    data["cloud"]["enabled"] = False
    names = ["A", "B", "C"]
    data["edges"] = [dict(base["edges"][0], name=n, links=[{"to": names[(i + 1) % 3], "delay_seconds": 0.01}])
                     for i, n in enumerate(names)]
    data["regions"] = [{"name": f"r{n}", "edge": n} for n in names]
    data["demand"] = [{"region": f"r{n}", "model": "sd-2.1", "requests": [2 if n == "A" else 1, 1]} for n in names]
    return from_data(data)


def _cycles_module():
    """benchmarks/deployment_formulation.py, which holds the odd-cycle rows and their separation."""
    import sys
    if str(ROOT / "benchmarks") not in sys.path:
        sys.path.insert(0, str(ROOT / "benchmarks"))
    import deployment_formulation
    return deployment_formulation


def test_every_odd_cycle_row_holds_on_every_plan_of_the_triangle():
    """All 8 odd-cycle rows of the triangle (one region per side, in either slot, so windows of one and of two
    slots) against every plan that serves requests only where the model is loaded (capacities ignored: a
    superset of the feasible plans), enumerated: 2^6 loaded states times every split of every cell."""
    cyc = _cycles_module()
    inst = triangle()
    form = formulate(inst)
    n = form.model.num_cols
    rows = [cyc.cycle_row(inst, form, 0, [0, 1, 2], [(0, 3, t0), (1, 4, t1), (2, 5, t2)])
            for t0, t1, t2 in itertools.product(range(2), repeat=3)]  # serving entries: local r0..r2, pairs 3..5
    A = np.zeros((len(rows), n))
    for i, (cols, vals, _) in enumerate(rows):
        np.add.at(A[i], cols, vals)
    rhs = np.array([r for _, _, r in rows])
    b = form.blocks
    d = inst.demand[:, 0, :]  # (R, T)
    cells = [(r, t) for r in range(3) for t in range(2)]
    # Every split of a cell's requests over (home, the next edge, unserved-by-edges: cloud is off, so such a plan is
    # infeasible, but a superset is still a valid test of the rows).
    splits = [[(a, k - a) for k in range(d[r, t] + 1) for a in range(k + 1)] for r, t in cells]
    highest = -np.inf
    for state in itertools.product((0, 1), repeat=6):
        y = np.array(state, dtype=float).reshape(3, 2)  # (E, T)
        x = np.zeros(n)
        x[b["loaded"].ids[:, 0, :]] = y
        x[b["load"].ids[:, 0, :]] = np.maximum(0.0, y - np.concatenate([np.zeros((3, 1)), y[:, :-1]], axis=1))
        fixed = A @ x
        per_cell = []
        for (r, t), options in zip(cells, splits):
            here, nxt = r, (r + 1) % 3
            allowed = [(a, c) for a, c in options if (a == 0 or y[here, t]) and (c == 0 or y[nxt, t])]
            cols = (b["local"].ids[r, 0, t], b["neighbour"].ids[r, 0, t])
            per_cell.append([A[:, cols[0]] * a + A[:, cols[1]] * c for a, c in allowed])
        # The largest left-hand side of each row over the cells' splits: the cells add independently.
        best = fixed + sum(np.max(np.array(opts), axis=0) for opts in per_cell)
        assert np.all(best <= rhs + 1e-9), state
        highest = max(highest, float(np.max(best - rhs)))
    assert highest == pytest.approx(0.0)  # some plan meets a row with equality: the bound (k - 1)/2 is tight


def test_the_separated_odd_cycle_rows_close_the_triangle_gap_and_keep_the_optimum():
    cyc = _cycles_module()
    inst = triangle()
    optimum = brute_force(inst)
    form = formulate(inst)
    mf = form.model.matrix()
    plain = lp_bound(inst)
    with_rows, count, bound = cyc.separate_cycles(inst, form, mf, rounds=10)
    assert count >= 1
    assert plain + 1.0 < bound <= optimum + 1e-9
    lp = solve_matrix(with_rows.relaxed())
    assert lp.objective == pytest.approx(bound, rel=1e-9)
    out = solve_matrix(with_rows)
    assert out.status == Status.OPTIMAL and out.objective == pytest.approx(optimum, rel=1e-9)


def _run_benchmark(monkeypatch, capsys, *argv):
    bench = _cycles_module()
    monkeypatch.setattr("sys.argv", ["deployment_formulation.py", *argv])
    bench.main()
    return capsys.readouterr().out.splitlines()


def test_the_formulation_benchmark_runs_each_configuration_with_each_thread_count(monkeypatch, capsys):
    """--threads 1,2: every configuration once per count (the portfolio only with two clones), the lagrange
    bound once per instance and never above the optimum of instances/reference.solu (proved by HiGHS, and by
    brute force in tests/test_bundled.py)."""
    refs = read_solu(ROOT / "instances" / "reference.solu")
    out = _run_benchmark(monkeypatch, capsys, "tiny-1", "tiny-2", "--threads", "1,2", "--configs",
                         "plain,portfolio,lagrange", "--time-limit", "60", "--lagrange-seconds", "30")
    rows = [line.split() for line in out if line.startswith("tiny-")]
    assert [(r[0], r[1], r[2]) for r in rows] == [
        (n, c, t) for n in ("tiny-1", "tiny-2")
        for c, t in (("plain", "1"), ("plain", "2"), ("portfolio", "2"), ("lagrange", "1"))]
    for r in rows:
        optimum = refs[r[0]].optimum
        if r[1] == "lagrange":  # instance, config, threads, reference, bound, gap, seconds, plan ...
            assert float(r[4]) <= optimum + 1e-6 * max(1.0, abs(optimum))
        else:
            assert "proved in" in " ".join(r), r


def test_the_formulation_benchmark_refuses_a_bad_thread_count(monkeypatch, capsys):
    with pytest.raises(SystemExit) as exc:
        _run_benchmark(monkeypatch, capsys, "tiny-1", "--threads", "1,zero")
    assert exc.value.code == 2
    assert "--threads" in capsys.readouterr().err


def test_the_formulation_benchmark_has_a_groups_row_with_its_rounds(monkeypatch, capsys):
    """--configs groups: one row per instance, its bound at the optimum of instances/reference.solu (small-1 needs
    merged groups: four rounds), "proved", and below it the bound after every round, rising to that optimum."""
    refs = read_solu(ROOT / "instances" / "reference.solu")
    out = _run_benchmark(monkeypatch, capsys, "small-1", "--configs", "groups", "--groups-seconds", "60",
                         "--threads", "1,2")
    rows = [line.split() for line in out if line.startswith("small-1")]
    # one row per thread count: the groups solved one, then two at a time
    assert [(r[0], r[1], r[2]) for r in rows] == [("small-1", "groups", "1"), ("small-1", "groups", "2")]
    optimum = refs["small-1"].optimum
    rounds = [line for line in out if line.strip().startswith("rounds:")]
    assert len(rounds) == 2
    for row, line in zip(rows, rounds):
        assert float(row[4]) == pytest.approx(optimum, rel=1e-9) and "proved in" in " ".join(row)
        bounds = [float(part.split(" at ")[0]) for part in line.split(":", 1)[1].split(";")]
        assert len(bounds) > 1 and bounds == sorted(bounds) and bounds[-1] == pytest.approx(optimum, rel=1e-9)
