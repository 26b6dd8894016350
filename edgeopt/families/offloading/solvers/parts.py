"""What the offloading family's exact methods share: a slot split into independent parts, a part's data as
arrays, the value of a part's choice, a quick feasible choice, the bound that needs no search, and the one
loop that solves every part of every slot under one time limit and assembles the Result.

**Independent parts.** Within a slot two users interact only through a resource they share (their cell's
uplink or downlink, their edge's compute) or through an edge's GPU memory (the models their edge options
need). The connected components of that relation are independent problems: the slot's optimum is the sum
of theirs, and so is any bound. In generated instances every cell is one part. ``split=False`` solves each
slot whole (the program as stated), which gives the same optimum more slowly.

**Bounds without a search.** :func:`trivial_bound`: every user alone, with whole resources, takes its best
option (x_j = 1 makes each cost its smallest); :func:`relaxation_bound`: the convex relaxation (z and y in
[0, 1]) by CVXPY/Clarabel. When the time limit stops a part before the method's own search gave a bound (or
before the part started), offload-miqp bounds it by :func:`relaxation_bound` and offload-oa by the LP
relaxation of its first MILP (tangent cuts at many points: an outer approximation of the same convex
relaxation, on HiGHS, so that offload-oa never imports CVXPY); either falls back to :func:`trivial_bound`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from edgeopt.families.offloading.instance import EDGE, Instance, Options
from edgeopt.families.offloading.plans import plan, slot_value
from edgeopt.result import PROOF_RTOL, Result, Status, relative_gap
from edgeopt.solver import deadline

#: Relative (and absolute) tolerance at which an incumbent and a bound prove optimality: edgeopt's one proof
#: tolerance (docs/solvers.md). At 1e-9, offload-oa ended "feasible" with the optimum in hand and HiGHS's bound
#: 2.3-4.1e-7 above it (issue 19).
PROOF_TOL = PROOF_RTOL
#: Clarabel stops at a small duality gap: its bound is widened by this relative amount (as in assignment).
RELAXATION_SLACK = 1e-6


@dataclass(frozen=True, eq=False)
class Part:
    """One independent part of a slot, as arrays. Local indices: users ``0..U-1`` (positions ``pos`` in
    ``opts.users``), options ``0..O-1`` (``ids`` in the option table), resources ``0..R-1`` (``resource_ids``
    in 0..3E-1), loadable (edge, model) pairs ``0..P-1``, edges with such a pair ``0..Q-1``."""

    t: int
    opts: Options
    pos: np.ndarray  # (U,) positions in opts.users
    ids: np.ndarray  # (O,) option indices
    owner: np.ndarray  # (O,) local user of each option
    value: np.ndarray  # (O,) option value
    refusal_value: float
    resource_ids: np.ndarray  # (R,)
    root_rows: np.ndarray  # nonzeros of the (R, O) matrix of sqrt(cost): resource, option, sqrt(cost)
    root_cols: np.ndarray
    root_vals: np.ndarray
    pair_of: np.ndarray  # (O,) the (edge, model) pair an edge option needs, -1 for none
    pair_edge: np.ndarray  # (P,) local edge of each pair
    pair_memory: np.ndarray  # (P,) GB of the pair's model
    edge_memory: np.ndarray  # (Q,) GB of each local edge
    # A user's edge options that need one pair form a group: the row sum_{o in group} z_o <= y_pair.
    link_opts: np.ndarray  # the edge options
    link_group: np.ndarray  # each one's group
    link_pair: np.ndarray  # (G,) each group's pair

    @property
    def num_users(self) -> int:
        return int(self.pos.size)

    @property
    def num_options(self) -> int:
        return int(self.ids.size)

    @property
    def num_resources(self) -> int:
        return int(self.resource_ids.size)

    @property
    def num_pairs(self) -> int:
        return int(self.pair_edge.size)

    def roots(self):
        """The (R, O) sparse matrix of sqrt(cost): row r times z is s_r, the resource's sum of square roots."""
        import scipy.sparse as sp

        return sp.csr_matrix((self.root_vals, (self.root_rows, self.root_cols)),
                             shape=(self.num_resources, self.num_options))

    def s_of(self, z: np.ndarray) -> np.ndarray:
        """(R,) s_r = sum_o sqrt(cost[o, r]) z_o."""
        s = np.zeros(self.num_resources)
        np.add.at(s, self.root_rows, self.root_vals * np.asarray(z, dtype=float)[self.root_cols])
        return s

    def s_max(self) -> np.ndarray:
        """(R,) the largest s_r any choice gives: each user's largest sqrt(cost) on the resource, summed (over the
        (resource, user) pairs that occur: an R x U array of a whole slot of 10,000 cells took 40 GB)."""
        key = self.root_rows * self.num_users + self.owner[self.root_cols]
        pairs, which = np.unique(key, return_inverse=True)
        largest = np.zeros(pairs.size)
        np.maximum.at(largest, which.reshape(-1), self.root_vals)
        return np.bincount(pairs // self.num_users, weights=largest, minlength=self.num_resources)

    def user_rows(self):
        """(U, O) sparse 0/1: which options are each user's."""
        import scipy.sparse as sp

        return sp.csr_matrix((np.ones(self.num_options), (self.owner, np.arange(self.num_options))),
                             shape=(self.num_users, self.num_options))

    def chosen(self, z: np.ndarray) -> np.ndarray:
        """(U,) each user's option (local index), -1 for refused, from 0/1 values of z (rounded at 0.5)."""
        out = np.full(self.num_users, -1, dtype=np.int64)
        picked = np.flatnonzero(np.asarray(z) > 0.5)
        out[self.owner[picked]] = picked
        return out

    def option_ids(self, chosen: np.ndarray) -> np.ndarray:
        """(U,) the choice as indices of the slot's option table (-1 refused)."""
        chosen = np.asarray(chosen, dtype=np.int64)
        out = np.full(chosen.size, -1, dtype=np.int64)
        out[chosen >= 0] = self.ids[chosen[chosen >= 0]]
        return out

    def value_of(self, chosen: np.ndarray) -> float:
        """The part's objective for a choice per user (local option, -1 refused): :func:`plans.slot_value` with
        every other user of the slot refused, less those refusals."""
        full = np.full(self.opts.users.size, -1, dtype=np.int64)
        full[self.pos] = self.option_ids(chosen)
        others = self.opts.users.size - self.num_users
        return slot_value(self.opts, full) - self.refusal_value * others

    def fits(self, chosen: np.ndarray) -> bool:
        """Whether the models the choice needs fit every edge's memory."""
        need = np.zeros(self.num_pairs, dtype=bool)
        c = np.asarray(chosen)
        c = c[c >= 0]
        need[self.pair_of[c][self.pair_of[c] >= 0]] = True
        used = np.bincount(self.pair_edge[need], weights=self.pair_memory[need], minlength=self.edge_memory.size)
        return bool((used <= self.edge_memory * (1 + 1e-9)).all())


def parts_of(inst: Instance, t: int, split: bool = True) -> list[Part]:
    """The independent parts of slot ``t`` (one part, the whole slot, with ``split=False``), each with at
    least one requesting user."""
    opts = inst.options(t)
    U = opts.users.size
    if U == 0:
        return []
    pos_of_user = np.zeros(int(opts.users.max()) + 1, dtype=np.int64)  # user id -> its position in opts.users
    pos_of_user[opts.users] = np.arange(U)
    opt_pos = pos_of_user[np.asarray(opts.user, dtype=np.int64)]
    if split:
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        R = 3 * inst.num_edges
        used = opts.cost > 0
        rows = [opt_pos[np.flatnonzero(used[:, j])] for j in range(3)]
        cols = [U + opts.resource[used[:, j], j] for j in range(3)]
        on_edge = np.flatnonzero(opts.place == EDGE)
        rows.append(opt_pos[on_edge])
        cols.append(U + R + opts.edge[on_edge])  # an edge's memory is a node of its own
        r, c = np.concatenate(rows), np.concatenate(cols)
        n = U + R + inst.num_edges
        graph = coo_matrix((np.ones(r.size), (r, c)), shape=(n, n))
        _, label = connected_components(graph, directed=False)
        groups = [np.flatnonzero(label[:U] == lab) for lab in np.unique(label[:U])]
    else:
        groups = [np.arange(U)]
    return [_part(inst, t, opts, pos, opt_pos) for pos in groups]


def _part(inst: Instance, t: int, opts: Options, pos: np.ndarray, opt_pos: np.ndarray) -> Part:
    local_user = np.full(opts.users.size, -1, dtype=np.int64)
    local_user[pos] = np.arange(pos.size)
    ids = np.flatnonzero(local_user[opt_pos] >= 0)
    owner = local_user[opt_pos[ids]]
    cost = opts.cost[ids]
    used = cost > 0
    o_idx, j_idx = np.nonzero(used)
    res_global = opts.resource[ids][o_idx, j_idx]
    resource_ids, res_local = np.unique(res_global, return_inverse=True)
    on_edge = opts.place[ids] == EDGE
    pair_key = opts.edge[ids] * inst.num_models + opts.model[ids]
    pairs, pair_local = np.unique(pair_key[on_edge], return_inverse=True)
    pair_of = np.full(ids.size, -1, dtype=np.int64)
    pair_of[np.flatnonzero(on_edge)] = pair_local
    edges, pair_edge = np.unique(pairs // inst.num_models, return_inverse=True)
    # A user's options that need one (edge, model) pair: one row sum_o z_o <= y_pair each (tighter than z_o <= y).
    link_opts = np.flatnonzero(on_edge)
    P = max(pairs.size, 1)
    keys, link_group = np.unique(owner[link_opts] * P + pair_of[link_opts], return_inverse=True)
    return Part(t=t, opts=opts, pos=pos, ids=ids, owner=owner, value=np.asarray(opts.value[ids], dtype=float),
                refusal_value=float(opts.refusal_value), resource_ids=resource_ids,
                root_rows=res_local.astype(np.int64), root_cols=o_idx.astype(np.int64),
                root_vals=np.sqrt(cost[o_idx, j_idx]), pair_of=pair_of, pair_edge=pair_edge.astype(np.int64),
                pair_memory=np.asarray(inst.model_memory_gb[pairs % inst.num_models], dtype=float),
                edge_memory=np.asarray(inst.edge_memory_gb[edges], dtype=float), link_opts=link_opts,
                link_group=link_group.astype(np.int64), link_pair=(keys % P).astype(np.int64))


# -- a quick feasible choice -------------------------------------------------------------------------------
def option_resources(part: Part) -> tuple[np.ndarray, np.ndarray]:
    """(O, 3) each option's resources (padded with ``num_resources``, a resource that stays 0) and (O, 3) the
    square roots of its costs on them (0 in the padding), from whole arrays (a Python loop over the part's
    nonzeros took 1.2 s at 500,000 options)."""
    res = np.full((part.num_options, 3), part.num_resources, dtype=np.int64)
    root = np.zeros((part.num_options, 3))
    order = np.argsort(part.root_cols, kind="stable")
    cols = part.root_cols[order]
    slot = np.arange(cols.size) - np.searchsorted(cols, cols, side="left")  # rank among the option's nonzeros
    res[cols, slot] = part.root_rows[order]
    root[cols, slot] = part.root_vals[order]
    return res, root


def greedy_choice(part: Part) -> np.ndarray:
    """A feasible choice quickly: users in turn (most valuable best option first) take the option that adds
    most to the part's objective given the others' choices (refusal when nothing beats it), never loading a
    model that does not fit. A starting incumbent, and the plan of a part no search reached."""
    chosen = np.full(part.num_users, -1, dtype=np.int64)
    s = np.zeros(part.num_resources + 1)  # the last entry stands for "no resource" and stays 0
    load = np.zeros(part.num_pairs + 1, dtype=bool)
    used = np.zeros(part.edge_memory.size)
    res, root = option_resources(part)
    pair_edge = np.append(part.pair_edge, 0)
    pair_memory = np.append(part.pair_memory, 0.0)
    best_alone = np.full(part.num_users, -np.inf)
    np.maximum.at(best_alone, part.owner, part.value)
    by_user = np.argsort(part.owner, kind="stable")
    starts = np.searchsorted(part.owner[by_user], np.arange(part.num_users + 1))
    for u in np.argsort(-best_alone, kind="stable"):
        mine = by_user[starts[u]:starts[u + 1]]
        if mine.size == 0:
            continue
        p = part.pair_of[mine]
        e = pair_edge[p]
        fits = (p < 0) | load[p] | (used[e] + pair_memory[p] <= part.edge_memory[e] * (1 + 1e-9)) if used.size else (
            p < 0)
        before = s[res[mine]]
        gain = part.value[mine] - ((before + root[mine]) ** 2 - before ** 2).sum(axis=1)
        gain = np.where(fits, gain, -np.inf)
        k = int(np.argmax(gain))
        if gain[k] > part.refusal_value:
            o = mine[k]
            chosen[u] = o
            np.add.at(s, res[o], root[o])
            s[-1] = 0.0
            if part.pair_of[o] >= 0 and not load[part.pair_of[o]]:
                load[part.pair_of[o]] = True
                used[part.pair_edge[part.pair_of[o]]] += part.pair_memory[part.pair_of[o]]
    return chosen


# -- bounds without a search -------------------------------------------------------------------------------
def trivial_bound(part: Part) -> float:
    """Every user alone with whole resources (x_j = 1: each cost counts once) takes its best option or is
    refused: an upper bound on the part's optimum, found at once."""
    alone = part.value.copy()
    np.add.at(alone, part.root_cols, -part.root_vals ** 2)
    best = np.full(part.num_users, part.refusal_value)
    np.maximum.at(best, part.owner, alone)
    return float(best.sum())


def relaxation_bound(parts: list[Part], seconds: float | None = None) -> list[float] | None:
    """Upper bounds on the optima of ``parts`` from the convex relaxation (z, y in [0, 1]) solved by CVXPY with
    Clarabel: max sum_o value_o z_o + refusal * (U - sum_o z_o) - sum_r s_r^2 over the relaxed assignment,
    linking and memory rows. It equals the program at every 0/1 point, so its optimum bounds it. All the parts
    go into one problem (they share nothing: each part's term at the optimum is its own relaxation's optimum),
    and each value is widened by ``RELAXATION_SLACK`` (Clarabel's duality-gap tolerance). None if it fails or
    ``seconds`` run out."""
    if not parts:
        return []
    from edgeopt.allocation import import_cvxpy

    try:
        cp = import_cvxpy()
    except ImportError:
        return None
    terms, constraints = [], []
    for part in parts:
        z = cp.Variable(part.num_options, nonneg=True)
        constraints.append(part.user_rows() @ z <= 1)
        if part.num_pairs:
            y = cp.Variable(part.num_pairs, nonneg=True)
            constraints += [y <= 1, memory_matrix(part) @ y <= part.edge_memory, link_matrix(part, z, y)]
        term = (part.value - part.refusal_value) @ z
        if part.num_resources:
            term = term - cp.sum_squares(part.roots() @ z)
        terms.append(term)
    problem = cp.Problem(cp.Maximize(cp.sum(cp.hstack(terms))), constraints)
    try:
        problem.solve(solver="CLARABEL", **({} if seconds is None else {"time_limit": max(float(seconds), 1e-3)}))
    except cp.error.SolverError:
        return None
    if problem.status != cp.OPTIMAL or problem.value is None:
        return None
    values = [float(term.value) + part.refusal_value * part.num_users for term, part in zip(terms, parts)]
    return [v + RELAXATION_SLACK * max(1.0, abs(v)) for v in values]


relaxation_bound.what = "the convex relaxation (Clarabel)"


def memory_matrix(part: Part):
    import scipy.sparse as sp

    return sp.csr_matrix((part.pair_memory, (part.pair_edge, np.arange(part.num_pairs))),
                         shape=(part.edge_memory.size, part.num_pairs))


def link_matrix(part: Part, z, y):
    """The CVXPY constraint sum_{o of user u needing pair p} z_o <= y_p, one row per (u, p)."""
    import scipy.sparse as sp

    G = part.link_pair.size
    A = sp.csr_matrix((np.ones(part.link_opts.size), (part.link_group, part.link_opts)), shape=(G, part.num_options))
    B = sp.csr_matrix((np.ones(G), (np.arange(G), part.link_pair)), shape=(G, part.num_pairs))
    return A @ z <= B @ y


# -- the loop over slots and parts -------------------------------------------------------------------------
@dataclass
class PartAnswer:
    """What a method found for one part: a choice (local options, -1 refused), an upper bound on the part's
    optimum (None: none proven), whether it proved the choice optimal, and its own words."""

    chosen: np.ndarray
    bound: float | None
    proven: bool
    raw: str
    stopped: bool = False  # the time limit stopped it
    stats: dict = field(default_factory=dict)


#: The least time, in seconds, the bound of the parts left without one gets after the deadline (plus 2 % of the
#: time limit): enough for the LP or convex relaxation of small parts, and a bounded overrun on a huge part
#: whose relaxation cannot finish anyway (0.5 s let offload-miqp end 2.5 s past a 3-s limit at 500,000 options).
FALLBACK_FLOOR = 0.25


def solve_by_parts(solver, inst: Instance, solve_part: Callable[[Part, float | None], PartAnswer], *,
                   split: bool, time_limit: float | None, started: float,
                   fallback_bound: Callable[[list[Part], float | None], list | None] | None = None,
                   fallback_seconds: float = 0.0) -> Result:
    """Solve every part of every slot with ``solve_part(part, until)`` (``until``: the perf_counter deadline of
    the whole call) and assemble the Result: the choices' plan, the summed true objective (slot_value) and
    bounds, status ``optimal`` only if every part was proven at gap 0.

    A part the time limit reached before it started gets the greedy choice. The parts left without a bound
    get ``fallback_bound(parts, seconds)`` (a bound per part, None where it has none; all at once, given what
    is left of the limit but at least ``fallback_seconds``), else the trivial bound."""
    until = deadline(started, time_limit)
    parts = [p for t in range(inst.slots) for p in parts_of(inst, t, split)]
    build = time.perf_counter() - started
    t0 = time.perf_counter()
    chosen = [np.full(inst.options(t).users.size, -1, dtype=np.int64) for t in range(inst.slots)]
    answers: list[PartAnswer] = []
    for part in parts:
        if part.num_options == 0:  # users nothing can serve: refused, and that is all there is
            answers.append(PartAnswer(np.full(part.num_users, -1, dtype=np.int64), part.value_of(
                np.full(part.num_users, -1, dtype=np.int64)), True, "nothing can serve these users"))
        elif until is not None and time.perf_counter() >= until:
            answers.append(PartAnswer(greedy_choice(part), None, False, "not reached before the time limit",
                                      stopped=True))
        else:
            answers.append(solve_part(part, until))
        a = answers[-1]
        chosen[part.t][part.pos] = part.option_ids(a.chosen)
    objective = float(sum(slot_value(inst.options(t), chosen[t]) for t in range(inst.slots)))
    # Each part's bound is at least its incumbent's true value: a proven bound below it is a tolerance effect.
    bounds = [None if a.bound is None else max(a.bound, parts[i].value_of(a.chosen)) for i, a in enumerate(answers)]
    missing = [i for i, b in enumerate(bounds) if b is None]
    how = ""
    if missing:
        left = None if until is None else max(until - time.perf_counter(), fallback_seconds)
        relaxed = None if fallback_bound is None else fallback_bound([parts[i] for i in missing], left)
        relaxed = relaxed if relaxed is not None else [None] * len(missing)
        for i, b in zip(missing, relaxed):
            bounds[i] = b if b is not None else trivial_bound(parts[i])
        got = sum(b is not None for b in relaxed)
        how = "".join([f"; {got} part(s) bounded by {getattr(fallback_bound, 'what', 'a relaxation')}" if got else "",
                       f"; {len(missing) - got} part(s) bounded trivially (each user alone)" if got < len(missing)
                       else ""])
    bound = float(sum(bounds))
    proven = all(a.proven for a in answers)
    stopped = any(a.stopped for a in answers)
    if proven:
        status, bound = Status.OPTIMAL, max(bound, objective)
    else:
        status = Status.TIME_LIMIT if stopped else Status.FEASIBLE
    gap = relative_gap(objective, bound, inst.sense)
    words = sorted({a.raw for a in answers})
    raw = f"{len(parts)} part(s) in {inst.slots} slot(s): " + "; ".join(words[:3]) + (
        f" (+{len(words) - 3} more)" if len(words) > 3 else "") + how
    extra = {"parts": len(parts), "proven_parts": int(sum(a.proven for a in answers)),
             "part_stats": [dict(slot=parts[i].t, users=parts[i].num_users, options=parts[i].num_options,
                                 bound=bounds[i], proven=a.proven, **a.stats) for i, a in enumerate(answers)]}
    return Result(status=status, solver=solver.name, objective=objective, bound=bound, gap=gap,
                  solution=plan(inst, chosen), build_seconds=build, solve_seconds=time.perf_counter() - t0,
                  raw_status=raw, extra=extra)
