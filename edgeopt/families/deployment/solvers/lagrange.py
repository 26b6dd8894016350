"""``lagrange``: a Lagrangian relaxation of the deployment MILP's slot coupling, with a bound of its own.

The math is in docs/formulations.md (section "Deployment", "Lagrangian relaxation of the slot coupling").
The slots of the MILP are coupled only through the state a slot starts from: the load and download rows of
slot ``t`` read the stored and loaded flags of slot ``t - 1``. **Variable splitting** cuts that coupling: the
horizon is cut into windows of ``window`` slots (default 1), and every window but the first gets its own binary
copies of the flags of the slot before it (held to that slot's storage, GPU-memory and loaded-implies-stored
rows, which any copy of a plan satisfies); the equalities copy = original are dualised with free multipliers.
What is left is one MILP per window, each solved by HiGHS to a relative gap of 0 on one thread. For any
multipliers the sum of their proven dual bounds is a lower bound on the minimum cost (at a plan, with every
copy equal to its original, the multiplier terms cancel), and only proven dual bounds are summed.

The multipliers start at the LP relaxation's duals (each row dual's share on the previous slot's flags): there
the windows' LPs sum to the LP optimum, so the first bound is already at least the LP bound; the windows' MILPs
can only raise it. A proximal bundle method (``method="bundle"``, default) or Polyak's subgradient step
(``"subgradient"``) then moves them along the mismatch ``copy - original``.

Every iteration's windows give primal candidates, each priced by the evaluator: their own flags and routing as
solved (feasible when the copies agree); those flags, and the ones the next window's copies assume, repaired to
fit (:func:`~.routing.repair`) and routed (:func:`~.routing.route`); and the Lagrangian heuristic's forward pass
(``forward``): the windows in order, each from the flags the one before chose. A new best plan is improved by the
genetic algorithm's local search (``polish``) and its routing re-optimised by HiGHS with its flags fixed
(``reroute``).

The run stops after ``iterations`` iterations, at the time limit (the clock is checked before every HiGHS call
and each gets only the time left), when the bundle's predicted rise (or the subgradient's step factor) is
negligible, when the copies agree, or when the bound meets the plan. HiGHS runs with one thread and the seed:
without a time limit the run is deterministic for a seed.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import numpy as np

from edgeopt.families.deployment.formulate import formulate
from edgeopt.families.deployment.solvers.genetic import Population, genes_of
from edgeopt.families.deployment.solvers.greedy import greedy_plans
from edgeopt.families.deployment.solvers.incumbent import Incumbent, clock, with_bound
from edgeopt.families.deployment.solvers.local_search import improve
from edgeopt.families.deployment.solvers.routing import repair, route
from edgeopt.highs import highs_model, run_highs, solve_matrix, use_threads
from edgeopt.modeling import MatrixForm, too_wide
from edgeopt.registry import register_solver
from edgeopt.result import Status
from edgeopt.solver import Options, Solver, option, require

#: Iterations (each solves every window's MILP once).
ITERATIONS = 20
#: First step factor (subgradient: Polyak's; bundle: its first proximity weight, in Polyak steps).
STEP = 0.3
#: Subgradient: iterations in a row without a better bound after which the step factor halves.
STALL = 3
#: Subgradient: step factor below which the search stops.
MIN_STEP = 1e-3
#: Bundle: the share of the predicted rise a step must achieve to move the centre.
SERIOUS = 0.1
#: Bundle: it stops once the rise its model predicts is below this share of the bound (a tenth of PROOF_RTOL).
BUNDLE_TOL = 1e-7
#: Bundle: the newest cuts kept even when the last step did not use them.
RECENT = 5
#: Bundle: the most cuts kept (the newest among those the last step used).
MAX_CUTS = 30
#: Bundle: iterations of the projected-gradient QP of one step.
QP_ITERATIONS = 5000
#: Columns from which the LP relaxation is solved by HiGHS's interior point method (as in ``lns``).
IPM_COLUMNS = 20_000
#: Share of what is left of a time limit one local search of a new best plan may take.
POLISH_SHARE = 0.1
#: Seconds below which no further HiGHS call is started.
MIN_SECONDS = 0.05


@dataclass(frozen=True)
class LagrangeOptions(Options):
    iterations: int = option(ITERATIONS, at_least=1)  # iterations, each solving every window's MILP once
    method: Literal["bundle", "subgradient"] = "bundle"  # how the multipliers move
    step: float = option(STEP, above=0, at_most=2)  # first step factor (subgradient: Polyak's; bundle: its first)
    stall: int = option(STALL, at_least=1)  # subgradient: iterations without a better bound before halving
    min_step: float = option(MIN_STEP, above=0, at_most=2)  # subgradient: stop below this factor
    lp_start: bool = option(True)  # multipliers from the LP relaxation's duals (else 0)
    subproblem_seconds: float | None = option(None, above=0)  # HiGHS time per subproblem (None: to optimality)
    window: int = option(1, at_least=1)  # slots per subproblem
    compute_cuts: bool = option(True)  # the formulation's valid compute cuts in the LP and every subproblem
    forward: bool = option(True)  # the Lagrangian heuristic: subproblems in slot order from the plan so far
    polish: bool = option(True)  # a new best plan improved by genetic's local search
    reroute: bool = option(True)  # a new best plan's routing re-optimised by HiGHS with its flags fixed

    def check(self) -> None:
        require(self.min_step <= self.step, "min_step", f"at most step ({self.step:g})", self.min_step)


class _Split:
    """The subproblems of the split model, cut out of the whole MILP's matrix form.

    The horizon is cut into windows of ``window`` consecutive slots (the last one may be shorter); subproblem
    ``k`` has the columns of its slots (every variable block's last index is the slot), then, unless it starts
    at slot 0, copies of the stored and loaded flags of the slot before it. Its rows are the rows of its slots
    (every row block's last index is the slot) and the storage, GPU-memory and loaded-implies-stored rows of
    the slot before, which hold only those flags, written on the copies."""

    def __init__(self, inst, form, mf: MatrixForm, window: int):
        E, M, T = inst.num_edges, inst.num_models, inst.slots
        self.n = 2 * E * M
        self.windows = [(a, min(a + window, T)) for a in range(0, T, window)]
        self.K = len(self.windows)
        A = mf.A.tocsr()
        for name, block in list(form.model.row_blocks.items()) + list(form.blocks.items()):
            if block.ids.shape[-1] != T:
                raise ValueError(f"lagrange: block {name!r} of the deployment MILP is not indexed by slot last")
        state = [form.blocks["stored"], form.blocks["loaded"]]
        none = np.zeros(0, dtype=np.int64)
        flags = lambda t: np.concatenate([b.ids[..., t].ravel() for b in state])
        #: per subproblem: its own columns (of the whole MILP), the copied ones, its own rows, the positions of
        #: its last slot's flags among its columns, and the matrix form (copies last, at cost 0).
        self.cols, self.copies, self.own_rows, self.last, self.subs = [], [], [], [], []
        for a, b in self.windows:
            cols = np.concatenate([blk.ids[..., a:b].ravel() for blk in form.blocks.values()])
            copies = flags(a - 1) if a else none
            own = np.concatenate([blk.ids[..., a:b].ravel() for blk in form.model.row_blocks.values()])
            extra = (np.concatenate([form.model.row_blocks[k].ids[..., a - 1].ravel()
                                     for k in ("storage", "gpu_memory", "loaded_implies_stored")]) if a else none)
            rows = np.concatenate([own, extra])
            part = A[rows]
            keep = np.concatenate([cols, copies])
            local = np.full(mf.num_cols, -1, dtype=np.int64)
            local[keep] = np.arange(keep.size)
            if np.any(local[part.indices] < 0):
                raise ValueError(f"lagrange: a row of slots {a}..{b - 1} holds a column of another slot than "
                                 "these and the previous slot's flags")
            self.subs.append(MatrixForm(
                sense="min", c=np.concatenate([mf.c[cols], np.zeros(copies.size)]),
                offset=float(mf.offset) if a == 0 else 0.0, A=part[:, keep].tocsc(), row_lo=mf.row_lo[rows],
                row_hi=mf.row_hi[rows], col_lo=mf.col_lo[keep], col_hi=mf.col_hi[keep],
                integrality=mf.integrality[keep]))
            self.cols.append(cols)
            self.copies.append(copies)
            self.own_rows.append(own)
            self.last.append(local[flags(b - 1)])
        self.A = A

    def costs(self, k: int, lam: np.ndarray) -> np.ndarray:
        """Subproblem k's objective under the multipliers ``lam`` (K - 1, 2EM): ``lam[k - 1]`` prices its
        copies, ``-lam[k]`` its last slot's own flags (the copies of subproblem k + 1 dualised against them)."""
        c = self.subs[k].c.copy()
        if k < self.K - 1:
            c[self.last[k]] -= lam[k]
        if k:
            c[self.cols[k].size:] += lam[k - 1]
        return c

    def with_costs(self, k: int, lam: np.ndarray, copies: np.ndarray | None = None) -> MatrixForm:
        """Subproblem k under the multipliers; with ``copies``, its copies fixed at those values."""
        s = self.subs[k]
        lo, hi = s.col_lo, s.col_hi
        if copies is not None:
            lo, hi = lo.copy(), hi.copy()
            lo[self.cols[k].size:] = hi[self.cols[k].size:] = copies
        return MatrixForm(s.sense, self.costs(k, lam), s.offset, s.A, s.row_lo, s.row_hi, lo, hi, s.integrality)

    def mismatch(self, solutions: list) -> np.ndarray:
        """(K - 1, 2EM) subgradient: each subproblem's copies less the flags the one before chose."""
        return np.array([np.round(solutions[k][self.cols[k].size:]) - np.round(solutions[k - 1][self.last[k - 1]])
                         for k in range(1, self.K)]).reshape(self.K - 1, self.n)

    def lp_multipliers(self, row_dual: np.ndarray) -> np.ndarray:
        """The multipliers at which the split LP's value equals the LP relaxation's: for each flag of the slot
        before subproblem k, its share of subproblem k's row duals (sum of dual x coefficient)."""
        lam = np.zeros((self.K - 1, self.n))
        for k in range(1, self.K):
            lam[k - 1] = self.A[self.own_rows[k]][:, self.copies[k]].T @ row_dual[self.own_rows[k]]
        return lam


def _simplex_projection(v: np.ndarray) -> np.ndarray:
    """The point of the unit simplex nearest to ``v`` (the sort-based rule)."""
    u = np.sort(v)[::-1]
    css = np.cumsum(u) - 1.0
    k = np.flatnonzero(u - css / np.arange(1, v.size + 1) > 0)[-1]
    return np.maximum(v - css[k] / (k + 1), 0.0)


def _simplex_qp(a: np.ndarray, Q: np.ndarray, iterations: int = QP_ITERATIONS) -> np.ndarray:
    """min a.alpha + alpha Q alpha / 2 over the unit simplex (Q positive semidefinite, a few dozen variables), by
    accelerated projected gradient with restarts. HiGHS's QP solver cycled on such two-variable problems."""
    n = a.size
    top = float(np.linalg.eigvalsh(Q).max()) if n else 0.0
    if top <= 1e-12 * max(1.0, float(np.abs(a).max())):
        return np.eye(n)[int(np.argmin(a))]
    f = lambda z: float(a @ z + 0.5 * z @ Q @ z)
    x = y = np.full(n, 1.0 / n)
    step, fx = 1.0, f(x)
    for _ in range(iterations):
        new = _simplex_projection(y - (a + Q @ y) / top)
        fn = f(new)
        if fn > fx:  # restart the momentum where the objective went up
            y, step = x, 1.0
            continue
        nstep = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * step * step))
        y = new + (step - 1.0) / nstep * (new - x)
        if np.abs(new - x).max() < 1e-13:
            x = new
            break
        x, fx, step = new, fn, nstep
    return x


