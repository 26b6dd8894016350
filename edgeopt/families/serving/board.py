"""What a learned serving policy sees and does in one slot, in numpy: the moves of the slot's agents, the
option rows each scores, its context, the cell's global state, and the exact reward of a move. The
PettingZoo environment (env.py), the trainer and the policy solvers (solvers/mappo.py) share it; it imports
nothing but numpy and the family, and it sees only an online method's ``View`` (solvers/online.py), so
whatever is built on it keeps the information rule.

**Agents and moves.** Every edge and every user is an agent. A slot starts with one move per edge, all
edges side by side: the edge holds what it has, or loads one model it does not hold (evicting, if memory
is short, the least recently used models first). Then the users who ask move, one per cell at a time
(cells side by side), in the order of their best stand-alone value (highest first, ties by user index):
each picks one of its option rows (refuse; each option it can use) seeing what the edge holds and what the
users before it chose. Cells never interact, so each cell's moves form one trajectory over the horizon.

**Rows.** An edge's rows: ``hold`` (row 0), then ``load m`` for every model it does not hold that fits the
GPU (with the least recently used held models evicted as needed). A user's rows: ``refuse`` (row 0), then
its options in the slot's table order; an edge option whose model is not held and does not fit beside the
models the slot's choices use or loaded is forbidden (the mask), as are options with an infinite cost.
Choosing an edge option whose model is not held loads it (least recently used models evicted among those no
request of the slot uses and the slot did not load).

**Reward of a move**: the exact change of the cell's slot objective the move makes, over the episode's
``unit``: for a user, its option's value less what it adds to the squared summed roots of the cell's
resources (optimal shares), less the refusal it replaces, less its model's loading cost if it loads one,
less ``delay_per_second`` x what its GPU seconds add to the edge's backlog at the slot's end; for an edge,
minus its load's cost and the backlog the load's seconds add. The backlog an edge carries into a slot costs
``delay_per_second`` x max(0, B - slot_seconds) there before anyone moves; that cost is the consequence of
the moves before, and goes to the cell's last move of the slot before. So a cell's rewards over an episode
sum to its objective plus every request's refusal penalty, over the unit. ``unit`` is fixed per episode and
known before any request (:func:`episode_unit`): the refusal penalty, what one request is worth not losing.
A model the edge held when the slot began, dropped by a load in the slot and chosen again comes back free
(the plan never unloaded it), as the evaluator counts loads.

**Features** (``ROW_FIELDS``, ``CONTEXT_FIELDS``, ``STATE_FIELDS``): money over the unit through ``symlog``;
seconds over ``slot_seconds``; memory over the edge's. The ``myopic`` features are what the slot alone
sees; the forward-looking ones are the edge's offered load ``rho`` (an exponential average over past slots,
weight ``EMA``, of the GPU seconds the slot's requests would ask of the edge by their best edge options,
over slot_seconds), and ``drain``: the slots the edge's backlog at the slot's end would take to clear at
that load (capped at ``DRAIN_CAP``), which is how many more slots a second of backlog is charged for.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeopt.families.serving.solvers.online import Decision, View
from edgeopt.mec import CLOUD, EDGE, LOCAL

LAYOUT_VERSION = 1
ROW_FIELDS = ("edge_agent", "keep", "place_local", "place_edge", "place_cloud", "delta", "delta_vs_best",
              "is_best", "value", "needs_load", "load_cost", "load_seconds", "work", "backlog_end", "backlog_cost",
              "drain", "memory", "evictions", "demand_now", "demand_past", "gain_now", "evicted_gain", "forward_cost",
              "delta_forward", "is_best_forward")
CONTEXT_FIELDS = ("edge_agent", "cell_requests", "progress", "to_place_work", "backlog_start", "rho",
                  "free_memory", "rows", "remaining")
STATE_FIELDS = ("backlog_start", "work_so_far", "rho", "requests", "requests_left", "held_memory",
                "refusal_unit", "delay_unit", "loading_unit", "cloud", "remaining")
ROW_INPUT = len(ROW_FIELDS) + len(CONTEXT_FIELDS)
CONTEXT = len(CONTEXT_FIELDS)
STATE = len(STATE_FIELDS)
LAYOUT = {"version": LAYOUT_VERSION, "row": ROW_FIELDS, "context": CONTEXT_FIELDS, "state": STATE_FIELDS}
#: Weight of the current slot in the exponential averages of offered load and of each model's demand.
EMA = 0.3
#: The largest drain time (slots) the features report.
DRAIN_CAP = 50.0


def symlog(x):
    return np.sign(x) * np.log1p(np.abs(x))


@dataclass
class Memory:
    """What a policy remembers between the slots of one episode (all of it from slots already seen): the
    money unit, each edge's offered load and each (edge, model)'s demand, as exponential averages."""

    unit: float | None = None
    rho: np.ndarray | None = None  # (E,)
    demand: np.ndarray | None = None  # (E, M)
    slots: int = 0


@dataclass
class Move:
    """One tick's movers and their rows, flat (``mover`` in 0..B-1 per row): features (N, ROW_INPUT),
    allowed (N,), ``delta`` (N,) the exact reward of each row, ``cell`` (B,) each mover's cell, ``what`` each
    row's meaning (an option index, or for an edge a model to load; -1 hold or refuse), ``context`` (B,
    CONTEXT) and ``state`` (B, STATE) per mover."""

    kind: str  # "edge" or "user"
    cell: np.ndarray
    agent: np.ndarray  # (B,) users: the user index; edges: the edge index
    features: np.ndarray
    mover: np.ndarray
    allowed: np.ndarray
    delta: np.ndarray
    what: np.ndarray
    context: np.ndarray
    state: np.ndarray | None
    forward: np.ndarray  # (N,) each row's reward with the backlog it leaves priced over the horizon (``_forward_cost``)


def episode_unit(st, refusal_value: float) -> float:
    """The money unit of an episode, known before any request: the refusal penalty (what one request is
    worth not losing), or where refusing is free the delay weight of a slot's length, or the loading
    weight's, or 1."""
    for candidate in (-refusal_value, st.delay_per_second * st.slot_seconds, st.loading_per_second * st.slot_seconds):
        if candidate > 0 and np.isfinite(candidate):
            return float(candidate)
    return 1.0


