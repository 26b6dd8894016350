"""``lns``: large-neighbourhood search on the deployment MILP, a matheuristic on HiGHS.

The MILP of :mod:`edgeopt.families.deployment.formulate` is built once. The search then works in four
stages, each within the time limit:

1. **The LP relaxation** of the whole MILP, solved by HiGHS: its optimum is a bound on the deployment
   cost (reported as the result's bound) and a guide for the next stage.
2. **A polished LP plan**: the LP's flags rounded at 1/2, repaired to fit (the genetic algorithm's
   ``repair``) and finished by the genetic algorithm's local search (``local_search.improve``). Where the LP
   is very fractional (large-2: 1,221 of 4,680 loaded flags) this is the start that matters.
3. **A relaxation-induced start** (as in RINS, Danna, Rothberg & Le Pape 2005): every stored and loaded
   flag that the LP already sets to 0 or 1 is fixed there, and HiGHS solves the MILP left (the fractional
   flags and all the routing) for up to ``start_seconds``. The best plan of the greedy and these stages
   starts the blocks.
4. **Blocks**: each step frees one block of the model-level decisions (stored and loaded flags), fixes every
   other one at the incumbent's value, and lets HiGHS re-optimise the block together with the routing of
   every request that could be served in it, starting from the incumbent (``setSolution``), so that a step
   never makes the plan worse. A block is a **window** of consecutive slots (every edge and model), a
   **cluster** of linked edges, or a **group** of models (those two over a random window of half to all of
   the horizon). Each kind's size grows by a quarter after a block HiGHS solved to ``step_gap`` and shrinks by a
   quarter after one that ran into ``step_seconds``.

A block is solved as its own small MILP: :meth:`edgeopt.modeling.MatrixForm.restricted` keeps only the
free columns and the rows that hold them, so a step costs what its block costs, not what the whole
model does. The search stops at the time limit, or without one after ``steps`` steps, or once ``stall``
steps in a row improved nothing. HiGHS runs with one thread and a fixed seed, and the blocks are drawn
from the seed: the run is deterministic for a seed when no time limit cuts it short.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from edgeopt.families.deployment.evaluate import evaluate
from edgeopt.families.deployment.formulate import formulate
from edgeopt.families.deployment.solvers.greedy import greedy_plans
from edgeopt.families.deployment.solvers.genetic import Population, genes_of
from edgeopt.families.deployment.solvers.local_search import improve
from edgeopt.families.deployment.solvers.routing import repair, route
from edgeopt.highs import highs_model, run_highs, set_start, solve_matrix, use_threads
from edgeopt.modeling import too_wide
from edgeopt.registry import register_solver
from edgeopt.result import Status, agree, relative_gap

#: Columns from which the LP relaxation is solved by HiGHS's interior point method rather than dual simplex.
IPM_COLUMNS = 20_000
from edgeopt.solver import Options, Solver, deadline, option

#: Steps when no time limit is given.
STEPS = 60
#: Steps in a row without improvement after which the search stops.
STALL = 30
#: Seconds HiGHS may spend on one block's sub-MIP (less when less of the time limit is left).
STEP_SECONDS = 4.0
#: Relative gap at which HiGHS stops on one block (the block is re-optimised, not proven).
STEP_GAP = 1e-4
#: Seconds HiGHS may spend on the relaxation-induced start (at most half of what is left of a time limit).
START_SECONDS = 60.0
#: Share of each dimension (slots, edges, models) a first block of each kind frees.
START_SHARE = 0.15
#: Share of what is left of a time limit the local search of the rounded LP plan may take.
POLISH_SHARE = 0.3

KINDS = ("window", "cluster", "group")


@dataclass(frozen=True)
class LnsOptions(Options):
    steps: int = option(STEPS, at_least=1)  # steps when there is no time limit
    stall: int = option(STALL, at_least=1)  # steps in a row without improvement before stopping
    step_seconds: float = option(STEP_SECONDS, above=0)  # HiGHS time per block
    step_gap: float = option(STEP_GAP, at_least=0)  # HiGHS relative gap per block
    start_seconds: float = option(START_SECONDS, at_least=0)  # HiGHS time for the LP-induced start (0: skip it)
    share: float = option(START_SHARE, above=0, at_most=1)  # share of each dimension a first block frees
    polish: bool = option(True)  # the rounded LP plan (else greedy's) finished by the local search of genetic


class _Blocks:
    """Draws the blocks: which (edge, model, slot) decisions are free in one step."""

    def __init__(self, inst, share: float, rng: np.random.Generator):
        self.inst, self.rng = inst, rng
        E, M, T = inst.num_edges, inst.num_models, inst.slots
        self.dims = {"window": T, "cluster": E, "group": M}
        self.size = {k: max(1, int(round(share * n))) for k, n in self.dims.items()}
        reach = np.eye(E, dtype=bool)
        reach[inst.region_edge[inst.pair_region], inst.pair_edge] = True
        self.reach = reach | reach.T
        #: (R, E): the edges a region's requests can be served at (its own and the linked ones).
        self.reach_region = np.zeros((inst.num_regions, E), dtype=bool)
        self.reach_region[np.arange(inst.num_regions), inst.region_edge] = True
        self.reach_region[inst.pair_region, inst.pair_edge] = True

    def kinds(self) -> list[str]:
        """The kinds with a block smaller than everything (a block of everything is the whole MILP)."""
        return [k for k in KINDS if self.dims[k] > 1]

    def draw(self, kind: str) -> np.ndarray:
        """A block of the kind at its current size: a window of slots over every edge and model; or a cluster
        of edges, or a group of models, over a random window of half to all of the horizon."""
        E, M, T = self.inst.num_edges, self.inst.num_models, self.inst.slots
        free = np.zeros((E, M, T), dtype=bool)
        size = min(self.size[kind], self.dims[kind] - 1) if self.dims[kind] > 1 else 1
        width = size if kind == "window" else int(self.rng.integers(max(1, T // 2), T + 1))
        start = int(self.rng.integers(0, T - width + 1))
        slots = slice(start, start + width)
        if kind == "window":
            free[:, :, slots] = True
        elif kind == "cluster":
            edges = [int(self.rng.integers(E))]
            while len(edges) < size:
                near = np.flatnonzero(self.reach[edges].any(axis=0) & ~np.isin(np.arange(E), edges))
                pool = near if near.size else np.setdiff1d(np.arange(E), edges)
                edges.append(int(self.rng.choice(pool)))
            free[edges, :, slots] = True
        else:
            free[:, self.rng.choice(M, size=size, replace=False), slots] = True
        return free

    def adapt(self, kind: str, solved: bool) -> None:
        n = self.size[kind]
        self.size[kind] = min(self.dims[kind], max(1, int(np.ceil(n * 1.25)) if solved else int(n * 0.75)))


def _free_columns(inst, form, free: np.ndarray, reach_region: np.ndarray) -> np.ndarray:
    """The MILP columns a block frees: its stored and loaded flags, the load and download indicators that
    depend on them (in their slot and the next), and the routing of every request that could be served at
    one of its (edge, model, slot) entries. Every other column keeps the incumbent's value."""
    mask = np.zeros(form.model.num_cols, dtype=bool)
    b = form.blocks
    mask[b["stored"].ids[free]] = mask[b["loaded"].ids[free]] = True
    switch = free.copy()
    switch[:, :, 1:] |= free[:, :, :-1]
    mask[b["load"].ids[switch]] = mask[b["download"].ids[switch]] = True
    # (R, M, T): some edge the region reaches has a free entry for the model and slot.
    touched = np.einsum("re,emt->rmt", reach_region.astype(np.int32), free.astype(np.int32)) > 0
    mask[b["local"].ids[touched]] = mask[b["cloud"].ids[touched]] = True
    mask[b["neighbour"].ids[touched[inst.pair_region]]] = True
    return mask


