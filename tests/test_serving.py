"""The serving family: the hindsight optimum against a brute force written from docs/formulations.md alone,
the evaluator's dynamics against a hand recomputation, every online method under the information rule, the
generator and its arrivals, and the solvers' relations (no online method above the hindsight optimum)."""
from __future__ import annotations

import copy

import numpy as np
import pytest
from oracles import serving_brute_force

import edgeopt
from edgeopt.io import instance_from_data

ONLINE = ["myopic", "mpc", "keep-greedy", "lru-greedy", "lfu-greedy", "static-plan", "forward-greedy", "mappo", "ippo"]


def _tiny(seed: int, memory_gb: float | None = None, backlog: float = 0.0, loaded=(), **kw):
    """A tiny instance (one cell, 2 users, 3 slots, 2 models of one configuration each), edited."""
    params = dict(users=2, edges=1, slots=3, models=["animatediff-lcm", "cogvideox-2b"], max_configs=1,
                  request_rate=0.6, arrivals="poisson", seed=seed)
    params.update(kw)
    data = copy.deepcopy(edgeopt.generate("serving", **params).data)
    for e in data["edges"]:
        if memory_gb is not None:
            e["gpu_memory_gb"] = memory_gb
        e["initial_backlog_seconds"] = backlog
        e["initial_loaded"] = list(loaded)
    data["name"] = f"tiny-{seed}"
    return instance_from_data(data, f"<tiny {seed}>")


TINY = [
    _tiny(1), _tiny(2, cloud=False), _tiny(3, memory_gb=20.0, loading_per_second=2.0),
    _tiny(4, memory_gb=20.0, cloud=False, loading_per_second=5.0, slot_seconds=5.0),
    _tiny(5, backlog=40.0, loaded=["cogvideox-2b"], memory_gb=20.0, loading_per_second=1.0),
    _tiny(6, delay_per_second=0.5, slot_seconds=2.0, request_rate=0.9),
]


@pytest.mark.parametrize("inst", TINY, ids=[i.name for i in TINY])
def test_hindsight_is_the_brute_force_optimum(inst):
    """Oracle: dynamic programming over every choice, held-model set and backlog (tests/oracles.py), written
    from docs/formulations.md, sharing by the square-root rule."""
    assert inst.requested.sum() >= 2
    best = serving_brute_force(inst)
    r = edgeopt.solve(inst, "hindsight")
    assert r.status == edgeopt.Status.OPTIMAL, r.message
    assert r.objective == pytest.approx(best, rel=1e-9, abs=1e-9)
    assert r.bound == pytest.approx(best, rel=1e-7, abs=1e-7)
    second = edgeopt.solve(inst, "hindsight-miqp")
    assert second.status == edgeopt.Status.OPTIMAL and second.objective == pytest.approx(best, rel=1e-9, abs=1e-9)
    for name in ONLINE:  # no online method beats the hindsight optimum
        other = edgeopt.solve(inst, name)
        assert other.status == edgeopt.Status.FEASIBLE, (name, other.message)
        assert other.objective <= best + 1e-9 * max(1.0, abs(best)), name


@pytest.mark.parametrize("name", ["serving-small-1", "serving-small-2", "serving-small-backlog", "serving-medium-1",
                                  "serving-medium-2"])
def test_the_two_exact_methods_agree_on_bundled_instances(name):
    """hindsight (outer approximation on HiGHS) and hindsight-miqp (the MIQP on SCIP) both prove, and agree."""
    from conftest import INSTANCES

    inst = edgeopt.load(INSTANCES / "serving" / f"{name}.json")
    a, b = edgeopt.solve(inst, "hindsight"), edgeopt.solve(inst, "hindsight-miqp")
    assert a.status == b.status == edgeopt.Status.OPTIMAL
    assert a.objective == pytest.approx(b.objective, rel=1e-9)


