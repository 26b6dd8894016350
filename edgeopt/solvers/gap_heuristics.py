"""Heuristics for the generalized assignment problem: a regret greedy and simulated annealing.

**Greedy** (served by the registered ``greedy`` solver for family ``gap``): the regret rule of
Martello & Toth's MTHG (1981). Values are first put in "higher is better" profit form ``P``, shifted
so that the worst entry is 1 (profit - least profit + 1, or largest cost - cost + 1). For a
desirability measure ``f[agent, job]``, repeat until every job is assigned: among the unassigned
jobs, each one's agents that still have room for it are ranked by ``f``; the job whose best agent
leads its second best by the most (its *regret*; infinite when only one agent has room) goes to its
best agent. Four measures are tried, MTHG's: ``P``, ``P / resource``, ``-resource`` and
``-resource / capacity``. Each complete assignment is then improved by shifts: a job moves to the
agent of best value that still has room for it, until no shift improves. The best assignment of
the four is kept. The rule is deterministic and takes no options.

**Annealing** (registered as ``anneal``): starts from the greedy assignment (where the greedy left
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

import numpy as np

from edgeopt.models.gap import TOL, Instance, evaluate
from edgeopt.result import Result, Status
from edgeopt.solvers import register

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


def _min_form(inst: Instance) -> np.ndarray:
    """Values to minimise: the cost, or minus the profit."""
    return np.asarray(inst.weight) if inst.sense == "min" else -np.asarray(inst.weight)


def _objective(inst: Instance, a: np.ndarray) -> float:
    return float(_min_form(inst)[a, np.arange(inst.jobs)].sum())


# -- greedy ----------------------------------------------------------------------------------------
def measures(inst: Instance) -> list[tuple[str, np.ndarray]]:
    """MTHG's desirability measures as (name, f) with f[agent, job] lower is better."""
    v = _min_form(inst)
    profit = v.max() - v + 1.0  # the profit form, at least 1 everywhere
    r, cap = inst.resource, inst.capacity
    with np.errstate(divide="ignore", invalid="ignore"):
        per_resource = np.where(r > 0, profit / np.where(r > 0, r, 1.0), np.inf)
        share = np.where(cap[:, None] > 0, r / np.where(cap[:, None] > 0, cap[:, None], 1.0),
                         np.where(r > 0, np.inf, 0.0))
    return [("value", -profit), ("value per resource", -per_resource), ("resource", r.astype(float)),
            ("share of capacity", share)]


def _slack(inst: Instance) -> np.ndarray:
    """What an agent may exceed its capacity by: the evaluator's tolerance, so both agree on feasibility."""
    return TOL * np.maximum(1.0, np.abs(inst.capacity))


def _regret_pass(inst: Instance, f: np.ndarray) -> np.ndarray:
    """Assign jobs by largest regret under measure ``f``; jobs no agent has room for stay -1.

    Each job's best and second-best agent are kept between steps: placing a job shrinks the room of
    one agent only, so only the jobs that agent no longer has room for are ranked again.
    """
    m, n = inst.agents, inst.jobs
    r = inst.resource
    room = inst.capacity + _slack(inst)
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


def _improve_by_shifts(inst: Instance, a: np.ndarray) -> np.ndarray:
    """Move jobs, one at a time, to the agent of best value with room for them, until none improves."""
    v = _min_form(inst)
    r = inst.resource
    a = a.copy()
    room = inst.capacity + _slack(inst) - np.bincount(a, weights=r[a, np.arange(inst.jobs)], minlength=inst.agents)
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
        a = _improve_by_shifts(inst, a)
        value = _objective(inst, a)
        if value < best_value:
            best, best_value = a, value
    if best is not None:
        return best, True
    return partial, False


