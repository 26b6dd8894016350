"""Deployment heuristics: feasible by the evaluator, never better than the HiGHS optimum, deterministic per seed.

Also the pieces they share: the greedy routing (hand-checked cases), the capacity repair and the
batched plan cost, which must agree with the evaluator.
"""
from __future__ import annotations

import copy

import numpy as np
import pytest

import edgeopt
from edgeopt.io import instance_from_data
from edgeopt.families import deployment
from edgeopt.result import Status
from edgeopt.families.deployment.solvers import routing
from edgeopt.families.deployment.solvers.genetic import GENERATIONS

HEURISTICS = ("genetic", "genetic-paper", "greedy", "cloud-only", "random")

#: Generated instances, small and medium, cloud on and off, each solved to optimality by HiGHS in ~1 s.
GENERATED = {
    "small": dict(edges=3, regions_per_edge=2, models=4, slots=2, seed=5),
    "medium": dict(edges=6, regions_per_edge=2, models=6, slots=4, links_per_edge=3, seed=7),
    "medium-busy": dict(edges=6, regions_per_edge=2, models=6, slots=3, load=1.5, seed=12),
    "nocloud-small": dict(edges=4, regions_per_edge=2, models=4, slots=3, cloud=False, load=0.5, seed=1),
    "nocloud-medium": dict(edges=6, regions_per_edge=2, models=6, slots=4, cloud=False, load=0.4, seed=9),
}
NAMES = (*GENERATED, "medium-warm")


@pytest.fixture(scope="module")
def instances(instances_dir):
    out = {name: edgeopt.generate("deployment", **kw) for name, kw in GENERATED.items()}
    # A bundled instance whose edges start with models stored and loaded (initial state before slot 0).
    out["medium-warm"] = edgeopt.load(instances_dir / "deployment" / "medium-warm.json")
    return out


@pytest.fixture(scope="module")
def optimal(instances):
    out = {name: edgeopt.solve(inst, "highs") for name, inst in instances.items()}
    for name, res in out.items():
        assert res.status == Status.OPTIMAL, (name, res.summary())
    return out


@pytest.fixture(scope="module")
def optimum(optimal):
    return {name: res.objective for name, res in optimal.items()}


@pytest.fixture(scope="module")
def results(instances):
    """Each heuristic's result on each instance (default options, seed 0), computed once."""
    return {(s, name): edgeopt.solve(inst, s, seed=0) for name, inst in instances.items() for s in HEURISTICS}


def _same_plan(a, b) -> bool:
    keys = ("stored", "loaded", "local", "neighbour", "cloud")
    return all(np.array_equal(getattr(a, k), getattr(b, k)) for k in keys)


# -- the solvers ----------------------------------------------------------------------------------
@pytest.mark.parametrize("solver", HEURISTICS)
def test_registered_as_heuristic(solver):
    s = {e.name: e for e in edgeopt.solvers("deployment")}[solver]
    assert s.name == solver and s.family == "deployment"
    assert s.exact is False and s.gives_bound is False and s.available is True
    assert s.description


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("solver", HEURISTICS)
def test_feasible_and_never_better_than_optimum(solver, name, instances, optimum, results):
    inst, res = instances[name], results[(solver, name)]
    if solver == "cloud-only" and not inst.cloud_enabled:
        assert res.status == Status.ERROR
        assert res.message == "no feasible plan found: cloud disabled"
        assert res.solution is None
        return
    assert res.status == Status.FEASIBLE, res.summary()
    assert res.evaluation is not None and res.evaluation.feasible
    assert res.evaluation.objective == pytest.approx(res.objective, rel=1e-9)
    assert deployment.evaluate(inst, res.solution).feasible
    assert res.bound is None and res.gap is None
    opt = optimum[name]
    assert res.objective >= opt - 1e-6 * max(1.0, abs(opt)), (solver, name, res.objective, opt)


@pytest.mark.parametrize("solver", ["genetic", "genetic-paper"])
@pytest.mark.parametrize("name", NAMES)
def test_genetic_never_worse_than_its_seed_plans(solver, name, results):
    ga = results[(solver, name)].objective
    for other in ("greedy", "cloud-only"):
        res = results[(other, name)]
        if res.status == Status.FEASIBLE:
            assert ga <= res.objective + 1e-9 * max(1.0, abs(res.objective)), (name, other, ga, res.objective)


