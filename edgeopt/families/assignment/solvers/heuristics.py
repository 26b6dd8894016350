"""The seed paper's method for the assignment family and its four baselines, as registered solvers.

``prob-anneal`` (the paper's method) works in two stages:

1. **Probabilistic category-based assignment** (:func:`probabilistic_assignment`). Models are ranked by
   cost, one prompt's compute at full budget at a reference number of steps (the middle of the model's
   grid, the lower middle for an even grid). Every category starts on the cheapest model that fits the
   GPU memory and climbs the ranking: at each costlier model it moves there when
   P(score on the costlier > score on the current + margin) > threshold, with the difference of a
   prompt's two scores Gaussian, mean mu' - mu and standard deviation sqrt(sd'^2 + sd^2), both at the
   reference steps; a move that would overflow the GPU memory is skipped. Categories are placed
   most prompts first, so the memory goes to the categories that weigh most.
2. **Simulated annealing** (:func:`anneal`) from the assignment of stage 1, the middle of every grid
   and an equal split of the budget between the models in use. Moves: a model's steps (one grid index
   up or down, sometimes a jump), the compute shares (a log-uniform fraction of one model's share
   handed to another, so the shares stay on the budget simplex) and the assignment (one category, or
   every category of one model, to another model that fits the memory; the moving prompts carry their
   part of their model's share, and a model joining starts at a random grid index). Objective:
   expected utility. Metropolis acceptance at a geometrically cooling temperature; the best state
   visited is returned. Stage 1 ignores latency, and annealing steps and shares alone leaves a 2.4%
   average gap on the bundled instances; the assignment moves close it (docs/assignment_methods.md).

The baselines (docs/assignment_methods.md gives the reading of each):

- ``direct-assign``: every category to the model of highest expected quality at its maximum steps
  (highest first while the memory allows), steps at the maximum, shares optimal (square-root rule).
- ``random-assign``: a random resident set (models in a random order, kept while they fit the memory),
  each prompt to a uniformly random resident model; steps and shares then annealed as in the paper's
  method, with the assignment fixed: it measures what stage 1 is worth.
- ``equal-alloc``: the paper's method with the compute split equally between the models in use (no
  share moves); the assignment and steps are annealed under that split.
- ``optimal-step``: the assignment of stage 1; each model at the steps that maximise the mean expected
  quality of its own prompts minus latency_weight x its latency at the full budget (the model alone
  on the server); shares optimal.

Every solver is deterministic for a seed (``seed=None`` means 0) unless a time limit cuts it short;
its plan is priced by the family's evaluator.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from edgeopt.families.assignment.instance import Instance, Solution
from edgeopt.families.assignment.plans import plan
from edgeopt.registry import register_solver
from edgeopt.solver import Options, Solver, deadline, option

# -- hyperparameters: the defaults of the solvers' options -------------------------------------------
MARGIN = 0.5  # CLIP points a costlier model must beat the current one by (stage 1)
THRESHOLD = 0.6  # probability of beating it by the margin above which a category moves to the costlier model
INITIAL_TEMPERATURE = 0.5  # CLIP points: a move losing this much utility is accepted with probability 1/e at first
COOLING_RATE = 0.999  # temperature multiplier per iteration (geometric cooling: 0.5 -> 0.009 over 4000)
ITERATIONS = 4000  # annealing iterations (one move proposed and priced per iteration)
ASSIGNMENT_MOVES = True  # anneal the category assignment too, not only steps and shares
# Move mix: probabilities of a steps, share and assignment move (renormalised over the moves that apply).
MOVE_WEIGHTS = {"steps": 0.35, "share": 0.45, "assignment": 0.2}
# A share move transfers a fraction of one model's share, log-uniform in this range: large moves
# explore early, small ones settle the split late, at every temperature.
TRANSFER_RANGE = (1e-5, 0.5)
# Probability that an assignment move relocates every category of one model rather than one category.
RELOCATE = 0.5
# Probability that a steps move jumps to a uniformly random grid index instead of a neighbour.
STEPS_JUMP = 0.1


def reference_steps(inst: Instance) -> np.ndarray:
    """(M,) the middle of every model's steps grid (the lower middle for an even grid)."""
    return np.array([g[(g.size - 1) // 2] for g in inst.steps_grid], dtype=np.int64)


def cost_order(inst: Instance) -> np.ndarray:
    """Models from cheapest to costliest: step seconds x reference steps (ties by index)."""
    return np.argsort(inst.step_seconds * reference_steps(inst), kind="stable")


def _prob_better(inst: Instance, c: int, cur: int, new: int, steps: np.ndarray, margin: float) -> float:
    """P(score of a category-c prompt on ``new`` > its score on ``cur`` + margin), scores Gaussian, independent."""
    diff = float(inst.mean_clip(c, new, steps[new]) - inst.mean_clip(c, cur, steps[cur]))
    sd = math.hypot(float(inst.clip_std[c, new]), float(inst.clip_std[c, cur]))
    if sd == 0.0:
        return 1.0 if diff > margin else 0.0
    return 0.5 * math.erfc(-(diff - margin) / (sd * math.sqrt(2.0)))


def probabilistic_assignment(inst: Instance, margin: float = MARGIN, threshold: float = THRESHOLD) -> np.ndarray:
    """(C,) the model of every category, by stage 1 of the paper's method (module docstring)."""
    order = [int(j) for j in cost_order(inst) if inst.fits_memory([j])]
    steps = reference_steps(inst)
    cat_model = np.full(inst.num_categories, order[0], dtype=np.int64)
    counts = inst.category_counts
    for c in np.argsort(-counts, kind="stable"):
        cur = order[0]
        for j in order[1:]:
            if _prob_better(inst, int(c), cur, j, steps, margin) <= threshold:
                continue
            trial = cat_model.copy()
            trial[c] = j
            if inst.fits_memory(np.unique(trial[counts > 0])):
                cat_model, cur = trial, j
    return cat_model


# -- the annealing --------------------------------------------------------------------------------
class _Pricer:
    """Expected utility of (counts per category and model, grid index per model, shares), at category level."""

    def __init__(self, inst: Instance):
        C, M = inst.num_categories, inst.num_models
        width = max(g.size for g in inst.steps_grid)
        self.grid = np.zeros((M, width))
        self.mu = np.zeros((C, M, width))
        for j, g in enumerate(inst.steps_grid):
            self.grid[j, :g.size] = g
            self.mu[:, j, :g.size] = inst.mean_clip(np.arange(C)[:, None], j, g[None, :].astype(float))
        self.sizes = np.array([g.size for g in inst.steps_grid])
        self.cols = np.arange(M)
        self.tau = inst.step_seconds
        self.N = inst.num_prompts
        self.lam = inst.latency_weight

    def __call__(self, counts: np.ndarray, k: np.ndarray, shares: np.ndarray) -> float:
        quality = float((counts * self.mu[:, self.cols, k]).sum()) / self.N
        n = counts.sum(axis=0)
        used = n > 0
        latency = float((n[used] * self.grid[used, k[used]] * self.tau[used] / shares[used]).sum()) / self.N
        return quality - self.lam * latency


def _counts_of(inst: Instance, model: np.ndarray) -> np.ndarray:
    counts = np.zeros((inst.num_categories, inst.num_models))
    np.add.at(counts, (inst.prompt_category, model), 1.0)
    return counts


def _split(inst: Instance, used: np.ndarray) -> np.ndarray:
    shares = np.zeros(inst.num_models)
    shares[used] = inst.compute_budget / used.sum()
    return shares


@dataclass
class _State:
    """Where the annealing stands: prompts per (category, model), grid index per model, shares, utility."""

    counts: np.ndarray
    k: np.ndarray
    shares: np.ndarray
    cat_model: np.ndarray | None  # per category its model (None without assignment moves)
    value: float = 0.0

    @property
    def used(self) -> np.ndarray:
        return self.counts.sum(axis=0) > 0

    def copy(self) -> "_State":
        return _State(self.counts.copy(), self.k.copy(), self.shares.copy(),
                      None if self.cat_model is None else self.cat_model.copy(), self.value)


class _Moves:
    """The three kinds of move (module docstring); each returns a new state, or None when it does not apply."""

    def __init__(self, inst: Instance, rng: np.random.Generator, *, share_moves: bool, assignment_moves: bool):
        self.inst, self.rng = inst, rng
        self.price = _Pricer(inst)
        self.share_moves, self.assignment_moves = share_moves, assignment_moves
        self.N_c = np.asarray(inst.category_counts, dtype=float)
        self.movable = np.flatnonzero(self.N_c > 0)
        self.log_range = np.log(TRANSFER_RANGE[0]), np.log(TRANSFER_RANGE[1])

    def pick(self, state: _State) -> str:
        """A kind of move, drawn by MOVE_WEIGHTS over the kinds that apply."""
        in_use = np.flatnonzero(state.used)
        kinds = ["steps"]
        if self.share_moves and in_use.size >= 2:
            kinds.append("share")
        if self.assignment_moves and self.inst.num_models >= 2 and self.movable.size:
            kinds.append("assignment")
        weights = [MOVE_WEIGHTS[k] for k in kinds]
        pick = self.rng.random() * sum(weights)
        for name, weight in zip(kinds, weights):
            if pick < weight:
                return name
            pick -= weight
        return kinds[-1]

    def steps(self, state: _State) -> _State | None:
        """One model's steps one grid index up or down, or (with probability STEPS_JUMP) anywhere on its grid."""
        rng, in_use = self.rng, np.flatnonzero(state.used)
        j = int(in_use[rng.integers(in_use.size)])
        size = int(self.price.sizes[j])
        if size == 1:
            return None
        if rng.random() < STEPS_JUMP:
            target = int(rng.integers(0, size - 1))
            target += target >= state.k[j]  # any index but the current one
        else:
            step = 1 if rng.random() < 0.5 else -1
            target = int(state.k[j]) + step
            if not 0 <= target < size:
                target = int(state.k[j]) - step
        k = state.k.copy()
        k[j] = target
        return _State(state.counts, k, state.shares, state.cat_model)

    def share(self, state: _State) -> _State:
        """A log-uniform fraction of one model's share handed to another (the shares stay on the simplex)."""
        a, b = self.rng.choice(np.flatnonzero(state.used), size=2, replace=False)
        moved = state.shares[a] * math.exp(self.rng.uniform(*self.log_range))
        shares = state.shares.copy()
        shares[a] -= moved
        shares[b] += moved
        return _State(state.counts, state.k, shares, state.cat_model)

    def assignment(self, state: _State) -> _State | None:
        """One category, or every category of one model, to another model; None if it overflows the memory."""
        rng, M, in_use = self.rng, self.inst.num_models, np.flatnonzero(state.used)
        cat_model = state.cat_model.copy()
        if rng.random() < RELOCATE:
            # Every category of one model moves to another: with the latency of a split budget, a plan on
            # one model is often reached from one on another only through such a move.
            a = int(in_use[rng.integers(in_use.size)])
            j = int(rng.integers(0, M - 1))
            j += j >= a
            moving = np.flatnonzero(state.cat_model == a)
        else:
            c = int(self.movable[rng.integers(self.movable.size)])
            j = int(rng.integers(0, M - 1))
            j += j >= state.cat_model[c]
            moving = np.array([c])
        cat_model[moving] = j
        counts = state.counts.copy()
        counts[moving] = 0.0
        counts[moving, j] = self.N_c[moving]
        new = _State(counts, state.k, state.shares, cat_model)
        if not state.used[j]:
            # A model joining starts at a random grid index: the steps it last had (or mid-grid) may
            # have suited other prompts, and a stale index could keep it shut out for good.
            new.k = state.k.copy()
            new.k[j] = int(rng.integers(0, self.price.sizes[j]))
        if not self.inst.fits_memory(new.used):
            return None
        if not self.share_moves:
            new.shares = _split(self.inst, new.used)
        else:
            # The share follows the work: the moving prompts take their part of their model's share.
            src = int(state.cat_model[moving[0]])
            carried = state.shares[src] * float(self.N_c[moving].sum()) / float(state.counts[:, src].sum())
            new.shares = state.shares.copy()
            new.shares[j] += carried
            new.shares[src] = 0.0 if not new.used[src] else state.shares[src] - carried
        return new


def anneal(inst: Instance, model: np.ndarray, rng: np.random.Generator, *, deadline: float | None = None,
           initial_temperature: float = INITIAL_TEMPERATURE, cooling_rate: float = COOLING_RATE,
           iterations: int = ITERATIONS, assignment_moves: bool = ASSIGNMENT_MOVES, share_moves: bool = True):
    """Simulated annealing from the prompt-to-model map ``model`` (steps at mid-grid, equal shares).

    With ``assignment_moves`` whole categories move, so ``model`` must send every category to one model.
    Without ``share_moves`` the budget stays split equally between the models in use.
    Returns (solution, history of the best utility after every iteration, stats dict, stopped early).
    """
    moves = _Moves(inst, rng, share_moves=share_moves, assignment_moves=assignment_moves)
    counts = _counts_of(inst, model)
    cat_model = None
    if assignment_moves:
        cat_model = np.argmax(counts, axis=1)
        if not np.array_equal(cat_model[inst.prompt_category], model):
            raise ValueError("assignment moves need a map that sends every category to one model")
    state = _State(counts, np.array([(g.size - 1) // 2 for g in inst.steps_grid], dtype=np.int64),
                   _split(inst, counts.sum(axis=0) > 0), cat_model)
    state.value = moves.price(state.counts, state.k, state.shares)
    best = state.copy()
    history = [best.value]
    accepted = {"steps": 0, "share": 0, "assignment": 0}
    proposed = {"steps": 0, "share": 0, "assignment": 0}
    temperature = float(initial_temperature)
    stopped = False
    for _ in range(int(iterations)):
        if deadline is not None and time.perf_counter() >= deadline:
            stopped = True
            break
        kind = moves.pick(state)
        proposed[kind] += 1
        new = getattr(moves, kind)(state)
        if new is not None:
            new.value = moves.price(new.counts, new.k, new.shares)
            delta = new.value - state.value
            if delta >= 0 or (temperature > 0 and rng.random() < math.exp(delta / temperature)):
                accepted[kind] += 1
                state = new
                if state.value > best.value:
                    best = state.copy()
        history.append(best.value)
        temperature *= cooling_rate
    final_model = model if best.cat_model is None else best.cat_model[inst.prompt_category]
    used = best.used
    steps = np.where(used, moves.price.grid[np.arange(inst.num_models), best.k], 0).astype(np.int64)
    shares = np.where(used, best.shares, 0.0)
    # Transfers conserve the sum only up to rounding; bring it back onto the budget.
    shares *= inst.compute_budget / shares.sum()
    stats = {"iterations": len(history) - 1, "proposed": proposed, "accepted": accepted}
    return Solution(np.asarray(final_model, dtype=np.int64), steps, shares), history, stats, stopped


# -- the solvers ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Stage1Options(Options):
    margin: float = MARGIN
    threshold: float = option(THRESHOLD, at_least=0.0, below=1.0)


@dataclass(frozen=True)
class AnnealOptions(Options):
    initial_temperature: float = option(INITIAL_TEMPERATURE, at_least=0.0)
    cooling_rate: float = option(COOLING_RATE, above=0.0, at_most=1.0)
    iterations: int = option(ITERATIONS, at_least=0)


@dataclass(frozen=True)
class ProbAnnealOptions(AnnealOptions, Stage1Options):
    assignment_moves: bool = ASSIGNMENT_MOVES


def _annealed(solver: Solver, inst: Instance, model: np.ndarray, rng, options, *, started: float,
              time_limit: float | None, extra: dict, **how) -> object:
    """Anneal from ``model`` and return the solver's Result, with the history and move counts in ``extra``."""
    build = time.perf_counter() - started
    t1 = time.perf_counter()
    sol, history, stats, stopped = anneal(
        inst, model, rng, deadline=deadline(started, time_limit), initial_temperature=options.initial_temperature,
        cooling_rate=options.cooling_rate, iterations=options.iterations, **how)
    raw = (f"{'stopped by the time limit' if stopped else 'completed'} after {stats['iterations']} "
           "annealing iteration(s)")
    return solver.plan_result(inst, sol, build_seconds=build, solve_seconds=time.perf_counter() - t1, raw_status=raw,
                              extra={"history": history, **extra, **stats})


@register_solver
class ProbAnneal(Solver):
    """The seed paper's method: probabilistic category-based assignment, then simulated annealing over
    steps, compute shares and the assignment."""

    name, family, Options = "prob-anneal", "assignment", ProbAnnealOptions
    equal_shares = False

    def run(self, instance, options, *, time_limit, seed, started):
        cat_model = probabilistic_assignment(instance, options.margin, options.threshold)
        initial = {instance.categories[c]: instance.model_names[j] for c, j in enumerate(cat_model)}
        return _annealed(self, instance, cat_model[instance.prompt_category], np.random.default_rng(
            0 if seed is None else seed), options, started=started, time_limit=time_limit,
            extra={"initial_assignment": initial}, assignment_moves=options.assignment_moves,
            share_moves=not self.equal_shares)


@register_solver
class EqualAlloc(ProbAnneal):
    """Baseline: the paper's method with the compute split equally between the models in use."""

    name, equal_shares = "equal-alloc", True


@register_solver
class DirectAssign(Solver):
    """Baseline: every category to its highest-quality model at maximum steps (while memory allows), steps
    at maximum, optimal shares."""

    name, family = "direct-assign", "assignment"

    def run(self, instance, options, *, time_limit, seed, started):
        top = np.array([g[-1] for g in instance.steps_grid], dtype=np.int64)
        quality = instance.mean_clip(np.arange(instance.num_categories)[:, None],
                                     np.arange(instance.num_models)[None, :], top[None, :])  # (C, M)
        counts = instance.category_counts
        cat_model = np.full(instance.num_categories, -1, dtype=np.int64)
        for c in np.argsort(-counts, kind="stable"):
            for j in np.argsort(-quality[c], kind="stable"):
                if instance.fits_memory(np.unique(np.append(cat_model[(cat_model >= 0) & (counts > 0)], j))):
                    cat_model[c] = j
                    break
        sol = plan(instance, cat_model[instance.prompt_category], top)
        return self.plan_result(instance, sol, build_seconds=0.0, solve_seconds=time.perf_counter() - started,
                                raw_status="direct assignment")


@register_solver
class RandomAssign(Solver):
    """Baseline: each prompt to a uniformly random resident model (a random resident set that fits the
    memory), then steps and shares annealed as in the paper's method."""

    name, family, Options = "random-assign", "assignment", AnnealOptions

    def run(self, instance, options, *, time_limit, seed, started):
        rng = np.random.default_rng(0 if seed is None else seed)
        resident: list[int] = []
        for j in rng.permutation(instance.num_models):
            if instance.fits_memory(resident + [int(j)]):
                resident.append(int(j))
        model = np.array(resident, dtype=np.int64)[rng.integers(0, len(resident), size=instance.num_prompts)]
        return _annealed(self, instance, model, rng, options, started=started, time_limit=time_limit,
                         extra={"resident": [instance.model_names[j] for j in sorted(resident)]},
                         assignment_moves=False)


def isolated_steps(inst: Instance, cat_model: np.ndarray) -> np.ndarray:
    """(M,) per model, the grid steps maximising the mean expected quality of its prompts minus
    latency_weight x its latency with the whole budget (s tau / F); mid-grid for a model with no prompts."""
    steps = reference_steps(inst)
    counts = inst.category_counts
    for j in range(inst.num_models):
        mine = (cat_model == j) & (counts > 0)
        if not mine.any():
            continue
        g = inst.steps_grid[j]
        cats = np.flatnonzero(mine)
        w = counts[cats] / counts[cats].sum()
        quality = w @ inst.mean_clip(cats[:, None], j, g[None, :].astype(float))
        value = quality - inst.latency_weight * g * inst.step_seconds[j] / inst.compute_budget
        steps[j] = g[int(np.argmax(value))]
    return steps


@register_solver
class OptimalStep(Solver):
    """Baseline: the paper's probabilistic assignment, each model at its best steps in isolation, optimal
    shares."""

    name, family, Options = "optimal-step", "assignment", Stage1Options

    def run(self, instance, options, *, time_limit, seed, started):
        cat_model = probabilistic_assignment(instance, options.margin, options.threshold)
        sol = plan(instance, cat_model[instance.prompt_category], isolated_steps(instance, cat_model))
        return self.plan_result(instance, sol, build_seconds=0.0, solve_seconds=time.perf_counter() - started,
                                raw_status="probabilistic assignment, steps optimal in isolation")