def _result(inst: Instance, name: str, a: np.ndarray, *, build: float, solve: float, raw: str,
            extra: dict) -> Result:
    """A heuristic's assignment, priced and checked by the evaluator (the truth)."""
    ev = evaluate(inst, a)
    if not ev.feasible:
        return Result(status=Status.ERROR, solver=name, objective=ev.objective, evaluation=ev, solution=a,
                      build_seconds=build, solve_seconds=solve, raw_status=raw, extra=extra,
                      message=f"{name} built an assignment that violates {len(ev.violations)} constraint(s), first: "
                              f"{ev.violations[0]}")
    return Result(status=Status.FEASIBLE, solver=name, objective=ev.objective, evaluation=ev, solution=a,
                  build_seconds=build, solve_seconds=solve, raw_status=raw, extra=extra)


def _none_found(name: str, why: str, *, build: float, solve: float, extra: dict) -> Result:
    # A heuristic that found nothing proves nothing: an error, not "infeasible".
    return Result(status=Status.ERROR, solver=name, message=f"no feasible assignment found: {why}",
                  build_seconds=build, solve_seconds=solve, raw_status="no assignment", extra=extra)


def greedy_result(inst: Instance, *, time_limit: float | None = None, seed: int | None = None,
                  **options) -> Result:
    """The ``greedy`` solver on a gap instance (deterministic: the seed and time limit are not used)."""
    if options:
        raise ValueError(f"greedy takes no options, got {', '.join(sorted(options))}")
    t0 = time.perf_counter()
    a, complete = greedy_assignment(inst)
    elapsed = time.perf_counter() - t0
    if not complete:
        left = int((a < 0).sum())
        return _none_found("greedy", f"the regret greedy leaves {left} job(s) that no agent has room for",
                           build=0.0, solve=elapsed, extra={})
    return _result(inst, "greedy", a, build=0.0, solve=elapsed, raw="regret greedy", extra={})


# -- simulated annealing ---------------------------------------------------------------------------
def _complete(inst: Instance, a: np.ndarray) -> np.ndarray:
    """Give each unassigned job the agent it overloads least (then the best value): a full start."""
    a = a.copy()
    v = _min_form(inst)
    r = inst.resource
    load = np.bincount(a[a >= 0], weights=r[a[a >= 0], np.flatnonzero(a >= 0)], minlength=inst.agents)
    for j in np.flatnonzero(a < 0):
        excess = np.maximum(0.0, load + r[:, j] - inst.capacity)
        i = int(np.lexsort((v[:, j], excess))[0])
        a[j] = i
        load[i] += r[i, j]
    return a


def _check_options(initial_temperature, cooling, iterations, swap_probability, penalty, penalty_adapt) -> None:
    def number(x) -> bool:
        return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)

    if initial_temperature is not None and not (number(initial_temperature) and initial_temperature > 0):
        raise ValueError(f"anneal: initial_temperature must be a positive number, got {initial_temperature!r}")
    if cooling is not None and not (number(cooling) and 0 < cooling < 1):
        raise ValueError(f"anneal: cooling must be a number between 0 and 1 (exclusive), got {cooling!r}")
    if iterations is not None and not (isinstance(iterations, int) and not isinstance(iterations, bool)
                                       and iterations >= 0):
        raise ValueError(f"anneal: iterations must be a non-negative integer, got {iterations!r}")
    if not (number(swap_probability) and 0 <= swap_probability <= 1):
        raise ValueError(f"anneal: swap_probability must be between 0 and 1, got {swap_probability!r}")
    if penalty is not None and not (number(penalty) and penalty > 0):
        raise ValueError(f"anneal: penalty must be a positive number, got {penalty!r}")
    if not (number(penalty_adapt) and penalty_adapt >= 1):
        raise ValueError(f"anneal: penalty_adapt must be a number >= 1, got {penalty_adapt!r}")


def _spread(inst: Instance) -> float:
    """The mean, over jobs, of the difference between a job's best and worst value over agents."""
    return float(np.ptp(_min_form(inst), axis=0).mean()) if inst.agents > 1 else 0.0


