"""The deployment evaluator, the truth every solver is checked against, and the infeasibility pre-check.

:func:`evaluate` recomputes the objective, its parts and every violated constraint from the decisions
alone (docs/formulations.md, "deployment"); it shares no code with the MILP of ``formulate.py``.
"""
from __future__ import annotations

import numpy as np

from edgeopt.families.deployment.instance import Instance, Solution, switched_on
from edgeopt.result import Evaluation, Violation

#: Relative tolerance of the evaluator's capacity checks.
TOL = 1e-6
#: At most this many violations of one kind are listed (a broken plan of a large instance has millions).
MAX_LISTED = 50


def edge_load(inst: Instance, local: np.ndarray, neighbour: np.ndarray) -> np.ndarray:
    """(E, M, T): requests of each model served at each edge."""
    served = np.zeros((inst.num_edges, inst.num_models, inst.slots), dtype=np.int64)
    np.add.at(served, inst.region_edge, local)
    np.add.at(served, inst.pair_edge, neighbour)
    return served


def _decisions(inst: Instance, sol: Solution, viol: list) -> dict | None:
    """The solution's arrays checked for shape (None if one is wrong) and integrality (rounded after)."""
    E, M, R, P, T = inst.num_edges, inst.num_models, inst.num_regions, inst.num_pairs, inst.slots
    shapes = {"stored": (E, M, T), "loaded": (E, M, T), "local": (R, M, T), "neighbour": (P, M, T),
              "cloud": (R, M, T)}
    arrays = {}
    for key, shape in shapes.items():
        a = np.asarray(getattr(sol, key))
        if a.shape != shape:
            viol.append(Violation("shape", key, float("nan"), f"expected shape {shape}, got {a.shape}"))
            return None
        arrays[key] = a
    for key in ("local", "neighbour", "cloud"):
        a = arrays[key].astype(float)
        bad = (a < 0) | (np.abs(a - np.round(a)) > 1e-6)
        for idx in np.argwhere(bad)[:20]:
            viol.append(Violation("integrality", f"{key}{tuple(map(int, idx))}", float(a[tuple(idx)]),
                                  "request counts must be non-negative integers"))
        arrays[key] = np.round(np.maximum(a, 0)).astype(np.int64)
    arrays["stored"] = arrays["stored"].astype(bool)
    arrays["loaded"] = arrays["loaded"].astype(bool)
    return arrays


def _capacities(inst: Instance, d: dict, viol: list) -> None:
    """Loaded implies stored; storage, GPU memory, compute (requests and loads) and backhaul per edge and slot."""
    E, T = inst.num_edges, inst.slots
    x, y = d["stored"], d["loaded"]

    def where(e, t):
        return f"edge {inst.edge_names[e]!r}, slot {t}"

    def check(name, used, cap, unit):
        cap = np.broadcast_to(cap, (E, T))
        over = used - cap
        for idx in np.argwhere(over > TOL * np.maximum(1.0, np.abs(cap))):
            i = tuple(map(int, idx))
            viol.append(Violation(name, where(*i), float(over[i]), f"uses {used[i]:.6g} {unit} of {cap[i]:.6g}"))

    for e, m, t in np.argwhere(y & ~x):
        viol.append(Violation("loaded_implies_stored", where(e, t), 1.0,
                              f"model {inst.model_names[m]!r} is loaded but not stored"))
    check("storage", np.einsum("emt,m->et", x, inst.model_storage_gb), inst.edge_storage_gb[:, None], "GB")
    check("gpu_memory", np.einsum("emt,m->et", y, inst.model_gpu_memory_gb), inst.edge_gpu_memory_gb[:, None], "GB")
    served = edge_load(inst, d["local"], d["neighbour"])
    busy = (np.einsum("emt,m->et", served, inst.edge_inference_seconds)
            + np.einsum("emt,m->et", switched_on(y, inst.initial_loaded), inst.load_seconds))
    check("compute", busy, inst.compute_seconds[:, None], "GPU-seconds")
    downloads = switched_on(x, inst.initial_stored)
    check("backhaul", np.einsum("emt,em->et", downloads, inst.download_seconds), inst.slot_seconds,
          "seconds of download")