def test_the_evaluator_recomputes_loads_and_backlog_by_hand():
    """Two slots on one edge, 10-s slots: hold model B (cogvideox-2b) in slot 0 (loaded: its seconds of work)
    and serve user 0 with it at the edge, hold A and B in slot 1 (A loaded); the work of an edge request is its
    generation at the GPU's full speed."""
    inst = _tiny(7, memory_gb=80.0, slot_seconds=10.0, request_rate=1.0, slots=2, loading_per_second=0.5)
    assert inst.requested[0, 0] and inst.config_names[1] == "cogvideox-2b/480p-6s"
    sol = edgeopt.solve(inst, "keep-greedy").solution
    loaded = np.zeros_like(sol.loaded)
    loaded[0, :, 0] = [False, True]
    loaded[0, :, 1] = [True, True]
    k, p = sol.config.copy(), sol.place.copy()
    k[:], p[:] = -1, -1
    k[0, 0], p[0, 0] = 1, 1
    x = np.zeros_like(sol.shares)
    x[0, 0] = 1.0
    plan = type(sol)(k, p, loaded, x)
    ev = edgeopt.evaluate(inst, plan)
    assert ev.feasible, ev.violations
    d = inst.data
    speed = {g["name"]: g["relative_speed"] for g in d["gpus"]}
    cfg = d["models"][1]["configs"][0]
    gen = cfg["generation_seconds"] * speed[cfg["measured_on"]] / speed[d["edges"][0]["gpu"]]
    la, lb = d["models"][0]["load_seconds"], d["models"][1]["load_seconds"]
    b0 = max(0.0, gen + lb - 10.0)
    b1 = max(0.0, b0 + la - 10.0)
    assert b0 > 0 and b1 > 0
    assert ev.parts["loading"] == pytest.approx(-0.5 * (la + lb), rel=1e-12)
    assert ev.parts["backlog"] == pytest.approx(-inst.delay_per_second * (b0 + b1), rel=1e-12)
    assert ev.stats["loads"] == 2


def test_hindsight_is_at_least_every_online_method_on_a_generated_horizon():
    inst = edgeopt.generate("serving", users=10, edges=2, slots=8, seed=4, edge_gpus=["RTX 4090"],
                            loading_per_second=1.0)
    best = edgeopt.solve(inst, "hindsight")
    assert best.status == edgeopt.Status.OPTIMAL
    for name in ONLINE:
        r = edgeopt.solve(inst, name)
        assert r.status == edgeopt.Status.FEASIBLE and r.objective <= best.objective + 1e-9 * abs(best.objective)


def _future_changed(inst, t: int):
    """The instance with every request after slot ``t`` changed: who asks flips, lengths change."""
    data = copy.deepcopy(inst.data)
    for u in data["users"]:
        for s in range(t + 1, data["slots"]):
            r = u["requests"][s]
            u["requests"][s] = None if r is not None else {"category": "basic", "duration_seconds": 2.0}
            u["distance_m"][s] = 400.0
    data["name"] += "-future-changed"
    return instance_from_data(data, "<future changed>")


@pytest.mark.parametrize("name", ONLINE)
def test_online_methods_do_not_peek_at_later_arrivals(name):
    """The information rule: decisions up to slot t are the same when everything after t changes."""
    inst = edgeopt.generate("serving", users=8, edges=2, slots=6, seed=3, edge_gpus=["RTX 4090"],
                            loading_per_second=1.0, request_rate=0.6)
    for t in (1, 3):
        other = _future_changed(inst, t)
        assert not np.array_equal(other.requested[:, t + 1:], inst.requested[:, t + 1:])
        a, b = edgeopt.solve(inst, name), edgeopt.solve(other, name)
        assert np.array_equal(a.solution.config[:, :t + 1], b.solution.config[:, :t + 1])
        assert np.array_equal(a.solution.place[:, :t + 1], b.solution.place[:, :t + 1])
        assert np.array_equal(a.solution.loaded[:, :, :t + 1], b.solution.loaded[:, :, :t + 1])



