"""Independent oracles for the tests, written from the instance document (``instance.data``) alone.

Nothing here imports edgeopt's evaluators, formulations, solvers or instance arrays: every number is
recomputed from the JSON content of the instance (and, for a plan, from the JSON of its solution
file), in plain Python or numpy, following docs/formulations.md. A test that compares edgeopt's
output with these functions therefore checks edgeopt against a second, separately written model.

- :func:`deployment_cost` / :func:`deployment_violations`: the objective and the broken constraints of a
  deployment plan given as the ``decisions`` of a solution file.
- :func:`assignment_optimum`: the exact optimum of an assignment instance by the vertex argument
  (each category goes wholly to one model), enumerated in vectorised numpy.
- :func:`assignment_brute_force`: the optimum over every prompt-level assignment (tiny instances only),
  the check of :func:`assignment_optimum` itself.
- :func:`solu_values`: the ``=opt=`` / ``=inf=`` lines of a .solu file, parsed here.
"""
from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np


# -- reference files -------------------------------------------------------------------------------
def solu_values(path) -> dict[str, float]:
    """Instance name -> proven optimum (``=opt=``), or ``math.nan`` for a proven infeasible (``=inf=``)."""
    out: dict[str, float] = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "=opt=":
            out[parts[1]] = float(parts[2])
        elif len(parts) == 2 and parts[0] == "=inf=":
            out[parts[1]] = math.nan
    return out


# -- deployment ------------------------------------------------------------------------------------
def read_decisions(path) -> dict:
    """The ``decisions`` object of a solution file (the JSON written by ``edgeopt.save_solution``)."""
    return json.loads(Path(path).read_text(encoding="utf-8"))["decisions"]


def _plan(instance, decisions):
    """Per slot the stored and loaded (edge, model) sets, the state before slot 0, and the routes."""
    d = instance.data
    if not isinstance(decisions, dict):  # a solution file's path
        decisions = read_decisions(decisions)
    T = d["slots"]
    assert len(decisions["slots"]) == T, "one entry per slot"
    stored = [{(e, m) for e, names in s["stored"].items() for m in names} for s in decisions["slots"]]
    loaded = [{(e, m) for e, names in s["loaded"].items() for m in names} for s in decisions["slots"]]
    stored0 = {(e["name"], m) for e in d["edges"] for m in e.get("initial_stored", [])}
    loaded0 = {(e["name"], m) for e in d["edges"] for m in e.get("initial_loaded", [])}
    return d, stored, loaded, stored0, loaded0, decisions["routes"]


def deployment_cost(instance, decisions) -> float:
    """The objective of a deployment plan, recomputed from ``instance.data`` and the solution file's
    ``decisions`` (a dict, or the path of the solution file).

    Per slot: storage_per_gb * storage_gb per stored model, gpu_memory_per_gb * gpu_memory_gb per loaded
    model, delay_per_second * load_seconds per load (loaded now, not in the slot before or, for slot 0,
    in the initial state), delay_per_second * 8 * storage_gb / backhaul_gbps + backhaul_per_gb *
    storage_gb per download (stored now, not before); per request: delay_per_second * (access delay of
    the region's edge + [link delay] + inference) at an edge, plus the cloud's price in the cloud.
    """
    d, stored, loaded, stored0, loaded0, routes = _plan(instance, decisions)
    w, cloud = d["weights"], d["cloud"]
    models = {m["name"]: m for m in d["models"]}
    edges = {e["name"]: e for e in d["edges"]}
    home = {r["name"]: r["edge"] for r in d["regions"]}
    cost = 0.0
    for t in range(d["slots"]):
        before_s = stored0 if t == 0 else stored[t - 1]
        before_l = loaded0 if t == 0 else loaded[t - 1]
        for e, m in stored[t]:
            size = models[m]["storage_gb"]
            cost += w["storage_per_gb"] * size
            if (e, m) not in before_s:
                cost += w["delay_per_second"] * 8.0 * size / edges[e]["backhaul_gbps"] + w["backhaul_per_gb"] * size
        for e, m in loaded[t]:
            cost += w["gpu_memory_per_gb"] * models[m]["gpu_memory_gb"]
            if (e, m) not in before_l:
                cost += w["delay_per_second"] * models[m]["load_seconds"]
    for route in routes:
        model, n = models[route["model"]], route["requests"]
        own = edges[home[route["region"]]]
        if route["at"] == "cloud":
            per = (w["delay_per_second"] * (own["access_delay_seconds"] + cloud["wan_delay_seconds"]
                                            + model["cloud_inference_seconds"]) + cloud["cost_per_request"])
        elif route["at"] == own["name"]:
            per = w["delay_per_second"] * (own["access_delay_seconds"] + model["edge_inference_seconds"])
        else:
            link = {l["to"]: l["delay_seconds"] for l in own.get("links", [])}[route["at"]]
            per = w["delay_per_second"] * (own["access_delay_seconds"] + link + model["edge_inference_seconds"])
        cost += n * per
    return cost


