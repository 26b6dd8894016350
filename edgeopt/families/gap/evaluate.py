"""The gap evaluator, the truth every solver is checked against, and the infeasibility pre-check."""
from __future__ import annotations

import math

import numpy as np

from edgeopt.families.gap.instance import Instance, as_assignment_or_matrix, capacity_slack
from edgeopt.result import Evaluation, Violation


def evaluate(inst: Instance, sol) -> Evaluation:
    """Objective and every violation, from the assignment (or the 0/1 matrix) alone.

    Violations: a job with no agent, a job with several (matrix form only), an agent index that does
    not exist (the job counts as unassigned), an agent over its capacity (by more than
    ``capacity_slack``: TOL relative, at least the MILP backends' ABS_TOL).
    """
    a = as_assignment_or_matrix(inst, sol)
    m, n = inst.agents, inst.jobs
    viol: list[Violation] = []
    if a.ndim == 2:
        x = a.astype(bool)
        counts = x.sum(axis=0)
        for j in np.flatnonzero(counts > 1):
            agents = ", ".join(map(str, np.flatnonzero(x[:, j])))
            viol.append(Violation("assignment", f"job {j}", float(counts[j] - 1),
                                  f"assigned to {counts[j]} agents ({agents}); every job goes to exactly one"))
    else:
        unknown = (a < -1) | (a >= m)
        for j in np.flatnonzero(unknown):
            viol.append(Violation("agent_index", f"job {j}", 1.0,
                                  f"agent {a[j]} does not exist (agents 0 to {m - 1}, -1 for none)"))
        x = np.zeros((m, n), dtype=bool)
        ok = np.flatnonzero(~unknown & (a >= 0))
        x[a[ok], ok] = True
        counts = x.sum(axis=0)
    for j in np.flatnonzero(counts == 0):
        viol.append(Violation("assignment", f"job {j}", 1.0, "unassigned; every job goes to exactly one agent"))
    used = np.where(x, inst.resource, 0.0).sum(axis=1)
    over = used - inst.capacity
    for i in np.flatnonzero(over > capacity_slack(inst.capacity)):
        viol.append(Violation("capacity", f"agent {i}", float(over[i]),
                              f"uses {used[i]:g} of its capacity {inst.capacity[i]:g}"))
    # Summed exactly rounded: with values of 1e12 and 1e-6 in one plan, numpy's pairwise sum cancelled the
    # small ones (0.5 for a plan worth 0.500001, which HiGHS reported right).
    objective = math.fsum(inst.weight[x].tolist())
    return Evaluation(objective, {inst.objective_key: objective}, tuple(viol))


def infeasibility_reason(inst: Instance) -> str | None:
    """A readable reason why no assignment is feasible, found without solving; None if none is found.

    Two proofs: a job whose resource exceeds the capacity of every agent, and jobs whose smallest
    resource needs add up to more than all capacities together.
    """
    slack = capacity_slack(inst.capacity)
    fits = inst.resource <= (inst.capacity + slack)[:, None]
    nowhere = np.flatnonzero(~fits.any(axis=0))
    if nowhere.size:
        j = int(nowhere[0])
        excess = inst.resource[:, j] - inst.capacity
        i = int(np.argmin(excess))
        more = f" ({nowhere.size} such jobs in all)" if nowhere.size > 1 else ""
        return (f"job {j} fits no agent: its resource need exceeds the capacity of every agent (closest: agent {i}, "
                f"need {inst.resource[i, j]:g} > capacity {inst.capacity[i]:g}){more}")
    least = float(inst.resource.min(axis=0).sum())
    total = float(inst.capacity.sum())
    if least > total + float(slack.sum()):
        return (f"the jobs need at least {least:g} units of resource (each at its least demanding agent), more than "
                f"the {total:g} all agents have together")
    return None
