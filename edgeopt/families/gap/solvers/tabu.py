"""Tabu search for the GAP with shift and swap moves and strategic oscillation on per-agent capacity
penalties, after M. Yagiura, T. Ibaraki and F. Glover, "An ejection chain approach for the generalized
assignment problem", INFORMS Journal on Computing 16(2) (2004) 133-151 (adaptive penalty weights per
agent) and J.A. Diaz and E. Fernandez, "A tabu search heuristic for the generalized assignment problem",
European Journal of Operational Research 132 (2001) 22-38 (shift and swap neighbourhoods, a penalty
that lets the search cross the feasibility boundary).

The state is a complete assignment scored in minimisation form: the cost (or minus the profit) plus
``alpha_i`` per unit by which agent i's load exceeds its capacity. Every iteration evaluates the whole
shift neighbourhood (every job to every other agent) and the swap neighbourhood (every pair of jobs at
different agents exchange agents; on more than ``SWAP_FULL`` jobs, the pairs whose first job is in a
seeded sample of that many jobs, those at overloaded agents first), all at once with numpy, and makes
the best admissible move, even when it worsens the score. A move is tabu if it puts a job back on an
agent it left within the last ``tenure`` (+ a seeded random 0..tenure/2) iterations, unless it reaches
a feasible assignment better than the best found (aspiration). After each move the weight of an
overloaded agent is multiplied by ``penalty_up`` and that of any other agent by ``penalty_down``
(strategic oscillation: the walk keeps crossing the boundary of the feasible region, near which the
good assignments of a tight instance lie). After ``stall`` iterations without a new best feasible
assignment the search restarts from the best one, perturbed by random shifts of a twentieth of the jobs
(at least 2), with the weights reset and the tabu list cleared.

The start is the regret greedy's assignment (jobs it could not place go where they overload least). The
result is the best feasible assignment seen, improved by the greedy's shift descent and priced by the
evaluator; if there is none, ``error`` "no feasible assignment found". With a time limit the search runs
until it (or until ``iterations``, if given); without one, ``iterations`` (default 50 per job, at least
2,000). Deterministic for a seed (None means 0) when the iteration count, not the clock, ends the run.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from edgeopt.families.gap.instance import Instance
from edgeopt.families.gap.solvers.anneal import _complete, _spread
from edgeopt.families.gap.solvers.greedy import greedy_assignment, improve_by_shifts, min_form, slack
from edgeopt.registry import register_solver
from edgeopt.solver import Options, Solver, deadline, option

#: Iterations without a time limit: this many per job, at least MIN_ITERATIONS.
ITERATIONS_PER_JOB = 50
MIN_ITERATIONS = 2_000
#: Tabu tenure; None: max(7, jobs / 10) (Diaz & Fernandez's order of magnitude), plus a random 0..tenure/2.
TENURE = None
#: The largest tenure (option ``tenure``): far beyond any run's iterations, and the iteration until which a move
#: is tabu must fit the int64 tabu list (tenure=10**19 was an OverflowError traceback).
MAX_TENURE = 10 ** 9
#: Per-move multiplier of an overloaded agent's weight (> 1) and of every other agent's (< 1).
PENALTY_UP = 1.1
PENALTY_DOWN = 0.98
#: Iterations without a new best feasible assignment before a restart; None: max(500, 10 x jobs).
STALL = None
#: Above this many jobs the swap neighbourhood is sampled (its first job among this many), so that an
#: iteration's arrays stay SWAP_FULL x jobs.
SWAP_FULL = 300


@dataclass(frozen=True)
class TabuOptions(Options):
    """The constants above; None means the instance-dependent default."""

    iterations: int | None = option(None, at_least=0)
    tenure: int | None = option(TENURE, at_least=1, at_most=MAX_TENURE)
    penalty_up: float = option(PENALTY_UP, above=1)
    penalty_down: float = option(PENALTY_DOWN, above=0, below=1)
    stall: int | None = option(STALL, at_least=1)


def tabu_search(inst: Instance, start: np.ndarray, *, iterations: int | None, tenure: int, penalty_up: float,
                penalty_down: float, stall: int, seed: int, deadline: float | None) -> tuple[np.ndarray | None, dict]:
    """Run the tabu search from a complete assignment; returns (best feasible assignment or None, stats).

    ``iterations`` None runs until ``deadline`` (which must then be set)."""
    m, n = inst.agents, inst.jobs
    v = np.asarray(min_form(inst), dtype=float)
    r = np.asarray(inst.resource, dtype=float)
    limit = np.asarray(inst.capacity, dtype=float) + slack(inst)
    jobs = np.arange(n)
    rng = np.random.default_rng(seed)
    alpha0 = max(_spread(inst), 1.0) / max(float(r.mean()), 1e-9)
    alpha = np.full(m, alpha0)
    a = start.astype(np.int64).copy()
    tabu = np.zeros((m, n), dtype=np.int64)  # iteration until which job j may not go (back) to agent i
    load = np.bincount(a, weights=r[a, jobs], minlength=m)
    value = float(v[a, jobs].sum())
    best, best_value = None, np.inf
    if not (load > limit).any():
        best, best_value = a.copy(), value
    it = last_best = 0
    restarts = 0
    stopped = "iterations"
    half = max(1, tenure // 2)
    while m > 1:
        if iterations is not None and it >= iterations:
            break
        if deadline is not None and time.perf_counter() > deadline:
            stopped = "time_limit"
            break
        it += 1
        if it % 256 == 0:  # recomputed, so that sums of non-integer data cannot drift
            load = np.bincount(a, weights=r[a, jobs], minlength=m)
            value = float(v[a, jobs].sum())
        over = np.maximum(0.0, load - limit)
        own_v = v[a, jobs]
        own_r = r[a, jobs]
        # Shifts: job j from a[j] to agent i.
        over_to = np.maximum(0.0, load[:, None] + r - limit[:, None]) - over[:, None]       # (m, n)
        over_from = np.maximum(0.0, load[a] - own_r - limit[a]) - over[a]                   # (n,)
        dv_shift = v - own_v
        d_shift = dv_shift + alpha[:, None] * over_to + (alpha[a] * over_from)[None, :]
        d_shift[a, jobs] = np.inf
        total_over = float(over.sum())
        new_over = total_over + over_to + over_from[None, :]
        aspire = (new_over <= 0) & (value + dv_shift < best_value - 1e-9)
        d_shift[(tabu > it) & ~aspire] = np.inf
        # Swaps: j (at p = a[j]) goes to q = a[k], k goes to p.
        if n > SWAP_FULL:
            hot = jobs[over[a] > 0]
            if hot.size > SWAP_FULL:
                rows = np.sort(rng.choice(hot, SWAP_FULL, replace=False))
            else:
                rest = np.setdiff1d(jobs, hot, assume_unique=True)
                rows = np.sort(np.concatenate([hot, rng.choice(rest, SWAP_FULL - hot.size, replace=False)]))
        else:
            rows = jobs
        ap, aq = a[rows], a                                 # agents of the pair's first and second job
        base = load[a] - own_r                              # load of a job's agent without it
        lp = base[rows][:, None] + r[ap][:, :]              # p's load: k arrives, j leaves
        lq = base[None, :] + r[aq][:, rows].T               # q's load: j arrives, k leaves
        op = np.maximum(0.0, lp - limit[ap][:, None]) - over[ap][:, None]
        oq = np.maximum(0.0, lq - limit[aq][None, :]) - over[aq][None, :]
        dv_swap = v[aq][:, rows].T + v[ap][:, :] - own_v[rows][:, None] - own_v[None, :]
        d_swap = dv_swap + alpha[ap][:, None] * op + alpha[aq][None, :] * oq
        d_swap[ap[:, None] == aq[None, :]] = np.inf
        aspire = (total_over + op + oq <= 0) & (value + dv_swap < best_value - 1e-9)
        is_tabu = (tabu[aq][:, rows].T > it) | (tabu[ap][:, :] > it)
        d_swap[is_tabu & ~aspire] = np.inf
        ks = int(np.argmin(d_shift))
        kw = int(np.argmin(d_swap))
        best_shift, best_swap = d_shift.flat[ks], d_swap.flat[kw]
        if best_shift == np.inf and best_swap == np.inf:
            tabu[:] = 0  # every move tabu: forget the list
            continue
        if best_shift <= best_swap:
            i, j = divmod(ks, n)
            p = a[j]
            tabu[p, j] = it + tenure + int(rng.integers(half + 1))
            load[p] -= r[p, j]
            load[i] += r[i, j]
            value += v[i, j] - v[p, j]
            a[j] = i
        else:
            x, k = divmod(kw, n)
            j = int(rows[x])
            p, q = a[j], a[k]
            tabu[p, j] = it + tenure + int(rng.integers(half + 1))
            tabu[q, k] = it + tenure + int(rng.integers(half + 1))
            load[p] += r[p, k] - r[p, j]
            load[q] += r[q, j] - r[q, k]
            value += v[q, j] + v[p, k] - v[p, j] - v[q, k]
            a[j], a[k] = q, p
        overloaded = load > limit
        alpha = np.where(overloaded, alpha * penalty_up, alpha * penalty_down)
        np.clip(alpha, alpha0 * 1e-3, alpha0 * 1e3, out=alpha)
        if not overloaded.any() and value < best_value - 1e-9:
            best, best_value, last_best = a.copy(), value, it
        elif it - last_best >= stall and best is not None:
            # Restart from the best assignment, perturbed by random shifts.
            restarts += 1
            last_best = it
            a = best.copy()
            if m > 1:  # one agent: nothing to shift; one job: one to move (a 1-job instance failed here)
                moved = rng.choice(n, min(n, max(2, n // 20)), replace=False)
                a[moved] = (a[moved] + 1 + rng.integers(m - 1, size=moved.size)) % m
            load = np.bincount(a, weights=r[a, jobs], minlength=m)
            value = float(v[a, jobs].sum())
            alpha[:] = alpha0
            tabu[:] = 0
    stats = {"iterations_done": it, "restarts": restarts, "stopped_by": stopped}
    return best, stats


@register_solver
class Tabu(Solver):
    """Tabu search over GAP assignments (shift and swap moves, adaptive per-agent capacity penalties,
    restarts), from the regret greedy; uses its whole time limit.

    The module docstring says how; the options are the constants above."""

    name, family, Options = "tabu", "gap", TabuOptions

    def run(self, instance, options, *, time_limit, seed, started):
        n = instance.jobs
        iterations = options.iterations
        if iterations is None and time_limit is None:
            iterations = max(MIN_ITERATIONS, ITERATIONS_PER_JOB * n)
        tenure = options.tenure if options.tenure is not None else max(7, n // 10)
        stall = options.stall if options.stall is not None else max(500, 10 * n)
        start, complete = greedy_assignment(instance)
        start = start if complete else _complete(instance, start)
        build = time.perf_counter() - started
        t1 = time.perf_counter()
        best, stats = tabu_search(instance, start, iterations=iterations, tenure=tenure,
                                  penalty_up=options.penalty_up, penalty_down=options.penalty_down, stall=stall,
                                  seed=0 if seed is None else int(seed), deadline=deadline(started, time_limit))
        if best is not None:
            best = improve_by_shifts(instance, best)  # a final descent: it only ever improves
        elapsed = time.perf_counter() - t1
        extra = {"iterations": iterations, "tenure": tenure, "stall": stall, "penalty_up": options.penalty_up,
                 "penalty_down": options.penalty_down, **stats, "start_complete": complete}
        if best is None:
            return self.no_plan(f"{stats['iterations_done']} tabu iterations from the greedy start never left every "
                                "agent within capacity", build_seconds=build, solve_seconds=elapsed, extra=extra)
        why = "time limit" if stats["stopped_by"] == "time_limit" else "iteration count"
        return self.plan_result(instance, best, build_seconds=build, solve_seconds=elapsed, extra=extra,
                                raw_status=f"tabu search stopped by the {why} after {stats['iterations_done']} "
                                           f"iterations ({stats['restarts']} restarts)")