def deployment_violations(instance, decisions, rel: float = 1e-6) -> list[tuple[str, tuple]]:
    """Every broken constraint of a deployment plan as (constraint, where) pairs, empty if it is feasible,
    recomputed from ``instance.data``. Per (edge, slot): ``storage``, ``gpu_memory``, ``compute`` (requests
    served there and models loaded there in the slot), ``backhaul`` (downloads finish within the slot);
    per (edge, model, slot): ``loaded_implies_stored``; per (region, model, slot): ``serve_where_loaded``,
    ``route`` (served at an edge that is neither the region's nor linked to it), ``cloud_disabled`` and
    ``demand`` (served exactly as asked). Capacities have the relative tolerance ``rel``."""
    d, stored, loaded, stored0, loaded0, routes = _plan(instance, decisions)
    models = {m["name"]: m for m in d["models"]}
    edges = {e["name"]: e for e in d["edges"]}
    home = {r["name"]: r["edge"] for r in d["regions"]}
    over = lambda used, cap: used > cap + rel * max(1.0, cap)
    bad: list[tuple[str, tuple]] = []
    busy = {(e, t): 0.0 for e in edges for t in range(d["slots"])}
    for t in range(d["slots"]):
        before_s = stored0 if t == 0 else stored[t - 1]
        before_l = loaded0 if t == 0 else loaded[t - 1]
        bad += [("loaded_implies_stored", (e, m, t)) for e, m in sorted(loaded[t] - stored[t])]
        for e, m in loaded[t] - before_l:
            busy[e, t] += models[m]["load_seconds"]
        for e, edge in edges.items():
            disk = sum(models[m]["storage_gb"] for (x, m) in stored[t] if x == e)
            gpu = sum(models[m]["gpu_memory_gb"] for (x, m) in loaded[t] if x == e)
            download = sum(8.0 * models[m]["storage_gb"] / edge["backhaul_gbps"]
                           for (x, m) in stored[t] - before_s if x == e)
            for name, used, cap in (("storage", disk, edge["storage_gb"]), ("gpu_memory", gpu, edge["gpu_memory_gb"]),
                                    ("backhaul", download, d["slot_seconds"])):
                if over(used, cap):
                    bad.append((name, (e, t)))
    served: dict[tuple[str, str, int], int] = {}
    for route in routes:
        r, m, t, at, n = route["region"], route["model"], route["slot"], route["at"], route["requests"]
        key = (r, m, t)
        served[key] = served.get(key, 0) + n
        if at == "cloud":
            if n and not d["cloud"]["enabled"]:
                bad.append(("cloud_disabled", key))
            continue
        own = edges[home[r]]
        if at != own["name"] and at not in {link["to"] for link in own.get("links", [])}:
            bad.append(("route", key))
        if n and (at, m) not in loaded[t]:
            bad.append(("serve_where_loaded", key))
        busy[at, t] += n * models[m]["edge_inference_seconds"]
    bad += [("compute", (e, t)) for (e, t), used in busy.items() if over(used, edges[e]["compute_seconds"])]
    wanted = {(x["region"], x["model"], t): n for x in d["demand"] for t, n in enumerate(x["requests"]) if n}
    for key in sorted(set(wanted) | {k for k, n in served.items() if n}):
        if served.get(key, 0) != wanted.get(key, 0):
            bad.append(("demand", key))
    return bad


