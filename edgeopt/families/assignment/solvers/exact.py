"""The exact method of the assignment family: enumeration of category-to-model maps and steps.

Why enumeration is exact (docs/formulations.md, "assignment"): for fixed steps, expected quality is
linear in the prompt counts and the mean latency with optimal shares is a minimum of linear functions
of the counts, hence concave; utility is therefore convex in the counts and its maximum over the
polytope of fractional assignments lies at a vertex, where every category goes wholly to one model.
Prompts of one category are interchangeable in expectation, so the maximum over all prompt-level
assignments is the maximum over the M^C category maps, and with each model's steps from its grid the
search space is finite. The memory limit is respected by enumerating the set of models in use.

When the enumeration is larger than ``max_candidates`` (or the time limit stops it), the best plan
found is returned with the bound of a convex relaxation solved by CVXPY (Clarabel):
category-to-(model, steps) fractions x in [0, 1] and shares f, with each latency term x/f replaced by
the convex x^2/f, which equals it at every 0/1 point, so the relaxation's optimum bounds the true one.
"""
from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from math import comb

import numpy as np

from edgeopt.allocation import import_cvxpy
from edgeopt.families.assignment.instance import Instance
from edgeopt.families.assignment.plans import plan, utility_of_counts
from edgeopt.registry import register_solver
from edgeopt.result import Result, Status, relative_gap
from edgeopt.solver import Options, Solver, deadline, option, seconds_left

#: Default largest number of (map, steps) candidates enumerated before falling back to the relaxation.
MAX_CANDIDATES = 50_000_000


def _subsets(inst: Instance):
    """Every set of models (size at most the number of categories) that fits the GPU memory."""
    M, C = inst.num_models, inst.num_categories
    for size in range(1, min(M, C) + 1):
        for subset in itertools.combinations(range(M), size):
            if inst.fits_memory(list(subset)):
                yield np.array(subset)


def count_candidates(inst: Instance, *, stop_above: int | None = None, deadline: float | None = None) -> int | None:
    """The number of (category map, steps) candidates the enumeration would price.

    Counting stops as soon as the count exceeds ``stop_above`` (the partial count is returned: it is
    already too many), and returns None if the ``deadline`` passes first: with a hundred models the
    subsets alone number millions, and counting them must not outlast the time limit."""
    total = 0
    C = inst.num_categories
    for k_done, S in enumerate(_subsets(inst)):
        k = len(S)
        surjective = sum((-1) ** i * comb(k, i) * (k - i) ** C for i in range(k + 1))
        total += surjective * int(np.prod([inst.steps_grid[j].size for j in S], dtype=object))
        if stop_above is not None and total > stop_above:
            return total
        if deadline is not None and k_done % 1024 == 0 and time.perf_counter() > deadline:
            return None
    return total


def enumerate_best(inst: Instance, deadline: float | None = None):
    """(utility, model per category, steps per model, complete) of the best plan; exact when complete."""
    C, N = inst.num_categories, inst.num_prompts
    w = inst.category_counts / N  # (C,)
    best = (-np.inf, None, None)
    for S in _subsets(inst):
        k = len(S)
        maps = np.array(list(itertools.product(range(k), repeat=C)), dtype=np.int64).reshape(-1, C)
        maps = maps[np.array([len(set(m)) == k for m in maps.tolist()])]  # every model in S serves a category
        grids = [inst.steps_grid[j] for j in S]
        steps = np.array(list(itertools.product(*grids)), dtype=float).reshape(-1, k)  # (K, k)
        # quality[p, q] = sum_c w_c mu(c, S[map[p, c]], steps[q, map[p, c]])
        quality = np.zeros((maps.shape[0], steps.shape[0]))
        for c in range(C):
            g = w[c] * inst.mean_clip(c, S[None, :], steps)  # (K, k): category c on each position of S
            quality += g.T[maps[:, c]]
        n = np.zeros((maps.shape[0], k))
        for c in range(C):
            n[np.arange(maps.shape[0]), maps[:, c]] += inst.category_counts[c]
        root = np.sqrt(n / N) @ np.sqrt(steps * inst.step_seconds[S] ).T  # (P, K)
        utility = quality - inst.latency_weight * root ** 2 / inst.compute_budget
        p, q = np.unravel_index(int(np.argmax(utility)), utility.shape)
        if utility[p, q] > best[0]:
            full_steps = np.zeros(inst.num_models, dtype=np.int64)
            full_steps[S] = steps[q].astype(np.int64)
            best = (float(utility[p, q]), S[maps[p]], full_steps)
        if deadline is not None and time.perf_counter() > deadline:
            return (*best, False)
    return (*best, True)