class SlotPlay:
    """One slot of an online serving episode, played move by move (module docstring)."""

    def __init__(self, view: View, memory: Memory):
        self.view, self.mem = view, memory
        st, o = view.statics, view.options
        self.st, self.o = st, o
        E, M = st.num_edges, st.num_models
        n = o.users.size
        self.loaded = view.state.loaded.copy()
        self.used_now = np.zeros((E, M), dtype=bool)  # used by a request of the slot, or loaded in it: kept
        self.chosen = np.full(n, -1, dtype=np.int64)
        self.work = np.zeros(E)
        self.roots = np.zeros(3 * E)
        self.root = np.sqrt(o.cost)
        self.usable = np.isfinite(o.value - o.cost.sum(axis=1)) & np.isfinite(o.cost).all(axis=1)
        self.owner = np.searchsorted(o.users, o.user)
        self.alone = np.where(self.usable, o.value - o.cost.sum(axis=1), -np.inf)
        best = np.full(n, -np.inf)
        np.maximum.at(best, self.owner, self.alone)
        self.best_alone = best
        self.req_cell = st.user_edge[o.users] if n else np.zeros(0, dtype=np.int64)
        self.opt_work = np.where(o.place == EDGE, st.config_reference_seconds[o.config]
                                 / st.edge_speed[np.maximum(o.edge, 0)], 0.0)
        self.load_cost = st.loading_per_second * st.model_load_seconds
        # each request's best edge option alone: its model and work (the offered load and the demand)
        edge_opts = np.flatnonzero(self.usable & (o.place == EDGE))
        best_edge = np.full(n, -1, dtype=np.int64)
        for k in edge_opts[np.argsort(self.alone[edge_opts], kind="stable")]:
            best_edge[self.owner[k]] = k
        has = best_edge >= 0
        self.best_edge_work = (np.where(has, self.opt_work[np.maximum(best_edge, 0)], 0.0) if o.num_options
                               else np.zeros(n))
        usable_idx = np.flatnonzero(self.usable)
        by_owner = usable_idx[np.argsort(self.owner[usable_idx], kind="stable")]
        self.opts_of = np.split(by_owner, np.searchsorted(self.owner[by_owner], np.arange(1, n)))
        self.offered = np.zeros(E)
        np.add.at(self.offered, self.req_cell[has], self.opt_work[best_edge[has]])
        self.demand_now = np.zeros((E, M))
        np.add.at(self.demand_now, (self.req_cell[has], o.model[best_edge[has]]), 1.0)
        # per request and model: its best edge option with that model over its best option off the edge
        off = np.full(n, o.refusal_value)
        np.maximum.at(off, self.owner[self.usable & (o.place != EDGE)], self.alone[self.usable & (o.place != EDGE)])
        self.gain = np.zeros((E, M))
        per = {}
        for k in edge_opts:
            key = (int(self.owner[k]), int(o.model[k]))
            per[key] = max(per.get(key, -np.inf), float(self.alone[k]))
        for (i, m), v in per.items():
            self.gain[self.req_cell[i], m] += max(0.0, v - off[i])
        if memory.rho is None:
            memory.rho, memory.demand = np.zeros(E), np.zeros((E, M))
        if memory.unit is None:
            memory.unit = episode_unit(st, o.refusal_value)
        self.unit = memory.unit
        self.requests = np.bincount(self.req_cell, minlength=E).astype(float)
        self.cell_users = np.maximum(np.bincount(st.user_edge, minlength=E), 1).astype(float)
        # turns: per cell its requests with an option, by best stand-alone value
        order = np.lexsort((o.users, -best)) if n else np.zeros(0, dtype=np.int64)
        order = order[np.isfinite(best[order])]
        self.queue = [order[self.req_cell[order] == e] for e in range(E)]
        self.turn = 0
        self.edges_moved = False
        self.start_cost = -st.delay_per_second * np.maximum(0.0, view.state.backlog - st.slot_seconds)
        self.cloud = float(np.any(o.place == CLOUD))
        self.with_state = True  # False: moves carry no global state (deciding needs none; training's critic does)
        self.remaining = float(max(st.slots - view.t - 1, 0))  # slots after this one

    # -- schedule ---------------------------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        return self.edges_moved and all(self.turn >= q.size for q in self.queue)

    def movers(self) -> tuple[str, np.ndarray]:
        """("edge", the edges) first, then ("user", this tick's requests, one per cell with one left)."""
        if not self.edges_moved:
            return "edge", np.arange(self.st.num_edges)
        return "user", np.array([q[self.turn] for q in self.queue if self.turn < q.size], dtype=np.int64)

    # -- helpers ----------------------------------------------------------------------------------------------
    def _backlog_end(self, e, extra):
        return np.maximum(0.0, self.view.state.backlog[e] + self.work[e] + extra - self.st.slot_seconds)

    def _backlog_cost(self, e, extra):
        return self.st.delay_per_second * (self._backlog_end(e, extra) - self._backlog_end(e, 0.0))

    def _forward_cost(self, e, extra):
        """What ``extra`` GPU seconds on edge ``e`` would cost over the horizon if the offered load stays at
        ``rho``: every second they add to the backlog at the slot's end, charged at this slot's end and at
        each later one until the backlog would drain (never, at rho >= 1), at most to the horizon's end."""
        end = self._backlog_end(e, extra)
        spare = 1.0 - self.mem.rho[e]
        later = np.where(spare > 0, end / (self.st.slot_seconds * np.maximum(spare, 1e-9)), np.inf)
        slots = 1.0 + np.minimum(later, self.remaining)
        return self.st.delay_per_second * (end - self._backlog_end(e, 0.0)) * slots

    def potential(self, cells: np.ndarray) -> np.ndarray:
        """(B,) per cell, in units: minus what the backlog its edge will have at the slot's end (with the
        choices made so far) would cost in the slots after this one if the offered load stays at ``rho``:
        ``delay_per_second`` x that backlog x the slots until it would drain, at most to the horizon's end
        (the shaping potential of solvers/mappo.py)."""
        out = np.zeros(cells.size)
        for b, e in enumerate(cells):
            end = float(self._backlog_end(e, 0.0))
            spare = 1.0 - float(self.mem.rho[e])
            later = end / (self.st.slot_seconds * spare) if spare > 0 else np.inf
            out[b] = -self.st.delay_per_second * end * min(later, self.remaining) / self.unit
        return out

    def _drain(self, end_backlog, e):
        spare = np.maximum(1.0 - self.mem.rho[e], 1.0 / DRAIN_CAP)
        return np.minimum(end_backlog / self.st.slot_seconds / spare, DRAIN_CAP) / 10.0

    def _victims(self, e: int, m: int, protect: np.ndarray) -> list[int] | None:
        st = self.st
        free = float(st.edge_memory_gb[e] * (1 + 1e-9) - self.loaded[e].astype(float) @ st.model_memory_gb)
        if st.model_memory_gb[m] <= free:
            return []
        cands = sorted((int(j) for j in np.flatnonzero(self.loaded[e] & ~protect)),
                       key=lambda j: (self.view.last_used[e, j], j))
        out = []
        for j in cands:
            out.append(j)
            free += st.model_memory_gb[j]
            if st.model_memory_gb[m] <= free:
                return out
        return None

    def _load(self, e: int, m: int, protect: np.ndarray) -> None:
        for j in self._victims(e, m, protect):
            self.loaded[e, j] = False
        self.loaded[e, m] = True

    def _context(self, kind_edge: float, e: int, progress: float, to_place: float, rows: int) -> np.ndarray:
        st = self.st
        free = (st.edge_memory_gb[e] - self.loaded[e].astype(float) @ st.model_memory_gb) / st.edge_memory_gb[e]
        return np.array([kind_edge, self.requests[e] / self.cell_users[e], progress, to_place / st.slot_seconds,
                         self.view.state.backlog[e] / st.slot_seconds, self.mem.rho[e], free, np.log1p(rows),
                         np.log1p(self.remaining)],
                        dtype=np.float32)

    def state(self, cells: np.ndarray) -> np.ndarray:
        """(B, STATE) each cell's global state now."""
        st, u = self.st, self.unit
        sizes = np.array([q.size for q in self.queue], dtype=float)
        left = np.maximum(sizes - self.turn, 0.0) if self.edges_moved else sizes
        out = np.empty((cells.size, STATE), dtype=np.float32)
        out[:, 0] = self.view.state.backlog[cells] / st.slot_seconds
        out[:, 1] = self.work[cells] / st.slot_seconds
        out[:, 2] = self.mem.rho[cells]
        out[:, 3] = self.requests[cells] / self.cell_users[cells]
        out[:, 4] = left[cells] / self.cell_users[cells]
        out[:, 5] = self.loaded[cells].astype(float) @ st.model_memory_gb / st.edge_memory_gb[cells]
        out[:, 6:10] = [symlog(-self.o.refusal_value / u), symlog(st.delay_per_second * st.slot_seconds / u),
                        symlog(st.loading_per_second * st.slot_seconds / u), self.cloud]
        out[:, 10] = np.log1p(self.remaining)
        return out

    # -- rows -------------------------------------------------------------------------------------------------
    def rows(self) -> Move:
        kind, movers = self.movers()
        return self._edge_rows(movers) if kind == "edge" else self._user_rows(movers)

    def _finish(self, kind, cells, agents, blocks) -> Move:
        """One Move from per-mover blocks (f, allowed, delta, what, context, forward)."""
        f = np.concatenate([blk[0] for blk in blocks])
        mover = np.repeat(np.arange(len(blocks)), [blk[0].shape[0] for blk in blocks])
        return self._move(kind, cells, agents, f, mover, np.concatenate([blk[1] for blk in blocks]),
                          np.concatenate([blk[2] for blk in blocks]), np.concatenate([blk[3] for blk in blocks]),
                          np.stack([blk[4] for blk in blocks]), np.concatenate([blk[5] for blk in blocks]))

    def _move(self, kind, cells, agents, f, mover, allowed, delta, what, context, forward) -> Move:
        """The flat rows of a tick's movers with the features that compare a row with its mover's others."""
        B = len(cells)
        best = np.full(B, -np.inf)
        np.maximum.at(best, mover[allowed], delta[allowed])
        best_fwd = np.full(B, -np.inf)
        np.maximum.at(best_fwd, mover[allowed], forward[allowed])
        f[:, 5] = symlog(delta / self.unit)
        f[:, 6] = symlog(np.where(allowed, delta - best[mover], 0.0) / self.unit)
        f[:, 7] = (delta == best[mover]) & allowed
        f[:, 23] = symlog(forward / self.unit)
        f[:, 24] = (forward == best_fwd[mover]) & allowed
        feats = np.concatenate([f, context[mover]], axis=1).astype(np.float32)
        cells = np.asarray(cells, dtype=np.int64)
        return Move(kind, cells, np.asarray(agents, dtype=np.int64), feats, mover, allowed, delta, what,
                    context.astype(np.float32), self.state(cells) if self.with_state else None, forward)

    def _edge_rows(self, edges: np.ndarray) -> Move:
        st, u, R = self.st, self.unit, len(ROW_FIELDS)
        blocks = []
        nothing = np.zeros(st.num_models, dtype=bool)
        for e in edges:
            victims = {m: self._victims(e, m, nothing) for m in np.flatnonzero(~self.loaded[e])}
            models = np.array([m for m, v in victims.items() if v is not None], dtype=np.int64)
            k = models.size
            here = self._backlog_end(e, 0.0)
            f = np.zeros((1 + k, R))
            f[0, 0], f[0, 1] = 1.0, 1.0
            f[0, 13] = here / st.slot_seconds
            f[0, 15] = self._drain(here, e)
            seconds = st.model_load_seconds[models]
            end = self._backlog_end(e, seconds)
            bc = st.delay_per_second * (end - here)
            fc = self._forward_cost(e, seconds)
            lc = self.load_cost[models]
            g = f[1:]
            g[:, 0] = 1.0
            g[:, 3] = 1.0
            g[:, 9] = 1.0
            g[:, 10] = symlog(lc / u)
            g[:, 11] = seconds / st.slot_seconds
            g[:, 12] = seconds / st.slot_seconds
            g[:, 13] = end / st.slot_seconds
            g[:, 14] = symlog(bc / u)
            g[:, 15] = self._drain(end, e)
            g[:, 16] = st.model_memory_gb[models] / st.edge_memory_gb[e]
            g[:, 17] = [len(victims[m]) for m in models]
            g[:, 18] = self.demand_now[e, models] / self.cell_users[e]
            g[:, 19] = self.mem.demand[e, models] / self.cell_users[e]
            g[:, 20] = symlog(self.gain[e, models] / u)
            g[:, 21] = symlog(np.array([sum(self.gain[e, j] for j in victims[m]) for m in models]) / u)
            g[:, 22] = symlog(fc / u)
            d = np.concatenate([[0.0], -lc - bc])
            fwd = np.concatenate([[0.0], -lc - fc])
            ctx = self._context(1.0, int(e), 0.0, float(self.offered[e]), f.shape[0])
            blocks.append((f, np.ones(1 + k, dtype=bool), d, np.concatenate([[-1], models]).astype(np.int64), ctx,
                           fwd))
        return self._finish("edge", edges, edges, blocks)

    def _user_rows(self, reqs: np.ndarray) -> Move:
        st, o, u, R = self.st, self.o, self.unit, len(ROW_FIELDS)
        B = reqs.size
        groups = [self.opts_of[i] for i in reqs]
        sizes = np.array([g.size for g in groups], dtype=np.int64)
        idx = np.concatenate(groups) if B else np.zeros(0, dtype=np.int64)
        mover = np.repeat(np.arange(B), sizes)
        cells = self.req_cell[reqs]
        e = cells[mover]
        s_ = self.root[idx]
        q = o.value[idx] - (s_ * (2.0 * self.roots[o.resource[idx]] + s_)).sum(axis=1) - o.refusal_value
        on_edge = o.place[idx] == EDGE
        m = o.model[idx]
        need = on_edge & ~self.loaded[e, m]
        allowed = np.ones(idx.size, dtype=bool)
        evict = np.zeros(idx.size)
        for a in np.flatnonzero(need):
            v = self._victims(int(e[a]), int(m[a]), self.used_now[e[a]])
            if v is None:
                allowed[a] = False
            else:
                evict[a] = len(v)
        # a model the edge held when the slot began and dropped in it comes back free: the plan never unloaded it
        fresh = need & ~self.view.state.loaded[e, m]
        load_seconds = np.where(fresh, st.model_load_seconds[m], 0.0)
        seconds = np.where(on_edge, self.opt_work[idx], 0.0) + load_seconds
        # the backlog at the slot's end without the row and with it, and what the row adds to its cost now
        # and over the horizon (_backlog_end, _backlog_cost and _forward_cost, inlined: this runs every tick)
        S, lam = st.slot_seconds, st.delay_per_second
        base = self.view.state.backlog[e] + self.work[e]
        here = np.maximum(0.0, base + 0.0 - S)
        after = np.maximum(0.0, base + seconds - S)
        added = after - here
        bc = np.where(on_edge, lam * added, 0.0)
        lc = np.where(fresh, self.load_cost[m], 0.0)
        d = q - bc - lc
        end = np.where(on_edge, after, here)
        spare = 1.0 - self.mem.rho[e]
        with np.errstate(divide="ignore"):
            later = np.where(spare > 0, after / (S * np.maximum(spare, 1e-9)), np.inf)
        fc = np.where(on_edge, lam * added * (1.0 + np.minimum(later, self.remaining)), 0.0)
        g = np.zeros((idx.size, R))
        g[:, 2] = o.place[idx] == LOCAL
        g[:, 3] = on_edge
        g[:, 4] = o.place[idx] == CLOUD
        g[:, 8] = symlog((o.value[idx] - o.refusal_value) / u)
        g[:, 9] = fresh
        g[:, 10] = symlog(lc / u)
        g[:, 11] = load_seconds / st.slot_seconds
        g[:, 12] = seconds / st.slot_seconds
        g[:, 13] = end / st.slot_seconds
        g[:, 14] = symlog(bc / u)
        g[:, 15] = self._drain(end, e)
        g[:, 16] = np.where(on_edge, st.model_memory_gb[m] / st.edge_memory_gb[e], 0.0)
        g[:, 17] = evict
        g[:, 18] = np.where(on_edge, self.demand_now[e, m] / self.cell_users[e], 0.0)
        g[:, 19] = np.where(on_edge, self.mem.demand[e, m] / self.cell_users[e], 0.0)
        g[:, 22] = symlog(fc / u)
        # each mover's refusal row first, then its options
        first = np.cumsum(sizes + 1) - (sizes + 1)
        pos = np.arange(idx.size) + np.repeat(first - (np.cumsum(sizes) - sizes) + 1, sizes)
        n = int((sizes + 1).sum())
        f = np.zeros((n, R))
        f[pos] = g
        f[first, 1] = 1.0
        here_cells = self._backlog_end(cells, 0.0)
        f[first, 13] = here_cells / st.slot_seconds
        f[first, 15] = self._drain(here_cells, cells)
        all_allowed = np.ones(n, dtype=bool)
        all_allowed[pos] = allowed
        delta, forward, what = np.zeros(n), np.zeros(n), np.full(n, -1, dtype=np.int64)
        delta[pos], forward[pos], what[pos] = d, q - lc - fc, idx
        context = np.zeros((B, CONTEXT))
        free = (st.edge_memory_gb[cells] - self.loaded[cells].astype(float) @ st.model_memory_gb) / st.edge_memory_gb[cells]
        context[:, 0] = 0.0
        context[:, 1] = self.requests[cells] / self.cell_users[cells]
        context[:, 2] = self.turn / np.maximum([self.queue[c].size for c in cells], 1)
        context[:, 3] = [self.offered_of(self.queue[c][self.turn + 1:]) / st.slot_seconds for c in cells]
        context[:, 4] = self.view.state.backlog[cells] / st.slot_seconds
        context[:, 5] = self.mem.rho[cells]
        context[:, 6] = free
        context[:, 7] = np.log1p(sizes + 1)
        context[:, 8] = np.log1p(self.remaining)
        return self._move("user", cells, self.o.users[reqs], f, np.repeat(np.arange(B), sizes + 1), all_allowed, delta,
                          what, context, forward)

    def offered_of(self, reqs: np.ndarray) -> float:
        """The GPU seconds requests would ask by their best edge options alone."""
        return float(self.best_edge_work[reqs].sum())

    # -- moves ------------------------------------------------------------------------------------------------
    def apply(self, move: Move, picked: np.ndarray) -> np.ndarray:
        """Apply each mover's picked row (flat indices into ``move``'s rows); returns each mover's reward (the
        exact change of its cell's slot objective, in units)."""
        st, o = self.st, self.o
        rewards = (move.delta[picked] / self.unit).astype(np.float32)
        if move.kind == "edge":
            for e, r in zip(move.agent, picked):
                m = int(move.what[r])
                if m >= 0:
                    self._load(int(e), m, np.zeros(st.num_models, dtype=bool))
                    self.work[e] += st.model_load_seconds[m]
                    self.used_now[e, m] = True  # paid for: no request of the slot evicts it
            self.edges_moved = True
            return rewards
        reqs = np.array([q[self.turn] for q in self.queue if self.turn < q.size], dtype=np.int64)
        for i, r in zip(reqs, picked):
            k = int(move.what[r])
            if k < 0:
                continue
            e = int(self.req_cell[i])
            if o.place[k] == EDGE:
                m = int(o.model[k])
                if not self.loaded[e, m]:
                    self._load(e, m, self.used_now[e])
                    if not self.view.state.loaded[e, m]:
                        self.work[e] += st.model_load_seconds[m]
                self.used_now[e, m] = True
                self.work[e] += self.opt_work[k]
            self.chosen[i] = k
            np.add.at(self.roots, o.resource[k], self.root[k])
        self.turn += 1
        return rewards

    def decision(self) -> Decision:
        return Decision(self.chosen.copy(), self.loaded.copy())

    def remember(self) -> None:
        """Fold the slot into the episode's memory (after the slot: what the next slots may know)."""
        mem, st = self.mem, self.st
        rho = self.offered / st.slot_seconds
        mem.rho = rho if mem.slots == 0 else (1 - EMA) * mem.rho + EMA * rho
        mem.demand = self.demand_now.copy() if mem.slots == 0 else (1 - EMA) * mem.demand + EMA * self.demand_now
        mem.slots += 1


__all__ = ["CONTEXT", "CONTEXT_FIELDS", "LAYOUT", "ROW_FIELDS", "ROW_INPUT", "STATE", "STATE_FIELDS", "Memory",
           "Move", "SlotPlay"]
