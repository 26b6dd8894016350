"""Local search over the schedules of (edge, model) rows: the memetic step of ``genetic``.

Genes are the genetic algorithm's (E, M, T): 0 = absent, 1 = stored, 2 = stored and loaded. A *row* is one
(edge, model) pair's genes over all slots. The routing is derived as everywhere
(:mod:`~edgeopt.families.deployment.solvers.routing`), and for given loaded models it falls apart by
slot, so the cost of a plan is a sum of two kinds of terms: per row, what holding, loading and
downloading its model costs; per slot, what routing that slot's requests costs. A move that rewrites a
few rows is therefore priced by re-routing only the slots where it changes a loaded model or a load
(:func:`~.routing.slot_costs`), not the whole plan.

Two neighbourhoods:

* **Row**: the best schedule of one row with every other row fixed, found exactly by dynamic programming
  over the slots. The states of a slot are the three genes; entering state ``b`` from ``a`` costs holding
  ``b``, a download if the model was not stored, a load if it was not loaded, and the slot's routing with
  the row's model unloaded, loaded since the slot before, or newly loaded (its load time taken from the
  edge's compute): at most two re-routed slot columns per row and slot besides the current one. The
  edge's storage, GPU memory, backhaul (downloads) and compute (loads), with the other rows fixed, rule
  states and transitions out, so the result needs no repair.
* **Pair**: exchange the schedules of two rows: one model's on two edges that serve a common region (a
  *relocation*: the model moves to, or is pooled on, the edge where it serves more for less), or two
  models' on one edge (a *swap*, for GPU memory that holds one of them only). These are the moves the
  row neighbourhood cannot make: each half alone makes the plan worse (loses requests, or does not fit).

A pass prices the best schedule of every row against the current plan, then applies them from the
largest gain down, each re-priced against the plan as it is by then (rows interact through the routing)
and kept only if it still lowers the cost. When a pass changes nothing, every pair exchange is priced
and applied the same way. The search ends at a plan that neither neighbourhood improves, or after
``max_passes`` passes. With the cloud disabled a request left unserved costs ``unserved_price`` (the
genetic algorithm's penalty, above any feasible plan), so no move trades served requests for cost.
Everything is deterministic: no random choice is made here.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from edgeopt.families.deployment.instance import Instance, previous
from edgeopt.families.deployment.solvers.routing import context, fits, slot_costs

#: Passes (of either neighbourhood) after which the search stops even if a move still improves.
MAX_PASSES = 50
#: A move is kept only if it lowers the cost by more than this, relative to the plan's cost.
REL_TOL = 1e-9
#: Rows whose best schedules are priced in one batch, and pair moves priced in one batch: the deadline
#: is checked between batches (a batch of 64 rows takes about 0.3 s on the largest bundled instance).
ROWS_PER_BATCH = 64
MOVES_PER_BATCH = 256


def common_reach(inst: Instance) -> np.ndarray:
    """(E, E) bool: the two edges can both serve some region (its own edge or a linked one); False on the
    diagonal. Relocations exchange a model's schedules between such edges only."""
    ctx = context(inst)
    reach = np.zeros((inst.num_regions, inst.num_edges), dtype=np.int64)
    reach[ctx.route_region, ctx.route_edge] = 1
    both = (reach.T @ reach) > 0
    np.fill_diagonal(both, False)
    return both


def row_costs(inst: Instance, edges: np.ndarray, models: np.ndarray, genes: np.ndarray) -> np.ndarray:
    """(n,) what rows cost on their own: holding the model stored and loaded, its downloads and loads
    (from the initial state before slot 0). ``genes`` (n, T) are the rows' genes on ``edges``, ``models``."""
    x, y = genes >= 1, genes == 2
    px = previous(x, inst.initial_stored[edges, models])
    py = previous(y, inst.initial_loaded[edges, models])
    return (x.sum(axis=1) * inst.cost_stored[models] + y.sum(axis=1) * inst.cost_loaded[models]
            + (x & ~px).sum(axis=1) * inst.cost_download[edges, models]
            + (y & ~py).sum(axis=1) * inst.cost_load[models])


