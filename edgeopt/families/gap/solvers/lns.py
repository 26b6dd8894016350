"""Large-neighbourhood search for the GAP: the annealing's assignment, then a core of promising (agent, job)
pairs chosen by the LP relaxation's reduced costs solved as a MIP on HiGHS, then blocks of a few agents
re-optimised exactly as sub-MIPs. The core stage follows the core-problem idea of the knapsack and GAP
literature (E. Balas and E. Zemel, "An algorithm for large zero-one knapsack problems", Operations Research
28(5) (1980) 1130-1154; reduced-cost variable fixing for the GAP as in M. Posta, J.A. Ferland and P. Michelon,
"An exact method with variable fixing for solving the generalized assignment problem", Computational
Optimization and Applications 52 (2012) 629-644); the blocks, the very large-scale neighbourhood search of
S. Mitrovic-Minic and A.P. Punnen ("Very large-scale variable neighborhood search for the generalized
assignment problem", Journal of Interdisciplinary Mathematics (2008); "Local search intensified: very
large-scale variable neighborhood search for the multi-resource generalized assignment problem", Discrete
Optimization (2009); volumes and pages not checked here).

1. **Start:** ``anneal`` (edgeopt/families/gap/solvers/anneal.py, its default settings) from the regret
   greedy, cut short at ``start_share`` of the time limit, improved by the greedy's shift descent.
2. **Core:** HiGHS solves the LP relaxation (one thread); its optimum is the bound reported beside the plan
   (unless HiGHS proves a core or block that is the whole problem: then HiGHS's bound for it); its reduced
   costs (in minimisation form) rank the pairs. The core is the ``core_per_job`` x jobs pairs of lowest
   reduced cost plus the current assignment's pairs; HiGHS solves the GAP restricted to them (every
   other column fixed at 0: ``MatrixForm.restricted``), one thread, relative gap 0, at most ``core_nodes``
   branch-and-bound nodes, the current assignment as its start. A core proven optimal is doubled and solved
   again from the better assignment; the stage ends when a core is not proven (node or time limit) or when
   the core is the whole problem and proven (then the run stops: HiGHS solved the whole GAP; the status is
   ``optimal`` by HiGHS's proof, its bound meeting the plan). ``core_per_job`` = 0 skips the stage.
3. **Blocks:** a block is ``k`` agents drawn at random (seeded); every job currently at one of them may
   move to any of them, everything else stays. The block's MILP (the GAP's own, ``formulate``, with the
   other columns fixed) goes to HiGHS, one thread, relative gap 0, at most ``max_nodes`` branch-and-bound
   nodes, the current assignment as its start. A better assignment replaces the current one. HiGHS also
   stops a block after ``block_seconds`` (or at the time limit). ``k`` is ``block_agents`` if given; else
   it starts where a block holds about 50 jobs and adapts: a block HiGHS proves within a tenth of its node
   limit makes the next one an agent larger (up to all agents), one it cannot prove within the limit an
   agent smaller (down to 2).
4. **Stop:** at the time limit less ``polish_share`` of it, after ``iterations`` blocks, or when a block of
   every agent was proven optimal. The status is ``optimal`` only when the bound reported meets the plan
   within the proof tolerance.
5. **Polish:** with a time limit, unless the whole problem was proven, the tabu search
   (edgeopt/families/gap/solvers/tabu.py, its default settings) from the best assignment for the last
   ``polish_share`` of the time limit, then the shift descent; a better assignment replaces the best.

Every accepted step is feasible (HiGHS's sub-solution within its tolerance, then checked within the
heuristics' capacity tolerance; a step that is not is dropped), so the result is never worse than the
start. Without a time limit it runs ``iterations`` blocks (default 100). Deterministic for a seed when
node and iteration counts, not the clock, end the run (HiGHS runs one thread under node limits; a core or
block cut by the time limit or ``block_seconds`` is not).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from edgeopt.families.gap.formulate import formulate
from edgeopt.families.gap.solvers.anneal import AnnealOptions, _complete, anneal, settings
from edgeopt.families.gap.solvers.greedy import greedy_assignment, improve_by_shifts, min_form, slack
from edgeopt.families.gap.solvers.tabu import PENALTY_DOWN, PENALTY_UP, tabu_search
from edgeopt.highs import highs_model, run_highs, set_start
from edgeopt.registry import register_solver
from edgeopt.result import Status, agree, relative_gap
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
#: (agent, job) pairs per job in the first core (0: no core stage).
CORE_PER_JOB = 3.0
#: Branch-and-bound nodes HiGHS may use on one core.
CORE_NODES = 20_000
#: Share of a time limit kept for the final tabu search from the best assignment.
POLISH_SHARE = 0.2


@dataclass(frozen=True)
class GapLnsOptions(Options):
    """The constants above; None means the instance-dependent default."""

    iterations: int | None = option(None, at_least=0)
    start_share: float = option(START_SHARE, at_least=0, at_most=1)
    max_nodes: int = option(MAX_NODES, at_least=1)
    block_agents: int | None = option(None, at_least=2)
    block_seconds: float = option(BLOCK_SECONDS, above=0)
    core_per_job: float = option(CORE_PER_JOB, at_least=0)
    core_nodes: int = option(CORE_NODES, at_least=1)
    polish_share: float = option(POLISH_SHARE, at_least=0, below=1)


def _feasible(inst, a: np.ndarray) -> bool:
    load = np.bincount(a, weights=inst.resource[a, np.arange(inst.jobs)], minlength=inst.agents)
    return bool((load <= inst.capacity + slack(inst)).all())


def _better(instance, form, v: np.ndarray, found: np.ndarray | None, value: float) -> np.ndarray | None:
    """The assignment of HiGHS's vector ``found`` if it is one, fits (within the heuristics' tolerance) and costs
    less than ``value``; else None."""
    if found is None:
        return None
    cand = form.decode(found)
    if cand.ndim != 1 or not _feasible(instance, cand):
        return None
    cv = float(v[cand, np.arange(instance.jobs)].sum())
    return cand if cv < value - 1e-9 * max(1.0, abs(value)) else None


def _block(h_settings: dict, mf, free: np.ndarray, x: np.ndarray, until: float | None, cap: float | None):
    """HiGHS on the MILP left when the columns outside ``free`` are fixed at ``x``, from ``x``, for at most ``cap``
    seconds (None: until ``until``); returns (proven optimal, nodes, full vector found or None, HiGHS's dual
    bound). Blocks and cores are both solved here."""
    import highspy

    sub, _ = mf.restricted(free, x)
    h = highs_model(sub)
    left = None if until is None else until - time.perf_counter()
    seconds = cap if left is None else left if cap is None else min(cap, left)
    for key, value in {**h_settings, **({} if seconds is None else {"time_limit": max(1e-3, seconds)})}.items():
        h.setOptionValue(key, value)
    set_start(h, x[free])
    run_highs(h, until)
    proven = h.getModelStatus() == highspy.HighsModelStatus.kOptimal
    info = h.getInfo()
    if info.primal_solution_status != 2:
        return proven, int(info.mip_node_count), None, float(info.mip_dual_bound)
    found = x.copy()
    found[free] = np.round(np.asarray(h.getSolution().col_value))
    return proven, int(info.mip_node_count), found, float(info.mip_dual_bound)


@register_solver
class GapLns(Solver):
    """Large-neighbourhood search: the annealing's assignment, then a core of the pairs the LP relaxation
    favours and blocks of a few agents, each solved as a sub-MIP on HiGHS; the LP bound beside the plan;
    uses its whole time limit.

    The module docstring says how; the options are the constants above."""

    name, family, Options = "lns", "gap", GapLnsOptions
    requires = ("highspy",)
    gives_bound = True  # the LP relaxation's optimum

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
        # The core and the blocks stop early enough to leave polish_share of the time limit to the tabu search.
        until, end = (None, None) if until is None else (until - options.polish_share * time_limit, until)
        core = _Core(instance, form, mf, h_settings, until)
        stopped = "iterations"
        if options.core_per_job > 0:
            a, value = core.run(a, value, v, options.core_per_job, options.core_nodes)
            if core.whole_proven:
                stopped = "whole problem proven"
        whole_bound = core.whole_bound  # HiGHS's bound when it solved the whole problem (a core or a block)
        blocks = improved = 0
        while stopped == "iterations":
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
            proven, nodes, found, dual = _block(h_settings, mf, _mask(free, ids, x.size), x, until,
                                                options.block_seconds)
            cand = _better(instance, form, v, found, value)
            gained = cand is not None
            if gained:
                a, value = cand, float(v[cand, np.arange(n)].sum())
                improved += 1
            if proven and k == m:  # every agent, so every job: the whole problem
                whole_bound = dual
            if proven and k == m and not gained:
                stopped = "whole problem proven"
                break
            if options.block_agents is not None:
                pass  # a fixed block size
            elif proven and nodes <= options.max_nodes // 10:
                k = min(m, k + 1)  # solved easily: a larger block next
            elif not proven:
                k = max(2, k - 1)  # too hard within the node limit: a smaller one
        polish = {}
        if end is not None and options.polish_share > 0 and stopped != "whole problem proven" and m > 1:
            found, polish = tabu_search(instance, a, iterations=None, tenure=max(7, n // 10), penalty_up=PENALTY_UP,
                                        penalty_down=PENALTY_DOWN, stall=max(500, 10 * n), seed=seed, deadline=end)
            if found is not None:
                found = improve_by_shifts(instance, found)
                fv = float(v[found, np.arange(n)].sum())
                polish["improved"] = fv < value - 1e-9 * max(1.0, abs(value))
                if polish["improved"]:
                    a, value = found, fv
        elapsed = time.perf_counter() - started
        extra = {"start": t_stats, "start_value": start_value, **core.stats(), "blocks": blocks,
                 "improved_blocks": improved, "final_block_agents": k, "polish": polish, "stopped_by": stopped}
        why = {"time_limit": "time limit", "iterations": "block count",
               "whole problem proven": "a proof over the whole problem"}[stopped]
        result = self.plan_result(instance, a, build_seconds=0.0, solve_seconds=elapsed, extra=extra,
                                  raw_status=f"lns stopped by the {why} after {core.solves} cores ({core.improved} "
                                             f"improved) and {blocks} blocks ({improved} improved)")
        bound = core.lp_bound
        if whole_bound is not None and (bound is None or (whole_bound > bound if instance.sense == "min"
                                                          else whole_bound < bound)):
            bound = whole_bound  # HiGHS's proof over the whole problem: its bound, not the weaker LP's
        if bound is not None and result.status == Status.FEASIBLE:
            if inner(result.objective, bound, instance.sense):
                bound = result.objective  # HiGHS's bounds are known to its tolerance, not beyond
            result = result.with_(bound=bound, gap=relative_gap(result.objective, bound, instance.sense))
            if agree(result.objective, bound):  # the bound HiGHS proved meets the plan: optimal, by that proof
                result = result.with_(status=Status.OPTIMAL, message="proven optimal: HiGHS's bound meets the plan")
        return result


def lp_reduced_costs(instance, form, mf, h_settings: dict, until: float | None):
    """The LP relaxation's optimum and the reduced costs of x[i, j] at it, in minimisation form ((m, n); low is
    promising: negative only where the LP sets x[i, j] at 1), by HiGHS; or a sentence saying why there are none."""
    import highspy

    lp = highs_model(mf.relaxed())
    for key in ("threads", "random_seed"):
        lp.setOptionValue(key, h_settings[key])
    if until is not None:
        lp.setOptionValue("time_limit", max(1e-3, until - time.perf_counter()))
    run_highs(lp, until)
    if lp.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return f"LP relaxation not solved ({lp.modelStatusToString(lp.getModelStatus())})"
    d = np.asarray(lp.getSolution().col_dual)[form.blocks["assign"].ids]
    # HiGHS's column duals are reduced costs of the objective as given: a profit's are negated.
    return float(lp.getInfo().objective_function_value), (d if instance.sense == "min" else -d)


def inner(objective: float, bound: float, sense: str) -> bool:
    """Whether an LP bound lies on the wrong side of a feasible objective by no more than HiGHS's tolerance."""
    over = bound - objective if sense == "min" else objective - bound
    return 0 < over <= 1e-6 * max(1.0, abs(objective))


