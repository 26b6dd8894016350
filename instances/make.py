"""Regenerate the bundled instances from their generator parameters (deterministic).

    python instances/make.py            # rewrites instances/{deployment,assignment,offloading,serving}/*.json
    python instances/make.py --census   # writes nothing: how often generated assignment optima mix models

Each instance's parameters are listed here so that anyone can rebuild or vary them; the files are
bundled so that nobody has to. Reference values live in instances/reference.solu.
"""
from __future__ import annotations

import argparse
import collections
import copy
from pathlib import Path

import edgeopt
from edgeopt.io import instance_from_data

HERE = Path(__file__).resolve().parent

#: name -> generate() parameters. "tiny" ones are small enough for brute-force enumeration.
DEPLOYMENT = {
    "tiny-1": dict(edges=1, regions_per_edge=1, models=2, slots=1, load=0.5, seed=1),
    "tiny-2": dict(edges=2, regions_per_edge=1, models=2, slots=1, load=0.3, seed=2),
    "tiny-3": dict(edges=1, regions_per_edge=1, models=2, slots=2, load=0.4, seed=3),
    "small-1": dict(edges=3, regions_per_edge=2, models=4, slots=2, seed=11),
    "small-2": dict(edges=4, regions_per_edge=2, models=5, slots=3, load=1.5, seed=12),
    "small-nocloud": dict(edges=4, regions_per_edge=2, models=["sd-1.5", "tinyllama-1.1b", "whisper-turbo",
                                                                "gpt2-small"], slots=3, cloud=False, load=0.6, seed=13),
    "medium-1": dict(edges=8, regions_per_edge=3, models=8, slots=4, seed=21),
    "medium-2": dict(edges=10, regions_per_edge=3, models=10, slots=6, links_per_edge=3, seed=22),
    "medium-3": dict(edges=12, regions_per_edge=3, models=10, slots=6, load=2.0, seed=23),
    "medium-warm": dict(edges=8, regions_per_edge=2, models=8, slots=6, seed=24),
    "large-1": dict(edges=20, regions_per_edge=3, models=13, slots=16, links_per_edge=4, seed=31),
    "large-2": dict(edges=30, regions_per_edge=4, models=13, slots=12, links_per_edge=4, load=1.5, seed=32),
}