def _bundle_step(bundle: list, center: tuple, t: float):
    """The proximal bundle step: the multipliers maximising min_i (c_i + g_i.mu) - |mu - centre|^2 / (2t),
    found through its dual, min over the simplex of a.alpha + (t/2)|G alpha|^2 with a_i = c_i + g_i.centre
    (a QP in one variable per cut), as mu = centre + t G alpha. Returns mu, the rise over the centre's bound
    that the cutting-plane model predicts there, and alpha."""
    lam0, value0 = center
    G = np.array([g.ravel() for _, g in bundle]).T  # (dimension, cuts)
    a = np.array([c + float(np.sum(g * lam0)) for c, g in bundle])
    alpha = _simplex_qp(a - a.min(), t * (G.T @ G))
    lam = lam0 + t * (G @ alpha).reshape(lam0.shape)
    model = min(c + float(np.sum(g * lam)) for c, g in bundle)
    return lam, model - value0, alpha


def _lp(mf: MatrixForm, until: float | None, seed: int):
    """The LP relaxation by HiGHS: (objective, solution, row duals), or None unless HiGHS proved it optimal;
    the string "infeasible" when HiGHS proves it infeasible."""
    import highspy

    h = highs_model(mf.relaxed())
    settings = {"threads": 1, "random_seed": seed}
    if mf.num_cols >= IPM_COLUMNS:  # as lns: large LPs are faster by interior point (with crossover: duals)
        settings["solver"] = "ipm"
    if until is not None:
        settings["time_limit"] = max(1e-3, until - time.perf_counter())
    for key, value in settings.items():
        h.setOptionValue(key, value)
    use_threads(1)
    run_highs(h, until)
    status = h.getModelStatus()
    if status == highspy.HighsModelStatus.kInfeasible:
        return "infeasible"
    if status != highspy.HighsModelStatus.kOptimal:
        return None
    sol = h.getSolution()
    return (float(h.getInfo().objective_function_value), np.asarray(sol.col_value), np.asarray(sol.row_dual))


