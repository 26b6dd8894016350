"""The serving evaluator, the truth every solver is checked against.

It recomputes, from the decisions alone (docs/formulations.md, "serving"): every request's delay and energy
with the shares given (edgeopt.mec.timings, the offloading family's physics), the models each edge loads in
each slot (loaded now, not in the slot before, the initial state before the first), the GPU work of each
edge and slot (its edge requests' generation at the GPU's full speed plus its loads' seconds), the backlog
that work leaves at each slot's end (B_t = max(0, B_{t-1} + work_t - slot_seconds), from the initial
backlog), each second of which costs delay_per_second, and every violated constraint. It uses none of the
option tables the solvers price their choices with.
"""
from __future__ import annotations

import numpy as np

from edgeopt.families.serving.instance import CLOUD, EDGE, LOCAL, Instance, Solution
from edgeopt.mec import check_and_price, timings
from edgeopt.result import Evaluation


def dynamics(inst: Instance, k: np.ndarray, p: np.ndarray, loaded: np.ndarray) -> dict[str, np.ndarray]:
    """What carries from slot to slot: ``loads`` (E, M, T) the models loaded in each slot, ``work`` (E, T) GPU
    seconds asked of each edge and ``backlog`` (E, T) the unfinished work at each slot's end."""
    E, T = inst.num_edges, inst.slots
    before = np.concatenate([inst.initial_loaded[:, :, None], loaded[:, :, :-1]], axis=2)
    loads = loaded & ~before
    work = np.einsum("emt,m->et", loads.astype(float), inst.model_load_seconds)
    on_edge = (k >= 0) & (p == EDGE)
    u_idx, t_idx = np.nonzero(on_edge)
    e_idx = inst.user_edge[u_idx]
    seconds = inst.config_reference_seconds[k[u_idx, t_idx]] / inst.edge_speed[e_idx]
    np.add.at(work, (e_idx, t_idx), seconds)
    backlog = np.zeros((E, T))
    b = np.asarray(inst.initial_backlog_seconds, dtype=float).copy()
    for t in range(T):
        b = np.maximum(0.0, b + work[:, t] - inst.slot_seconds)
        backlog[:, t] = b
    return {"loads": loads, "work": work, "backlog": backlog}


def evaluate(inst: Instance, sol: Solution) -> Evaluation:
    """Recompute delay, backlog, energy, loading, utility and the objective, and every violated constraint."""
    viol, tm = check_and_price(inst, sol)
    if viol:
        return Evaluation(float("nan"), {}, tuple(viol))
    k, p, loaded = tm["k"], tm["p"], tm["loaded"]
    dyn = dynamics(inst, k, p, loaded)
    served = k >= 0
    refused = inst.requested & ~served
    load_seconds = float(np.einsum("emt,m->", dyn["loads"].astype(float), inst.model_load_seconds))
    parts = {
        "utility": float(inst.utility_weight * tm["utility"].sum()),
        "delay": -float(inst.delay_per_second * tm["delay"].sum()),
        "backlog": -float(inst.delay_per_second * dyn["backlog"].sum()),
        "energy": -float(inst.energy_per_joule * tm["energy"].sum()),
        "cloud_price": -float(tm["price"].sum()),
        "refusals": -float(inst.refusal_penalty * refused.sum()),
        "loading": -float(inst.loading_per_second * load_seconds),
    }
    n = max(int(served.sum()), 1)
    edge_requests = served & (p == EDGE)
    stats = {"served": float(served.sum()), "refused": float(refused.sum()),
             "local": float((served & (p == LOCAL)).sum()), "edge": float(edge_requests.sum()),
             "cloud": float((served & (p == CLOUD)).sum()), "loads": float(dyn["loads"].sum()),
             "loads_per_slot": float(dyn["loads"].sum() / inst.slots), "load_seconds": load_seconds,
             "mean_backlog_seconds": float(dyn["backlog"].mean()), "max_backlog_seconds": float(dyn["backlog"].max()),
             "mean_delay_seconds": float(tm["delay"].sum() / n),
             "mean_energy_joules": float(tm["energy"].sum() / n), "mean_utility": float(tm["utility"].sum() / n)}
    return Evaluation(float(sum(parts.values())), parts, (), stats)


def slot_objectives(inst: Instance, sol: Solution) -> np.ndarray:
    """(T,) each slot's share of the objective (its requests' parts, its backlog and its loads); they sum to
    :func:`evaluate`'s objective. NaN everywhere for a plan that violates a constraint."""
    ev = evaluate(inst, sol)
    if not ev.feasible:
        return np.full(inst.slots, np.nan)
    k, p = np.asarray(sol.config, dtype=np.int64), np.asarray(sol.place, dtype=np.int64)
    loaded, x = np.asarray(sol.loaded, dtype=bool), np.asarray(sol.shares, dtype=float)
    tm = timings(inst, k, p, x)
    dyn = dynamics(inst, k, p, loaded)
    refused = inst.requested & (k < 0)
    return (inst.utility_weight * tm["utility"].sum(axis=0) - inst.delay_per_second * tm["delay"].sum(axis=0)
            - inst.energy_per_joule * tm["energy"].sum(axis=0) - tm["price"].sum(axis=0)
            - inst.refusal_penalty * refused.sum(axis=0) - inst.delay_per_second * dyn["backlog"].sum(axis=0)
            - inst.loading_per_second * np.einsum("emt,m->t", dyn["loads"].astype(float), inst.model_load_seconds))


def infeasibility_reason(inst: Instance) -> str | None:
    """None: refusing every request and loading nothing is always possible, so every instance has a plan."""
    return None