def test_genetic_improves_on_greedy_somewhere(results):
    # The search must do something: on these instances it beats the greedy plan it starts from.
    better = [n for n in NAMES if results[("genetic", n)].objective < results[("greedy", n)].objective - 1e-6]
    assert len(better) >= len(NAMES) // 2, better


@pytest.mark.parametrize("solver", ["genetic", "genetic-paper"])
def test_genetic_history(solver, results):
    res = results[(solver, "medium")]
    history = res.extra["history"]
    assert len(history) == GENERATIONS + 1 and res.extra["generations"] == GENERATIONS
    assert all(b <= a for a, b in zip(history, history[1:])), "the best so far never gets worse"
    assert "completed" in res.raw_status
    if solver == "genetic-paper":
        assert history[-1] == pytest.approx(res.objective, rel=1e-9)
        return
    # The generations' best, then the local search's result: the plan returned is the better one.
    (search,) = res.extra["local_search"]
    assert search["start"] == pytest.approx(history[-1], rel=1e-9) and search["end"] <= search["start"]
    assert res.objective == pytest.approx(min(history[-1], search["end"]), rel=1e-9)


@pytest.mark.parametrize("solver,options", [("genetic", {"generations": 15}), ("random", {})])
def test_same_seed_same_plan(solver, options, instances):
    for name in ("medium", "nocloud-small"):
        a = edgeopt.solve(instances[name], solver, seed=7, **options)
        b = edgeopt.solve(instances[name], solver, seed=7, **options)
        assert a.status == b.status == Status.FEASIBLE
        assert a.objective == b.objective
        assert _same_plan(a.solution, b.solution)


@pytest.mark.parametrize("solver,options", [("genetic", {"generations": 5}), ("random", {"tries": 1})])
def test_seed_changes_the_search(solver, options, instances):
    runs = [edgeopt.solve(instances["medium"], solver, seed=s, **options) for s in range(4)]
    assert all(r.status == Status.FEASIBLE for r in runs)
    distinct = {tuple(r.extra["history"]) if solver == "genetic" else r.objective for r in runs}
    assert len(distinct) > 1


def test_genetic_time_limit_returns_best_so_far(instances):
    inst = instances["medium"]
    res = edgeopt.solve(inst, "genetic", seed=0, time_limit=1e-6)
    assert res.status == Status.FEASIBLE and res.evaluation.feasible
    assert len(res.extra["history"]) < GENERATIONS + 1
    assert "time limit" in res.raw_status
    # Even cut short it holds the greedy plan of its first population.
    greedy = edgeopt.solve(inst, "greedy")
    assert res.objective <= greedy.objective + 1e-9 * max(1.0, greedy.objective)


def test_genetic_rejects_bad_options(instances):
    with pytest.raises(ValueError, match="population"):
        edgeopt.solve(instances["small"], "genetic", population=1)
    with pytest.raises(ValueError, match="mutation_rate"):
        edgeopt.solve(instances["small"], "genetic", mutation_rate=1.5)
    with pytest.raises(ValueError, match="does not know"):
        edgeopt.solve(instances["small"], "genetic", populaton=10)


def test_heuristics_on_a_bundled_large_instance(instances_dir):
    inst = edgeopt.load(instances_dir / "deployment" / "large-1.json")
    assert inst.num_variables >= 100_000
    for solver, options in (("greedy", {}), ("cloud-only", {}), ("random", {"tries": 1}),
                            ("genetic-paper", {"population": 8, "generations": 2}),
                            # the local search cut by the time limit part-way still leaves a feasible plan
                            ("genetic", {"population": 8, "generations": 2, "time_limit": 3.0})):
        res = edgeopt.solve(inst, solver, seed=0, **options)
        assert res.status == Status.FEASIBLE and res.evaluation.feasible, (solver, res.summary())