def _uses(inst: Instance, edges: np.ndarray, models: np.ndarray, genes: np.ndarray) -> np.ndarray:
    """(4, n, T): what rows use of their edge per slot: storage GB, GPU memory GB, backhaul seconds of
    downloads, compute seconds of loads."""
    x, y = genes >= 1, genes == 2
    px = previous(x, inst.initial_stored[edges, models])
    py = previous(y, inst.initial_loaded[edges, models])
    return np.stack([x * inst.model_storage_gb[models][:, None], y * inst.model_gpu_memory_gb[models][:, None],
                     (x & ~px) * inst.download_seconds[edges, models][:, None],
                     (y & ~py) * inst.load_seconds[models][:, None]])


class Schedule:
    """A plan under local search: its genes and, kept up to date, what the moves are priced against."""

    def __init__(self, inst: Instance, genes: np.ndarray, unserved_price: float):
        self.inst = inst
        self.unserved_price = unserved_price
        self.genes = np.array(genes, dtype=np.int8)
        E, M, T = self.genes.shape
        self.capacity = np.stack([np.broadcast_to(inst.edge_storage_gb[:, None], (E, T)),
                                  np.broadcast_to(inst.edge_gpu_memory_gb[:, None], (E, T)),
                                  np.full((E, T), inst.slot_seconds),
                                  np.broadcast_to(inst.compute_seconds[:, None], (E, T))])
        self.columns = 0  # slot columns routed so far: the work done, whatever the machine
        e, m = (a.ravel() for a in np.indices((E, M)))
        self.row_cost = row_costs(inst, e, m, self.genes.reshape(E * M, T)).reshape(E, M)
        self.use = np.zeros((4, E, T))
        np.add.at(self.use, (slice(None), e), _uses(inst, e, m, self.genes.reshape(E * M, T)))
        self.route, self.spare, self.at_edge = self._route(self.on(), self.cap(), np.arange(T))

    # -- derived state ------------------------------------------------------------------------------
    def on(self) -> np.ndarray:
        """(T, E*M) the loaded models of each slot."""
        E, M, T = self.genes.shape
        return (self.genes == 2).transpose(2, 0, 1).reshape(T, E * M)

    def cap(self) -> np.ndarray:
        """(E, T) compute left after the slot's loads."""
        return self.capacity[3] - self.use[3]

    def cost(self) -> float:
        return float(self.row_cost.sum() + self.route.sum())

    def _route(self, on: np.ndarray, cap: np.ndarray, slots: np.ndarray):
        """(cost with unserved requests priced in (c,), spare compute (E, c), requests served per (edge,
        model) (E*M, c) or None with the cloud disabled) of columns: ``on`` (c, E*M), ``cap`` (E, c)."""
        r = slot_costs(self.inst, np.ascontiguousarray(on.T), cap, slots)
        self.columns += slots.size
        return r.cost + self.unserved_price * r.unserved, r.spare, r.at_edge

    # -- pricing moves ------------------------------------------------------------------------------
    def price(self, move: np.ndarray, edges: np.ndarray, models: np.ndarray, genes: np.ndarray):
        """Price moves, each rewriting one or more rows: row ``k`` of the arrays gives move ``move[k]``
        the genes (T,) of row (``edges[k]``, ``models[k]``); a move's rows are distinct. Returns
        (delta (n,) cost change of each move, inf where it breaks a capacity; slots (c,), movers (c,):
        the slots each feasible move re-routes; routed: their new routing (:meth:`_route`))."""
        inst, T = self.inst, self.genes.shape[2]
        n = int(move.max()) + 1 if move.size else 0
        old = self.genes[edges, models]
        delta = np.zeros(n)
        np.add.at(delta, move, row_costs(inst, edges, models, genes) - self.row_cost[edges, models])
        # Capacities per (move, edge): the other rows' use plus the new rows'.
        change = _uses(inst, edges, models, genes) - _uses(inst, edges, models, old)
        keys, which = np.unique(move * self.genes.shape[0] + edges, return_inverse=True)
        added = np.zeros((4, keys.size, T))
        np.add.at(added, (slice(None), which), change)
        key_edge = keys % self.genes.shape[0]
        ok_key = fits(self.use[:, key_edge] + added, self.capacity[:, key_edge]).all(axis=(0, 2))
        ok = np.ones(n, dtype=bool)
        np.logical_and.at(ok, keys // self.genes.shape[0], ok_key)
        delta[~ok] = np.inf
        # Slots whose loaded models or loads change, per feasible move.
        y_new, y_old = genes == 2, old == 2
        load_new = y_new & ~previous(y_new, self.inst.initial_loaded[edges, models])
        load_old = y_old & ~previous(y_old, self.inst.initial_loaded[edges, models])
        touched = np.zeros((n, T), dtype=bool)
        np.logical_or.at(touched, move, (y_new != y_old) | (load_new != load_old))
        touched &= ok[:, None]
        movers, slots = np.nonzero(touched)
        if not slots.size:
            return delta, slots, movers, None
        M = self.genes.shape[1]
        on = self.on()[slots]  # (c, E*M)
        cap = self.cap()[:, slots]  # (E, c)
        # Every (column, row of its move) pair: the column's move rewrites that row in that slot.
        column_of = {}
        for c, mv in enumerate(movers.tolist()):
            column_of.setdefault(mv, []).append(c)
        rows = np.flatnonzero(touched[move].any(axis=1))
        pc, pr = [], []
        for k in rows.tolist():
            cols = column_of[int(move[k])]
            pc.extend(cols)
            pr.extend([k] * len(cols))
        pc, pr = np.array(pc, dtype=np.int64), np.array(pr, dtype=np.int64)
        on[pc, edges[pr] * M + models[pr]] = y_new[pr, slots[pc]]
        np.add.at(cap, (edges[pr], pc), -(load_new[pr, slots[pc]] * 1.0 - load_old[pr, slots[pc]])
                  * inst.load_seconds[models[pr]])
        routed = self._route(on, cap, slots)
        np.add.at(delta, movers, routed[0] - self.route[slots])
        return delta, slots, movers, routed

    def apply(self, edges, models, genes, slots, routed) -> None:
        """Rewrite rows (a priced move) and take the new routing of the slots it re-routed."""
        inst = self.inst
        old = self.genes[edges, models]
        np.add.at(self.use, (slice(None), edges),
                  _uses(inst, edges, models, genes) - _uses(inst, edges, models, old))
        self.genes[edges, models] = genes
        self.row_cost[edges, models] = row_costs(inst, edges, models, genes)
        if slots.size:
            self.route[slots], self.spare[:, slots] = routed[0], routed[1]
            if self.at_edge is not None:
                self.at_edge[:, slots] = routed[2]

    def apply_improving(self, moves: list, deltas: np.ndarray, late) -> int:
        """Apply priced moves (each (edges, models, genes)) from the best down, each re-priced against
        the plan as it is by then and kept only if it still improves, until ``late()``; returns how
        many were kept."""
        kept = 0
        for i in np.argsort(deltas, kind="stable").tolist():
            if late() or not deltas[i] < -REL_TOL * max(1.0, abs(self.cost())):
                break
            e, m, g = moves[i]
            if np.array_equal(self.genes[e, m], g):
                continue
            delta, slots, _, routed = self.price(np.zeros(e.size, dtype=np.int64), e, m, g)
            if delta[0] < -REL_TOL * max(1.0, abs(self.cost())):
                self.apply(e, m, g, slots, routed)
                kept += 1
        return kept

    # -- the row neighbourhood ----------------------------------------------------------------------
    def _variants(self, edges, models, own_load, can_load, can_start):
        """(routing (n, T, 3), now (n, T)): the routing cost of each slot with each row's model unloaded
        (0), loaded since the slot before (1) or newly loaded (2, its load time taken from the edge's
        compute), and the variant of the current plan (whose routing is known).

        Variants that provably route exactly like a known one are copied, not re-routed (the greedy's
        take of a candidate is its requests or its room; see the docstring of :mod:`.routing`):
        a model that saves nothing on the edge in the slot takes no request, so loading it routes like
        leaving it out except for the compute its load takes; less compute changes nothing if the
        variant without the load left at least that much spare (no candidate at the edge would have
        less room than it took); more compute changes nothing if every candidate there took all its
        requests (spare at least the longest inference); and a loaded model that served nothing routes
        like an unloaded one. The last three hold for the greedy alone, so they are used only with the
        cloud on (without it, the rerouting of leftovers depends on the spare compute)."""
        inst = self.inst
        E, M, T = self.genes.shape
        n = edges.size
        y = self.genes[edges, models] == 2
        now = np.where(y & ~previous(y, inst.initial_loaded[edges, models]), 2, np.where(y, 1, 0))
        load = inst.load_seconds[models][:, None]
        base_spare = self.spare[edges]  # (n, T) spare compute of the row's edge in the current plan
        tol = 1e-9 * np.maximum(1.0, inst.compute_seconds[edges])[:, None]
        useless = context(inst).value[edges, models] <= 0
        routing = np.broadcast_to(self.route[None, :, None], (n, T, 3)).copy()
        spare = np.full((n, T, 3), np.nan)
        rows, slots = np.indices((n, T))
        spare[rows, slots, now] = base_spare
        need = np.ones((n, T, 3), dtype=bool)
        need[rows, slots, now] = False
        need[:, :, 1] &= can_load & ~useless
        need[:, :, 2] = False
        if inst.cloud_enabled:
            roomy = base_spare >= inst.edge_inference_seconds.max() + tol
            idle = self.at_edge[edges * M + models] == 0
            same = idle & ((now == 1) | ((now == 2) & roomy))
            need[:, :, 0] &= ~same
            spare[:, :, 0] = np.where(same, base_spare + load * (now == 2), spare[:, :, 0])
            same = (now == 2) & roomy
            need[:, :, 1] &= ~same
            spare[:, :, 1] = np.where(same, base_spare + load, spare[:, :, 1])
        self._reroute(routing, spare, need, edges, models, own_load)
        routing[:, :, 1] = np.where(useless & (now != 1), routing[:, :, 0], routing[:, :, 1])
        spare[:, :, 1] = np.where(useless & (now != 1), spare[:, :, 0], spare[:, :, 1])
        need[:, :, :2] = False
        need[:, :, 2] = (now != 2) & can_load & can_start
        if inst.cloud_enabled:
            same = need[:, :, 2] & (spare[:, :, 1] >= load + tol)
            routing[:, :, 2] = np.where(same, routing[:, :, 1], routing[:, :, 2])
            need[:, :, 2] &= ~same
        self._reroute(routing, spare, need, edges, models, own_load)
        return routing, now

    def _reroute(self, routing, spare, need, edges, models, own_load) -> None:
        """Route the variants ``need`` (n, T, 3) marks, writing their cost into ``routing`` and the spare
        compute of their row's edge into ``spare``."""
        r, t, v = np.nonzero(need)
        if not r.size:
            return
        M = self.genes.shape[1]
        col = np.arange(r.size)
        on = self.on()[t]
        on[col, edges[r] * M + models[r]] = v > 0
        cap = self.cap()[:, t]
        cap[edges[r], col] = (self.cap()[edges[r], t] + own_load[r, t]
                              - np.where(v == 2, self.inst.load_seconds[models[r]], 0.0))
        cost, left, _ = self._route(on, cap, t)
        routing[r, t, v] = cost
        spare[r, t, v] = left[edges[r], col]

    def best_rows(self, edges: np.ndarray, models: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(genes (n, T), gain (n,)): each row's best schedule with every other row fixed (dynamic
        programming over the slots, module docstring), and how much it lowers the cost."""
        inst = self.inst
        E, M, T = self.genes.shape
        n = edges.size
        cur = self.genes[edges, models]
        rows_use = _uses(inst, edges, models, cur)
        others = self.use[:, edges] - rows_use  # (4, n, T)
        cap_edge = self.capacity[:, edges]
        size = np.stack([inst.model_storage_gb[models], inst.model_gpu_memory_gb[models],
                         inst.download_seconds[edges, models], inst.load_seconds[models]])[:, :, None]
        can_store, can_load, can_download, can_start = fits(others + size, cap_edge)
        can_load &= can_store
        routing, now = self._variants(edges, models, rows_use[3], can_load, can_start)
        hold = np.stack([np.zeros(n), inst.cost_stored[models],
                         inst.cost_stored[models] + inst.cost_loaded[models]], axis=1)  # (n, 3)
        download, load = inst.cost_download[edges, models], inst.cost_load[models]
        start = np.where(inst.initial_loaded[edges, models], 2, np.where(inst.initial_stored[edges, models], 1, 0))
        best = np.full((n, 3), np.inf)
        best[np.arange(n), start] = 0.0
        back = np.zeros((n, T, 3), dtype=np.int8)
        for s in range(T):
            allowed = np.stack([np.ones(n, dtype=bool), can_store[:, s], can_load[:, s]], axis=1)
            step = np.full((n, 3, 3), np.inf)  # (row, from, to)
            for a in range(3):
                for b in range(3):
                    c = best[:, a] + hold[:, b]
                    if b >= 1 and a == 0:
                        c = np.where(can_download[:, s], c + download, np.inf)
                    if b == 2 and a != 2:
                        c = np.where(can_start[:, s], c + load + routing[:, s, 2], np.inf)
                    else:
                        c = c + routing[:, s, 1 if b == 2 else 0]
                    step[:, a, b] = np.where(allowed[:, b], c, np.inf)
            back[:, s] = np.argmin(step, axis=1)
            best = np.take_along_axis(step, back[:, s][:, None, :].astype(np.int64), axis=1)[:, 0]
        end = np.argmin(best, axis=1)
        out = np.zeros((n, T), dtype=np.int8)
        state = end
        for s in range(T - 1, -1, -1):
            out[:, s] = state
            state = back[np.arange(n), s, state]
        now_cost = self.row_cost[edges, models] + routing[np.arange(n)[:, None], np.arange(T)[None, :], now].sum(axis=1)
        return out, now_cost - best[np.arange(n), end]


@dataclass(frozen=True)
class Improved:
    """What :func:`improve` returns."""

    genes: np.ndarray  # (E, M, T) the improved plan's genes
    cost: float  # its cost (unserved requests priced in with the cloud disabled)
    passes: int  # passes made (of either neighbourhood)
    columns: int  # slot columns routed: the work done, whatever the machine
    stopped: bool  # True if the deadline stopped the search before a local optimum


def improve(inst: Instance, genes: np.ndarray, unserved_price: float, *, deadline: float | None = None,
            max_passes: int = MAX_PASSES) -> Improved:
    """``genes`` improved by the row and pair neighbourhoods (module docstring) until neither improves,
    ``max_passes`` passes were made, or ``time.perf_counter()`` reaches ``deadline`` (checked between
    batches of rows, of pair moves, and between moves)."""
    s = Schedule(inst, genes, unserved_price)
    E, M, T = s.genes.shape
    value = context(inst).value.any(axis=2)
    reach = common_reach(inst)

    def late() -> bool:
        return deadline is not None and time.perf_counter() >= deadline

    passes = 0
    while passes < max_passes and not late():
        passes += 1
        e, m = np.nonzero(value | (s.genes > 0).any(axis=2))
        moves, gains = [], []
        for a in range(0, e.size, ROWS_PER_BATCH):
            if late():
                break
            best, gain = s.best_rows(e[a:a + ROWS_PER_BATCH], m[a:a + ROWS_PER_BATCH])
            moves += [(e[a + k:a + k + 1], m[a + k:a + k + 1], best[k:k + 1]) for k in range(gain.size)]
            gains.append(gain)
        if s.apply_improving(moves, -np.concatenate(gains) if gains else np.zeros(0), late):
            continue
        moves = pair_moves(s.genes, value, reach)
        deltas = []
        for a in range(0, len(moves), MOVES_PER_BATCH):
            if late():
                break
            batch = moves[a:a + MOVES_PER_BATCH]
            delta, *_ = s.price(np.repeat(np.arange(len(batch)), 2), *(np.concatenate([mv[i] for mv in batch])
                                                                      for i in range(3)))
            deltas.append(delta)
        if not s.apply_improving(moves[:sum(d.size for d in deltas)],
                                 np.concatenate(deltas) if deltas else np.zeros(0), late):
            break
    return Improved(s.genes, s.cost(), passes, s.columns, late())


def pair_moves(genes: np.ndarray, value: np.ndarray, reach: np.ndarray) -> list:
    """Every exchange of two different rows (module docstring), each (edges (2,), models (2,), genes
    (2, T)): a model held on an edge with the same model's row on an edge sharing a region where the
    model could save something; a model held on an edge with another model's row there that could."""
    held = genes.any(axis=2)
    moves = []
    for e, m in zip(*np.nonzero(held)):
        for e2 in np.flatnonzero(reach[e] & value[:, m]).tolist():
            if (e2 > e or not held[e2, m]) and not np.array_equal(genes[e, m], genes[e2, m]):
                moves.append((np.array([e, e2]), np.array([m, m]), np.stack([genes[e2, m], genes[e, m]])))
        for m2 in np.flatnonzero(value[e]).tolist():
            if m2 != m and (m2 > m or not held[e, m2]) and not np.array_equal(genes[e, m], genes[e, m2]):
                moves.append((np.array([e, e]), np.array([m, m2]), np.stack([genes[e, m2], genes[e, m]])))
    return moves
