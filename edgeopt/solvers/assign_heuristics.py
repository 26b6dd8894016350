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

import numpy as np

from edgeopt.models import assignment as fam
from edgeopt.result import Result, Status
from edgeopt.solvers import register

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


def _fits(inst: fam.Instance, used: np.ndarray) -> bool:
    return inst.gpu_memory_gb is None or float(inst.model_gpu_memory_gb[used].sum()) <= inst.gpu_memory_gb * (
        1 + fam.TOL)


def reference_steps(inst: fam.Instance) -> np.ndarray:
    """(M,) the middle of every model's steps grid (the lower middle for an even grid)."""
    return np.array([g[(g.size - 1) // 2] for g in inst.steps_grid], dtype=np.int64)


def cost_order(inst: fam.Instance) -> np.ndarray:
    """Models from cheapest to costliest: step seconds x reference steps (ties by index)."""
    return np.argsort(inst.step_seconds * reference_steps(inst), kind="stable")


def _prob_better(inst: fam.Instance, c: int, cur: int, new: int, steps: np.ndarray, margin: float) -> float:
    """P(score of a category-c prompt on ``new`` > its score on ``cur`` + margin), scores Gaussian, independent."""
    diff = float(inst.mean_clip(c, new, steps[new]) - inst.mean_clip(c, cur, steps[cur]))
    sd = math.hypot(float(inst.clip_std[c, new]), float(inst.clip_std[c, cur]))
    if sd == 0.0:
        return 1.0 if diff > margin else 0.0
    return 0.5 * math.erfc(-(diff - margin) / (sd * math.sqrt(2.0)))


def probabilistic_assignment(inst: fam.Instance, margin: float = MARGIN, threshold: float = THRESHOLD) -> np.ndarray:
    """(C,) the model of every category, by stage 1 of the paper's method (module docstring)."""
    C, M = inst.num_categories, inst.num_models
    order = [int(j) for j in cost_order(inst) if _fits(inst, np.array([j]))]
    steps = reference_steps(inst)
    cat_model = np.full(C, order[0], dtype=np.int64)
    counts = inst.category_counts
    for c in np.argsort(-counts, kind="stable"):
        cur = order[0]
        for j in order[1:]:
            if _prob_better(inst, int(c), cur, j, steps, margin) <= threshold:
                continue
            trial = cat_model.copy()
            trial[c] = j
            if _fits(inst, np.unique(trial[counts > 0])):
                cat_model, cur = trial, j
    return cat_model


# -- the annealing --------------------------------------------------------------------------------
class _Pricer:
    """Expected utility of (counts per category and model, grid index per model, shares), at category level."""

    def __init__(self, inst: fam.Instance):
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


def _counts_of(inst: fam.Instance, model: np.ndarray) -> np.ndarray:
    counts = np.zeros((inst.num_categories, inst.num_models))
    np.add.at(counts, (inst.prompt_category, model), 1.0)
    return counts


def _split(inst: fam.Instance, used: np.ndarray) -> np.ndarray:
    shares = np.zeros(inst.num_models)
    shares[used] = inst.compute_budget / used.sum()
    return shares


def anneal(inst: fam.Instance, model: np.ndarray, rng: np.random.Generator, *, deadline: float | None = None,
           initial_temperature: float = INITIAL_TEMPERATURE, cooling_rate: float = COOLING_RATE,
           iterations: int = ITERATIONS, assignment_moves: bool = ASSIGNMENT_MOVES, share_moves: bool = True):
    """Simulated annealing from the prompt-to-model map ``model`` (steps at mid-grid, equal shares).

    With ``assignment_moves`` whole categories move, so ``model`` must send every category to one model.
    Without ``share_moves`` the budget stays split equally between the models in use.
    Returns (solution, history of the best utility after every iteration, stats dict, stopped early).
    """
    C, M = inst.num_categories, inst.num_models
    price = _Pricer(inst)
    counts = _counts_of(inst, model)
    N_c = np.asarray(inst.category_counts, dtype=float)
    movable = np.flatnonzero(N_c > 0)
    cat_model = None
    if assignment_moves:
        cat_model = np.argmax(counts, axis=1)
        if not np.array_equal(cat_model[inst.prompt_category], model):
            raise ValueError("assignment moves need a map that sends every category to one model")
    k = np.array([(g.size - 1) // 2 for g in inst.steps_grid], dtype=np.int64)
    used = counts.sum(axis=0) > 0
    shares = _split(inst, used)
    value = price(counts, k, shares)
    best = (value, counts.copy(), k.copy(), shares.copy(), None if cat_model is None else cat_model.copy())
    history = [value]
    accepted = {"steps": 0, "share": 0, "assignment": 0}
    proposed = {"steps": 0, "share": 0, "assignment": 0}
    lo, hi = np.log(TRANSFER_RANGE[0]), np.log(TRANSFER_RANGE[1])
    temperature = float(initial_temperature)
    stopped = False
    for _ in range(int(iterations)):
        if deadline is not None and time.perf_counter() >= deadline:
            stopped = True
            break
        in_use = np.flatnonzero(used)
        kinds, weights = ["steps"], [MOVE_WEIGHTS["steps"]]
        if share_moves and in_use.size >= 2:
            kinds.append("share")
            weights.append(MOVE_WEIGHTS["share"])
        if assignment_moves and M >= 2 and movable.size:
            kinds.append("assignment")
            weights.append(MOVE_WEIGHTS["assignment"])
        pick = rng.random() * sum(weights)
        kind = kinds[-1]
        for name, weight in zip(kinds, weights):
            if pick < weight:
                kind = name
                break
            pick -= weight
        proposed[kind] += 1
        new_counts, new_k, new_shares, new_cat = counts, k, shares, cat_model
        if kind == "steps":
            j = int(in_use[rng.integers(in_use.size)])
            size = int(price.sizes[j])
            if size == 1:
                history.append(best[0])
                temperature *= cooling_rate
                continue
            if rng.random() < STEPS_JUMP:
                target = int(rng.integers(0, size - 1))
                target += target >= k[j]  # any index but the current one
            else:
                step = 1 if rng.random() < 0.5 else -1
                target = int(k[j]) + step
                if not 0 <= target < size:
                    target = int(k[j]) - step
            new_k = k.copy()
            new_k[j] = target
        elif kind == "share":
            a, b = rng.choice(in_use, size=2, replace=False)
            moved = shares[a] * math.exp(rng.uniform(lo, hi))
            new_shares = shares.copy()
            new_shares[a] -= moved
            new_shares[b] += moved
        else:
            new_cat = cat_model.copy()
            if rng.random() < RELOCATE:
                # Every category of one model moves to another: with the latency of a split budget, a
                # plan on one model is often reached from one on another only through such a move.
                a = int(in_use[rng.integers(in_use.size)])
                j = int(rng.integers(0, M - 1))
                j += j >= a
                moving = np.flatnonzero(cat_model == a)
            else:
                c = int(movable[rng.integers(movable.size)])
                j = int(rng.integers(0, M - 1))
                j += j >= cat_model[c]
                moving = np.array([c])
            new_cat[moving] = j
            new_counts = counts.copy()
            new_counts[moving] = 0.0
            new_counts[moving, j] = N_c[moving]
            new_used = new_counts.sum(axis=0) > 0
            if not used[j]:
                # A model joining starts at a random grid index: the steps it last had (or mid-grid)
                # may have suited other prompts, and a stale index could keep it shut out for good.
                new_k = k.copy()
                new_k[j] = int(rng.integers(0, price.sizes[j]))
            if not _fits(inst, new_used):
                history.append(best[0])
                temperature *= cooling_rate
                continue
            if not share_moves:
                new_shares = _split(inst, new_used)
            else:
                # The share follows the work: the moving prompts take their part of their model's share.
                src = int(cat_model[moving[0]])
                carried = shares[src] * float(N_c[moving].sum()) / float(counts[:, src].sum())
                new_shares = shares.copy()
                new_shares[j] += carried
                new_shares[src] = 0.0 if not new_used[src] else shares[src] - carried
        new_value = price(new_counts, new_k, new_shares)
        delta = new_value - value
        if delta >= 0 or (temperature > 0 and rng.random() < math.exp(delta / temperature)):
            accepted[kind] += 1
            counts, k, shares, cat_model, value = new_counts, new_k, new_shares, new_cat, new_value
            used = counts.sum(axis=0) > 0
            if value > best[0]:
                best = (value, counts.copy(), k.copy(), shares.copy(), None if cat_model is None else cat_model.copy())
        history.append(best[0])
        temperature *= cooling_rate
    _, b_counts, b_k, b_shares, b_cat = best
    final_model = model if b_cat is None else b_cat[inst.prompt_category]
    b_used = b_counts.sum(axis=0) > 0
    steps = np.where(b_used, price.grid[np.arange(M), b_k], 0).astype(np.int64)
    shares = np.where(b_used, b_shares, 0.0)
    # Transfers conserve the sum only up to rounding; bring it back onto the budget.
    shares *= inst.compute_budget / shares.sum()
    stats = {"iterations": len(history) - 1, "proposed": proposed, "accepted": accepted}
    return fam.Solution(np.asarray(final_model, dtype=np.int64), steps, shares), history, stats, stopped


# -- the solvers ----------------------------------------------------------------------------------
def _found(inst: fam.Instance, name: str, sol: fam.Solution, *, build: float, solve: float, raw: str,
           extra: dict) -> Result:
    """The plan priced by the evaluator (the truth); a violation is a bug and reported as an error."""
    ev = fam.evaluate(inst, sol)
    if not ev.feasible:
        return Result(Status.ERROR, name, objective=ev.objective, evaluation=ev, solution=sol, build_seconds=build,
                      solve_seconds=solve, raw_status=raw, extra=extra,
                      message=f"{name} built a plan that violates {len(ev.violations)} constraint(s), first: "
                              f"{ev.violations[0]}")
    return Result(Status.FEASIBLE, name, objective=ev.objective, evaluation=ev, solution=sol, build_seconds=build,
                  solve_seconds=solve, raw_status=raw, extra=extra)


def _check_options(name: str, options: dict, known: tuple[str, ...]) -> None:
    if options:
        raise ValueError(f"{name} does not know option(s) {', '.join(sorted(options))}; it takes "
                         f"{', '.join(known) if known else 'no options'}")


def _check_stage1(margin: float, threshold: float) -> None:
    if not 0.0 <= threshold < 1.0:
        raise ValueError(f"threshold must be in [0, 1), got {threshold!r}")
    if not math.isfinite(margin):
        raise ValueError(f"margin must be a finite number of CLIP points, got {margin!r}")


def _check_anneal(initial_temperature: float, cooling_rate: float, iterations: int) -> None:
    if not initial_temperature >= 0 or not math.isfinite(initial_temperature):
        raise ValueError(f"initial_temperature must be a finite number >= 0, got {initial_temperature!r}")
    if not 0.0 < cooling_rate <= 1.0:
        raise ValueError(f"cooling_rate must be in (0, 1], got {cooling_rate!r}")
    if int(iterations) < 0 or int(iterations) != iterations:
        raise ValueError(f"iterations must be a whole number >= 0, got {iterations!r}")


class _Heuristic:
    families = ("assignment",)
    exact = False
    gives_bound = False
    name = ""
    description = ""

    def available(self) -> bool:
        return True


_ANNEAL_OPTIONS = ("initial_temperature", "cooling_rate", "iterations")


class ProbAnneal(_Heuristic):
    name = "prob-anneal"
    description = ("the seed paper's method: probabilistic category-based assignment, then simulated annealing "
                   "over steps, compute shares and the assignment")
    equal_shares = False

    def solve(self, instance, *, time_limit=None, seed=None, margin: float = MARGIN, threshold: float = THRESHOLD,
              initial_temperature: float = INITIAL_TEMPERATURE, cooling_rate: float = COOLING_RATE,
              iterations: int = ITERATIONS, assignment_moves: bool = ASSIGNMENT_MOVES, **options):
        _check_options(self.name, options, ("margin", "threshold", *_ANNEAL_OPTIONS, "assignment_moves"))
        _check_stage1(margin, threshold)
        _check_anneal(initial_temperature, cooling_rate, iterations)
        t0 = time.perf_counter()
        deadline = None if time_limit is None else t0 + float(time_limit)
        cat_model = probabilistic_assignment(instance, margin, threshold)
        build = time.perf_counter() - t0
        t1 = time.perf_counter()
        rng = np.random.default_rng(0 if seed is None else seed)
        sol, history, stats, stopped = anneal(
            instance, cat_model[instance.prompt_category], rng, deadline=deadline,
            initial_temperature=initial_temperature, cooling_rate=cooling_rate, iterations=int(iterations),
            assignment_moves=bool(assignment_moves), share_moves=not self.equal_shares)
        raw = (f"{'stopped by the time limit' if stopped else 'completed'} after {stats['iterations']} "
               "annealing iteration(s)")
        extra = {"history": history, "initial_assignment": {instance.categories[c]: instance.model_names[j]
                                                            for c, j in enumerate(cat_model)}, **stats}
        return _found(instance, self.name, sol, build=build, solve=time.perf_counter() - t1, raw=raw, extra=extra)


class EqualAlloc(ProbAnneal):
    name = "equal-alloc"
    description = "baseline: the paper's method with the compute split equally between the models in use"
    equal_shares = True


class DirectAssign(_Heuristic):
    name = "direct-assign"
    description = ("baseline: every category to its highest-quality model at maximum steps (while memory allows), "
                   "steps at maximum, optimal shares")

    def solve(self, instance, *, time_limit=None, seed=None, **options):
        _check_options(self.name, options, ())
        t0 = time.perf_counter()
        top = np.array([g[-1] for g in instance.steps_grid], dtype=np.int64)
        quality = instance.mean_clip(np.arange(instance.num_categories)[:, None],
                                     np.arange(instance.num_models)[None, :], top[None, :])  # (C, M)
        counts = instance.category_counts
        cat_model = np.full(instance.num_categories, -1, dtype=np.int64)
        for c in np.argsort(-counts, kind="stable"):
            for j in np.argsort(-quality[c], kind="stable"):
                chosen = np.unique(np.append(cat_model[(cat_model >= 0) & (counts > 0)], j))
                if _fits(instance, chosen):
                    cat_model[c] = j
                    break
        sol = fam.plan(instance, cat_model[instance.prompt_category], top)
        return _found(instance, self.name, sol, build=0.0, solve=time.perf_counter() - t0,
                      raw="direct assignment", extra={})


class RandomAssign(_Heuristic):
    name = "random-assign"
    description = ("baseline: each prompt to a uniformly random resident model (random resident set that fits "
                   "memory), then steps and shares annealed as in the paper's method")

    def solve(self, instance, *, time_limit=None, seed=None, initial_temperature: float = INITIAL_TEMPERATURE,
              cooling_rate: float = COOLING_RATE, iterations: int = ITERATIONS, **options):
        _check_options(self.name, options, _ANNEAL_OPTIONS)
        _check_anneal(initial_temperature, cooling_rate, iterations)
        t0 = time.perf_counter()
        deadline = None if time_limit is None else t0 + float(time_limit)
        rng = np.random.default_rng(0 if seed is None else seed)
        resident: list[int] = []
        for j in rng.permutation(instance.num_models):
            if _fits(instance, np.array(resident + [int(j)])):
                resident.append(int(j))
        model = np.array(resident, dtype=np.int64)[rng.integers(0, len(resident), size=instance.num_prompts)]
        build = time.perf_counter() - t0
        t1 = time.perf_counter()
        sol, history, stats, stopped = anneal(
            instance, model, rng, deadline=deadline, initial_temperature=initial_temperature,
            cooling_rate=cooling_rate, iterations=int(iterations), assignment_moves=False)
        raw = (f"{'stopped by the time limit' if stopped else 'completed'} after {stats['iterations']} "
               "annealing iteration(s)")
        extra = {"history": history, "resident": [instance.model_names[j] for j in sorted(resident)], **stats}
        return _found(instance, self.name, sol, build=build, solve=time.perf_counter() - t1, raw=raw, extra=extra)


def isolated_steps(inst: fam.Instance, cat_model: np.ndarray) -> np.ndarray:
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


class OptimalStep(_Heuristic):
    name = "optimal-step"
    description = ("baseline: the paper's probabilistic assignment, each model at its best steps in isolation, "
                   "optimal shares")

    def solve(self, instance, *, time_limit=None, seed=None, margin: float = MARGIN, threshold: float = THRESHOLD,
              **options):
        _check_options(self.name, options, ("margin", "threshold"))
        _check_stage1(margin, threshold)
        t0 = time.perf_counter()
        cat_model = probabilistic_assignment(instance, margin, threshold)
        sol = fam.plan(instance, cat_model[instance.prompt_category], isolated_steps(instance, cat_model))
        return _found(instance, self.name, sol, build=0.0, solve=time.perf_counter() - t0,
                      raw="probabilistic assignment, steps optimal in isolation", extra={})


register(ProbAnneal())
register(DirectAssign())
register(RandomAssign())
register(EqualAlloc())
register(OptimalStep())