def _held(inst, loaded):
    """(E, M, T + 1) the models each edge holds before slot 0 (the initial state) and in every slot."""
    return np.concatenate([np.asarray(inst.initial_loaded, dtype=bool)[:, :, None], loaded], axis=2)


def _roomy(initial_all: bool):
    """Edges of 80 GB (H100) that hold the whole catalogue (74 GB): no plan ever needs to evict."""
    inst = edgeopt.generate("serving", users=8, edges=2, slots=6, models=4, max_configs=1, edge_gpus=["H100"],
                            arrivals="poisson", request_rate=0.6, seed=0)
    if not initial_all:
        return inst
    data = copy.deepcopy(inst.data)
    for e in data["edges"]:
        e["initial_loaded"] = [m["name"] for m in data["models"]]
    data["name"] += "-all-loaded"
    return instance_from_data(data, "<all loaded>")


@pytest.mark.parametrize("initial_all", [False, True], ids=["start-empty", "start-full"])
@pytest.mark.parametrize("name", ["myopic", "mpc"])
def test_exact_online_methods_keep_loaded_models_that_still_fit(name, initial_all):
    """A loaded model no request of the slot uses is a tie in the window's MILP; myopic and mpc must not drop
    it when memory allows (they used to, and paid to load it again). Oracle: with memory for every model of
    the catalogue nothing need ever be evicted, so a model once held stays held and each (edge, model) is
    loaded at most once (none at all when every model is loaded from the start)."""
    inst = _roomy(initial_all)
    assert (inst.model_memory_gb.sum() <= inst.edge_memory_gb).all()
    r = edgeopt.solve(inst, name, seed=0)
    assert r.status == edgeopt.Status.FEASIBLE, r.message
    held = _held(inst, r.solution.loaded)
    assert not (held[:, :, :-1] & ~held[:, :, 1:]).any(), "a held model was dropped"
    loads = (held[:, :, 1:] & ~held[:, :, :-1]).sum(axis=2)
    assert loads.max() <= 1
    assert r.evaluation.stats["loads"] == loads.sum() == (held[:, :, -1] & ~held[:, :, 0]).sum()
    if initial_all:
        assert r.evaluation.stats["loads"] == 0


@pytest.mark.parametrize("name", ["myopic", "mpc"])
def test_exact_online_methods_drop_only_models_that_no_longer_fit(name):
    """With tight memory (24 GB edges, no cloud) a model held at a slot's start may leave only for room: every
    model dropped in a slot would not fit beside the models the edge holds in that slot."""
    inst = edgeopt.generate("serving", users=8, edges=2, slots=8, edge_gpus=["RTX 4090"], cloud=False,
                            loading_per_second=1.0, arrivals="trace-code", trace_start=300, seed=2 ** 31)
    r = edgeopt.solve(inst, name, seed=0)
    assert r.status == edgeopt.Status.FEASIBLE, r.message
    held = _held(inst, r.solution.loaded)
    memory = np.einsum("emt,m->et", held.astype(float), inst.model_memory_gb)
    for e, m, t in zip(*np.nonzero(held[:, :, :-1] & ~held[:, :, 1:])):
        assert memory[e, t + 1] + inst.model_memory_gb[m] > inst.edge_memory_gb[e] * (1 + 1e-9), (e, m, t)

def test_hindsight_does_use_the_future():
    """The yardstick is not online: some future change moves its earlier decisions (else the test above would
    prove nothing about the rule)."""
    inst = edgeopt.generate("serving", users=8, edges=2, slots=6, seed=3, edge_gpus=["RTX 4090"],
                            loading_per_second=1.0, request_rate=0.6)
    moved = False
    for t in range(inst.slots - 1):
        a, b = edgeopt.solve(inst, "hindsight"), edgeopt.solve(_future_changed(inst, t), "hindsight")
        moved |= not (np.array_equal(a.solution.config[:, :t + 1], b.solution.config[:, :t + 1])
                      and np.array_equal(a.solution.loaded[:, :, :t + 1], b.solution.loaded[:, :, :t + 1]))
    assert moved


