"""The exact method of the assignment family: enumeration of category-to-model maps and steps.

Why enumeration is exact (docs/formulations.md, "assignment"): for fixed steps, expected quality is
linear in the prompt counts and the mean latency with optimal shares is a minimum of linear functions
of the counts, hence concave; utility is therefore convex in the counts and its maximum over the
polytope of fractional assignments lies at a vertex, where every category goes wholly to one model.
Prompts of one category are interchangeable in expectation, so the maximum over all prompt-level
assignments is the maximum over the M^C category maps, and with each model's steps from its grid the
search space is finite. The memory limit is respected by enumerating the set of models in use.

When the enumeration is larger than ``max_candidates`` (or the time limit stops it), the best plan
found is returned with the bound of a convex relaxation solved by Clarabel:
category-to-(model, steps) fractions x in [0, 1] and shares f, with each latency term x/f replaced by
the convex x^2/f, which equals it at every 0/1 point, so the relaxation's optimum bounds the true one.

The time limit bounds the whole call. The sets of models are walked with the clock read every few
hundred sets; a set's candidates are priced in blocks of about a million, the clock read after each;
the local search reads it after every move it tries; the relaxation is stated directly in Clarabel's
conic form (importing CVXPY took ~3 s under load and compiling the relaxation of a hundred models ~1 s,
neither bounded by a time limit) and, under a time limit, solved in a forked child killed at the deadline.
"""
from __future__ import annotations

import pickle
import time
from dataclasses import dataclass
from math import comb

import numpy as np

from edgeopt.families.assignment.instance import Instance
from edgeopt.families.assignment.plans import plan, utility_of_counts
from edgeopt.interrupt import run_in_child
from edgeopt.registry import register_solver
from edgeopt.result import Result, Status, relative_gap
from edgeopt.solver import Options, Solver, deadline, option, seconds_left

#: Default largest number of (map, steps) candidates enumerated before falling back to the relaxation.
MAX_CANDIDATES = 50_000_000
#: The largest ``max_candidates`` accepted. A set of k models has at least k^C maps counted among the
#: candidates of it and its subsets, so every map and steps index then fits a 64-bit integer.
MAX_CANDIDATES_LIMIT = 10 ** 12
#: Sets of models visited between two readings of the clock.
_SETS_PER_CHECK = 256
#: Rows of the 0..k^C-1 map numbering decoded at once.
_MAP_CHUNK = 1 << 16


class _OutOfTime(Exception):
    """The deadline passed during the enumeration."""


def _check(until: float | None) -> None:
    if until is not None and time.perf_counter() > until:
        raise _OutOfTime


def _subsets(inst: Instance, until: float | None = None):
    """Every set of models (size at most the number of categories) that fits the GPU memory, in
    lexicographic order, as an index array. Raises _OutOfTime when ``until`` (a perf_counter time) passes.

    A set that does not fit has no superset that fits (memory figures are positive), so its extensions
    are not visited: with a hundred models of which no two fit together, about 4,000 sets are tried
    rather than the 4 million of size at most 4 (that walk took 14-19 s under a 2-s limit)."""
    M, C = inst.num_models, inst.num_categories
    cap = min(M, C)
    limited = inst.gpu_memory_gb is not None
    tried = 0

    def walk(base: tuple):
        nonlocal tried
        for j in range(base[-1] + 1 if base else 0, M):
            tried += 1
            if tried % _SETS_PER_CHECK == 0:
                _check(until)
            subset = base + (j,)
            if limited and not inst.fits_memory(list(subset)):
                continue
            yield np.array(subset)
            if len(subset) < cap:
                yield from walk(subset)

    yield from walk(())


def _surjections(k: int, C: int) -> int:
    """Maps of C categories onto k models (every model serves a category)."""
    return sum((-1) ** i * comb(k, i) * (k - i) ** C for i in range(k + 1))


def count_candidates(inst: Instance, *, stop_above: int | None = None, deadline: float | None = None) -> int | None:
    """The number of (category map, steps) candidates the enumeration would price.

    Counting stops as soon as the count exceeds ``stop_above`` (the partial count is returned: it is
    already too many), and returns None if the ``deadline`` passes first: with a hundred models the
    subsets alone number millions, and counting them must not outlast the time limit."""
    total = 0
    C = inst.num_categories
    onto = {}
    try:
        for S in _subsets(inst, deadline):
            k = len(S)
            if k not in onto:
                onto[k] = _surjections(k, C)
            steps = 1
            for j in S.tolist():
                steps *= int(inst.steps_grid[j].size)
            total += onto[k] * steps
            if stop_above is not None and total > stop_above:
                return total
    except _OutOfTime:
        return None
    return total


