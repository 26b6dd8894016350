"""Request routing and capacity repair for given stored/loaded decisions, shared by the deployment heuristics.

The heuristics choose only *which models are where*; everything else follows from that choice here:

* :func:`repair` makes stored/loaded decisions respect the capacities that do not depend on routing
  (loaded implies stored, storage, GPU memory, backhaul, and the GPU-seconds that loads take), dropping
  the least valuable models first;
* :func:`route` derives the request routing: per slot and edge the compute left after loads, then a
  greedy assignment by saving against the cloud per GPU-second;
* :func:`plan_cost` prices whole batches of plans at once, the same sum as the evaluator's objective.

The greedy routing rule
-----------------------
A *candidate* is a route (a region at its own edge, or a region at a linked neighbour edge) for one
model. Its *saving* is what one request saves by being served there instead of in the cloud,
``cost_cloud[r, m] - cost_local[r, m]`` (or ``- cost_neighbour[p, m]``). Compute is the scarce
resource, and a request of model ``m`` takes ``edge_inference_seconds[m]`` of it, so candidates are
ranked by saving per GPU-second, the fractional-knapsack rule; a candidate that saves nothing is never
used when the cloud is on. In rank order, each candidate takes as many of its region's remaining
requests as the model being loaded there and the edge's compute left allow. Requests still left go to
the cloud; with the cloud disabled they make the plan unroutable (``route`` returns None).

With the cloud disabled there is no cloud price to save against; the rank then uses an "unserved"
price larger than any route's cost, which ranks requests by how many fit per GPU-second (serve as many
as possible), then by cost, and all local routes come before any neighbour route: each region is
first served by its own edge, and a neighbour's spare compute is shared out after that. Requests
still left are then given room by moving requests of other models or regions away from an edge
that could serve them to another edge of their own region (:func:`_make_room`, one level of
rerouting). This is not a max-flow: it can leave requests unserved that a cleverer routing would
fit; the genetic algorithm copes through its penalty.

The rank order depends on the instance only, not on the decisions, so it is computed once and cut
into *levels*: sets of candidates sharing neither an edge nor a (region, model) demand, processed one
level at a time as whole arrays. Processing by levels gives exactly the sequential greedy, because
every candidate comes after all earlier candidates it competes with; and every level is vectorized
over slots and over a batch of plans (a genetic algorithm's whole population).
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np

from edgeopt.families.deployment.instance import Instance, Solution, switched_on

#: Slack on compute when converting GPU-seconds to whole requests (well inside the evaluator's 1e-6).
_EPS = 1e-9
#: Relative slack of every capacity check of the heuristics (well inside the evaluator's 1e-6); one
#: value for all, so that a plan the greedy packs is never cut by :func:`repair`.
CAP_TOL = 1e-9


def fits(used, cap):
    """Whether a use stays within a capacity, with the heuristics' slack."""
    return used <= cap + CAP_TOL * np.maximum(1.0, cap)


@dataclass(frozen=True)
class Context:
    """What the routing and repair of one instance need, computed once per instance."""

    route_region: np.ndarray  # (R + P,) the region each route serves: local routes first, then pairs
    route_edge: np.ndarray  # (R + P,) the edge that serves it
    route_cost: np.ndarray  # (R + P, M) cost of one request on that route
    saving: np.ndarray  # (R + P, M) cost saved per request against the cloud (or the unserved price)
    # One level of the greedy order: rows (route*M + model), (region*M + model), edge, (edge*M + model),
    # and the GPU-seconds per request (n, 1) of its candidates.
    levels: tuple
    value: np.ndarray  # (E, M, T) what loading the model on the edge could save in the slot (an upper bound)
    unserved_price: float  # price of a request no edge serves when the cloud is disabled
    region_routes: tuple  # per region, its route indices (its own edge first)
    edge_routes: tuple  # per edge, the indices of the routes it serves


_CONTEXTS: "weakref.WeakKeyDictionary[Instance, Context]" = weakref.WeakKeyDictionary()


def context(inst: Instance) -> Context:
    """The instance's routing context (cached for as long as the instance lives)."""
    ctx = _CONTEXTS.get(inst)
    if ctx is None:
        ctx = _CONTEXTS[inst] = _build_context(inst)
    return ctx