class _Core:
    """The core stage: the LP relaxation's reduced costs pick, for every job, its most promising agents; HiGHS
    solves the GAP restricted to those (agent, job) pairs and the current assignment's, from that assignment.
    A core HiGHS proves optimal within its node limit is doubled (pairs) and solved again, until the core is the
    whole problem (then proven optimal) or a solve ends unproven."""

    def __init__(self, instance, form, mf, h_settings: dict, until: float | None):
        self.instance, self.form, self.mf, self.until = instance, form, mf, until
        self.h_settings = h_settings
        self.lp_bound: float | None = None
        self.solves = self.proven = self.improved = 0
        self.pairs = 0
        self.whole_proven = False
        self.whole_bound: float | None = None
        self.note = "not run"

    def stats(self) -> dict:
        return {"lp_bound": self.lp_bound, "cores": self.solves, "proven_cores": self.proven,
                "improved_cores": self.improved, "last_core_pairs": self.pairs, "core": self.note}

    def _left(self) -> float | None:
        return None if self.until is None else self.until - time.perf_counter()

    def _reduced_costs(self) -> np.ndarray | None:
        found = lp_reduced_costs(self.instance, self.form, self.mf, self.h_settings, self.until)
        if isinstance(found, str):
            self.note = found
            return None
        self.lp_bound, score = found
        return score

    def run(self, a: np.ndarray, value: float, v: np.ndarray, per_job: float, nodes: int) -> tuple[np.ndarray, float]:
        if self._left() is not None and self._left() < 0.05:
            return a, value
        score = self._reduced_costs()
        if score is None:
            return a, value
        n = self.instance.jobs
        ids = self.form.blocks["assign"].ids
        ranked = np.sort(score, axis=None)
        size = max(1, int(round(per_job * n)))
        settings = {**self.h_settings, "mip_max_nodes": int(nodes)}
        self.note = "stopped by the time limit"
        while self._left() is None or self._left() > 0.05:
            free = score <= ranked[min(size, ranked.size) - 1]
            free[a, np.arange(n)] = True
            self.pairs = int(free.sum())
            x = self.form.encode(a)
            proven, _, found, dual = _block(settings, self.mf, _mask(free, ids, x.size), x, self.until, None)
            self.solves += 1
            cand = _better(self.instance, self.form, v, found, value)
            if cand is not None:
                a, value = cand, float(v[cand, np.arange(n)].sum())
                self.improved += 1
            if not proven:
                self.note = "a core unproven within its node or time limit"
                break
            self.proven += 1
            if free.all():
                self.whole_proven = True
                self.whole_bound = dual
                self.note = "the whole problem proven optimal"
                break
            size *= 2
        return a, value


def _mask(free: np.ndarray, ids: np.ndarray, size: int) -> np.ndarray:
    """The column mask of the free (agent, job) pairs."""
    mask = np.zeros(size, dtype=bool)
    mask[ids[free]] = True
    return mask