def _onto_maps(k: int, C: int, until: float | None):
    """Every map of C categories onto positions 0..k-1 (each position used), in lexicographic order, in
    blocks of at most _MAP_CHUNK rows: the k^C maps are numbered, decoded block by block and filtered.
    Counted with the sets of models, those k^C maps are at most the candidates of the set and its subsets,
    so the filter costs no more than the count allows."""
    total = k ** C
    powers = np.array([k ** (C - 1 - c) for c in range(C)], dtype=np.int64)
    for start in range(0, total, _MAP_CHUNK):
        number = np.arange(start, min(total, start + _MAP_CHUNK), dtype=np.int64)
        maps = (number[:, None] // powers[None, :]) % k
        present = np.zeros((number.size, k), dtype=bool)
        present[np.arange(number.size)[:, None], maps] = True
        onto = present.all(axis=1)
        if onto.any():
            yield maps[onto]
        _check(until)


def enumerate_best(inst: Instance, deadline: float | None = None):
    """(utility, model per category, steps per model, complete) of the best plan; exact when complete.

    Each set's (maps x steps) utilities are computed in blocks of about 4 million / C entries (a few
    tens of MB), the deadline read after each block."""
    C, N = inst.num_categories, inst.num_prompts
    w = inst.category_counts / N  # (C,)
    counts = inst.category_counts
    block = max(1 << 12, (1 << 22) // C)
    best = [-np.inf, None, None]
    # mu[j][c, g]: expected score of category c on model j at its g-th grid steps
    mu = [inst.mean_clip(np.arange(C)[:, None], j, g[None, :].astype(float)) for j, g in enumerate(inst.steps_grid)]

    def price(S, maps, sq_n, grid_index, steps):
        # quality[p, q] = sum_c w_c mu(c, S[map[p, c]], steps[q, map[p, c]])
        quality = np.zeros((maps.shape[0], steps.shape[0]))
        for c in range(C):
            g = np.stack([w[c] * mu[j][c, grid_index[i]] for i, j in enumerate(S.tolist())], axis=1)  # (K, k)
            quality += g.T[maps[:, c]]
        root = sq_n @ np.sqrt(steps * inst.step_seconds[S]).T  # (P, K)
        utility = quality - inst.latency_weight * root ** 2 / inst.compute_budget
        p, q = np.unravel_index(int(np.argmax(utility)), utility.shape)
        if utility[p, q] > best[0]:
            full_steps = np.zeros(inst.num_models, dtype=np.int64)
            full_steps[S] = steps[q].astype(np.int64)
            best[:] = [float(utility[p, q]), S[maps[p]], full_steps]

    def price_set(S):
        k = len(S)
        sizes = [int(inst.steps_grid[j].size) for j in S.tolist()]
        K = int(np.prod(sizes, dtype=object))
        k_step = min(K, block)
        p_step = max(1, block // k_step)

        def steps_block(q0):
            grid_index = np.unravel_index(np.arange(q0, min(K, q0 + k_step), dtype=np.int64), sizes)
            steps = np.stack([inst.steps_grid[j][grid_index[i]] for i, j in enumerate(S.tolist())],
                             axis=1).astype(float)  # (K_b, k)
            return grid_index, steps

        whole = steps_block(0) if k_step == K else None
        for maps in _onto_maps(k, C, deadline):
            n = np.zeros((maps.shape[0], k))
            for c in range(C):
                n[np.arange(maps.shape[0]), maps[:, c]] += counts[c]
            sq_n = np.sqrt(n / N)
            for p0 in range(0, maps.shape[0], p_step):
                for q0 in range(0, K, k_step):
                    grid_index, steps = whole if whole is not None else steps_block(q0)
                    price(S, maps[p0:p0 + p_step], sq_n[p0:p0 + p_step], grid_index, steps)
                    _check(deadline)

    try:
        for S in _subsets(inst, deadline):
            price_set(S)
    except _OutOfTime:
        return (*best, False)
    return (*best, True)


def relaxation_bound(inst: Instance, seconds: float | None = None) -> float | None:
    """Upper bound on the utility from the convex relaxation in the module docstring (None if it fails or
    does not finish within ``seconds``), stated in Clarabel's conic form.

    Variables, in this order: x (C x K, row-major; fraction of category c on column k's model and steps,
    the models' grids side by side), z (K; column k's steps chosen), y (M; model j in use), f (M; model
    j's share), t (M; model j's latency term). Clarabel minimises q.v subject to A v + s = b, s in the
    cones; the utility is maximised, so q is its negative. Model j's term t_j >= |u_j|^2 / f_j, with
    u_j = sqrt(coef) x over its columns, is the rotated cone written as |(2 u_j, t_j - f_j)| <= t_j + f_j.
    """
    import clarabel
    from scipy import sparse

    C, M, N = inst.num_categories, inst.num_models, inst.num_prompts
    w = inst.category_counts / N
    owner = np.concatenate([np.full(g.size, j) for j, g in enumerate(inst.steps_grid)])
    grid = np.concatenate([g.astype(float) for g in inst.steps_grid])
    K = grid.size
    mu = inst.mean_clip(np.arange(C)[:, None], owner[None, :], grid[None, :])  # (C, K)
    coef = w[:, None] * grid[None, :] * inst.step_seconds[owner][None, :]  # (C, K)
    nx = C * K
    ix = np.arange(nx).reshape(C, K)
    iz = nx + np.arange(K)
    iy = nx + K + np.arange(M)
    i_f = nx + K + M + np.arange(M)
    it = nx + K + 2 * M + np.arange(M)
    n = nx + K + 3 * M
    q = np.zeros(n)
    q[ix.ravel()] = -(w[:, None] * mu).ravel()
    q[it] = inst.latency_weight

    rows, cols, vals, b = [], [], [], []
    row = 0

    def add(r, c, v):
        rows.append(np.asarray(r, dtype=np.int64).ravel())
        cols.append(np.asarray(c, dtype=np.int64).ravel())
        vals.append(np.broadcast_to(np.asarray(v, dtype=float), np.shape(np.asarray(r))).ravel())

    # zero cone: every category wholly placed; the steps chosen of model j sum to y_j
    add(row + np.repeat(np.arange(C), K), ix.ravel(), 1.0)
    b.append(np.ones(C))
    row += C
    add(row + owner, iz, 1.0)
    add(row + np.arange(M), iy, -1.0)
    b.append(np.zeros(M))
    row += M
    zero_rows = row
    # nonnegative cone (A v <= b): x, z, y, f >= 0; y <= 1; sum f <= F; x_ck <= z_k; memory
    for idx in (ix.ravel(), iz, iy, i_f):
        add(row + np.arange(idx.size), idx, -1.0)
        b.append(np.zeros(idx.size))
        row += idx.size
    add(row + np.arange(M), iy, 1.0)
    b.append(np.ones(M))
    row += M
    add(np.full(M, row), i_f, 1.0)
    b.append([inst.compute_budget])
    row += 1
    add(row + np.arange(nx), ix.ravel(), 1.0)
    add(row + np.arange(nx), np.tile(iz, C), -1.0)
    b.append(np.zeros(nx))
    row += nx
    if inst.gpu_memory_gb is not None:
        add(np.full(M, row), iy, inst.model_gpu_memory_gb)
        b.append([inst.gpu_memory_gb])
        row += 1
    nonneg_rows = row - zero_rows
    # one second-order cone per model: s = (t_j + f_j, t_j - f_j, 2 sqrt(coef) x_j)
    cones = [clarabel.ZeroConeT(zero_rows), clarabel.NonnegativeConeT(nonneg_rows)]
    for j in range(M):
        mine = np.flatnonzero(owner == j)
        add([row, row], [it[j], i_f[j]], -1.0)
        add([row + 1, row + 1], [it[j], i_f[j]], [-1.0, 1.0])
        xs = ix[:, mine].ravel()
        add(row + 2 + np.arange(xs.size), xs, -2.0 * np.sqrt(coef[:, mine]).ravel())
        b.append(np.zeros(2 + xs.size))
        cones.append(clarabel.SecondOrderConeT(2 + xs.size))
        row += 2 + xs.size
    A = sparse.csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(row, n))
    P = sparse.csc_matrix((n, n))
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    if seconds is not None:
        settings.time_limit = max(float(seconds), 1e-3)
    try:
        solution = clarabel.DefaultSolver(P, q, A, np.concatenate([np.asarray(v, dtype=float) for v in b]), cones,
                                          settings).solve()
    except Exception:  # noqa: BLE001 - Clarabel's own errors: no bound
        return None
    if solution.status != clarabel.SolverStatus.Solved:
        return None
    # Clarabel stops at a small duality gap: take the larger of its primal and dual values (the dual one
    # bounds), widened by its tolerance.
    value = max(-float(solution.obj_val), -float(solution.obj_val_dual))
    return value + 1e-6 * max(1.0, abs(value))


def _bound_by(inst: Instance, started: float, time_limit: float | None) -> float | None:
    """The relaxation's bound in what is left of the time limit: in a forked child killed at the deadline
    (Clarabel reads its clock only between iterations, and stating a large relaxation takes time too)."""
    if time_limit is None:
        return relaxation_bound(inst)
    left = seconds_left(started, time_limit, floor=0.0)
    if left <= 0:
        return None
    try:
        data = run_in_child(lambda: pickle.dumps(relaxation_bound(inst, left)),
                            deadline=deadline(started, time_limit), grace=0.0)
    except RuntimeError:  # the child died or raised: no bound
        return None
    return None if data is None else pickle.loads(data)


@dataclass(frozen=True)
class EnumerateOptions(Options):
    #: Largest number of (map, steps) candidates enumerated before falling back to local search and the bound.
    max_candidates: int = option(MAX_CANDIDATES, at_least=0, at_most=MAX_CANDIDATES_LIMIT)


@register_solver
class Enumerate(Solver):
    """Exact: enumerates category-to-model maps and steps (optimal by convexity); a Clarabel relaxation bound
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
        searched, settled = cat_model is None, True
        if searched:
            cat_model, steps, settled = _local_search(instance, until)
            value = float(utility_of_counts(instance, _counts(instance, cat_model), steps))
        sol = plan(instance, cat_model[instance.prompt_category], steps)
        if complete:
            status, bound, raw = Status.OPTIMAL, value, f"enumerated {candidates} candidates"
        else:
            # The bound is worth its time only if there is time: under a time limit it gets what is left.
            bound = _bound_by(instance, started, time_limit)
            # Cut short by the clock: the count, the enumeration, the local search or the bound.
            timed_out = (candidates is None or fits or not settled
                         or (bound is None and until is not None and time.perf_counter() > until))
            status = Status.TIME_LIMIT if timed_out else Status.FEASIBLE
            why = ("stopped by the time limit while counting candidates" if candidates is None
                   else "stopped by the time limit during the enumeration" if fits
                   else f"more than max_candidates={options.max_candidates} candidates")
            how = "bound from the convex relaxation" if bound is not None else "no bound in the time left"
            plan_from = ("best plan enumerated" if not searched else "plan from local search"
                         + ("" if settled else " (stopped by the time limit)"))
            raw = f"{why}; {how}, {plan_from}"
        return Result(status=status, solver=self.name, objective=value, bound=bound,
                      gap=relative_gap(value, bound, instance.sense), solution=sol, build_seconds=build,
                      solve_seconds=time.perf_counter() - t1, raw_status=raw)


def _counts(inst: Instance, cat_model: np.ndarray) -> np.ndarray:
    counts = np.zeros((inst.num_categories, inst.num_models))
    counts[np.arange(inst.num_categories), cat_model] = inst.category_counts
    return counts


def _local_search(inst: Instance, until: float | None = None):
    """(model per category, steps per model, settled): improving moves over category maps and steps, from
    the best single-model plan that fits the memory; the clock (``until``, a perf_counter time) is read
    after every move tried, and ``settled`` says whether the search ended because nothing improved."""
    C, M = inst.num_categories, inst.num_models
    w = inst.category_counts / inst.num_prompts
    top = np.array([g[-1] for g in inst.steps_grid], dtype=np.int64)

    def fits(cat_model):
        return inst.fits_memory(np.unique(cat_model))

    def value(cat_model, steps):
        return float(utility_of_counts(inst, _counts(inst, cat_model), steps.astype(float)))

    # Start: every category on one model at one of its steps, all of them priced at once (the whole
    # budget to that model: utility = sum_c w_c mu(c, j, s) - lambda s tau_j / F). Always done, so that
    # a plan exists even when the deadline has already passed.
    best = None
    for j in range(M):
        if not inst.fits_memory([j]):
            continue
        g = inst.steps_grid[j].astype(float)
        utility = (w @ inst.mean_clip(np.arange(C)[:, None], j, g[None, :])
                   - inst.latency_weight * g * inst.step_seconds[j] / inst.compute_budget)
        k = int(np.argmax(utility))
        if best is None or utility[k] > best[0]:
            st = top.copy()
            st[j] = inst.steps_grid[j][k]
            best = (float(utility[k]), np.full(C, j), st)
    _, cm, st = best
    current = value(cm, st)

    def out_of_time():
        return until is not None and time.perf_counter() >= until

    improved = True
    while improved:
        improved = False
        for c in range(C):
            for j in range(M):
                if out_of_time():
                    return cm, st, False
                trial = cm.copy()
                trial[c] = j
                if fits(trial):
                    v = value(trial, st)
                    if v > current + 1e-12:
                        cm, current, improved = trial, v, True
        for j in range(M):
            for s in inst.steps_grid[j]:
                if out_of_time():
                    return cm, st, False
                trial = st.copy()
                trial[j] = s
                v = value(cm, trial)
                if v > current + 1e-12:
                    st, current, improved = trial, v, True
    return cm, st, True
