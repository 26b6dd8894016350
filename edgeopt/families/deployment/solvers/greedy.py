"""The greedy deployment heuristic: load the models most requested per GB of GPU memory, then route.

Slot by slot and edge by edge (all edges at once), the models asked by the edge's own regions in the
slot are ranked by requests per GB of GPU memory and loaded in that order while they fit: GPU memory,
storage, the slot's backhaul for a model that must be downloaded, and the edge's compute for the
GPU-seconds of a model that must be loaded. A model is loaded only if what serving the edge's
requests there saves against the cloud, less the cost of holding it for the slot, exceeds its entry
cost (its load, and its download if it is not stored) spread over the slots from this one on in
which it saves something: a text-to-video model the cloud runs faster, or a model asked twice in
the whole horizon, is not worth a download.

With the cloud disabled every request must be served at an edge, so each slot starts with a
coverage step (:func:`cover`): every request asked in the slot gets an edge able to serve its
region, with the model loaded and compute reserved for it, loading the model where needed on the
edge that reaches the most requests for it; the ranking above then fills what room is left. Two
plans are built and the cheaper one that routes is kept: a *full* plan, where a request served at
its own edge saves the price of going unserved (so every asked model that fits is loaded), and a
*lean* plan, where it saves only its dearest route to a linked edge (so local copies are added only
where they pay for themselves and the coverage step pools models on well-placed edges).

Stored = loaded, plus every model stored in the slot before that the edge's regions still ask for
later, as long as storage allows (most future requests per GB first): keeping a checkpoint costs
little storage, while downloading it again costs the backhaul delay. The requests are then routed
by :func:`~.routing.route`.
"""
from __future__ import annotations

import time

import numpy as np

from edgeopt.families.deployment.evaluate import evaluate
from edgeopt.families.deployment.instance import Instance
from edgeopt.families.deployment.solvers.routing import CAP_TOL, context, fits, route
from edgeopt.registry import register_solver
from edgeopt.solver import Solver


def _fits(used, size, cap):
    return fits(used + size, cap)


class _Slot:
    """What one slot's decisions use of each edge's capacities so far."""

    def __init__(self, inst: Instance, prev_stored: np.ndarray, prev_loaded: np.ndarray):
        E, M = inst.num_edges, inst.num_models
        self.inst, self.prev_x, self.prev_y = inst, prev_stored, prev_loaded
        self.stored = np.zeros((E, M), dtype=bool)
        self.loaded = np.zeros((E, M), dtype=bool)
        self.gpu, self.disk, self.backhaul, self.busy = np.zeros(E), np.zeros(E), np.zeros(E), np.zeros(E)

    def entry(self, e, m):
        """(download seconds, load seconds) that loading model(s) m on edge(s) e would take."""
        inst = self.inst
        dl = np.where(self.prev_x[e, m], 0.0, inst.download_seconds[e, m])
        ld = np.where(self.prev_y[e, m], 0.0, inst.load_seconds[m])
        return dl, ld

    def fits(self, e, m):
        inst = self.inst
        dl, ld = self.entry(e, m)
        return (~self.loaded[e, m]
                & _fits(self.gpu[e], inst.model_gpu_memory_gb[m], inst.edge_gpu_memory_gb[e])
                & _fits(self.disk[e], np.where(self.stored[e, m], 0.0, inst.model_storage_gb[m]),
                        inst.edge_storage_gb[e])
                & _fits(self.backhaul[e], dl, inst.slot_seconds)
                & _fits(self.busy[e], ld, inst.compute_seconds[e]))

    def load(self, e, m):
        """Load model(s) m on edge(s) e (distinct edges), which must fit."""
        inst = self.inst
        dl, ld = self.entry(e, m)
        self.disk[e] += np.where(self.stored[e, m], 0.0, inst.model_storage_gb[m])
        self.gpu[e] += inst.model_gpu_memory_gb[m]
        self.backhaul[e] += dl
        self.busy[e] += ld
        self.stored[e, m] = True
        self.loaded[e, m] = True

    def keep(self, e, m):
        """Keep model(s) m stored on edge(s) e (distinct edges) where it was stored and storage fits."""
        inst = self.inst
        ok = self.prev_x[e, m] & ~self.stored[e, m] & _fits(self.disk[e], inst.model_storage_gb[m],
                                                             inst.edge_storage_gb[e])
        self.disk[e[ok]] += inst.model_storage_gb[m[ok]]
        self.stored[e[ok], m[ok]] = True