def with_initial_state(inst):
    """medium-warm starts from the plan of a greedy operator: each edge holds the smallest models it fits."""
    data = copy.deepcopy(inst.data)
    by_size = sorted(data["models"], key=lambda m: m["gpu_memory_gb"])
    for edge in data["edges"]:
        stored, gpu, disk = [], 0.0, 0.0
        for m in by_size:
            if gpu + m["gpu_memory_gb"] <= edge["gpu_memory_gb"] and disk + m["storage_gb"] <= edge["storage_gb"]:
                stored.append(m["name"])
                gpu += m["gpu_memory_gb"]
                disk += m["storage_gb"]
        edge["initial_stored"] = stored
        edge["initial_loaded"] = stored[: max(1, len(stored) // 2)]
    data["description"] += "; initial state: each edge starts with the smallest models it fits, half loaded"
    return instance_from_data(data, "<medium-warm>")


def infeasible_gpu():
    """A text-to-video model larger than every edge's GPU memory, with the cloud disabled."""
    inst = edgeopt.generate("deployment", edges=2, regions_per_edge=1, models=["sd-1.5", "open-sora-1.2"],
                            slots=1, cloud=False, seed=41, name="infeasible-gpu")
    data = copy.deepcopy(inst.data)
    for edge in data["edges"]:
        edge["gpu_memory_gb"] = 24.0
    data["description"] += "; every edge capped at 24 GB of GPU memory: Open-Sora 1.2 needs 27 GB"
    return instance_from_data(data, "<infeasible-gpu>")


#: name -> assignment generate() parameters (prompts sampled from PartiPrompts).
ASSIGNMENT = {
    "assign-tiny-1": dict(prompts=8, models=2, latency_weight=0.2, seed=1),
    "assign-tiny-2": dict(prompts=12, models=["sd-1.5", "pixart-alpha"], latency_weight=0.1, seed=2),
    "assign-small-1": dict(prompts=50, models=3, latency_weight=0.2, seed=3),
    "assign-small-2": dict(prompts=100, models=3, latency_weight=0.05, gpu_memory_gb=30.0, seed=4),
    "assign-medium-1": dict(prompts=300, models=4, latency_weight=0.1, seed=5),
    "assign-medium-2": dict(prompts=500, models=5, latency_weight=0.02, gpu_memory_gb=40.0, seed=6),
    "assign-medium-3": dict(prompts=500, models=5, latency_weight=0.3, seed=7),
    "assign-large-1": dict(prompts=1079, models=5, latency_weight=0.05, seed=8),
    "assign-large-2": dict(prompts=1632, models=5, latency_weight=0.1, gpu_memory_gb=36.0, seed=9),
    "assign-large-3": dict(prompts=1632, models=5, latency_weight=0.01, compute_budget=2.0, seed=10),
    # Chosen so that the proven optimum mixes models (SDXL base for basic and detail prompts, PixArt-alpha
    # for imagination and complex ones): with the catalogue's quality figures, that pair is the only mix an
    # optimum uses (instances/README.md, "How representative the assignment set is").
    "assign-mixed-1": dict(prompts=60, models=["sdxl-base-1.0", "pixart-alpha", "sdxl-lcm-lora"],
                           latency_weight=0.08, seed=31),
    "assign-mixed-2": dict(prompts=400, models=["sd-2.1", "sdxl-base-1.0", "pixart-alpha"], latency_weight=0.02,
                           compute_budget=0.5, seed=22),
    "assign-mixed-3": dict(prompts=800, models=5, latency_weight=0.2, compute_budget=3.0, gpu_memory_gb=36.0,
                           seed=33),
}


def build_assignment() -> dict:
    """Every bundled assignment instance, by file stem."""
    return {name: edgeopt.generate("assignment", name=name, **params) for name, params in ASSIGNMENT.items()}


#: name -> offloading generate() parameters. "tiny" ones (2-3 users, 1 edge, 1 slot) are small enough to check
#: by brute force over every user's options; offload-small-tight is edited after generation (tight_memory).
OFFLOADING = {
    "offload-tiny-1": dict(users=2, edges=1, slots=1, models=2, request_probability=1.0, seed=1),
    "offload-tiny-2": dict(users=3, edges=1, slots=1, models=3, request_probability=1.0, seed=2),
    "offload-tiny-3": dict(users=3, edges=1, slots=1, models=4, request_probability=1.0, cloud=False, seed=3),
    "offload-small-1": dict(users=8, edges=2, slots=2, seed=11),
    "offload-small-nocloud": dict(users=10, edges=2, slots=2, cloud=False, seed=12),
    "offload-small-tight": dict(users=12, edges=2, slots=2, models=4, max_configs=None, seed=13),
    "offload-small-lowsnr": dict(users=10, edges=2, slots=2, cell_radius_m=5000.0, seed=14),
    "offload-medium-1": dict(users=40, edges=3, slots=4, seed=21),
    "offload-medium-2": dict(users=80, edges=4, slots=6, uplink_mhz=5.0, downlink_mhz=10.0, seed=22),
    "offload-large-1": dict(users=200, edges=4, slots=10, seed=31),
    "offload-large-2": dict(users=300, edges=6, slots=12, max_configs=None, request_probability=0.6, seed=32),
}
#: GPU memory of the edges of offload-small-tight: every catalogue model fits alone (the largest takes 26 GB),
#: no two of the three large ones fit together.
TIGHT_MEMORY_GB = (32.0, 40.0)


def tight_memory(inst):
    """offload-small-tight: the four catalogue models with all their configurations, edges capped at 32 and
    40 GB, so which models each edge loads is a real choice (the generator's 80 GB A100 holds all four)."""
    data = copy.deepcopy(inst.data)
    for edge, gb in zip(data["edges"], TIGHT_MEMORY_GB):
        edge["gpu_memory_gb"] = gb
    data["description"] += (f"; edge GPU memory capped at {', '.join(f'{gb:g}' for gb in TIGHT_MEMORY_GB)} GB: "
                            "no two of the three large models fit together")
    return instance_from_data(data, "<offload-small-tight>")


def build_offloading() -> dict:
    """Every bundled offloading instance, by file stem."""
    out = {}
    for name, params in OFFLOADING.items():
        inst = edgeopt.generate("offloading", name=name, **params)
        out[name] = tight_memory(inst) if name == "offload-small-tight" else inst
    return out


#: name -> serving generate() parameters. The "tiny" ones (2 users, 1 edge, 3 slots, 2 models of one
#: configuration) are small enough for the brute force of tests/oracles.py; the no-cloud ones on 24 GB edges are
#: where what carries between slots matters (a model loaded now is not loaded again; work spills over);
#: four are driven by the Azure traces replayed (trace-*), the others by the 3-state MMPPs fitted to them.
SERVING = {
    "serving-tiny-1": dict(users=2, edges=1, slots=3, models=["animatediff-lcm", "cogvideox-2b"], max_configs=1,
                           arrivals="poisson", request_rate=0.7, seed=1),
    "serving-tiny-2": dict(users=2, edges=1, slots=3, models=["animatediff-lcm", "cogvideox-2b"], max_configs=1,
                           arrivals="poisson", request_rate=0.7, cloud=False, edge_gpus=["RTX 4090"],
                           loading_per_second=2.0, seed=2),
    "serving-small-1": dict(users=8, edges=2, slots=8, edge_gpus=["RTX 4090"], cloud=False, loading_per_second=1.0,
                            seed=11),
    "serving-small-2": dict(users=10, edges=2, slots=10, arrivals="trace-code", trace_start=600, seed=12),
    "serving-small-backlog": dict(users=8, edges=2, slots=10, slot_seconds=5.0, delay_per_second=0.5,
                                  edge_gpus=["RTX 4090"], request_rate=0.6, seed=13),
    "serving-medium-1": dict(users=20, edges=3, slots=30, edge_gpus=["RTX 4090"], cloud=False, loading_per_second=1.0,
                             seed=21),
    "serving-medium-2": dict(users=20, edges=3, slots=30, arrivals="trace-conv", trace_start=0,
                             edge_gpus=["RTX 4090", "A100"], loading_per_second=2.0, seed=22),
    "serving-medium-trace": dict(users=30, edges=3, slots=40, arrivals="trace-code", trace_start=1200, cloud=False,
                                 edge_gpus=["RTX 4090"], loading_per_second=0.5, seed=23),
    "serving-large-1": dict(users=60, edges=4, slots=60, arrivals="mmpp-conv", edge_gpus=["RTX 4090", "A100"],
                            loading_per_second=1.0, seed=31),
    "serving-large-2": dict(users=100, edges=6, slots=60, arrivals="trace-conv", trace_start=1800, cloud=False,
                            edge_gpus=["RTX 4090"], loading_per_second=1.0, seed=32),
}


def warm_start(inst):
    """serving-small-backlog: each edge starts holding cogvideox-2b with 30 s of unfinished work."""
    data = copy.deepcopy(inst.data)
    for edge in data["edges"]:
        edge["initial_loaded"] = ["cogvideox-2b"]
        edge["initial_backlog_seconds"] = 30.0
    data["description"] += "; each edge starts holding cogvideox-2b with 30 s of unfinished GPU work"
    return instance_from_data(data, "<serving-small-backlog>")


def build_serving() -> dict:
    """Every bundled serving instance, by file stem."""
    out = {}
    for name, params in SERVING.items():
        inst = edgeopt.generate("serving", name=name, **params)
        out[name] = warm_start(inst) if name == "serving-small-backlog" else inst
    return out


def build_all() -> dict:
    """Every bundled deployment instance, by file stem, as this script makes it."""
    out = {}
    for name, params in DEPLOYMENT.items():
        inst = edgeopt.generate("deployment", name=name, **params)
        out[name] = with_initial_state(inst) if name == "medium-warm" else inst
    out["infeasible-gpu"] = infeasible_gpu()
    return out


def census(count: int = 300, seed: int = 2026) -> None:
    """Print which models the optima of ``count`` generated assignment instances use (instances/README.md,
    "How representative the assignment set is"): random generator parameters drawn with ``seed``, every
    instance solved exactly by ``enumerate``."""
    import numpy as np

    rng = np.random.default_rng(seed)
    sizes, sets = collections.Counter(), collections.Counter()
    both = both_mixed = 0
    for k in range(count):
        prompts, models = int(rng.integers(20, 1633)), int(rng.integers(2, 6))
        weight = float(np.exp(rng.uniform(np.log(0.005), np.log(3.0))))
        budget = float(rng.choice([0.5, 1.0, 2.0]))
        memory = [None, 24.0, 30.0, 36.0, 40.0][int(rng.integers(5))]
        inst = edgeopt.generate("assignment", prompts=prompts, models=models, latency_weight=weight,
                                compute_budget=budget, gpu_memory_gb=memory, seed=1000 + k)
        result = edgeopt.solve(inst, "enumerate", seed=0)
        if result.status != edgeopt.Status.OPTIMAL:
            sizes[result.status.value] += 1
            continue
        used = tuple(sorted({inst.model_names[j] for j in result.solution.model}))
        sizes[len(used)] += 1
        sets[" + ".join(used)] += 1
        pair = ("sdxl-base-1.0", "pixart-alpha")
        if set(pair) <= set(inst.model_names) and inst.fits_memory(np.isin(inst.model_names, pair)):
            both += 1
            both_mixed += len(used) > 1
    print(f"{count} generated assignment instances (seeds 1000..{999 + count}, parameters drawn with seed {seed})")
    for size, n in sorted(sizes.items(), key=str):
        print(f"  optimum uses {size} model(s): {n}")
    for models, n in sets.most_common():
        print(f"  {n:4d}  {models}")
    print(f"  SDXL base and PixArt-alpha both available and fitting together: {both}, optimum mixes: {both_mixed}")
    print("bundled: the models of each optimum, and its gain over the best plan on a single model")
    for path in sorted((HERE / "assignment").glob("*.json")):
        inst = edgeopt.load(path)
        result = edgeopt.solve(inst, "enumerate", seed=0)
        used = sorted({inst.model_names[j] for j in result.solution.model})
        alone = max(edgeopt.solve(instance_from_data({**inst.data, "models": [m]}, str(path)), "enumerate",
                                  seed=0).objective for m in inst.data["models"])
        gain = result.objective - alone
        print(f"  {inst.name:<16} {' + '.join(used):<30} optimum {result.objective:.6f}  one model "
              f"{alone:.6f}  gain {gain:.4f} ({100 * gain / result.objective:.3f}%)")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--census", action="store_true", help="write nothing; print which models the optima of "
                    "300 generated assignment instances use")
    if ap.parse_args(argv).census:
        census()
        return
    folder = HERE / "deployment"
    folder.mkdir(exist_ok=True)
    for name, inst in build_all().items():
        edgeopt.save(inst, folder / f"{name}.json")
        print(f"{name}: {inst.num_variables} variables")
    folder = HERE / "assignment"
    folder.mkdir(exist_ok=True)
    for name, inst in build_assignment().items():
        edgeopt.save(inst, folder / f"{name}.json")
        print(f"{name}: {inst!r}")
    folder = HERE / "offloading"
    folder.mkdir(exist_ok=True)
    for name, inst in build_offloading().items():
        edgeopt.save(inst, folder / f"{name}.json")
        print(f"{name}: {inst!r}")
    folder = HERE / "serving"
    folder.mkdir(exist_ok=True)
    for name, inst in build_serving().items():
        edgeopt.save(inst, folder / f"{name}.json")
        print(f"{name}: {inst!r}")


if __name__ == "__main__":
    main()