# -- assignment ------------------------------------------------------------------------------------
def _assignment_data(instance):
    d = instance.data
    cats = list(d["categories"])
    counts = np.array([sum(p["category"] == c for p in d["prompts"]) for c in cats], dtype=float)
    return d, cats, counts, float(len(d["prompts"]))


def _mean_clip(model: dict, category: str, steps: np.ndarray) -> np.ndarray:
    """Expected CLIP score of a prompt of ``category`` on ``model`` at ``steps`` (an array)."""
    q0 = model["clip_at_zero_steps"]
    return q0 + (model["quality"][category]["clip_max"] - q0) * (1.0 - np.exp(-steps / model["steps_scale"]))


def assignment_optimum(instance) -> float:
    """The best expected utility of an assignment instance (``-inf`` if no model fits the memory).

    By the vertex argument of docs/formulations.md every category goes wholly to one model, so it
    enumerates every category -> model map (skipping those whose models do not fit ``gpu_memory_gb``)
    and, vectorised, every steps choice of the models the map uses. With n_j prompts on model j at s_j
    steps and the optimal shares, the mean latency is (sum_j sqrt(n_j s_j step_seconds_j / N))^2 / budget;
    utility = mean quality - latency_weight * mean latency.
    """
    d, cats, counts, N = _assignment_data(instance)
    models = d["models"]
    F, lam, G = float(d["compute_budget"]), float(d["latency_weight"]), d.get("gpu_memory_gb")
    best = -np.inf
    for cmap in itertools.product(range(len(models)), repeat=len(cats)):
        used = sorted({j for j, n in zip(cmap, counts) if n > 0})
        if not used:
            continue
        if G is not None and sum(models[j]["gpu_memory_gb"] for j in used) > G * (1 + 1e-9):
            continue
        # One axis per used model over its steps grid; quality and sqrt(latency term) add over models.
        quality = np.zeros((1,) * len(used))
        root = np.zeros((1,) * len(used))
        for axis, j in enumerate(used):
            shape = [1] * len(used)
            shape[axis] = -1
            steps = np.asarray(models[j]["steps"], dtype=float).reshape(shape)
            n_j = sum(n for k, n in zip(cmap, counts) if k == j)
            for c, k, n in zip(cats, cmap, counts):
                if k == j and n > 0:
                    quality = quality + n * _mean_clip(models[j], c, steps) / N
            root = root + np.sqrt(n_j * steps * models[j]["step_seconds"] / N)
        best = max(best, float(np.max(quality - lam * root ** 2 / F)))
    return best


def assignment_brute_force(instance, max_models: int | None = None) -> float:
    """The best expected utility over EVERY prompt-level assignment and every steps choice of the models
    used, plain Python, shares by the square-root rule (exponential: a handful of prompts only).
    ``max_models``: only assignments that use at most that many models (to tell whether an optimum
    needs several)."""
    d = instance.data
    models, prompts = d["models"], d["prompts"]
    N = len(prompts)
    F, lam, G = d["compute_budget"], d["latency_weight"], d.get("gpu_memory_gb")
    best = -math.inf
    for assign in itertools.product(range(len(models)), repeat=N):
        used = sorted(set(assign))
        if max_models is not None and len(used) > max_models:
            continue
        if G is not None and sum(models[j]["gpu_memory_gb"] for j in used) > G * (1 + 1e-9):
            continue
        for steps in itertools.product(*[models[j]["steps"] for j in used]):
            s = dict(zip(used, steps))
            quality = 0.0
            for p, j in zip(prompts, assign):
                m = models[j]
                q0 = m["clip_at_zero_steps"]
                quality += q0 + (m["quality"][p["category"]]["clip_max"] - q0) * (1 - math.exp(-s[j] / m["steps_scale"]))
            latency = sum(math.sqrt(assign.count(j) * s[j] * models[j]["step_seconds"] / N) for j in used) ** 2 / F
            best = max(best, quality / N - lam * latency)
    return best