def cover(inst: Instance, slot: _Slot, t: int, reach: np.ndarray) -> None:
    """Give every request asked in slot ``t`` an edge able to serve it (cloud disabled).

    The (region, model) groups with the fewest edges able to hold their model go first, the largest
    model first among equals: they have the fewest places to go. A group's requests go, as many as
    fit, to edges that can serve the region, have the model loaded and have compute left; for the
    rest the model is loaded on another such edge with compute for the load and at least one
    request, preferring an edge that had it loaded in the slot before, then one that has it stored,
    then the edge that reaches the most requests for it (``reach`` (E, M, T): one copy then covers
    several regions), then the region's own edge. The compute the requests need is reserved on
    their edge, so later loads leave room for them. Requests that find no room are left to the
    routing.
    """
    ctx = context(inst)
    inf = inst.edge_inference_seconds
    asked = np.argwhere(inst.demand[:, :, t] > 0)
    options = np.array([np.count_nonzero(slot.fits(ctx.route_edge[ctx.region_routes[r]], m)) for r, m in asked],
                       dtype=np.int64)
    asked = asked[np.lexsort((-inst.model_gpu_memory_gb[asked[:, 1]], options))]
    for r, m in asked.tolist():
        edges = ctx.route_edge[ctx.region_routes[r]]
        left = int(inst.demand[r, m, t])
        while left > 0:
            spare = inst.compute_seconds[edges] - slot.busy[edges]
            room = np.maximum(np.floor(spare / inf[m] + CAP_TOL), 0).astype(np.int64)
            ready = slot.loaded[edges, m] & (room > 0)
            if ready.any():
                k = int(np.flatnonzero(ready)[0])
            else:
                _, ld = slot.entry(edges, m)
                room = np.maximum(np.floor((spare - ld) / inf[m] + CAP_TOL), 0).astype(np.int64)
                can = slot.fits(edges, m) & (room > 0)
                if not can.any():
                    break
                k = int(np.lexsort((np.arange(edges.size), -reach[edges, m, t], ~slot.prev_x[edges, m],
                                    ~slot.prev_y[edges, m], ~can))[0])
                slot.load(int(edges[k]), m)
            n = min(left, int(room[k]))
            slot.busy[edges[k]] += n * inf[m]
            left -= n