# -- routing --------------------------------------------------------------------------------------
def _one_edge(*, cloud=True, loaded=("light", "heavy"), compute=10.0, light=4, heavy=4, heavy_seconds=2.0):
    """One edge, one region, two models; numbers chosen so that every route's saving is known:
    heavy saves (0.1 + 1 + 2) - 2 = 1.1 per request, 0.55 per GPU-second;
    light saves (0.1 + 0.5 + 2) - 1 = 1.6 per request, 1.6 per GPU-second."""
    model = lambda name, inf, cloud_inf, load: {  # noqa: E731
        "name": name, "storage_gb": 1.0, "gpu_memory_gb": 1.0, "load_seconds": load,
        "edge_inference_seconds": inf, "cloud_inference_seconds": cloud_inf}
    data = {
        "kind": "deployment", "format": 1, "name": "one-edge", "slots": 1, "slot_seconds": 60.0,
        "weights": {"delay_per_second": 1.0, "storage_per_gb": 0.0, "gpu_memory_per_gb": 0.0, "backhaul_per_gb": 0.0},
        "cloud": {"enabled": cloud, "wan_delay_seconds": 0.1, "cost_per_request": 2.0},
        "models": [model("heavy", heavy_seconds, 1.0, 3.0), model("light", 1.0, 0.5, 1.0)],
        "edges": [{"name": "e", "storage_gb": 10.0, "gpu_memory_gb": 10.0, "compute_seconds": compute,
                   "access_delay_seconds": 0.0, "backhaul_gbps": 10.0,
                   "initial_stored": list(loaded), "initial_loaded": list(loaded)}],
        "regions": [{"name": "r", "edge": "e"}],
        "demand": [{"region": "r", "model": "heavy", "requests": [heavy]},
                   {"region": "r", "model": "light", "requests": [light]}],
    }
    return instance_from_data(data, "<test>")


def _both_loaded(inst):
    return np.ones((1, 2, 1), dtype=bool)


def test_route_serves_best_saving_per_gpu_second_first():
    inst = _one_edge()
    sol = routing.route(inst, _both_loaded(inst), _both_loaded(inst))
    # light first: 4 requests, 4 s; then heavy: 3 requests fill the other 6 s; one heavy to the cloud.
    assert sol.local[0, :, 0].tolist() == [3, 4]
    assert sol.cloud[0, :, 0].tolist() == [1, 0]
    assert deployment.evaluate(inst, sol).feasible


def test_route_leaves_compute_for_loads():
    inst = _one_edge(loaded=())  # nothing loaded before slot 0: loading takes 3 + 1 of the 10 s
    sol = routing.route(inst, _both_loaded(inst), _both_loaded(inst))
    assert sol.local[0, :, 0].tolist() == [1, 4]
    assert sol.cloud[0, :, 0].tolist() == [3, 0]
    assert deployment.evaluate(inst, sol).feasible


def test_route_serves_only_where_loaded():
    inst = _one_edge(compute=100.0)
    y = np.zeros((1, 2, 1), dtype=bool)
    y[0, 1, 0] = True  # only light loaded: heavy must go to the cloud
    sol = routing.route(inst, y, y)
    assert sol.local[0, :, 0].tolist() == [0, 4] and sol.cloud[0, :, 0].tolist() == [4, 0]


def test_route_sends_nothing_where_the_cloud_is_cheaper():
    inst = _one_edge(compute=100.0, heavy_seconds=5.0)  # heavy at the edge: 5 s; in the cloud 0.1 + 1 + 2
    sol = routing.route(inst, _both_loaded(inst), _both_loaded(inst))
    assert sol.local[0, :, 0].tolist() == [0, 4] and sol.cloud[0, :, 0].tolist() == [4, 0]


def test_route_without_cloud_fails_when_compute_is_short():
    inst = _one_edge(cloud=False)  # 4 * 2 + 4 * 1 = 12 GPU-seconds asked, 10 available
    assert routing.route(inst, _both_loaded(inst), _both_loaded(inst)) is None
    fits = _one_edge(cloud=False, heavy=3)
    sol = routing.route(fits, _both_loaded(fits), _both_loaded(fits))
    assert sol is not None and deployment.evaluate(fits, sol).feasible and not sol.cloud.any()