# -- offloading ------------------------------------------------------------------------------------
def _offloading_choices(d: dict, t: int) -> list[tuple[str, list[dict]]]:
    """Per user who asks in slot ``t``: (user name, its ways to be served), each a dict with ``value`` (what
    does not depend on shares), ``costs`` {resource: a} (the term a/x with share x of the resource) and
    ``needs`` (the (edge, model) that must be loaded, or None). From docs/formulations.md, "offloading"."""
    w, radio, cloud = d["weights"], d["radio"], d["cloud"]
    speed = {g["name"]: g["relative_speed"] for g in d["gpus"]}
    devices = {x["name"]: x for x in d["devices"]}
    edges = {x["name"]: x for x in d["edges"]}
    lam_t, lam_e = w["delay_per_second"], w["energy_per_joule"]

    def efficiency(power_dbm, distance_m, shadowing_db, band_hz):
        loss = radio["path_loss_intercept_db"] + radio["path_loss_slope_db"] * math.log10(distance_m / 1000.0)
        noise = radio["noise_dbm_per_hz"] + 10.0 * math.log10(band_hz)
        snr = 10.0 ** ((power_dbm - loss - shadowing_db - noise) / 10.0)
        return math.log2(1.0 + snr)

    out = []
    for user in d["users"]:
        request = user["requests"][t] if t < len(user["requests"]) else None
        if request is None:
            continue
        dev, edge = devices[user["device"]], edges[user["edge"]]
        dist, shadow = user["distance_m"][t], user["shadowing_db"][t]
        eta_up = efficiency(10.0 * math.log10(dev["tx_power_watts"] * 1000.0), dist, shadow, edge["uplink_hz"])
        eta_down = efficiency(edge["base_station_power_dbm"], dist, shadow, edge["downlink_hz"])
        ways = []
        for model in d["models"]:
            for c in model["configs"]:
                if c["duration_seconds"] < request["duration_seconds"] - 1e-9:
                    continue
                work = c["generation_seconds"] * speed[c["measured_on"]]  # seconds on a speed-1 GPU
                utility = w["utility"] * model["utility"] * c["utility_factor"]
                radio_costs = {
                    ("up", edge["name"]): (lam_t + lam_e * dev["tx_power_watts"]) * radio["prompt_bits"]
                    / (edge["uplink_hz"] * eta_up),
                    ("down", edge["name"]): (lam_t + lam_e * dev["rx_power_watts"]) * c["video_megabits"] * 1e6
                    / (edge["downlink_hz"] * eta_down),
                }
                if (dev["gpu"] is not None and model["name"] in dev["local_models"]
                        and c["peak_gpu_memory_gb"] <= dev["gpu_memory_gb"]):
                    seconds = work / speed[dev["gpu"]]
                    ways.append({"value": utility - (lam_t + lam_e * dev["compute_power_watts"]) * seconds,
                                 "costs": {}, "needs": None})
                if c["peak_gpu_memory_gb"] <= edge["gpu_memory_gb"] and model["gpu_memory_gb"] <= edge["gpu_memory_gb"]:
                    costs = dict(radio_costs)
                    costs[("compute", edge["name"])] = lam_t * work / speed[edge["gpu"]]
                    ways.append({"value": utility, "costs": costs, "needs": (edge["name"], model["name"]),
                                 "gpu_seconds": work / speed[edge["gpu"]]})
                if cloud["enabled"]:
                    ways.append({"value": utility - lam_t * (cloud["wan_delay_seconds"] + work / speed[cloud["gpu"]])
                                 - cloud["price_per_request"], "costs": radio_costs, "needs": None})
        out.append((user["name"], ways))
    return out