@register_solver
class Lagrange(Solver):
    """Lagrangian relaxation of the slot coupling: one exact HiGHS MILP per window of slots, multipliers by a bundle
    or subgradient method; a lower bound of its own, and the windows' plans repaired into feasible ones.

    Seeded; the plan is priced by the evaluator; the bound is the larger of the LP relaxation's and the best
    Lagrangian one (docs/formulations.md, "Lagrangian relaxation of the slot coupling").
    """

    name, family, Options = "lagrange", "deployment", LagrangeOptions
    requires = ("highspy",)
    gives_bound = True

    def run(self, instance, options, *, time_limit, seed, started):
        until, left, out_of_time = clock(started, time_limit, MIN_SECONDS)
        seed = 0 if seed is None else int(seed)
        inst = instance
        form = formulate(inst, cuts=("compute",) if options.compute_cuts else ())
        mf = form.model.matrix()
        split = _Split(inst, form, mf, options.window)
        K, half = split.K, split.n // 2
        trusted = too_wide(mf, form.model) is None
        build = time.perf_counter() - started
        t1 = time.perf_counter()
        tol = lambda c: 1e-9 * max(1.0, abs(c))
        best_plan = Incumbent(inst)
        offer = best_plan.offer
        unserved_price = Population(inst).penalty

        def offer_flags(stored, loaded, where: str) -> None:
            """Repair a batch of stored/loaded flags to fit, route each and offer it."""
            xs, ys = repair(inst, np.asarray(stored), np.asarray(loaded))
            for x, y in zip(xs, ys):
                offer(route(inst, x, y), where)

        def limit(cap: float | None = None) -> float | None:
            return cap if until is None else (left() if cap is None else min(cap, left()))

        def reroute() -> None:
            """HiGHS re-optimises the best plan's routing with its stored and loaded flags fixed."""
            if not options.reroute or best_plan.plan is None or out_of_time():
                return
            x = form.encode(best_plan.plan)
            free = np.zeros(mf.num_cols, dtype=bool)
            for key in ("local", "neighbour", "cloud"):
                free[form.blocks[key].ids.ravel()] = True
            sub, _ = mf.restricted(free, x)
            out = solve_matrix(sub, time_limit=limit(), seed=seed, start=x[free])
            if out.x is not None:
                found = x.copy()
                found[free] = out.x
                offer(form.decode(found), best_plan.origin + ", rerouted")

        def polish() -> None:
            """The local search of ``genetic`` (as ``lns``'s) from the best plan."""
            if not options.polish or best_plan.plan is None or out_of_time():
                return
            stop = None if until is None else time.perf_counter() + POLISH_SHARE * left()
            found = improve(inst, genes_of(best_plan.plan.stored, best_plan.plan.loaded), unserved_price, deadline=stop)
            offer(route(inst, found.genes > 0, found.genes > 1), best_plan.origin + ", local search")

        def improve_best() -> None:
            polish()
            reroute()

        def forward(lam: np.ndarray, where: str) -> None:
            """The Lagrangian heuristic: the subproblems in slot order, each from the flags the one before chose
            (its copies fixed there), its last slot's flags priced by the multipliers: one consistent plan."""
            full, prev = np.zeros(mf.num_cols), None
            for k in range(K):
                if out_of_time():
                    return
                out = solve_matrix(split.with_costs(k, lam, prev), time_limit=limit(options.subproblem_seconds),
                                   seed=seed)
                if out.x is None:
                    return
                full[split.cols[k]] = out.x[:split.cols[k].size]
                prev = np.round(out.x[split.last[k]])
            offer(form.decode(full), where)

        for stored, loaded in greedy_plans(inst):
            offer(route(inst, stored, loaded), "greedy")

        # The LP relaxation: a bound, a rounded plan, and the first multipliers.
        lp_bound, lam = None, np.zeros((K - 1, split.n))
        if options.lp_start and not out_of_time():
            lp = _lp(mf, until, seed)
            if isinstance(lp, str) and trusted:
                return self.no_plan("HiGHS proves the LP relaxation infeasible, so the instance has no plan",
                                    build_seconds=build, solve_seconds=time.perf_counter() - t1)
            if isinstance(lp, tuple):
                lp_bound, lp_x, row_dual = lp
                lam = split.lp_multipliers(row_dual)
                offer_flags(*(lp_x[form.blocks[k].ids][None] > 0.5 for k in ("stored", "loaded")), "LP rounded")
        improve_best()

        # The multiplier search: every iteration solves every subproblem once.
        starts: list = [None] * K

        def lagrangian(lam: np.ndarray):
            """L at ``lam``: (sum of the subproblems' values, sum of their proven dual bounds, subgradient,
            solutions); None when the time ran out or a subproblem found no plan; a string when HiGHS proves a
            subproblem infeasible."""
            values, bounds, solutions = 0.0, 0.0, []
            for k in range(K):
                if out_of_time():
                    return None
                out = solve_matrix(split.with_costs(k, lam), time_limit=limit(options.subproblem_seconds),
                                   seed=seed, start=starts[k])
                if out.status == Status.INFEASIBLE and trusted:
                    a, b = split.windows[k]
                    return (f"HiGHS proves subproblem {k} (slots {a} to {b - 1}) of the Lagrangian relaxation "
                            "infeasible, so the instance has no plan")
                if out.x is None:
                    return None
                starts[k] = out.x
                solutions.append(out.x)
                values += out.objective
                # Only a proven dual bound is a valid term: the incumbent of a subproblem stopped early is not.
                bounds += out.bound if out.bound is not None else -np.inf
            return values, bounds, split.mismatch(solutions), solutions

        def candidates(solutions: list, where: str) -> None:
            """The plans of one iteration: the subproblems' own flags and routing as solved; those flags, and the
            ones the next subproblem's copies assume, repaired and routed; the Lagrangian heuristic's plan."""
            full = np.zeros(mf.num_cols)
            for k, x in enumerate(solutions):
                full[split.cols[k]] = x[:split.cols[k].size]
            own = form.decode(full)
            before = best_plan.cost
            offer(own, f"{where}, as solved")
            copy_x, copy_y = own.stored.copy(), own.loaded.copy()
            for k in range(1, K):
                c = np.round(solutions[k][split.cols[k].size:]) > 0.5
                t = split.windows[k][0] - 1
                copy_x[..., t] = c[:half].reshape(copy_x.shape[:2])
                copy_y[..., t] = c[half:].reshape(copy_y.shape[:2])
            offer_flags(np.stack([own.stored, copy_x]), np.stack([own.loaded, copy_y]), f"{where}, repaired")
            if options.forward:
                forward(lam, f"{where}, forward pass")
            if best_plan.cost < before:
                improve_best()

        best_bound, iterations, history, seconds, stop = -np.inf, 0, [], [], "iterations"
        theta, stall, best = float(options.step), 0, None  # subgradient
        center, bundle, t_prox, serious, predicted = None, [], None, 0, 0.0  # bundle: (lam, L), cuts (const, g)
        while iterations < options.iterations:
            got = lagrangian(lam)
            if isinstance(got, str):
                return self.no_plan(got, build_seconds=build, solve_seconds=time.perf_counter() - t1)
            if got is None:
                stop = "time limit" if out_of_time() else "a subproblem without a plan"
                break
            values, bounds, g, solutions = got
            iterations += 1
            candidates(solutions, f"iteration {iterations}")
            improved = bounds > best_bound + (tol(best_bound) if np.isfinite(best_bound) else 0.0)
            best_bound = max(best_bound, bounds)
            history.append(round(bounds, 6))
            seconds.append(round(time.perf_counter() - started, 2))
            if trusted and best_plan.meets(best_bound):
                stop = "bound meets plan"
                break
            if not np.any(g):  # the copies agree: the subproblems' plans form one plan, and its cost is L
                stop = "copies agree"
                break
            target = best_plan.cost if best_plan.plan is not None else values + 0.01 * max(1.0, abs(values))
            if options.method == "subgradient":
                if improved:
                    best, stall = (lam.copy(), g, values), 0
                else:
                    stall += 1
                if stall >= options.stall and best is not None:
                    # Halve the factor and step again from the best multipliers (with their subgradient).
                    theta, stall = theta / 2, 0
                    if theta < options.min_step:
                        stop = "step below min_step"
                        break
                    lam, g, values = best
                lam = lam + theta * max(target - values, tol(values)) / float(np.sum(g * g)) * g
                continue
            # Proximal bundle: every iteration adds the cut L(mu) <= values + g.(mu - lam) (valid whatever the
            # subproblems' plans, since each one's value is linear in the multipliers); the centre moves only
            # when the bound rose by at least a tenth of what the cutting-plane model predicted.
            bundle.append((values - float(np.sum(g * lam)), g))
            if center is None:
                center = (lam.copy(), bounds)
                t_prox = options.step * max(target - values, tol(values)) / float(np.sum(g * g))
            else:
                # Kiwiel's proximity control: the weight an exact quadratic model would have had, within a
                # factor of ten of the last one (more after a good serious step, less after a null step).
                ratio = (bounds - center[1]) / predicted
                fitted = t_prox / (2.0 * (1.0 - ratio)) if ratio < 1.0 else np.inf
                if ratio >= SERIOUS:
                    center, serious = (lam.copy(), bounds), serious + 1
                    if ratio >= 0.5:
                        t_prox = min(10.0 * t_prox, max(t_prox, fitted))
                else:
                    t_prox = max(0.1 * t_prox, min(t_prox, fitted))
            lam, predicted, alpha = _bundle_step(bundle, center, t_prox)
            keep = [i for i in range(len(bundle)) if alpha[i] > 1e-12 or i >= len(bundle) - RECENT][-MAX_CUTS + 1:]
            bundle = [bundle[i] for i in keep]
            if predicted <= BUNDLE_TOL * max(1.0, abs(center[1])):
                stop = "predicted rise negligible"
                break
            theta = t_prox

        if best_plan.plan is None:
            return self.no_plan("no greedy, LP-rounded or Lagrangian plan serves every request, and the cloud is "
                                "disabled", build_seconds=build, solve_seconds=time.perf_counter() - t1)
        lag_bound = best_bound if np.isfinite(best_bound) else None
        extra = {"iterations": iterations, "stop": stop, "lp_bound": lp_bound, "lagrangian_bound": lag_bound,
                 "bounds": history, "bound_seconds": seconds, "plan": best_plan.origin, "step": theta, "subproblems": K}
        if options.method == "bundle":
            extra["serious_steps"] = serious
        result = self.plan_result(inst, best_plan.plan, build_seconds=build, solve_seconds=time.perf_counter() - t1,
                                  raw_status=f"{iterations} iterations, stopped: {stop}", extra=extra)
        proven = [b for b in (lp_bound, lag_bound) if b is not None]
        return with_bound(result, max(proven) if proven else None, inst.sense, trusted,
                          "the Lagrangian (or LP) bound")