def _build_context(inst: Instance) -> Context:
    R, M = inst.num_regions, inst.num_models
    route_region = np.concatenate([np.arange(R), inst.pair_region]).astype(np.int64)
    route_edge = np.concatenate([inst.region_edge, inst.pair_edge]).astype(np.int64)
    route_cost = np.concatenate([inst.cost_local, inst.cost_neighbour], axis=0)
    if inst.cloud_enabled:
        unserved = 0.0
        saving = inst.cost_cloud[route_region] - route_cost
    else:
        # Any served request must beat an unserved one, so the price exceeds every route's cost.
        unserved = 2.0 * float(max(route_cost.max(initial=0.0), inst.cost_cloud.max(initial=0.0))) + 1.0
        saving = unserved - route_cost

    asked = inst.demand.sum(axis=2)[route_region] > 0  # (R + P, M): routes that ever carry requests
    ok = asked & (saving > 0)
    i_idx, m_idx = np.nonzero(ok)
    ratio = saving[i_idx, m_idx] / inst.edge_inference_seconds[m_idx]
    # Best ratio first; ties by the cheaper route, then by index, so the order is fully deterministic.
    # Without the cloud, every region is first served by its own edge: a neighbour's spare compute is
    # handed out only after that, so no neighbour takes the compute a region has no other way to get.
    neighbour_route = (i_idx >= R) if not inst.cloud_enabled else np.zeros(i_idx.size, dtype=bool)
    order = np.lexsort((m_idx, i_idx, route_cost[i_idx, m_idx], -ratio, neighbour_route))
    i_idx, m_idx = i_idx[order], m_idx[order]
    e_idx, r_idx = route_edge[i_idx], route_region[i_idx]

    # Level of a candidate: one past the last level that used its edge or its (region, model) demand.
    level = np.empty(i_idx.size, dtype=np.int64)
    edge_last: dict[int, int] = {}
    demand_last: dict[tuple[int, int], int] = {}
    for k, (e, r, m) in enumerate(zip(e_idx.tolist(), r_idx.tolist(), m_idx.tolist())):
        lv = max(edge_last.get(e, -1), demand_last.get((r, m), -1)) + 1
        level[k] = edge_last[e] = demand_last[(r, m)] = lv
    levels = []
    if level.size:
        by_level = np.argsort(level, kind="stable")
        bounds = np.searchsorted(level[by_level], np.arange(level.max() + 2))
        for a, b in zip(bounds[:-1], bounds[1:]):
            k = by_level[a:b]
            levels.append((i_idx[k] * M + m_idx[k], r_idx[k] * M + m_idx[k], e_idx[k], e_idx[k] * M + m_idx[k],
                           inst.edge_inference_seconds[m_idx[k]][:, None]))

    value = np.zeros((inst.num_edges, M, inst.slots))
    np.add.at(value, route_edge, inst.demand[route_region] * np.maximum(saving, 0.0)[:, :, None])
    for a in (route_region, route_edge, route_cost, saving, value):
        a.setflags(write=False)
    region_routes = tuple([r] + [R + p for p in np.flatnonzero(inst.pair_region == r).tolist()] for r in range(R))
    edge_routes = tuple(np.flatnonzero(route_edge == e).tolist() for e in range(inst.num_edges))
    return Context(route_region, route_edge, route_cost, saving, tuple(levels), value, unserved, region_routes,
                   edge_routes)


# -- repair ----------------------------------------------------------------------------------------
def _batch(a: np.ndarray) -> tuple[np.ndarray, bool]:
    a = np.asarray(a, dtype=bool)
    return (a[None], True) if a.ndim == 3 else (a, False)


def _keep_prefix(chosen: np.ndarray, size: np.ndarray, cap: np.ndarray, priority: np.ndarray) -> np.ndarray:
    """Drop the lowest-priority chosen items until the rest fit: keep the longest prefix, in priority
    order, whose sizes sum to at most ``cap``. Models are the last axis; every other axis is independent."""
    order = np.argsort(-np.broadcast_to(priority, chosen.shape), axis=-1, kind="stable")
    sizes = np.take_along_axis(np.where(chosen, size, 0.0), order, axis=-1)
    ok = fits(np.cumsum(sizes, axis=-1), cap[..., None])
    keep = np.empty_like(chosen)
    np.put_along_axis(keep, order, ok, axis=-1)
    return chosen & keep