def offloading_brute_force(instance) -> float:
    """The optimum of an offloading instance over every choice of every requesting user (tiny instances
    only), recomputed from ``instance.data``: per slot, every combination of ways (or refusal, at the refusal
    penalty) whose needed models fit each edge's GPU memory; each resource shared by the square-root rule,
    which costs (sum_i sqrt(a_i))^2 for the terms a_i / x_i of its users."""
    d = instance.data
    memory = {e["name"]: e["gpu_memory_gb"] for e in d["edges"]}
    model_memory = {m["name"]: m["gpu_memory_gb"] for m in d["models"]}
    penalty = d["weights"]["refusal_penalty"]
    total = 0.0
    for t in range(d["slots"]):
        users = _offloading_choices(d, t)
        best = -math.inf
        for combo in itertools.product(*[[None] + ways for _, ways in users]):
            loaded = {way["needs"] for way in combo if way is not None and way["needs"] is not None}
            if any(sum(model_memory[m] for e2, m in loaded if e2 == e) > cap * (1 + 1e-9) for e, cap in memory.items()):
                continue
            value = 0.0
            roots: dict = {}
            for way in combo:
                if way is None:
                    value -= penalty
                    continue
                value += way["value"]
                for resource, a in way["costs"].items():
                    roots[resource] = roots.get(resource, 0.0) + math.sqrt(a)
            best = max(best, value - sum(r ** 2 for r in roots.values()))
        total += best if users else 0.0
    return total


# -- serving ----------------------------------------------------------------------------------------------
def serving_brute_force(instance) -> float:
    """The optimum of a serving instance over the whole horizon (tiny instances only), recomputed from
    ``instance.data`` (docs/formulations.md, "serving"): dynamic programming over the slots, the state being
    each edge's held models and backlog; in each slot every combination of the requests' ways (or refusal)
    and every set of held models per edge that contains the needed ones and fits; a slot is worth its
    offloading value (square-root sharing) less loading_per_second x the load seconds of the models held now
    and not before, less delay_per_second x the backlog at its end, B = max(0, B_before + work - slot)."""
    d = instance.data
    w = d["weights"]
    edges = [e["name"] for e in d["edges"]]
    cap = {e["name"]: e["gpu_memory_gb"] for e in d["edges"]}
    mem = {m["name"]: m["gpu_memory_gb"] for m in d["models"]}
    load = {m["name"]: m["load_seconds"] for m in d["models"]}
    names = [m["name"] for m in d["models"]]
    held_sets = {e: [frozenset(c) for r in range(len(names) + 1) for c in itertools.combinations(names, r)
                     if sum(mem[m] for m in c) <= cap[e] * (1 + 1e-9)] for e in edges}
    start = (tuple(frozenset(e["initial_loaded"]) for e in d["edges"]),
             tuple(float(e["initial_backlog_seconds"]) for e in d["edges"]))
    states = {start: 0.0}
    for t in range(d["slots"]):
        users = _offloading_choices(d, t)
        combos = []  # (value with sharing, needed per edge, gpu seconds per edge)
        for combo in itertools.product(*[[None] + ways for _, ways in users]):
            value, roots = 0.0, {}
            needed = {e: set() for e in edges}
            seconds = dict.fromkeys(edges, 0.0)
            for way in combo:
                if way is None:
                    value -= w["refusal_penalty"]
                    continue
                value += way["value"]
                for resource, a in way["costs"].items():
                    roots[resource] = roots.get(resource, 0.0) + math.sqrt(a)
                if way["needs"] is not None:
                    needed[way["needs"][0]].add(way["needs"][1])
                    seconds[way["needs"][0]] += way["gpu_seconds"]
            combos.append((value - sum(r ** 2 for r in roots.values()), needed, seconds))
        nxt: dict = {}
        for (held, backlog), acc in states.items():
            for value, needed, seconds in combos:
                options = [[h for h in held_sets[e] if needed[e] <= h] for e in edges]
                for choice in itertools.product(*options):
                    total, new_backlog = acc + value, []
                    for i, e in enumerate(edges):
                        loaded_now = choice[i] - held[i]
                        work = seconds[e] + sum(load[m] for m in loaded_now)
                        total -= w["loading_per_second"] * sum(load[m] for m in loaded_now)
                        b = max(0.0, backlog[i] + work - d["slot_seconds"])
                        total -= w["delay_per_second"] * b
                        new_backlog.append(b)
                    key = (tuple(choice), tuple(new_backlog))
                    if total > nxt.get(key, -math.inf):
                        nxt[key] = total
        states = nxt
    return max(states.values())
