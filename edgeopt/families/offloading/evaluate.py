"""The offloading evaluator, the truth every solver is checked against, and the infeasibility pre-check.

:func:`evaluate` recomputes every user's delay, energy and utility, and every violated constraint, from the
decisions alone (docs/formulations.md, "offloading"): it uses the instance's physics (spectral efficiency,
GPU speeds) but none of the option tables the solvers price their choices with.
"""
from __future__ import annotations

import numpy as np

from edgeopt.families.offloading.instance import CLOUD, EDGE, LOCAL, PLACES, TOL, Instance, Solution
from edgeopt.result import Evaluation, Violation

MAX_LISTED = 50


def _shape(inst: Instance, sol: Solution) -> list[Violation]:
    U, T, E, M = inst.num_users, inst.slots, inst.num_edges, inst.num_models
    want = {"config": (U, T), "place": (U, T), "loaded": (E, M, T), "shares": (U, T, 3)}
    return [Violation("shape", key, float("nan"), f"expected shape {shape}, got {np.shape(getattr(sol, key))}")
            for key, shape in want.items() if np.shape(getattr(sol, key)) != shape]


def _choice_violations(inst: Instance, k: np.ndarray, p: np.ndarray, loaded: np.ndarray) -> list[Violation]:
    """Choices that cannot be made: a configuration where nothing is asked, too short, a place the device,
    the edge or the cloud cannot give it."""
    viol = []
    served = k >= 0
    u_idx, t_idx = np.nonzero(served | (p >= 0))
    for u, t in zip(u_idx.tolist(), t_idx.tolist()):
        where = f"user {inst.user_names[u]!r}, slot {t}"
        kk, pp = int(k[u, t]), int(p[u, t])
        if not (0 <= kk < inst.num_configs) or pp not in (LOCAL, EDGE, CLOUD):
            viol.append(Violation("choice", where, float(kk), f"configuration {kk} at place {pp} does not exist"))
            continue
        m, d, e = inst.config_model[kk], inst.user_device[u], inst.user_edge[u]
        name = inst.config_names[kk]
        reasons = []
        if not inst.requested[u, t]:
            reasons.append("the user asked for nothing in this slot")
        elif inst.config_duration_seconds[kk] < inst.requested_seconds[u, t] - 1e-9:
            reasons.append(f"{name} makes {inst.config_duration_seconds[kk]:g} s of video, "
                           f"{inst.requested_seconds[u, t]:g} s were asked")
        peak = inst.config_peak_memory_gb[kk]
        if pp == LOCAL and not (inst.device_can_run[d, m] and inst.device_speed[d] > 0
                                and peak <= inst.device_memory_gb[d] * (1 + TOL)):
            reasons.append(f"device {inst.device_names[d]!r} cannot run {name} ({peak:g} GB peak)")
        if pp == EDGE and not loaded[e, m, t]:
            reasons.append(f"model {inst.model_names[m]!r} is not loaded on edge {inst.edge_names[e]!r}")
        if pp == EDGE and peak > inst.edge_memory_gb[e] * (1 + TOL):
            reasons.append(f"{name} needs {peak:g} GB, edge {inst.edge_names[e]!r} has {inst.edge_memory_gb[e]:g}")
        if pp == CLOUD and not inst.cloud_enabled:
            reasons.append("the cloud is disabled")
        for r in reasons:
            viol.append(Violation("choice", where, 1.0, f"{PLACES[pp]} {name}: {r}"))
    return viol[:MAX_LISTED * 4]


def _capacity_violations(inst: Instance, p: np.ndarray, loaded: np.ndarray, x: np.ndarray) -> list[Violation]:
    """Loaded models over an edge's memory; shares negative, over 1 per resource, or 0 where needed."""
    viol = []
    T, E = inst.slots, inst.num_edges
    mem = np.einsum("emt,m->et", loaded, inst.model_memory_gb)
    for e, t in np.argwhere(mem > inst.edge_memory_gb[:, None] * (1 + TOL)):
        viol.append(Violation("gpu_memory", f"edge {inst.edge_names[e]!r}, slot {t}", float(mem[e, t]
                    - inst.edge_memory_gb[e]), f"loaded models need {mem[e, t]:g} GB of {inst.edge_memory_gb[e]:g}"))
    if (x < 0).any() or not np.isfinite(x).all():
        viol.append(Violation("shares", "shares", float(np.nanmin(x)), "shares must be finite and >= 0"))
    for j, what in enumerate(("uplink", "downlink", "compute")):
        total = np.zeros((E, T))
        np.add.at(total, inst.user_edge, np.nan_to_num(x[:, :, j]))
        for e, t in np.argwhere(total > 1 + TOL):
            viol.append(Violation(f"{what}_shares", f"edge {inst.edge_names[e]!r}, slot {t}", float(total[e, t] - 1),
                                  f"the {what} shares of its users sum to {total[e, t]:.12g}, above 1"))
        needs = (p == EDGE) if j == 2 else (p == EDGE) | (p == CLOUD)
        for u, t in np.argwhere(needs & ~(x[:, :, j] > 0))[:MAX_LISTED]:
            viol.append(Violation(f"{what}_shares", f"user {inst.user_names[u]!r}, slot {t}", 0.0,
                                  f"offloads with no {what} share"))
    return viol