def _greedy(inst):
    """The best greedy plan (priced by the evaluator), or None when no greedy plan serves every request."""
    best, cost = None, np.inf
    for stored, loaded in greedy_plans(inst):
        plan = route(inst, stored, loaded)
        if plan is not None and (c := evaluate(inst, plan).objective) < cost:
            best, cost = plan, c
    return best


def _solve_block(mf, free: np.ndarray, x: np.ndarray, settings: dict, seconds: float, until: float | None,
                 start: bool):
    """HiGHS on the MILP left when the columns outside ``free`` keep their values in ``x`` (from ``x`` when
    ``start``). Returns whether HiGHS solved it to its gap, and the full vector it found (or None)."""
    import highspy

    sub, _ = mf.restricted(free, x)
    h = highs_model(sub)
    for key, value in {**settings, "time_limit": float(seconds)}.items():
        h.setOptionValue(key, value)
    if start:
        set_start(h, x[free])
    run_highs(h, until)
    solved = h.getModelStatus() == highspy.HighsModelStatus.kOptimal
    if h.getInfo().primal_solution_status != 2:  # no feasible point
        return solved, None
    found = x.copy()
    found[free] = np.asarray(h.getSolution().col_value)
    return solved, found


@register_solver
class Lns(Solver):
    """Large-neighbourhood search: an LP-induced start, then blocks of slots, edges or models re-optimised as
    sub-MIPs on HiGHS; the LP relaxation's bound comes with the plan.

    Seeded; a step never makes the plan worse; the plan is priced by the evaluator.
    """

    name, family, Options = "lns", "deployment", LnsOptions
    requires = ("highspy",)
    gives_bound = True  # the LP relaxation's optimum

    def run(self, instance, options, *, time_limit, seed, started):
        until = deadline(started, time_limit)
        left = lambda: None if until is None else until - time.perf_counter()  # noqa: E731
        cap = lambda s: s if until is None else max(0.0, min(s, left()))  # noqa: E731
        form = formulate(instance)
        mf = form.model.matrix()
        build = time.perf_counter() - started
        t1 = time.perf_counter()
        settings = {"output_flag": False, "threads": 1, "mip_rel_gap": float(options.step_gap),
                    "random_seed": (0 if seed is None else int(seed)) % (2 ** 31)}
        use_threads(1)
        tol = lambda c: 1e-9 * max(1.0, abs(c))  # noqa: E731
        plan, cost, origin = None, np.inf, "none"

        def offer(x, where: str) -> bool:
            nonlocal plan, cost, origin
            sol = form.decode(x)
            ev = evaluate(instance, sol)
            if ev.feasible and (plan is None or ev.objective < cost - tol(cost)):
                plan, cost, origin = sol, ev.objective, where
                return True
            return False

        greedy = _greedy(instance)
        if greedy is not None:
            offer(form.encode(greedy), "greedy")

        # 1. The LP relaxation: a bound, and the flags it already decides.
        bound, lp_x = None, None
        if left() is None or left() > 0.05:
            # Interior point (with crossover: a vertex, whose 0/1 flags stage 2 fixes) on large models: large-2's LP
            # took 40 s by dual simplex and 18 s by IPM on one loaded core; on small ones simplex is faster.
            lp_options = {"solver": "ipm"} if mf.num_cols >= IPM_COLUMNS else None
            lp = solve_matrix(mf.relaxed(), time_limit=None if until is None else 0.5 * left(), seed=seed,
                              options=lp_options)
            if lp.status == Status.OPTIMAL and too_wide(mf, form.model) is None:
                bound, lp_x = lp.objective, lp.x
            elif lp.status == Status.INFEASIBLE and too_wide(mf, form.model) is None:
                return self.no_plan("HiGHS proves the LP relaxation infeasible, so the instance has no plan",
                                    build_seconds=build, solve_seconds=time.perf_counter() - t1)
        # 2a. The LP's flags rounded at 1/2, repaired to fit and finished by genetic's local search (every row's
        # best schedule, then pair exchanges): on large-2, 18906.85 in 5 s (0.05% above the best known).
        if options.polish and (lp_x is not None or plan is not None) and (left() is None or left() > 0.05):
            if lp_x is not None:
                start = repair(instance, *(lp_x[form.blocks[k].ids] > 0.5 for k in ("stored", "loaded")))
            else:
                start = (plan.stored, plan.loaded)
            stop = None if until is None else time.perf_counter() + POLISH_SHARE * left()
            found = improve(instance, genes_of(*start), Population(instance).penalty, deadline=stop)
            polished = route(instance, found.genes > 0, found.genes > 1)
            if polished is not None:
                offer(form.encode(polished), "LP rounded, repaired, local search" if lp_x is not None
                      else "greedy, local search")
        # 2b. Fix what the LP decides, solve the rest.
        if lp_x is not None and options.start_seconds > 0:
            free = np.ones(mf.num_cols, dtype=bool)
            for key in ("stored", "loaded"):
                ids = form.blocks[key].ids.ravel()
                free[ids[np.abs(lp_x[ids] - np.round(lp_x[ids])) < 1e-6]] = False
            # The LP's flags rounded down keep every fixed one and drop the fractional ones: routed, a plan that
            # HiGHS starts from when it is feasible (dropping a model can add a load, which may not fit).
            fixed = np.round(lp_x)
            floor = route(instance, *(np.floor(lp_x[form.blocks[k].ids] + 1e-6) > 0.5 for k in ("stored", "loaded")))
            rounded = floor is not None and offer(form.encode(floor), "LP rounded down")
            seconds = options.start_seconds if until is None else min(options.start_seconds, 0.5 * left())
            if seconds > 0.05:
                _, found = _solve_block(mf, free, form.encode(floor) if rounded else fixed, settings, seconds, until,
                                        start=rounded)
                if found is not None:
                    offer(found, "LP-induced")
        if plan is None:
            return self.no_plan("neither the greedy nor the LP-induced start serves every request, and the cloud "
                                "is disabled", build_seconds=build, solve_seconds=time.perf_counter() - t1)
        start_cost, start_origin = cost, origin

        # 3. Blocks.
        rng = np.random.default_rng(0 if seed is None else seed)
        blocks = _Blocks(instance, options.share, rng)
        x = form.encode(plan)
        steps = improved = stall = 0
        counts = {k: [0, 0] for k in KINDS}
        kinds = blocks.kinds()
        while kinds and stall < options.stall and (until is not None or steps < options.steps):
            if until is not None and left() < 0.05:
                break
            kind = kinds[steps % len(kinds)]
            free = _free_columns(instance, form, blocks.draw(kind), blocks.reach_region)
            solved, found = _solve_block(mf, free, x, settings, cap(options.step_seconds), until, start=True)
            steps += 1
            counts[kind][0] += 1
            blocks.adapt(kind, solved)
            if found is not None and offer(found, "blocks"):
                x = form.encode(plan)
                improved += 1
                counts[kind][1] += 1
                stall = 0
            else:
                stall += 1
        extra = {"start": f"{start_origin} plan, cost {start_cost:.10g}", "steps": steps, "improving_steps": improved,
                 **{f"{k}_blocks": f"{n} ({i} improving)" for k, (n, i) in counts.items() if n}}
        result = self.plan_result(instance, plan, build_seconds=build, solve_seconds=time.perf_counter() - t1,
                                  raw_status=f"{start_origin} start, {steps} steps, {improved} improving", extra=extra)
        if bound is not None and result.status == Status.FEASIBLE:
            if result.objective < bound <= result.objective + tol(result.objective):
                bound = result.objective  # the LP's optimum is known to HiGHS's tolerance, not beyond
            result = result.with_(bound=bound, gap=relative_gap(result.objective, bound, instance.sense))
            if agree(result.objective, bound):  # the LP bound HiGHS proved meets the plan: optimal, by that proof
                result = result.with_(status=Status.OPTIMAL, message="proven optimal: the LP bound meets the plan")
        return result
