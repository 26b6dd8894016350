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

from edgeopt.allocation import allocate
from edgeopt.families.offloading.instance import EDGE, LOCAL, Instance, Options, Solution, empty_solution

ALLOCATIONS = ("closed", "slsqp", "equal")


def slot_value(opts: Options, chosen: np.ndarray) -> float:
    """The slot's objective for a choice per requesting user (an option index, -1 to refuse), the resources
    shared optimally: the options' values less, per resource, (sum of sqrt(cost))^2."""
    chosen = np.asarray(chosen)
    picked = chosen[chosen >= 0]
    value = float(opts.value[picked].sum()) + opts.refusal_value * int((chosen < 0).sum())
    roots = np.zeros(int(opts.resource.max(initial=-1)) + 1)
    np.add.at(roots, opts.resource[picked].ravel(), np.sqrt(opts.cost[picked]).ravel())
    return value - float((roots ** 2).sum())


#: Relative floor of a user's cost on a resource it uses, for sharing only: a user whose delay and energy
#: weigh nothing (weights 0) still needs some share of what it uses, or its delay would be infinite.
COST_FLOOR = 1e-12


def shares(inst: Instance, opts: Options, chosen: np.ndarray, allocation: str = "closed") -> np.ndarray:
    """(U, 3) every user's shares of its uplink, downlink and compute for these choices: every user who
    offloads gets a positive share of its cell's uplink and downlink, every edge user of the edge's compute."""
    if allocation not in ALLOCATIONS:
        raise ValueError(f"allocation must be one of {', '.join(ALLOCATIONS)}, got {allocation!r}")
    x = np.zeros((inst.num_users, 3))
    picked = np.asarray(chosen)[np.asarray(chosen) >= 0]
    place = opts.place[picked]
    for j in range(3):
        uses = (place == EDGE) if j == 2 else (place != LOCAL)
        a, r, users = opts.cost[picked, j], opts.resource[picked, j], opts.user[picked]
        for res in np.unique(r[uses]):
            mine = (r == res) & uses
            if allocation == "equal" or not (a[mine] > 0).any():
                x[users[mine], j] = 1.0 / mine.sum()
            else:
                weights = np.maximum(a[mine], COST_FLOOR * a[mine].max())
                x[users[mine], j] = allocate(weights, 1.0, method=allocation).shares
    return x


def loaded_for(inst: Instance, opts: Options, chosen: np.ndarray) -> np.ndarray:
    """(E, M) the models the edge options among the choices need loaded (and nothing else)."""
    loaded = np.zeros((inst.num_edges, inst.num_models), dtype=bool)
    picked = np.asarray(chosen)[np.asarray(chosen) >= 0]
    on_edge = picked[opts.place[picked] == EDGE]
    loaded[opts.edge[on_edge], opts.model[on_edge]] = True
    return loaded


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


def fits_memory(inst: Instance, opts: Options, chosen: np.ndarray) -> bool:
    """Whether the models these choices need loaded fit every edge's GPU memory."""
    need = loaded_for(inst, opts, chosen) @ inst.model_memory_gb
    return bool((need <= inst.edge_memory_gb * (1 + 1e-9)).all())