def repair(inst: Instance, stored: np.ndarray, loaded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Make stored/loaded decisions satisfy every capacity that routing cannot fix.

    Takes (E, M, T) arrays, or (B, E, M, T) for a batch of plans, and returns new arrays of the same
    shape. In order: a loaded model is also stored; storage per edge and slot holds the loaded models
    first and drops models by value per GB; GPU memory unloads models by value per GB; then slot by
    slot (downloads and loads depend on the slot before) the downloads must take at most the slot's
    seconds of backhaul (models dropped by value per download-second) and the loads at most the
    edge's compute (models unloaded by value per load-second). "Value" is what loading the model on
    that edge in that slot could save against the cloud (:attr:`Context.value`).
    """
    ctx = context(inst)
    x, single = _batch(stored)
    y, _ = _batch(loaded)
    x = x | y
    M, T = inst.num_models, inst.slots
    value = np.moveaxis(ctx.value, 2, 1)[None]  # (1, E, T, M): models last for the prefix rule
    xs, ys = np.moveaxis(x, 3, 2), np.moveaxis(y, 3, 2)  # (B, E, T, M)

    tiny = 1e-12
    # A loaded model outranks every stored-only one: dropping it from storage would also unload it.
    above = value.max(initial=0.0) / inst.model_storage_gb.min() + 1.0
    prio = value / inst.model_storage_gb + np.where(ys, above, 0.0)
    xs = _keep_prefix(xs, inst.model_storage_gb,
                      np.broadcast_to(inst.edge_storage_gb[None, :, None], xs.shape[:-1]), prio)
    ys = ys & xs
    ys = _keep_prefix(ys, inst.model_gpu_memory_gb,
                      np.broadcast_to(inst.edge_gpu_memory_gb[None, :, None], ys.shape[:-1]),
                      value / inst.model_gpu_memory_gb)

    prev_x = np.broadcast_to(inst.initial_stored, xs.shape[:2] + (M,))
    prev_y = np.broadcast_to(inst.initial_loaded, ys.shape[:2] + (M,))
    dl_prio = value / (inst.download_seconds[None, :, None, :] + tiny)
    ld_prio = value / (inst.load_seconds + tiny)
    for t in range(T):
        new = xs[:, :, t] & ~prev_x
        ok = _keep_prefix(new, inst.download_seconds[None], np.full(new.shape[:2], inst.slot_seconds),
                          dl_prio[:, :, t])
        xs[:, :, t] &= ~(new & ~ok)
        ys[:, :, t] &= xs[:, :, t]
        new = ys[:, :, t] & ~prev_y
        ok = _keep_prefix(new, inst.load_seconds, np.broadcast_to(inst.compute_seconds, new.shape[:2]),
                          ld_prio[:, :, t])
        ys[:, :, t] &= ~(new & ~ok)
        prev_x, prev_y = xs[:, :, t], ys[:, :, t]
    x, y = np.ascontiguousarray(np.moveaxis(xs, 2, 3)), np.ascontiguousarray(np.moveaxis(ys, 2, 3))
    return (x[0], y[0]) if single else (x, y)


# -- routing ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Routing:
    """Routed requests of a batch of plans: served (B, R + P, M, T) per route, left (B, R, M, T) unserved
    by any edge (the cloud's share when it is on), and whether each plan's loads fit its compute."""

    served: np.ndarray
    left: np.ndarray
    loads_fit: np.ndarray  # (B,) bool


def assign(inst: Instance, loaded: np.ndarray) -> Routing:
    """The greedy routing (module docstring) of a batch of loaded decisions (B, E, M, T)."""
    ctx = context(inst)
    y = np.asarray(loaded, dtype=bool)
    B = y.shape[0]
    E, R, M, T = inst.num_edges, inst.num_regions, inst.num_models, inst.slots
    I = R + inst.num_pairs
    cap = inst.compute_seconds[None, :, None] - np.einsum("bemt,m->bet", switched_on(y, inst.initial_loaded), inst.load_seconds)
    loads_fit = (cap >= -1e-9 * np.maximum(1.0, inst.compute_seconds[None, :, None])).all(axis=(1, 2))
    # Rows (edge, region-model, route-model) by columns (plan, slot): each level gathers whole rows.
    cap = np.maximum(cap, 0.0).transpose(1, 0, 2).reshape(E, B * T)
    left = np.broadcast_to(inst.demand[:, :, None, :], (R, M, B, T)).copy()
    left = left.reshape(R * M, B * T)
    on = np.ascontiguousarray(y.transpose(1, 2, 0, 3)).reshape(E * M, B * T)
    served = np.zeros((I * M, B * T), dtype=np.int64)
    _greedy_columns(inst, ctx, left, cap, on, served)
    served = served.reshape(I, M, B, T).transpose(2, 0, 1, 3)
    left = left.reshape(R, M, B, T).transpose(2, 0, 1, 3)
    return Routing(served, left, loads_fit)


def _greedy_columns(inst: Instance, ctx: Context, left, cap, on, served=None, cost=None, at_edge=None) -> None:
    """The greedy routing of independent (plan, slot) columns, in place: ``left`` (R*M, N) requests still
    to serve, ``cap`` (E, N) compute left, ``on`` (E*M, N) the loaded models. Writes the requests each
    candidate takes into ``served`` (I*M, N), adds their route cost to ``cost`` (N,) and the requests
    each (edge, model) serves to ``at_edge`` (E*M, N), each when given; with the cloud disabled,
    leftovers then get room by :func:`_make_room` (``served`` needed, ``at_edge`` not kept)."""
    route_cost = ctx.route_cost.reshape(-1)
    for im, rm, e, em, per in ctx.levels:
        room = np.maximum(np.floor(cap[e] / per + _EPS), 0).astype(np.int64)
        take = np.minimum(left[rm], room) * on[em]
        if served is not None:
            served[im] = take
        left[rm] -= take
        cap[e] -= take * per
        if cost is not None:
            cost += route_cost[im] @ take
        if at_edge is not None:
            at_edge[em] += take  # a level's candidates share no edge, so no (edge, model) twice
    if not inst.cloud_enabled:
        for c in np.flatnonzero(left.any(axis=0)):
            col = served[:, c], left[:, c], cap[:, c], on[:, c]
            _make_room(inst, ctx, *(a.copy() for a in col), out=col)


#: Columns routed at once by :func:`slot_costs` (bounds the memory of a large batch).
_CHUNK = 512


@dataclass(frozen=True)
class SlotCosts:
    """The greedy routing of one-slot columns, summed up (:func:`slot_costs`)."""

    cost: np.ndarray  # (N,) what the routed requests cost, plus the rest priced in the cloud
    unserved: np.ndarray  # (N,) requests left unserved with the cloud disabled (0 with it on)
    spare: np.ndarray  # (E, N) compute left after the routing
    at_edge: np.ndarray | None  # (E*M, N) requests each loaded model serves at its edge (cloud on only)


def slot_costs(inst: Instance, on: np.ndarray, cap: np.ndarray, slots: np.ndarray) -> SlotCosts:
    """The greedy routing of N one-slot columns: ``on`` (E*M, N) the loaded models, ``cap`` (E, N) the
    compute left after loads, ``slots`` (N,) the slot whose demand each column serves.

    A plan's routing cost (the routing part of :func:`plan_cost`) is the sum over its slots' columns, so
    a change of a few (edge, model, slot) decisions is priced by re-routing only the slots it touches."""
    ctx = context(inst)
    R, M = inst.num_regions, inst.num_models
    slots = np.asarray(slots, dtype=np.int64)
    N = slots.size
    cost, unserved = np.zeros(N), np.zeros(N, dtype=np.int64)
    spare = np.maximum(np.asarray(cap, dtype=float), 0.0)
    at_edge = np.zeros((inst.num_edges * M, N), dtype=np.int64) if inst.cloud_enabled else None
    demand = inst.demand.reshape(R * M, inst.slots)
    cloud = inst.cost_cloud.reshape(-1)
    for a in range(0, N, _CHUNK):
        b = min(N, a + _CHUNK)
        left = demand[:, slots[a:b]].astype(np.int64)
        c = spare[:, a:b].copy()
        if inst.cloud_enabled:
            part = np.zeros(b - a)
            served_at = np.zeros((inst.num_edges * M, b - a), dtype=np.int64)
            _greedy_columns(inst, ctx, left, c, on[:, a:b], cost=part, at_edge=served_at)
            at_edge[:, a:b] = served_at
        else:
            served = np.zeros(((R + inst.num_pairs) * M, b - a), dtype=np.int64)
            _greedy_columns(inst, ctx, left, c, on[:, a:b], served)
            part = ctx.route_cost.reshape(-1) @ served
            unserved[a:b] = left.sum(axis=0)
        spare[:, a:b] = c
        cost[a:b] = part + cloud @ left
    return SlotCosts(cost, unserved, spare, at_edge)


def _make_room(inst: Instance, ctx: Context, served, left, cap, on, *, out) -> None:
    """Serve requests the greedy left over (cloud disabled), in one (plan, slot) column, by moving
    other requests out of the way: for each edge that has the model loaded and can serve the region,
    requests of other models or regions served there move to another edge of their region that has
    their model loaded and compute left, freeing the compute the leftover needs. One level of
    rerouting, not a full augmenting-path search; it finds room where the greedy order fills an edge
    with requests that had somewhere else to go. Writes the new column into ``out``."""
    M = inst.num_models
    inf = inst.edge_inference_seconds
    edge_of = ctx.route_edge

    def fit(e, m):
        return max(int(np.floor(cap[e] / inf[m] + _EPS)), 0)

    for rm in np.flatnonzero(left).tolist():
        r, m = divmod(rm, M)
        for i in ctx.region_routes[r]:
            e = int(edge_of[i])
            if not on[e * M + m]:
                continue
            for j in ctx.edge_routes[e]:
                short = left[rm] * inf[m] - cap[e]
                if short <= 0:
                    break
                others = ctx.region_routes[int(ctx.route_region[j])]
                for m2 in np.flatnonzero(served[j * M:(j + 1) * M]).tolist():
                    if (j, m2) == (i, m):
                        continue
                    for i2 in others:
                        e2 = int(edge_of[i2])
                        short = left[rm] * inf[m] - cap[e]
                        if e2 == e or not on[e2 * M + m2] or short <= 0:
                            continue
                        k = min(int(served[j * M + m2]), fit(e2, m2), int(np.ceil(short / inf[m2] - _EPS)))
                        if k > 0:
                            served[j * M + m2] -= k
                            served[i2 * M + m2] += k
                            cap[e] += k * inf[m2]
                            cap[e2] -= k * inf[m2]
            k = min(int(left[rm]), fit(e, m))
            served[i * M + m] += k
            left[rm] -= k
            cap[e] -= k * inf[m]
            if left[rm] == 0:
                break
    for target, source in zip(out, (served, left, cap)):
        target[:] = source


def split(inst: Instance, served: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(local, neighbour) counts from per-route counts (..., R + P, M, T)."""
    R = inst.num_regions
    return served[..., :R, :, :], served[..., R:, :, :]


def route(inst: Instance, stored: np.ndarray, loaded: np.ndarray) -> Solution | None:
    """The plan with these stored/loaded decisions and the greedy routing; None if it cannot be routed.

    None means the loads alone exceed an edge's compute in some slot, or the cloud is disabled and
    the greedy left requests unserved. Capacities of the decisions themselves (storage, GPU memory,
    backhaul) are not checked here: :func:`repair` first if they may be violated.
    """
    stored = np.asarray(stored, dtype=bool)
    loaded = np.asarray(loaded, dtype=bool)
    r = assign(inst, loaded[None])
    if not r.loads_fit[0] or (not inst.cloud_enabled and r.left.any()):
        return None
    local, neighbour = split(inst, r.served[0])
    return Solution(stored=stored.copy(), loaded=loaded.copy(), local=local.copy(), neighbour=neighbour.copy(),
                    cloud=r.left[0].copy())


def unserved_requests(inst: Instance, routing: Routing) -> np.ndarray:
    """(B,) requests no edge serves in a plan whose cloud is disabled (0 for every plan when it is on)."""
    if inst.cloud_enabled:
        return np.zeros(routing.left.shape[0], dtype=np.int64)
    return routing.left.sum(axis=(1, 2, 3))


def plan_cost(inst: Instance, stored: np.ndarray, loaded: np.ndarray, routing: Routing) -> np.ndarray:
    """(B,) objective of each plan of a batch: the evaluator's sum (storage, GPU memory, switching,
    downloads, request delays and cloud price), with the requests left by the routing priced in the cloud.

    The evaluator stays the truth: a solver returns the evaluator's price of its final plan; this
    batched sum only ranks candidates (the tests check that the two agree)."""
    ctx = context(inst)
    x = np.asarray(stored, dtype=bool)
    y = np.asarray(loaded, dtype=bool)
    cost = (np.einsum("bemt,m->b", x, inst.cost_stored) + np.einsum("bemt,m->b", y, inst.cost_loaded)
            + np.einsum("bemt,m->b", switched_on(y, inst.initial_loaded), inst.cost_load)
            + np.einsum("bemt,em->b", switched_on(x, inst.initial_stored), inst.cost_download)
            + np.einsum("bimt,im->b", routing.served, ctx.route_cost)
            + np.einsum("brmt,rm->b", routing.left, inst.cost_cloud))
    return cost
