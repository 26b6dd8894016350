"""From the discrete choices of a slot to a complete plan: which models are loaded and how each resource is
shared. Every solver of the family ends here.

With the choices fixed, each resource (a cell's uplink or downlink, an edge's compute) is shared among its
users to minimise sum_i a_i / x_i under sum_i x_i <= 1 (docs/formulations.md): the square-root rule
x_i = sqrt(a_i) / sum_j sqrt(a_j), whose optimum is (sum_i sqrt(a_i))^2 (``allocation="closed"``); the paper's
stage two is SLSQP on the same problem (``"slsqp"``); the naive split gives every user of the resource the
same share (``"equal"``).
"""
from __future__ import annotations

import numpy as np

from edgeopt.families.offloading.instance import Instance, Solution, empty_solution
from edgeopt.mec import ALLOCATIONS, COST_FLOOR, fits_memory, loaded_for, shares, slot_value  # noqa: F401


def plan(inst: Instance, chosen_per_slot, allocation: str = "closed") -> Solution:
    """The complete Solution of a choice per requesting user in every slot (``chosen_per_slot[t]`` in the order
    of ``inst.options(t).users``): the models loaded where needed, the resources shared by ``allocation``."""
    sol = empty_solution(inst)
    k, p, loaded, x = sol.config.copy(), sol.place.copy(), sol.loaded.copy(), sol.shares.copy()
    for t, chosen in enumerate(chosen_per_slot):
        opts = inst.options(t)
        chosen = np.asarray(chosen, dtype=np.int64)
        served = chosen >= 0
        users = opts.users[served]
        k[users, t] = opts.config[chosen[served]]
        p[users, t] = opts.place[chosen[served]]
        loaded[:, :, t] = loaded_for(inst, opts, chosen)
        x[:, t] = shares(inst, opts, chosen, allocation)
    return Solution(k, p, loaded, x)
