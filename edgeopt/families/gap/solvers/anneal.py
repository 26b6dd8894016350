"""Simulated annealing for the GAP: starts from the greedy assignment (where the greedy left
jobs unassigned, each goes to the agent it overloads least) and runs ``iterations`` moves. A move
shifts one random job to another random agent, or (with probability ``swap_probability``) swaps the
agents of two random jobs. A move is scored in minimisation form: the change in cost (or minus the
change in profit) plus ``penalty`` times the change in total capacity excess; it is accepted if its
score does not get worse, else with probability ``exp(-delta / temperature)``. After every round of
``jobs`` moves the temperature is multiplied by ``cooling`` and the penalty by ``penalty_adapt`` if
the current assignment is over capacity, divided by it if not (strategic oscillation: the walk
keeps crossing the boundary of the feasible region, where good assignments of a tight instance
lie). The best assignment without any excess seen (the start included) is kept, improved by the
greedy's shift descent, and priced by the evaluator; if there is none, the result is an error "no
feasible assignment found". Deterministic for a seed (``seed=None`` means 0) unless a time limit
cuts the run short. The options, their defaults and what each means are the constants below.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from edgeopt.families.gap.instance import Instance
from edgeopt.families.gap.solvers.greedy import improve_by_shifts, min_form, slack, greedy_assignment
from edgeopt.registry import register_solver
from edgeopt.solver import Options, Solver, deadline, option

# -- annealing hyperparameters: the defaults of the ``anneal`` solver's options ---------------------
#: Starting temperature in objective units; None: 0.4 x the mean spread of a job's value over agents.
INITIAL_TEMPERATURE = None
#: Factor applied to the temperature after every round of ``jobs`` moves (0 < cooling < 1); None: the
#: factor that brings the temperature down 100-fold over the run.
COOLING = None
#: Moves in all; None: 500 per (agent, job) pair, clipped to [20,000, 1,000,000].
ITERATIONS = None
#: Probability that a move swaps the agents of two jobs rather than shifting one job.
SWAP_PROBABILITY = 0.5
#: Starting objective units per unit of capacity excess; None: the mean spread of a job's value over
#: agents divided by the mean resource (a unit of excess costs about what a unit of resource is worth).
PENALTY = None
#: After each round of ``jobs`` moves the penalty is multiplied by this if the assignment is over
#: capacity, divided by it if not (>= 1; 1 keeps the penalty fixed).
PENALTY_ADAPT = 1.05
#: Random numbers are drawn in batches of this many moves (an implementation detail, not an option).
_BATCH = 4096

def _complete(inst: Instance, a: np.ndarray) -> np.ndarray:
    """Give each unassigned job the agent it overloads least (then the best value): a full start."""
    a = a.copy()
    v = min_form(inst)
    r = inst.resource
    load = np.bincount(a[a >= 0], weights=r[a[a >= 0], np.flatnonzero(a >= 0)], minlength=inst.agents)
    for j in np.flatnonzero(a < 0):
        excess = np.maximum(0.0, load + r[:, j] - inst.capacity)
        i = int(np.lexsort((v[:, j], excess))[0])
        a[j] = i
        load[i] += r[i, j]
    return a

def _spread(inst: Instance) -> float:
    """The mean, over jobs, of the difference between a job's best and worst value over agents."""
    return float(np.ptp(min_form(inst), axis=0).mean()) if inst.agents > 1 else 0.0


@dataclass(frozen=True)
class AnnealOptions(Options):
    """The constants above; None means the instance-dependent default (:func:`settings`)."""

    initial_temperature: float | None = option(INITIAL_TEMPERATURE, above=0)
    cooling: float | None = option(COOLING, above=0, below=1)
    iterations: int | None = option(ITERATIONS, at_least=0)
    swap_probability: float = option(SWAP_PROBABILITY, at_least=0, at_most=1)
    penalty: float | None = option(PENALTY, above=0)
    penalty_adapt: float = option(PENALTY_ADAPT, at_least=1)


def settings(inst: Instance, options: AnnealOptions = AnnealOptions()) -> dict:
    """The annealing's options with every None replaced by its instance-dependent default."""
    iterations, cooling = options.iterations, options.cooling
    initial_temperature, penalty = options.initial_temperature, options.penalty
    if iterations is None:
        iterations = min(max(500 * inst.agents * inst.jobs, 20_000), 1_000_000)
    if cooling is None:
        cooling = 0.01 ** (inst.jobs / max(iterations, 1))
    if initial_temperature is None:
        initial_temperature = max(0.4 * _spread(inst), 1e-9)
    if penalty is None:
        penalty = max(_spread(inst), 1.0) / max(float(np.mean(inst.resource)), 1e-9)
    return {"iterations": int(iterations), "initial_temperature": float(initial_temperature),
            "cooling": float(cooling), "swap_probability": float(options.swap_probability),
            "penalty": float(penalty), "penalty_adapt": float(options.penalty_adapt)}