def _routing(inst: Instance, d: dict, viol: list) -> None:
    """Requests go only where their model is loaded; every request is served exactly once; no cloud if off."""
    y, local, nb, cl = d["loaded"], d["local"], d["neighbour"], d["cloud"]
    for counts, edge_of, label in ((local, inst.region_edge, "local"), (nb, inst.pair_edge, "neighbour")):
        bad = (counts > 0) & ~y[edge_of]
        for i, m, t in np.argwhere(bad)[:MAX_LISTED]:
            viol.append(Violation("serve_where_loaded", f"{label} route {i}, model {inst.model_names[m]!r}, slot {t}",
                                  float(counts[i, m, t]), f"{counts[i, m, t]} requests sent to edge "
                                  f"{inst.edge_names[edge_of[i]]!r}, where the model is not loaded"))
    total = local + cl
    np.add.at(total, inst.pair_region, nb)
    for r, m, t in np.argwhere(total != inst.demand):
        viol.append(Violation("demand", f"region {inst.region_names[r]!r}, model {inst.model_names[m]!r}, slot {t}",
                              float(total[r, m, t] - inst.demand[r, m, t]),
                              f"serves {total[r, m, t]} requests of {inst.demand[r, m, t]} asked"))
    if not inst.cloud_enabled and cl.any():
        viol.append(Violation("cloud_disabled", "cloud", float(cl.sum()),
                              f"{int(cl.sum())} requests sent to the cloud, which this instance disables"))


def cost_parts(inst: Instance, d: dict) -> dict[str, float]:
    """The objective's parts (docs/formulations.md): they sum to the objective."""
    x, y, local, nb, cl = d["stored"], d["loaded"], d["local"], d["neighbour"], d["cloud"]
    return {
        "storage": float(np.einsum("emt,m->", x, inst.cost_stored)),
        "gpu_memory": float(np.einsum("emt,m->", y, inst.cost_loaded)),
        "switching": float(np.einsum("emt,m->", switched_on(y, inst.initial_loaded), inst.cost_load)),
        "download": float(np.einsum("emt,em->", switched_on(x, inst.initial_stored), inst.cost_download)),
        "request_delay": float(np.einsum("rmt,rm->", local, inst.cost_local)
                               + np.einsum("pmt,pm->", nb, inst.cost_neighbour)
                               + np.einsum("rmt,rm->", cl, inst.cost_cloud - inst.cloud_cost_per_request)),
        "cloud": float(cl.sum() * inst.cloud_cost_per_request),
    }


def evaluate(inst: Instance, sol: Solution) -> Evaluation:
    """Recompute the objective, its parts and every violated constraint from the decisions alone."""
    viol: list[Violation] = []
    d = _decisions(inst, sol, viol)
    if d is None:
        return Evaluation(float("nan"), {}, tuple(viol))
    _capacities(inst, d, viol)
    _routing(inst, d, viol)
    parts = cost_parts(inst, d)
    return Evaluation(float(sum(parts.values())), parts, tuple(viol))


def infeasibility_reason(inst: Instance) -> str | None:
    """A readable reason why no plan can serve the demand, found without solving; None if none is found.

    With the cloud disabled, every requested model must fit (storage, GPU memory, one inference
    within the slot's compute) on the region's own edge or on an edge it links to.
    """
    if inst.cloud_enabled:
        return None
    fits = ((inst.model_storage_gb[None, :] <= inst.edge_storage_gb[:, None])
            & (inst.model_gpu_memory_gb[None, :] <= inst.edge_gpu_memory_gb[:, None])
            & (inst.edge_inference_seconds[None, :] <= inst.compute_seconds[:, None]))  # (E, M)
    asked = inst.demand.sum(axis=2) > 0  # (R, M)
    for r, m in np.argwhere(asked):
        candidates = [int(inst.region_edge[r])] + [int(e) for e in inst.pair_edge[inst.pair_region == r]]
        if not fits[candidates, m].any():
            names = ", ".join(repr(inst.edge_names[e]) for e in candidates)
            gpu = max(inst.edge_gpu_memory_gb[candidates])
            return (f"region {inst.region_names[r]!r} requests model {inst.model_names[m]!r} (storage "
                    f"{inst.model_storage_gb[m]:g} GB, GPU memory {inst.model_gpu_memory_gb[m]:g} GB, "
                    f"{inst.edge_inference_seconds[m]:g} s per request), but no edge that can serve it ({names}; "
                    f"largest GPU memory {gpu:g} GB) can hold and run it, and the cloud is disabled")
    return None