def timings(inst: Instance, k: np.ndarray, p: np.ndarray, x: np.ndarray) -> dict[str, np.ndarray]:
    """(U, T) seconds and joules of every served user: uplink, generation, downlink, delay, energy; the
    utility and the cloud price. Zero for users not served. Assumes the choices and shares are valid."""
    U, T = k.shape
    served = k >= 0
    kk = np.where(served, k, 0)
    d, e = inst.user_device[:, None], inst.user_edge[:, None]
    offloaded = served & ((p == EDGE) | (p == CLOUD))
    with np.errstate(divide="ignore", invalid="ignore"):
        up = np.where(offloaded, inst.prompt_bits / (x[:, :, 0] * inst.uplink_hz[e] * inst.uplink_efficiency), 0.0)
        down = np.where(offloaded, inst.config_video_bits[kk] / (x[:, :, 1] * inst.downlink_hz[e]
                                                                * inst.downlink_efficiency), 0.0)
        ref = inst.config_reference_seconds[kk]
        speed = np.select([p == LOCAL, p == EDGE, p == CLOUD],
                          [np.broadcast_to(inst.device_speed[d], (U, T)), inst.edge_speed[e] * x[:, :, 2],
                           np.full((U, T), inst.cloud_speed)], 1.0)
        generation = np.where(served, ref / speed, 0.0)
    wan = np.where(served & (p == CLOUD), inst.wan_delay_seconds, 0.0)
    energy = np.where(p == LOCAL, inst.device_power_watts[d] * generation,
                      inst.device_tx_watts[d] * up + inst.device_rx_watts[d] * down)
    return {"uplink": up, "generation": generation, "downlink": down, "delay": up + generation + down + wan,
            "energy": np.where(served, energy, 0.0), "utility": np.where(served, inst.config_utility[kk], 0.0),
            "price": np.where(served & (p == CLOUD), inst.cloud_price, 0.0)}


def evaluate(inst: Instance, sol: Solution) -> Evaluation:
    """Recompute delay, energy, utility and the objective of every slot, and every violated constraint."""
    viol = _shape(inst, sol)
    if viol:
        return Evaluation(float("nan"), {}, tuple(viol))
    k = np.asarray(sol.config, dtype=np.int64)
    p = np.asarray(sol.place, dtype=np.int64)
    loaded = np.asarray(sol.loaded, dtype=bool)
    x = np.asarray(sol.shares, dtype=float)
    viol = _choice_violations(inst, k, p, loaded) + _capacity_violations(inst, p, loaded, x)
    if viol:
        return Evaluation(float("nan"), {}, tuple(viol))
    tm = timings(inst, k, p, x)
    bad = ~np.isfinite(tm["delay"]) | ~np.isfinite(tm["energy"])
    if bad.any():  # a rate of 0 (no signal) or a share too small to represent: no finite delay
        u, t = (int(v) for v in np.argwhere(bad)[0])
        return Evaluation(float("nan"), {}, (Violation("delay", f"user {inst.user_names[u]!r}, slot {t}",
                          float("inf"), "the delay or energy is not finite (a rate of 0)"),))
    served = k >= 0
    refused = inst.requested & ~served
    parts = {
        "utility": float(inst.utility_weight * tm["utility"].sum()),
        "delay": -float(inst.delay_per_second * tm["delay"].sum()),
        "energy": -float(inst.energy_per_joule * tm["energy"].sum()),
        "cloud_price": -float(tm["price"].sum()),
        "refusals": -float(inst.refusal_penalty * refused.sum()),
    }
    n = max(int(served.sum()), 1)
    stats = {"served": float(served.sum()), "refused": float(refused.sum()),
             "local": float((served & (p == LOCAL)).sum()), "edge": float((served & (p == EDGE)).sum()),
             "cloud": float((served & (p == CLOUD)).sum()),
             "mean_delay_seconds": float(tm["delay"].sum() / n), "mean_energy_joules": float(tm["energy"].sum() / n),
             "mean_utility": float(tm["utility"].sum() / n)}
    return Evaluation(float(sum(parts.values())), parts, (), stats)


def infeasibility_reason(inst: Instance) -> str | None:
    """None: refusing a request is always possible (at its penalty), so every instance has a feasible plan."""
    return None
