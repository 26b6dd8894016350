"""The GAP greedy: the regret rule of
Martello & Toth's MTHG (1981). Values are first put in "higher is better" profit form ``P``, shifted
so that the worst entry is 1 (profit - least profit + 1, or largest cost - cost + 1). For a
desirability measure ``f[agent, job]``, repeat until every job is assigned: among the unassigned
jobs, each one's agents that still have room for it are ranked by ``f``; the job whose best agent
leads its second best by the most (its *regret*; infinite when only one agent has room) goes to its
best agent. Four measures are tried, MTHG's: ``P``, ``P / resource``, ``-resource`` and
``-resource / capacity``. Each complete assignment is then improved by shifts: a job moves to the
agent of best value that still has room for it, until no shift improves. The best assignment of
the four is kept. The rule is deterministic and takes no options.
"""
from __future__ import annotations

import time

import numpy as np

from edgeopt.families.gap.instance import Instance
from edgeopt.registry import register_solver
from edgeopt.solver import Solver


def min_form(inst: Instance) -> np.ndarray:
    """Values to minimise: the cost, or minus the profit."""
    return np.asarray(inst.weight) if inst.sense == "min" else -np.asarray(inst.weight)


def _objective(inst: Instance, a: np.ndarray) -> float:
    return float(min_form(inst)[a, np.arange(inst.jobs)].sum())

def measures(inst: Instance) -> list[tuple[str, np.ndarray]]:
    """MTHG's desirability measures as (name, f) with f[agent, job] lower is better."""
    v = min_form(inst)
    profit = v.max() - v + 1.0  # the profit form, at least 1 everywhere
    r, cap = inst.resource, inst.capacity
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        # A resource near 0 (a subnormal one) overflows to inf, as a resource of 0 is meant to: most desirable.
        per_resource = np.where(r > 0, profit / np.where(r > 0, r, 1.0), np.inf)
        # A capacity of 0 or near 0 overflows the share; the largest float ranks the job last among the agents
        # with room for it (within the tolerance, a job may fit there), where inf would rank it as not fitting.
        share = np.minimum(r / np.maximum(cap[:, None], np.finfo(float).tiny), np.finfo(float).max)
    return [("value", -profit), ("value per resource", -per_resource), ("resource", r.astype(float)),
            ("share of capacity", share)]


#: Relative tolerance of the heuristics' own capacity checks (greedy and anneal). Far above float rounding,
#: so that jobs of 0.1 and 0.2 fit a capacity of 0.3; far below the evaluator's TOL, so that a plan the
#: heuristics accept is one the evaluator accepts whatever the rounding of their running sums; and below
#: a tenth of a unit up to the largest capacity (1e12), so that they never overfill an integer capacity by
#: a whole unit, which the evaluator's 1e-9 would let pass at 2e9 and an exact solver proves infeasible.
FIT_TOL = 1e-13


def slack(inst: Instance) -> np.ndarray:
    """What the heuristics let an agent exceed its capacity by (FIT_TOL relative): strictly inside the
    evaluator's tolerance, so that every plan they build is feasible for it."""
    return FIT_TOL * np.maximum(1.0, np.abs(inst.capacity))


def _regret_pass(inst: Instance, f: np.ndarray) -> np.ndarray:
    """Assign jobs by largest regret under measure ``f``; jobs no agent has room for stay -1.

    Each job's best and second-best agent are kept between steps: placing a job shrinks the room of
    one agent only, so only the jobs that agent no longer has room for are ranked again.
    """
    m, n = inst.agents, inst.jobs
    r = inst.resource
    room = inst.capacity + slack(inst)
    g = np.where(r <= room[:, None], f, np.inf)  # f where the agent has room for the job, else inf
    best = np.zeros(n, dtype=np.int64)
    first, second = np.full(n, np.inf), np.full(n, np.inf)

    def rank(cols: np.ndarray) -> None:
        best[cols] = np.argmin(g[:, cols], axis=0)
        first[cols] = g[best[cols], cols]
        if m > 1:
            second[cols] = np.partition(g[:, cols], 1, axis=0)[1]

    rank(np.arange(n))
    a = np.full(n, -1, dtype=np.int64)
    left = np.ones(n, dtype=bool)
    for _ in range(n):
        with np.errstate(invalid="ignore"):
            # inf when only one agent has room; nan (two equally "infinitely good" agents) is no regret.
            regret = np.nan_to_num(second - first, nan=0.0, posinf=np.inf)
        regret[~left | (first == np.inf)] = -np.inf
        j = int(np.argmax(regret))
        if regret[j] == -np.inf:
            break
        i = int(best[j])
        a[j] = i
        left[j] = False
        room[i] -= r[i, j]
        full = np.flatnonzero(left & (g[i] < np.inf) & (r[i] > room[i]))
        if full.size:
            g[i, full] = np.inf
            rank(full)
    return a


def improve_by_shifts(inst: Instance, a: np.ndarray) -> np.ndarray:
    """Move jobs, one at a time, to the agent of best value with room for them, until none improves."""
    v = min_form(inst)
    r = inst.resource
    a = a.copy()
    room = inst.capacity + slack(inst) - np.bincount(a, weights=r[a, np.arange(inst.jobs)], minlength=inst.agents)
    for _ in range(inst.jobs):
        moved = False
        for j in range(inst.jobs):
            i0 = a[j]
            ok = r[:, j] <= room
            ok[i0] = False
            if not ok.any():
                continue
            cand = np.where(ok, v[:, j], np.inf)
            i = int(np.argmin(cand))
            if cand[i] < v[i0, j]:
                room[i0] += r[i0, j]
                room[i] -= r[i, j]
                a[j] = i
                moved = True
        if not moved:
            break
    return a


def greedy_assignment(inst: Instance) -> tuple[np.ndarray, bool]:
    """The greedy's assignment and whether it is complete (every job assigned within capacity).

    When no measure assigns every job, the assignment that leaves the fewest jobs out is returned
    (for the annealing to start from).
    """
    best, best_value, partial = None, np.inf, None
    for _name, f in measures(inst):
        a = _regret_pass(inst, f)
        if (a < 0).any():
            if partial is None or (a < 0).sum() < (partial < 0).sum():
                partial = a
            continue
        a = improve_by_shifts(inst, a)
        value = _objective(inst, a)
        if value < best_value:
            best, best_value = a, value
    if best is not None:
        return best, True
    return partial, False


@register_solver
class Greedy(Solver):
    """Regret greedy (MTHG) with shift improvement; deterministic."""

    name, family = "greedy", "gap"

    def run(self, instance, options, *, time_limit, seed, started):
        a, complete = greedy_assignment(instance)
        elapsed = time.perf_counter() - started
        if not complete:
            return self.no_plan(f"the regret greedy leaves {int((a < 0).sum())} job(s) that no agent has room for",
                                solve_seconds=elapsed)
        return self.plan_result(instance, a, build_seconds=0.0, solve_seconds=elapsed, raw_status="regret greedy")
