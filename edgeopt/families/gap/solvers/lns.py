"""Large-neighbourhood search for the GAP: the annealing's assignment, then blocks of a few agents
re-optimised exactly as sub-MIPs on HiGHS, in the manner of the very large-scale neighbourhood search of
S. Mitrovic-Minic and A.P. Punnen ("Very large-scale variable neighborhood search for the generalized
assignment problem", Journal of Interdisciplinary Mathematics (2008); "Local search
intensified: very large-scale variable neighborhood search for the multi-resource generalized assignment
problem", Discrete Optimization (2009); volumes and pages not checked here).

1. **Start:** ``anneal`` (edgeopt/families/gap/solvers/anneal.py, its default settings) from the regret
   greedy, cut short at ``start_share`` of the time limit, improved by the greedy's shift descent.
2. **Blocks:** a block is ``k`` agents drawn at random (seeded); every job currently at one of them may
   move to any of them, everything else stays. The block's MILP (the GAP's own, ``formulate``, with the
   other columns fixed: ``MatrixForm.restricted``) goes to HiGHS, one thread, relative gap 0, at most
   ``max_nodes`` branch-and-bound nodes, the current assignment as its start. A better assignment
   replaces the current one. HiGHS also stops a block after ``block_seconds`` (or at the time limit).
   ``k`` is ``block_agents`` if given; else it starts where a block holds about 50 jobs and adapts: a block
   HiGHS proves within a tenth of its node limit makes the next one an agent larger (up to all agents),
   one it cannot prove within the limit an agent smaller (down to 2).
3. **Stop:** at the time limit, after ``iterations`` blocks, or when a block of every agent was proven
   optimal (HiGHS then solved the whole GAP; the status stays ``feasible``, as the solver is a heuristic).

Every accepted step is feasible (HiGHS's sub-solution within its tolerance, then checked within the
heuristics' capacity tolerance; a step that is not is dropped), so the result is never worse than the
start. Without a time limit it runs ``iterations`` blocks (default 100). Deterministic for a seed when
iteration counts, not the clock, end the run (HiGHS runs one thread under a node limit; a block that
reaches ``block_seconds`` is cut by the clock).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from edgeopt.families.gap.formulate import formulate
from edgeopt.families.gap.solvers.anneal import AnnealOptions, _complete, anneal, settings
from edgeopt.families.gap.solvers.greedy import greedy_assignment, improve_by_shifts, min_form, slack
from edgeopt.highs import highs_model, run_highs, set_start
from edgeopt.registry import register_solver
from edgeopt.solver import Options, Solver, deadline, option

#: Blocks when there is no time limit.
ITERATIONS = 100
#: Share of a time limit the annealing start may use.
START_SHARE = 0.1
#: Branch-and-bound nodes HiGHS may use on one block.
MAX_NODES = 500
#: Jobs a first block holds, about.
BLOCK_JOBS = 50
#: Seconds HiGHS may spend on one block (less when less of the time limit is left).
BLOCK_SECONDS = 2.0


@dataclass(frozen=True)
class GapLnsOptions(Options):
    """The constants above; None means the instance-dependent default."""

    iterations: int | None = option(None, at_least=0)
    start_share: float = option(START_SHARE, at_least=0, at_most=1)
    max_nodes: int = option(MAX_NODES, at_least=1)
    block_agents: int | None = option(None, at_least=2)
    block_seconds: float = option(BLOCK_SECONDS, above=0)


def _feasible(inst, a: np.ndarray) -> bool:
    load = np.bincount(a, weights=inst.resource[a, np.arange(inst.jobs)], minlength=inst.agents)
    return bool((load <= inst.capacity + slack(inst)).all())


def _block(h_settings: dict, mf, free: np.ndarray, x: np.ndarray, until: float | None, cap: float):
    """HiGHS on the block's MILP from ``x`` for at most ``cap`` seconds; returns (proven optimal, nodes, full
    vector found or None)."""
    import highspy

    sub, _ = mf.restricted(free, x)
    h = highs_model(sub)
    seconds = cap if until is None else max(1e-3, min(cap, until - time.perf_counter()))
    for key, value in {**h_settings, "time_limit": seconds}.items():
        h.setOptionValue(key, value)
    set_start(h, x[free])
    run_highs(h, until)
    proven = h.getModelStatus() == highspy.HighsModelStatus.kOptimal
    info = h.getInfo()
    if info.primal_solution_status != 2:
        return proven, int(info.mip_node_count), None
    found = x.copy()
    found[free] = np.round(np.asarray(h.getSolution().col_value))
    return proven, int(info.mip_node_count), found


@register_solver
class GapLns(Solver):
    """Large-neighbourhood search: the annealing's assignment, then blocks of a few agents re-optimised as
    sub-MIPs on HiGHS; uses its whole time limit.

    The module docstring says how; the options are the constants above."""

    name, family, Options = "lns", "gap", GapLnsOptions
    requires = ("highspy",)

    def run(self, instance, options, *, time_limit, seed, started):
        m, n = instance.agents, instance.jobs
        seed = 0 if seed is None else int(seed)
        until = deadline(started, time_limit)
        iterations = options.iterations
        if iterations is None and time_limit is None:
            iterations = ITERATIONS
        a, complete = greedy_assignment(instance)
        a = a if complete else _complete(instance, a)
        config = settings(instance, AnnealOptions())
        start_until = None if time_limit is None else started + options.start_share * time_limit
        best, t_stats = anneal(instance, a, seed=seed, deadline=start_until, **config)
        if best is None:  # the annealing found nothing feasible: no start to improve
            return self.no_plan(f"{t_stats['moves']} annealing moves from the greedy start never left every agent "
                                "within capacity", solve_seconds=time.perf_counter() - started,
                                extra={"start": t_stats})
        a = improve_by_shifts(instance, best)
        v = min_form(instance)
        value = float(v[a, np.arange(n)].sum())
        start_value = value
        form = formulate(instance)
        mf = form.model.matrix()
        ids = form.blocks["assign"].ids  # (m, n) column of x[i, j]
        rng = np.random.default_rng(seed)
        k = options.block_agents or int(np.clip(round(BLOCK_JOBS * m / max(n, 1)), 2, m))
        k = min(k, m)
        h_settings = {"threads": 1, "mip_rel_gap": 0.0, "mip_abs_gap": 1e-9, "mip_max_nodes": int(options.max_nodes),
                    "random_seed": seed % (2 ** 31)}
        blocks = improved = 0
        stopped = "iterations"
        while True:
            if iterations is not None and blocks >= iterations:
                break
            if until is not None and time.perf_counter() >= until:
                stopped = "time_limit"
                break
            blocks += 1
            agents = np.sort(rng.choice(m, k, replace=False))
            in_block = np.isin(a, agents)
            free = np.zeros((m, n), dtype=bool)
            free[np.ix_(agents, np.flatnonzero(in_block))] = True
            x = form.encode(a)
            proven, nodes, found = _block(h_settings, mf, _mask(free, ids, x.size), x, until, options.block_seconds)
            gained = False
            if found is not None:
                cand = form.decode(found)
                if cand.ndim == 1 and _feasible(instance, cand):
                    cv = float(v[cand, np.arange(n)].sum())
                    if cv < value - 1e-9 * max(1.0, abs(value)):
                        a, value, gained = cand, cv, True
                        improved += 1
            if proven and k == m and not gained:
                stopped = "whole problem proven"
                break
            if options.block_agents is not None:
                pass  # a fixed block size
            elif proven and nodes <= options.max_nodes // 10:
                k = min(m, k + 1)  # solved easily: a larger block next
            elif not proven:
                k = max(2, k - 1)  # too hard within the node limit: a smaller one
        elapsed = time.perf_counter() - started
        extra = {"start": t_stats, "start_value": start_value, "blocks": blocks, "improved_blocks": improved,
                 "final_block_agents": k, "stopped_by": stopped}
        why = {"time_limit": "time limit", "iterations": "block count",
               "whole problem proven": "a proof over all agents"}[stopped]
        return self.plan_result(instance, a, build_seconds=0.0, solve_seconds=elapsed, extra=extra,
                                raw_status=f"lns stopped by the {why} after {blocks} blocks ({improved} improved)")


def _mask(free: np.ndarray, ids: np.ndarray, size: int) -> np.ndarray:
    """The column mask of the free (agent, job) pairs."""
    mask = np.zeros(size, dtype=bool)
    mask[ids[free]] = True
    return mask