def relaxation_bound(inst: Instance, seconds: float | None = None) -> float | None:
    """Upper bound on the utility from the convex relaxation in the module docstring (None if it fails or
    does not finish within ``seconds``)."""
    cp = import_cvxpy()

    C, M, N = inst.num_categories, inst.num_models, inst.num_prompts
    w = inst.category_counts / N
    # One column per (model, steps) pair, the models' grids side by side: every constraint and the
    # quality are whole arrays, and the latency is one quad_over_lin per model, so that CVXPY compiles a
    # hundred models in about a second instead of one atom per (category, model, steps).
    owner = np.concatenate([np.full(g.size, j) for j, g in enumerate(inst.steps_grid)])
    grid = np.concatenate([g.astype(float) for g in inst.steps_grid])
    K = grid.size
    mu = inst.mean_clip(np.arange(C)[:, None], owner[None, :], grid[None, :])  # (C, K)
    coef = w[:, None] * grid[None, :] * inst.step_seconds[owner][None, :]  # (C, K)
    x = cp.Variable((C, K), nonneg=True)  # fraction of category c's prompts on column k's model and steps
    z = cp.Variable(K, nonneg=True)  # column k's steps chosen (relaxed)
    y = cp.Variable(M, nonneg=True)  # model j in use (relaxed)
    f = cp.Variable(M, nonneg=True)  # model j's compute share
    membership = (owner[None, :] == np.arange(M)[:, None]).astype(float)  # (M, K)
    cons = [cp.sum(f) <= inst.compute_budget, y <= 1, membership @ z == y, cp.sum(x, axis=1) == 1,
            x <= np.ones((C, 1)) @ cp.reshape(z, (1, K), order="C")]
    if inst.gpu_memory_gb is not None:
        cons.append(inst.model_gpu_memory_gb @ y <= inst.gpu_memory_gb)
    latency = [cp.quad_over_lin(cp.multiply(np.sqrt(coef[:, owner == j]), x[:, owner == j]), f[j]) for j in range(M)]
    objective = cp.Maximize(cp.sum(cp.multiply(w[:, None] * mu, x)) - inst.latency_weight * cp.sum(cp.hstack(latency)))
    problem = cp.Problem(objective, cons)
    try:
        problem.solve(solver="CLARABEL", **({} if seconds is None else {"time_limit": max(seconds, 1e-3)}))
    except cp.error.SolverError:
        return None
    if problem.status != cp.OPTIMAL or problem.value is None:
        return None
    # Clarabel stops at a small duality gap; its dual objective side is what bounds. Widen by its tolerance.
    return float(problem.value) + 1e-6 * max(1.0, abs(float(problem.value)))


@dataclass(frozen=True)
class EnumerateOptions(Options):
    #: Largest number of (map, steps) candidates enumerated before falling back to local search and the bound.
    max_candidates: int = option(MAX_CANDIDATES, at_least=0)


@register_solver
class Enumerate(Solver):
    """Exact: enumerates category-to-model maps and steps (optimal by convexity); a CVXPY relaxation bound
    beyond ``max_candidates``."""

    name, family, Options = "enumerate", "assignment", EnumerateOptions
    exact = gives_bound = True

    def run(self, instance, options, *, time_limit, seed, started):
        until = deadline(started, time_limit)
        candidates = count_candidates(instance, stop_above=options.max_candidates, deadline=until)
        build = time.perf_counter() - started
        t1 = time.perf_counter()
        fits = candidates is not None and candidates <= options.max_candidates
        value, cat_model, steps, complete = (enumerate_best(instance, until) if fits
                                             else (-np.inf, None, None, False))
        if cat_model is None:
            cat_model, steps = _local_search(instance, until)
            value = float(utility_of_counts(instance, _counts(instance, cat_model), steps))
        sol = plan(instance, cat_model[instance.prompt_category], steps)
        left = seconds_left(started, time_limit, floor=0.0)
        if complete:
            status, bound, raw = Status.OPTIMAL, value, f"enumerated {candidates} candidates"
        else:
            # The bound is worth its time only if there is time: under a time limit it gets what is left.
            bound = relaxation_bound(instance, left) if left is None or left > 0 else None
            timed_out = candidates is None or (fits and time_limit is not None)
            status = Status.TIME_LIMIT if timed_out else Status.FEASIBLE
            how = "bound from the convex relaxation" if bound is not None else "no bound in the time left"
            raw = (f"stopped by the time limit; {how}, plan from local search" if candidates is None
                   else f"stopped by the time limit; {how}" if fits
                   else f"more than max_candidates={options.max_candidates} candidates; {how}, plan from "
                        "local search")
        return Result(status=status, solver=self.name, objective=value, bound=bound,
                      gap=relative_gap(value, bound, instance.sense), solution=sol, build_seconds=build,
                      solve_seconds=time.perf_counter() - t1, raw_status=raw)


def _counts(inst: Instance, cat_model: np.ndarray) -> np.ndarray:
    counts = np.zeros((inst.num_categories, inst.num_models))
    counts[np.arange(inst.num_categories), cat_model] = inst.category_counts
    return counts


def _local_search(inst: Instance, until: float | None = None):
    """Best-improvement search over category maps and steps, from the best single-model plan
    (memory-feasible); it stops improving when ``until`` (a perf_counter time) passes."""
    C, M = inst.num_categories, inst.num_models

    def fits(cat_model):
        return inst.fits_memory(np.unique(cat_model))

    def value(cat_model, steps):
        return float(utility_of_counts(inst, _counts(inst, cat_model), steps.astype(float)))

    best = None
    for j in range(M):
        for s in inst.steps_grid[j]:
            cm = np.full(C, j)
            st = np.array([g[-1] for g in inst.steps_grid], dtype=np.int64)
            st[j] = s
            if fits(cm) and (best is None or value(cm, st) > best[0]):
                best = (value(cm, st), cm, st)
    _, cm, st = best
    improved = True
    while improved and (until is None or time.perf_counter() < until):
        improved = False
        for c in range(C):
            for j in range(M):
                trial = cm.copy()
                trial[c] = j
                if fits(trial) and value(trial, st) > value(cm, st) + 1e-12:
                    cm, improved = trial, True
        for j in range(M):
            for s in inst.steps_grid[j]:
                trial = st.copy()
                trial[j] = s
                if value(cm, trial) > value(cm, st) + 1e-12:
                    st, improved = trial, True
    return cm, st

