"""The offloading evaluator, the truth every solver is checked against, and the infeasibility pre-check.

:func:`evaluate` recomputes every user's delay, energy and utility, and every violated constraint, from the
decisions alone (docs/formulations.md, "offloading"): it uses the instance's physics (spectral efficiency,
GPU speeds) but none of the option tables the solvers price their choices with.
"""
from __future__ import annotations

from edgeopt.families.offloading.instance import CLOUD, EDGE, LOCAL, Instance, Solution
from edgeopt.mec import check_and_price
from edgeopt.result import Evaluation


def evaluate(inst: Instance, sol: Solution) -> Evaluation:
    """Recompute delay, energy, utility and the objective of every slot, and every violated constraint."""
    viol, tm = check_and_price(inst, sol)
    if viol:
        return Evaluation(float("nan"), {}, tuple(viol))
    k, p = tm["k"], tm["p"]
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
