"""Brute-force enumeration of tiny deployment instances, written from the instance file's data alone.

It shares no code with edgeopt's evaluator or MILP: costs and capacities are recomputed here from
``instance.data`` with plain Python, so agreement with the MILP optimum checks both.
"""
from __future__ import annotations

import itertools


def _compositions(n: int, k: int):
    """Every way to write n as an ordered sum of k non-negative integers."""
    if k == 1:
        yield (n,)
        return
    for first in range(n + 1):
        for rest in _compositions(n - first, k - 1):
            yield (first,) + rest


def brute_force(instance) -> float:
    """The optimal objective by enumeration (inf if infeasible). Exponential: tiny instances only."""
    d = instance.data
    T = d["slots"]
    models = {m["name"]: m for m in d["models"]}
    mnames = [m["name"] for m in d["models"]]
    edges = {e["name"]: e for e in d["edges"]}
    enames = [e["name"] for e in d["edges"]]
    w, cloud = d["weights"], d["cloud"]
    home = {r["name"]: r["edge"] for r in d["regions"]}
    links = {e["name"]: {l["to"]: l["delay_seconds"] for l in e.get("links", [])} for e in d["edges"]}
    demand = {(x["region"], x["model"]): x["requests"] for x in d["demand"]}
    slots_cells = [(e, m) for e in enames for m in mnames]

    best = float("inf")
    # Each (edge, model, slot) is absent (0), stored (1) or stored and loaded (2).
    for states in itertools.product((0, 1, 2), repeat=len(slots_cells) * T):
        st = {(e, m, t): states[t * len(slots_cells) + i] for t in range(T) for i, (e, m) in enumerate(slots_cells)}
        fixed, ok = 0.0, True
        busy = {(e, t): 0.0 for e in enames for t in range(T)}
        for t in range(T):
            for e in enames:
                disk = sum(models[m]["storage_gb"] for m in mnames if st[e, m, t] >= 1)
                gpu = sum(models[m]["gpu_memory_gb"] for m in mnames if st[e, m, t] == 2)
                dl_time = 0.0
                for m in mnames:
                    prev = st[e, m, t - 1] if t > 0 else (
                        2 if m in edges[e].get("initial_loaded", []) else 1 if m in edges[e].get("initial_stored", [])
                        else 0)
                    if st[e, m, t] >= 1:
                        fixed += w["storage_per_gb"] * models[m]["storage_gb"]
                        if prev == 0:
                            secs = models[m]["storage_gb"] * 8 / edges[e]["backhaul_gbps"]
                            dl_time += secs
                            fixed += w["delay_per_second"] * secs + w["backhaul_per_gb"] * models[m]["storage_gb"]
                    if st[e, m, t] == 2:
                        fixed += w["gpu_memory_per_gb"] * models[m]["gpu_memory_gb"]
                        if prev < 2:
                            fixed += w["delay_per_second"] * models[m]["load_seconds"]
                            busy[e, t] += models[m]["load_seconds"]
                if disk > edges[e]["storage_gb"] or gpu > edges[e]["gpu_memory_gb"] or dl_time > d["slot_seconds"]:
                    ok = False
        if not ok or fixed >= best:
            continue
        # Routing: for every (region, model, slot) with demand, split it over the places that can serve it.
        cells = []
        for (r, m), counts in demand.items():
            for t in range(T):
                if counts[t] == 0:
                    continue
                e0 = home[r]
                a = edges[e0]["access_delay_seconds"]
                p = models[m]["edge_inference_seconds"]
                places = []
                if st[e0, m, t] == 2:
                    places.append((e0, w["delay_per_second"] * (a + p)))
                for e1, delay in links[e0].items():
                    if st[e1, m, t] == 2:
                        places.append((e1, w["delay_per_second"] * (a + delay + p)))
                if cloud["enabled"]:
                    places.append((None, w["delay_per_second"] * (a + cloud["wan_delay_seconds"]
                                                                  + models[m]["cloud_inference_seconds"])
                                   + cloud["cost_per_request"]))
                if not places:
                    ok = False
                    break
                cells.append((counts[t], t, p, places))
            if not ok:
                break
        if not ok:
            continue
        options = [[(split, t, p, places) for split in _compositions(n, len(places))] for n, t, p, places in cells]
        for choice in itertools.product(*options):
            load = dict(busy)
            cost = fixed
            for split, t, p, places in choice:
                for k, (e, unit) in zip(split, places):
                    cost += k * unit
                    if e is not None:
                        load[e, t] += k * p
            if cost < best and all(load[e, t] <= edges[e]["compute_seconds"] + 1e-9 for e, t in load):
                best = cost
    return best