def test_route_without_cloud_moves_requests_to_make_room():
    """Region r0 asks light and heavy; heavy is loaded only on its own edge e0, light on e0 and on the
    neighbour e1. The greedy serves light at e0 first (better per GPU-second) and fills it; serving
    heavy needs light moved to e1."""
    inst = _one_edge(cloud=False)
    data = copy.deepcopy(inst.data)
    e0 = data["edges"][0]
    e0.update(name="e0", compute_seconds=8.0)
    e1 = copy.deepcopy(e0)
    e1.update(name="e1", initial_stored=["light"], initial_loaded=["light"], compute_seconds=8.0)
    e0["links"] = [{"to": "e1", "delay_seconds": 0.01}]
    e1["links"] = [{"to": "e0", "delay_seconds": 0.01}]
    data["edges"] = [e0, e1]
    data["regions"] = [{"name": "r0", "edge": "e0"}]
    data["demand"] = [{"region": "r0", "model": "heavy", "requests": [4]},
                      {"region": "r0", "model": "light", "requests": [4]}]
    inst = instance_from_data(data, "<test>")
    x = np.zeros((2, 2, 1), dtype=bool)
    x[0, :, 0] = True
    x[1, 1, 0] = True
    sol = routing.route(inst, x, x)
    assert sol is not None
    assert sol.local[0, :, 0].tolist() == [4, 0]  # heavy at e0: 8 s
    assert sol.neighbour[0, :, 0].tolist() == [0, 4]  # light moved to e1
    assert deployment.evaluate(inst, sol).feasible


def test_route_of_optimal_decisions_is_feasible_and_not_better(instances, optimal, optimum):
    for name, inst in instances.items():
        best = optimal[name].solution
        sol = routing.route(inst, best.stored, best.loaded)
        assert sol is not None, name
        ev = deployment.evaluate(inst, sol)
        assert ev.feasible, (name, ev.violations[:2])
        assert ev.objective >= optimum[name] - 1e-6 * max(1.0, optimum[name])


@pytest.mark.parametrize("solver", HEURISTICS)
def test_no_plan_is_an_error_never_infeasible(solver):
    # 12 GPU-seconds asked of an edge that has 10, no cloud: the pre-check passes (one request of
    # each model fits), HiGHS proves infeasibility, a heuristic can only say it found nothing.
    inst = _one_edge(cloud=False)
    assert edgeopt.solve(inst, "highs").status == Status.INFEASIBLE
    res = edgeopt.solve(inst, solver, seed=0, **({"generations": 3} if solver.startswith("genetic") else {}))
    assert res.status == Status.ERROR and res.solution is None
    assert res.message.startswith("no feasible plan found: ")


def test_cloud_only_without_cloud_and_without_demand_is_the_empty_plan():
    inst = _one_edge(cloud=False, light=0, heavy=0)
    res = edgeopt.solve(inst, "cloud-only")
    assert res.status == Status.FEASIBLE and res.objective == 0.0


# -- repair and batched cost ----------------------------------------------------------------------
@pytest.mark.parametrize("name", ["medium", "nocloud-medium", "medium-warm"])
def test_repair_makes_random_decisions_feasible_and_is_idempotent(name, instances):
    inst = instances[name]
    rng = np.random.default_rng(1)
    genes = rng.integers(0, 3, size=(12, inst.num_edges, inst.num_models, inst.slots))
    x, y = routing.repair(inst, genes >= 1, genes == 2)
    assert not (y & ~x).any()
    assert not (x & ~(genes >= 1)).any() and not (y & ~(genes == 2)).any(), "repair only removes"
    x2, y2 = routing.repair(inst, x, y)
    assert np.array_equal(x, x2) and np.array_equal(y, y2)
    r = routing.assign(inst, y)
    costs = routing.plan_cost(inst, x, y, r)
    assert r.loads_fit.all()
    for b in range(genes.shape[0]):
        local, neighbour = routing.split(inst, r.served[b])
        sol = deployment.Solution(x[b], y[b], local, neighbour, r.left[b])
        ev = deployment.evaluate(inst, sol)
        # Only the demand may be unmet, and only when the cloud is off (the penalty's case).
        assert {v.constraint for v in ev.violations} <= ({"cloud_disabled"} if not inst.cloud_enabled else set())
        assert costs[b] == pytest.approx(ev.objective, rel=1e-9)


def test_repair_drops_over_capacity_models():
    inst = _one_edge(compute=10.0)
    data = copy.deepcopy(inst.data)
    data["edges"][0].update(gpu_memory_gb=1.0, initial_stored=[], initial_loaded=[])
    inst = instance_from_data(data, "<test>")
    both = np.ones((1, 2, 1), dtype=bool)
    x, y = routing.repair(inst, both, both)
    assert x.all()  # storage (10 GB) holds both
    # GPU memory holds one model: the one whose requests save more per GB stays loaded (light: 4 * 1.6).
    assert y[0, :, 0].tolist() == [False, True]