def test_the_generator_is_seeded_and_its_arrivals_are_bursty():
    a = edgeopt.generate("serving", seed=5)
    assert a.hash == edgeopt.generate("serving", seed=5).hash != edgeopt.generate("serving", seed=6).hash
    poisson = edgeopt.generate("serving", users=60, edges=1, slots=200, arrivals="poisson", seed=1)
    bursty = edgeopt.generate("serving", users=60, edges=1, slots=200, arrivals="mmpp-code", seed=1)
    trace = edgeopt.generate("serving", users=60, edges=1, slots=200, arrivals="trace-code", trace_start=0, seed=1)
    def dispersion(inst):
        c = inst.requested.sum(axis=0)
        return c.var() / c.mean()
    assert dispersion(poisson) < 1.5 < dispersion(bursty) and dispersion(trace) > 1.5
    assert "Splitwise" in trace.content["source"] and trace.content["description"].count("trace_start=0") == 1
    with pytest.raises(ValueError, match="arrivals must be one of"):
        edgeopt.generate("serving", arrivals="zipf")
    with pytest.raises(ValueError, match="slot_seconds must be a whole number"):
        edgeopt.generate("serving", slot_seconds=2.5)


def test_a_broken_initial_state_is_named():
    data = copy.deepcopy(_tiny(1).data)
    data["edges"][0]["initial_loaded"] = ["cogvideox-2b", "nope", "cogvideox-2b"]
    with pytest.raises(edgeopt.InstanceError, match=r"edges\[0\].initial_loaded\[1\]: no model named 'nope'"):
        instance_from_data(data, "x.json")
    data["edges"][0]["initial_loaded"] = ["cogvideox-2b", "animatediff-lcm"]
    data["edges"][0]["gpu_memory_gb"] = 20.0
    with pytest.raises(edgeopt.InstanceError, match=r"edges\[0\].initial_loaded: the models need 24 GB"):
        instance_from_data(data, "x.json")


def test_the_serving_benchmark_runs_in_quick_mode(tmp_path):
    import subprocess
    import sys

    from conftest import ROOT

    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "serving.py"), "--quick", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=600, cwd=ROOT, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "gap closed" in proc.stdout and "loss/request" in proc.stdout
    rows = (tmp_path / "results.csv").read_text().splitlines()
    assert len(rows) == 1 + 3 * 10  # 3 instances x 10 methods
    assert "decision time per slot against mpc's" in proc.stdout
    assert (tmp_path / "cumulative-window-code-300-quick.png").stat().st_size > 1000


def test_requests_that_can_be_served_nowhere_are_refused_by_every_method():
    """Issue 19, item 14: a slot whose requests have no option at all (one model too big for the edge, no device
    runs it, no cloud) crashed hindsight, myopic, mpc, forward-greedy and the learned policies (an index into
    an empty option table). Every method now refuses them: the objective is minus the refusal penalty per
    request, nothing else (the evaluator's parts, by hand)."""
    inst = edgeopt.generate("serving", users=6, edges=1, models=1, cloud=False, seed=7, slots=4)
    assert inst.requested.any() and all(inst.options(t).num_options == 0 for t in range(inst.slots))
    want = -inst.refusal_penalty * float(inst.requested.sum())
    for s in edgeopt.solvers():
        if s.family != "serving" or not s.available:
            continue
        r = edgeopt.solve(inst, s.name, seed=0)
        assert r.evaluation.feasible and r.objective == pytest.approx(want, abs=1e-9), s.name
        assert r.status in (edgeopt.Status.OPTIMAL, edgeopt.Status.FEASIBLE), s.name
