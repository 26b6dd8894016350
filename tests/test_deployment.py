"""The deployment family: generator, evaluator, MILP formulation, brute force, files."""
from __future__ import annotations

import copy

import numpy as np
import pytest

import edgeopt
import edgeopt.document
from edgeopt.io import instance_from_data
from edgeopt.families import deployment as dep

from bruteforce import brute_force
from oracles import deployment_violations


def _variant(base, source, **changes):
    """A copy of ``base`` with edge fields / cloud switched, to make capacities bind."""
    data = copy.deepcopy(base.data)
    for key, value in changes.items():
        if key == "cloud":
            data["cloud"]["enabled"] = value
        else:
            for edge in data["edges"]:
                edge[key] = value
    return instance_from_data(data, source)


def tiny_instances():
    """Tiny instances for brute force: bundled ones plus variants with binding capacities."""
    out = {}
    pairs = [["sd-1.5", "tinyllama-1.1b"], ["whisper-turbo", "sdxl-lcm-lora"], ["gpt2-small", "sd-2.1"],
             ["cogvideox-2b", "sd-1.5"]]
    for seed, models in enumerate(pairs):
        base = edgeopt.generate("deployment", edges=2, regions_per_edge=1, models=models, slots=1, load=0.2,
                                seed=seed)
        out[f"gen{seed}"] = base
        out[f"gen{seed}-tight-compute"] = _variant(base, "tight", compute_seconds=6.0)
        out[f"gen{seed}-nocloud-tight"] = _variant(base, "nocloud", compute_seconds=30.0, cloud=False)
    two_slots = edgeopt.generate("deployment", edges=1, regions_per_edge=1, models=2, slots=2, load=0.3, seed=7)
    out["two-slots"] = two_slots
    out["two-slots-one-gpu-model"] = _variant(two_slots, "gpu", gpu_memory_gb=float(
        max(two_slots.model_gpu_memory_gb)))
    return out


TINY = tiny_instances()


EXACT = [s.name for s in edgeopt.solvers() if s.exact and s.family == "deployment"]
BRUTE = {name: brute_force(inst) for name, inst in TINY.items()}