def settings(inst: Instance, *, initial_temperature=INITIAL_TEMPERATURE, cooling=COOLING, iterations=ITERATIONS,
             swap_probability=SWAP_PROBABILITY, penalty=PENALTY, penalty_adapt=PENALTY_ADAPT) -> dict:
    """The annealing's options with every None replaced by its instance-dependent default."""
    _check_options(initial_temperature, cooling, iterations, swap_probability, penalty, penalty_adapt)
    if iterations is None:
        iterations = min(max(500 * inst.agents * inst.jobs, 20_000), 1_000_000)
    if cooling is None:
        cooling = 0.01 ** (inst.jobs / max(iterations, 1))
    if initial_temperature is None:
        initial_temperature = max(0.4 * _spread(inst), 1e-9)
    if penalty is None:
        penalty = max(_spread(inst), 1.0) / max(float(np.mean(inst.resource)), 1e-9)
    return {"iterations": int(iterations), "initial_temperature": float(initial_temperature),
            "cooling": float(cooling), "swap_probability": float(swap_probability), "penalty": float(penalty),
            "penalty_adapt": float(penalty_adapt)}


def anneal(inst: Instance, start: np.ndarray, *, iterations: int, initial_temperature: float, cooling: float,
           swap_probability: float, penalty: float, penalty_adapt: float, seed: int,
           deadline: float | None) -> tuple[np.ndarray | None, dict]:
    """Run the annealing from a complete assignment; returns (best feasible assignment or None, stats).

    The loop is plain Python over lists: each move touches two agents, and numpy's per-call cost
    would dominate such small steps. Random numbers are drawn with numpy in batches.
    """
    m, n = inst.agents, inst.jobs
    v = _min_form(inst).tolist()
    r = np.asarray(inst.resource).tolist()
    limit = (inst.capacity + _slack(inst)).tolist()
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


class Anneal:
    """Simulated annealing over GAP assignments (module docstring); options are the constants above."""

    name = "anneal"
    families: tuple[str, ...] = ("gap",)
    exact = False
    gives_bound = False
    description = "simulated annealing over GAP assignments (shift and swap moves, capacity penalty), from greedy"

    def available(self) -> bool:
        return True

    def solve(self, instance, *, time_limit: float | None = None, seed: int | None = None,
              initial_temperature: float | None = INITIAL_TEMPERATURE, cooling: float | None = COOLING,
              iterations: int | None = ITERATIONS, swap_probability: float = SWAP_PROBABILITY,
              penalty: float | None = PENALTY, penalty_adapt: float = PENALTY_ADAPT, **options) -> Result:
        if options:
            raise ValueError(f"anneal does not know option(s) {', '.join(sorted(options))}; it takes "
                             "initial_temperature, cooling, iterations, swap_probability, penalty and penalty_adapt")
        config = settings(instance, initial_temperature=initial_temperature, cooling=cooling, iterations=iterations,
                          swap_probability=swap_probability, penalty=penalty, penalty_adapt=penalty_adapt)
        t0 = time.perf_counter()
        deadline = None if time_limit is None else t0 + time_limit
        start, complete = greedy_assignment(instance)
        start = start if complete else _complete(instance, start)
        build = time.perf_counter() - t0
        t1 = time.perf_counter()
        best, stats = anneal(instance, start, seed=0 if seed is None else int(seed), deadline=deadline, **config)
        if best is not None:
            best = _improve_by_shifts(instance, best)  # a final descent: it only ever improves
        elapsed = time.perf_counter() - t1
        extra = {**config, **stats, "start_complete": complete}
        if best is None:
            return _none_found(self.name, f"{stats['moves']} moves from the greedy start never left every agent "
                               "within capacity", build=build, solve=elapsed, extra=extra)
        why = "time limit" if stats["stopped_by"] == "time_limit" else "iteration count"
        return _result(instance, self.name, best, build=build, solve=elapsed, extra=extra,
                       raw=f"annealing stopped by the {why} after {stats['moves']} moves")


register(Anneal())