def pack(inst: Instance, order: np.ndarray, candidate: np.ndarray, *, gain: np.ndarray | None = None,
         horizon: np.ndarray | None = None, keep: np.ndarray | None = None,
         keep_order: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Stored and loaded (E, M, T) decisions, filled slot by slot in a given preference order.

    With the cloud disabled each slot starts with :func:`cover`. Then ``order`` (T, E, M) lists, per
    slot and edge, the models in the order they are tried; ``candidate`` (E, M, T) says which may be
    loaded at all. A model is loaded if it fits beside the ones already taken (GPU memory, storage,
    backhaul for a download, compute for a load) and, when ``gain`` (E, M, T) is given, if that gain
    exceeds its entry cost (its load, and its download if it is not stored) spread over ``horizon``
    (E, M, T) slots. Then the models stored in the slot before that ``keep`` (E, M, T) allows stay
    stored, tried in ``keep_order`` (T, E, M), while storage fits: kept models need no download.
    """
    E, M, T = inst.num_edges, inst.num_models, inst.slots
    edges = np.arange(E)
    stored = np.zeros((E, M, T), dtype=bool)
    loaded = np.zeros((E, M, T), dtype=bool)
    prev_x, prev_y = inst.initial_stored, inst.initial_loaded
    if not inst.cloud_enabled:
        ctx = context(inst)
        reach = np.zeros((E, M, T), dtype=np.int64)
        np.add.at(reach, ctx.route_edge, inst.demand[ctx.route_region])
    for t in range(T):
        slot = _Slot(inst, prev_x, prev_y)
        if not inst.cloud_enabled:
            cover(inst, slot, t, reach)
        for k in range(M):
            m = order[t, :, k]
            ok = candidate[edges, m, t] & slot.fits(edges, m)
            if gain is not None:
                entry = np.where(prev_y[edges, m], 0.0, inst.cost_load[m]) + np.where(
                    prev_x[edges, m], 0.0, inst.cost_download[edges, m])
                ok &= gain[edges, m, t] > entry / horizon[edges, m, t]
            slot.load(edges[ok], m[ok])
        if keep is not None:
            for k in range(M):
                m = keep_order[t, :, k]
                ok = keep[edges, m, t]
                slot.keep(edges[ok], m[ok])
        stored[:, :, t], loaded[:, :, t] = slot.stored, slot.loaded
        prev_x, prev_y = slot.stored, slot.loaded
    return stored, loaded


def local_value(inst: Instance, saving: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(E, M, T) requests of the edge's own regions, and what serving them at the edge saves at most,
    given the saving (R, M) of one request served at its own edge."""
    asked = np.zeros((inst.num_edges, inst.num_models, inst.slots), dtype=np.int64)
    np.add.at(asked, inst.region_edge, inst.demand)
    saves = np.zeros(asked.shape)
    np.add.at(saves, inst.region_edge, inst.demand * np.maximum(saving, 0.0)[:, :, None])
    return asked, saves


def greedy_plan(inst: Instance, *, lean: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Stored and loaded (E, M, T) decisions of the greedy rule (module docstring).

    With the cloud on, a request served at its own edge saves its cost in the cloud. With the cloud
    off it saves the cost of going unserved (the routing's unserved price) in the full plan, or, in
    the ``lean`` plan, the cost of its dearest route to a linked edge: the lean plan relies on the
    coverage step for every model and adds local copies only where they pay for themselves.
    """
    ctx = context(inst)
    R = inst.num_regions
    saving = ctx.saving[:R]
    if lean and not inst.cloud_enabled:
        dearest = inst.cost_local.copy()
        np.maximum.at(dearest, inst.pair_region, inst.cost_neighbour)
        saving = dearest - inst.cost_local
    asked, saves = local_value(inst, saving)
    per_gb = asked / inst.model_gpu_memory_gb[None, :, None]
    # Stable sort on the negated score: ties keep the catalog's model order, so the plan is deterministic.
    order = np.argsort(-per_gb, axis=1, kind="stable").transpose(2, 0, 1)
    # What one slot at the edge earns after holding the model; the entry cost (load, download) is
    # spread over the slots from this one on that earn something.
    gain = saves - (inst.cost_stored + inst.cost_loaded)[None, :, None]
    horizon = np.flip(np.cumsum(np.flip(gain > 0, axis=2), axis=2), axis=2)
    later = np.flip(np.cumsum(np.flip(asked, axis=2), axis=2), axis=2)  # requests from this slot on
    later = np.concatenate([later[:, :, 1:], np.zeros_like(later[:, :, :1])], axis=2)  # strictly after
    keep_order = np.argsort(-(later / inst.model_storage_gb[None, :, None]), axis=1,
                            kind="stable").transpose(2, 0, 1)
    return pack(inst, order, (asked > 0) & (gain > 0), gain=gain, horizon=np.maximum(horizon, 1),
                keep=later > 0, keep_order=keep_order)


def greedy_plans(inst: Instance) -> list[tuple[np.ndarray, np.ndarray]]:
    """The greedy's candidate plans: one with the cloud on; the lean and the full plan with it off."""
    if inst.cloud_enabled:
        return [greedy_plan(inst)]
    return [greedy_plan(inst, lean=True), greedy_plan(inst)]


@register_solver
class Greedy(Solver):
    """Load models by requests per GB of GPU memory while capacities fit, then route greedily."""

    name, family = "greedy", "deployment"

    def run(self, instance, options, *, time_limit, seed, started):
        context(instance)
        build = time.perf_counter() - started
        t1 = time.perf_counter()
        sol, cost = None, np.inf
        for stored, loaded in greedy_plans(instance):
            plan = route(instance, stored, loaded)
            if plan is not None and (c := evaluate(instance, plan).objective) < cost:
                sol, cost = plan, c
        if sol is None:
            return self.no_plan("the greedy loading leaves requests that no edge can serve and the cloud is disabled",
                                build_seconds=build, solve_seconds=time.perf_counter() - t1)
        return self.plan_result(instance, sol, build_seconds=build, solve_seconds=time.perf_counter() - t1,
                                raw_status="greedy plan")