def anneal(inst: Instance, start: np.ndarray, *, iterations: int, initial_temperature: float, cooling: float,
           swap_probability: float, penalty: float, penalty_adapt: float, seed: int,
           deadline: float | None) -> tuple[np.ndarray | None, dict]:
    """Run the annealing from a complete assignment; returns (best feasible assignment or None, stats).

    The loop is plain Python over lists: each move touches two agents, and numpy's per-call cost
    would dominate such small steps. Random numbers are drawn with numpy in batches.
    """
    m, n = inst.agents, inst.jobs
    v = min_form(inst).tolist()
    r = np.asarray(inst.resource).tolist()
    limit = (inst.capacity + slack(inst)).tolist()
    cap = np.asarray(inst.capacity).tolist()
    a = [int(i) for i in start]

    def over(i: int, x: float) -> float:
        return x - cap[i] if x > limit[i] else 0.0

    rng = np.random.default_rng(seed)
    temperature = initial_temperature
    until_cooling = n  # moves left at this temperature
    best, best_value = None, math.inf
    accepted = improved = done = 0
    stopped = "iterations"
    exp = math.exp
    while True:
        # Loads and value recomputed from the assignment each batch, so float sums cannot drift.
        load = [0.0] * m
        for j, i in enumerate(a):
            load[i] += r[i][j]
        value = sum(v[a[j]][j] for j in range(n))
        overloaded = sum(1 for i in range(m) if over(i, load[i]) > 0)
        if overloaded == 0 and value < best_value:
            best, best_value = list(a), value
        if done >= iterations or m == 1:
            break
        if deadline is not None and time.perf_counter() > deadline:
            stopped = "time_limit"
            break
        size = min(_BATCH, iterations - done)
        swap = (rng.random(size) < swap_probability).tolist()
        first = rng.integers(n, size=size).tolist()
        other_agent = rng.integers(m - 1, size=size).tolist()
        second = rng.integers(n, size=size).tolist()
        coin = rng.random(size).tolist()
        for k in range(size):
            until_cooling -= 1
            if until_cooling == 0:
                temperature *= cooling
                until_cooling = n
                # Strategic oscillation: a round that ends over capacity makes excess dearer, one within
                # capacity cheaper, so the walk keeps crossing the boundary of the feasible region.
                penalty = penalty * penalty_adapt if overloaded else penalty / penalty_adapt
            j = first[k]
            p = a[j]
            if swap[k]:
                jj = second[k]
                q = a[jj]
                if q == p:
                    continue
                lp = load[p] - r[p][j] + r[p][jj]
                lq = load[q] - r[q][jj] + r[q][j]
                d_value = v[q][j] + v[p][jj] - v[p][j] - v[q][jj]
            else:
                q = other_agent[k]
                if q >= p:
                    q += 1
                lp = load[p] - r[p][j]
                lq = load[q] + r[q][j]
                d_value = v[q][j] - v[p][j]
            old_p, old_q, new_p, new_q = over(p, load[p]), over(q, load[q]), over(p, lp), over(q, lq)
            delta = d_value + penalty * (new_p + new_q - old_p - old_q)
            if delta > 0 and coin[k] >= exp(-delta / temperature):
                continue
            accepted += 1
            load[p], load[q] = lp, lq
            if swap[k]:
                a[j], a[jj] = q, p
            else:
                a[j] = q
            value += d_value
            overloaded += (new_p > 0) + (new_q > 0) - (old_p > 0) - (old_q > 0)
            if overloaded == 0 and value < best_value - 1e-9 * max(1.0, abs(best_value)):
                best, best_value = list(a), value
                improved += 1
        done += size
    stats = {"moves": done, "accepted": accepted, "improvements": improved, "stopped_by": stopped,
             "final_temperature": temperature, "final_penalty": penalty}
    return (None if best is None else np.array(best, dtype=np.int64)), stats


@register_solver
class Anneal(Solver):
    """Simulated annealing over GAP assignments (shift and swap moves, capacity penalty), from greedy.

    The module docstring says how; the options are the constants above."""

    name, family, Options = "anneal", "gap", AnnealOptions

    def run(self, instance, options, *, time_limit, seed, started):
        config = settings(instance, options)
        start, complete = greedy_assignment(instance)
        start = start if complete else _complete(instance, start)
        build = time.perf_counter() - started
        t1 = time.perf_counter()
        best, stats = anneal(instance, start, seed=0 if seed is None else int(seed),
                             deadline=deadline(started, time_limit), **config)
        if best is not None:
            best = improve_by_shifts(instance, best)  # a final descent: it only ever improves
        elapsed = time.perf_counter() - t1
        extra = {**config, **stats, "start_complete": complete}
        if best is None:
            return self.no_plan(f"{stats['moves']} moves from the greedy start never left every agent within "
                                "capacity", build_seconds=build, solve_seconds=elapsed, extra=extra)
        why = "time limit" if stats["stopped_by"] == "time_limit" else "iteration count"
        return self.plan_result(instance, best, build_seconds=build, solve_seconds=elapsed, extra=extra,
                                raw_status=f"annealing stopped by the {why} after {stats['moves']} moves")