@pytest.mark.parametrize("solver", EXACT)
@pytest.mark.parametrize("name", sorted(TINY))
def test_exact_backends_equal_brute_force_on_tiny(name, solver):
    inst = TINY[name]
    expected = BRUTE[name]
    result = edgeopt.solve(inst, solver)
    if np.isinf(expected):
        assert result.status == edgeopt.Status.INFEASIBLE
    else:
        assert result.status == edgeopt.Status.OPTIMAL, result.message
        assert result.objective == pytest.approx(expected, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("solver", EXACT)
@pytest.mark.parametrize("name", ["tiny-1", "tiny-2", "tiny-3"])
def test_bundled_tiny_instances_equal_brute_force(instances_dir, name, solver):
    inst = edgeopt.load(instances_dir / "deployment" / f"{name}.json")
    assert edgeopt.solve(inst, solver).objective == pytest.approx(brute_force(inst), rel=1e-9)


def test_tight_variants_really_bind():
    """The brute-force catalogue must include cases where capacity changes the answer."""
    changed = 0
    for seed in range(4):
        loose = edgeopt.solve(TINY[f"gen{seed}"], "highs").objective
        tight = edgeopt.solve(TINY[f"gen{seed}-tight-compute"], "highs").objective
        changed += tight > loose + 1e-9
    assert changed >= 2


def test_generate_is_deterministic_per_seed():
    a = edgeopt.generate("deployment", edges=3, models=4, slots=2, seed=5)
    b = edgeopt.generate("deployment", edges=3, models=4, slots=2, seed=5)
    c = edgeopt.generate("deployment", edges=3, models=4, slots=2, seed=6)
    assert a.data == b.data and a.hash == b.hash
    assert a.hash != c.hash


def test_generated_models_come_from_the_cited_catalog():
    inst = edgeopt.generate("deployment", models=6, seed=1)
    for m in inst.data["models"]:
        for field in ("storage_gb", "gpu_memory_gb", "load_seconds", "edge_inference_seconds",
                      "cloud_inference_seconds"):
            assert m["sources"][field], f"{m['name']}.{field} has no source"


@pytest.fixture(scope="module")
def medium():
    inst = edgeopt.generate("deployment", edges=4, regions_per_edge=2, models=5, slots=3, seed=9)
    return inst, edgeopt.solve(inst, "highs")


def test_milp_objective_equals_evaluator_on_any_plan(medium):
    """c·x + offset of the encoded plan equals evaluate() for the optimum and for cloud-only."""
    inst, result = medium
    form = dep.formulate(inst)
    mf = form.model.matrix()
    cloud_only = dep.empty_solution(inst)
    cloud_only = dep.Solution(cloud_only.stored, cloud_only.loaded, cloud_only.local, cloud_only.neighbour,
                              inst.demand.copy())
    for sol in (result.solution, cloud_only):
        x = form.encode(sol)
        assert float(mf.c @ x + mf.offset) == pytest.approx(dep.evaluate(inst, sol).objective, rel=1e-12)
        ax = mf.A @ x
        assert np.all(ax <= mf.row_hi + 1e-9) and np.all(ax >= mf.row_lo - 1e-9)
        assert np.array_equal(form.decode(x).loaded, sol.loaded)


def test_parts_sum_to_objective(medium):
    inst, result = medium
    ev = result.evaluation
    assert ev.feasible
    assert sum(ev.parts.values()) == pytest.approx(ev.objective, rel=1e-12)
    assert set(ev.parts) == {"storage", "gpu_memory", "switching", "download", "request_delay", "cloud"}


def _tampered(sol, **changes):
    fields = {k: getattr(sol, k).copy() for k in ("stored", "loaded", "local", "neighbour", "cloud")}
    for key, fn in changes.items():
        fn(fields[key])
    return dep.Solution(**fields)


def test_evaluator_names_each_violated_constraint(medium):
    inst, result = medium
    sol = result.solution
    e, m, t = map(int, np.argwhere(sol.loaded)[0])

    def drop_stored(a):
        a[e, m, t] = False

    ev = dep.evaluate(inst, _tampered(sol, stored=drop_stored))
    assert any(v.constraint == "loaded_implies_stored" for v in ev.violations)

    def unload(a):
        a[:] = False

    # The optimum of this instance serves requests at their own edges and at linked ones; with nothing
    # loaded, every one of those routes (fewer than the 50 listed per kind) must be named.
    assert 0 < np.count_nonzero(sol.local) < 50 and 0 < np.count_nonzero(sol.neighbour) < 50
    ev = dep.evaluate(inst, _tampered(sol, loaded=unload))
    named = {v.where for v in ev.violations if v.constraint == "serve_where_loaded"}
    expected = {f"local route {r}, model {inst.model_names[m]!r}, slot {t}" for r, m, t in np.argwhere(sol.local)}
    expected |= {f"neighbour route {p}, model {inst.model_names[m]!r}, slot {t}"
                 for p, m, t in np.argwhere(sol.neighbour)}
    assert named == expected

    def extra_cloud(a):
        a[0, 0, 0] += 1

    ev = dep.evaluate(inst, _tampered(sol, cloud=extra_cloud))
    assert any(v.constraint == "demand" for v in ev.violations)

    def load_everything(a):
        a[:] = True

    ev = dep.evaluate(inst, _tampered(sol, stored=load_everything, loaded=load_everything))
    assert "gpu_memory" in {v.constraint for v in ev.violations}
    small_disks = _variant(inst, "small-disks", storage_gb=1.0)
    assert "storage" in {v.constraint for v in dep.evaluate(small_disks, sol).violations}


def test_evaluator_flags_compute_overload(tmp_path):
    """With the cloud disabled every request of a feasible plan is served at an edge, so squeezing the
    edges' compute below one inference must overload them; the overloaded (edge, slot) pairs are the
    ones tests/oracles.py finds from the instance document."""
    inst = TINY["gen0-nocloud-tight"]
    assert not inst.data["cloud"]["enabled"] and inst.demand.sum() > 0
    result = edgeopt.solve(inst, "highs")
    assert result.status == edgeopt.Status.OPTIMAL and result.evaluation.feasible
    sol = result.solution
    assert sol.local.sum() + sol.neighbour.sum() == inst.demand.sum()
    squeezed = _variant(inst, "squeeze", compute_seconds=0.5)
    assert 0.5 < min(m["edge_inference_seconds"] for m in squeezed.data["models"])
    flagged = {v.where for v in dep.evaluate(squeezed, sol).violations if v.constraint == "compute"}
    path = tmp_path / "plan.json"
    edgeopt.save_solution(inst, result, path)
    overloaded = {f"edge {e!r}, slot {t}" for kind, (e, t) in deployment_violations(squeezed, path) if kind == "compute"}
    assert overloaded and flagged == overloaded


def test_verify_turns_a_lying_solver_into_error(medium):
    inst, result = medium
    lie = result.with_(objective=result.objective * 0.9)
    checked = edgeopt.verify(inst, lie)
    assert checked.status == edgeopt.Status.ERROR and "evaluator computes" in checked.message


def test_solution_file_round_trip(tmp_path, medium):
    inst, result = medium
    path = tmp_path / "plan.json"
    edgeopt.save_solution(inst, result, path)
    back = edgeopt.load_solution(path, inst)
    assert dep.evaluate(inst, back).objective == pytest.approx(result.objective, rel=1e-12)
    for key in ("stored", "loaded", "local", "neighbour", "cloud"):
        assert np.array_equal(getattr(back, key), getattr(result.solution, key))


def test_solution_for_another_instance_is_refused(tmp_path, medium):
    inst, result = medium
    other = edgeopt.generate("deployment", edges=4, regions_per_edge=2, models=5, slots=3, seed=10)
    path = tmp_path / "plan.json"
    edgeopt.save_solution(inst, result, path)
    with pytest.raises(edgeopt.InstanceError, match="instance_hash"):
        edgeopt.load_solution(path, other)


def test_unservable_model_is_infeasible_with_a_reason(instances_dir):
    inst = edgeopt.load(instances_dir / "deployment" / "infeasible-gpu.json")
    result = edgeopt.solve(inst, "highs")
    assert result.status == edgeopt.Status.INFEASIBLE
    assert "open-sora-1.2" in result.message and "cloud is disabled" in result.message


def test_highs_proves_infeasibility_the_precheck_cannot_see():
    """Every model fits some edge, but total demand exceeds the compute of all edges."""
    base = edgeopt.generate("deployment", edges=2, regions_per_edge=1, models=2, slots=1, load=3.0, seed=3)
    inst = _variant(base, "overload", compute_seconds=float(max(base.edge_inference_seconds)), cloud=False)
    assert dep.infeasibility_reason(inst) is None
    result = edgeopt.solve(inst, "highs")
    assert result.status == edgeopt.Status.INFEASIBLE
    assert brute_force(inst) == float("inf")


def test_instance_arrays_are_read_only(medium):
    inst, _ = medium
    with pytest.raises(ValueError):
        inst.demand[0, 0, 0] = 5
    with pytest.raises(ValueError):
        inst.cost_local[0, 0] = 1.0
    doc = inst.data
    doc["edges"][0]["gpu_memory_gb"] = 1.0
    assert inst.data["edges"][0]["gpu_memory_gb"] != 1.0
    assert edgeopt.document.content_hash(inst.data) == inst.hash


def test_initial_state_saves_switching(instances_dir):
    inst = edgeopt.load(instances_dir / "deployment" / "medium-warm.json")
    assert inst.initial_loaded.any()
    cold = instance_from_data({**copy.deepcopy(inst.data), "edges": [
        {k: v for k, v in e.items() if k not in ("initial_stored", "initial_loaded")} for e in inst.data["edges"]]},
        "cold")
    warm_obj = edgeopt.solve(inst, "highs").objective
    cold_obj = edgeopt.solve(cold, "highs").objective
    assert warm_obj <= cold_obj + 1e-9
