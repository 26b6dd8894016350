"""The offloading evaluator, the truth every solver is checked against, and the infeasibility pre-check.

:func:`evaluate` recomputes every user's delay, energy and utility, and every violated constraint, from the
decisions alone (docs/formulations.md, "offloading"): it uses the instance's physics (spectral efficiency,
GPU speeds) but none of the option tables the solvers price their choices with.
"""
from __future__ import annotations

import numpy as np

from edgeopt.families.offloading.instance import CLOUD, EDGE, LOCAL, Instance, Solution
from edgeopt.mec import capacity_violations, choice_violations, timings
from edgeopt.result import Evaluation, Violation

def _shape(inst: Instance, sol: Solution) -> list[Violation]:
    U, T, E, M = inst.num_users, inst.slots, inst.num_edges, inst.num_models
    want = {"config": (U, T), "place": (U, T), "loaded": (E, M, T), "shares": (U, T, 3)}
    return [Violation("shape", key, float("nan"), f"expected shape {shape}, got {np.shape(getattr(sol, key))}")
            for key, shape in want.items() if np.shape(getattr(sol, key)) != shape]


def evaluate(inst: Instance, sol: Solution) -> Evaluation:
    """Recompute delay, energy, utility and the objective of every slot, and every violated constraint."""
    viol = _shape(inst, sol)
    if viol:
        return Evaluation(float("nan"), {}, tuple(viol))
    k = np.asarray(sol.config, dtype=np.int64)
    p = np.asarray(sol.place, dtype=np.int64)
    loaded = np.asarray(sol.loaded, dtype=bool)
    x = np.asarray(sol.shares, dtype=float)
    viol = choice_violations(inst, k, p, loaded) + capacity_violations(inst, p, loaded, x)
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
