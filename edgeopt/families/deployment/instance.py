"""The deployment Instance (typed, read-only arrays), the Solution, and both to and from their files.

Index order everywhere: edge ``e``, model ``m``, region ``r``, neighbour pair ``p``, slot ``t``. The
math (symbols, units, objective, constraints) is in docs/formulations.md, section "deployment".
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from edgeopt.document import Document, InstanceError, check_unique, frozen, listing
from edgeopt.families.deployment.schema import KIND

SENSE = "min"
#: Where a route of a solution file sends requests to the cloud; no edge may have this name.
CLOUD = "cloud"
#: Largest model (variables) an instance may describe; beyond it the file is refused as absurd.
MAX_VARIABLES = 20_000_000


# -- instance --------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Instance(Document):
    """A validated deployment instance. Arrays are read-only; ``data`` is a copy of the file's content.

    A neighbour pair is (region, edge other than the region's own that its edge links to).
    """

    model_names: tuple[str, ...]
    edge_names: tuple[str, ...]
    region_names: tuple[str, ...]
    slots: int
    slot_seconds: float
    # models (M,)
    model_storage_gb: np.ndarray
    model_gpu_memory_gb: np.ndarray
    load_seconds: np.ndarray
    edge_inference_seconds: np.ndarray
    cloud_inference_seconds: np.ndarray
    # edges (E,)
    edge_storage_gb: np.ndarray
    edge_gpu_memory_gb: np.ndarray
    compute_seconds: np.ndarray
    access_delay_seconds: np.ndarray
    backhaul_gbps: np.ndarray
    initial_stored: np.ndarray  # (E, M) bool
    initial_loaded: np.ndarray  # (E, M) bool
    # regions (R,) and neighbour pairs (P,)
    region_edge: np.ndarray
    pair_region: np.ndarray
    pair_edge: np.ndarray
    pair_delay_seconds: np.ndarray
    demand: np.ndarray  # (R, M, T) int
    # weights and cloud
    delay_per_second: float
    storage_per_gb: float
    gpu_memory_per_gb: float
    backhaul_per_gb: float
    cloud_enabled: bool
    wan_delay_seconds: float
    cloud_cost_per_request: float

    kind = KIND
    sense = SENSE

    num_edges = property(lambda self: len(self.edge_names), doc="E")
    num_models = property(lambda self: len(self.model_names), doc="M")
    num_regions = property(lambda self: len(self.region_names), doc="R")
    num_pairs = property(lambda self: int(self.pair_region.size), doc="P: (region, linked edge) pairs")

    @property
    def num_variables(self) -> int:
        """Columns of the MILP of :func:`formulate`."""
        E, M, R, P, T = self.num_edges, self.num_models, self.num_regions, self.num_pairs, self.slots
        return 4 * E * M * T + (2 * R + P) * M * T

    # Per-request and per-slot costs in objective units (see docs/formulations.md).
    @cached_property
    def cost_local(self) -> np.ndarray:
        """(R, M): one request served at its region's own edge."""
        a = self.access_delay_seconds[self.region_edge]
        return frozen(self.delay_per_second * (a[:, None] + self.edge_inference_seconds[None, :]))

    @cached_property
    def cost_neighbour(self) -> np.ndarray:
        """(P, M): one request of the pair's region served at the pair's neighbour edge."""
        a = self.access_delay_seconds[self.region_edge[self.pair_region]] + self.pair_delay_seconds
        return frozen(self.delay_per_second * (a[:, None] + self.edge_inference_seconds[None, :]))

    @cached_property
    def cost_cloud(self) -> np.ndarray:
        """(R, M): one request served in the cloud (delay plus the cloud's price)."""
        a = self.access_delay_seconds[self.region_edge] + self.wan_delay_seconds
        return frozen(self.delay_per_second * (a[:, None] + self.cloud_inference_seconds[None, :])
                   + self.cloud_cost_per_request)

    @cached_property
    def download_seconds(self) -> np.ndarray:
        """(E, M): time to download a model's checkpoint over the edge's backhaul (GB * 8 / Gbps)."""
        return frozen(8.0 * self.model_storage_gb[None, :] / self.backhaul_gbps[:, None])

    @cached_property
    def cost_download(self) -> np.ndarray:
        """(E, M): one download of the model to the edge: its delay and its backhaul volume."""
        return frozen(self.delay_per_second * self.download_seconds
                   + self.backhaul_per_gb * self.model_storage_gb[None, :])

    @cached_property
    def cost_load(self) -> np.ndarray:
        """(M,): one load of the model from storage into GPU memory (the switching delay)."""
        return frozen(self.delay_per_second * self.load_seconds)

    @cached_property
    def cost_stored(self) -> np.ndarray:
        """(M,): keeping the model stored on an edge for one slot."""
        return frozen(self.storage_per_gb * self.model_storage_gb)

    @cached_property
    def cost_loaded(self) -> np.ndarray:
        """(M,): keeping the model loaded in an edge's GPU memory for one slot."""
        return frozen(self.gpu_memory_per_gb * self.model_gpu_memory_gb)

    def __repr__(self) -> str:
        return (f"<deployment instance {self.name!r}: {self.num_edges} edges, {self.num_models} models, "
                f"{self.num_regions} regions, {self.slots} slots, {self.num_variables} variables>")


def from_data(data: dict, source: str = "<data>") -> Instance:
    """Build an Instance from schema-valid data; raises InstanceError for every broken reference."""
    problems: list[tuple[str, str]] = []
    models, edges, regions = data["models"], data["edges"], data["regions"]
    mi = check_unique([m["name"] for m in models], "model", "models", problems)
    ei = check_unique([e["name"] for e in edges], "edge", "edges", problems)
    for i, e in enumerate(edges):
        if e["name"] == CLOUD:
            problems.append((f"edges[{i}].name", f"{CLOUD!r} is reserved for the cloud: a solution file routes "
                             f"requests 'at': {CLOUD!r} to the cloud, so an edge of that name would be read as it"))
    ri = check_unique([r["name"] for r in regions], "region", "regions", problems)
    if problems:  # a repeated name leaves references ambiguous and the index maps short of the lists: stop here
        raise InstanceError(source, problems)
    region_edge = np.zeros(len(regions), dtype=np.int64)
    for i, r in enumerate(regions):
        if r["edge"] not in ei:
            problems.append((f"regions[{i}].edge", f"no edge named {r['edge']!r} (edges: {listing(ei)})"))
        else:
            region_edge[i] = ei[r["edge"]]
    link_delay = _links(edges, ei, problems)
    init_s, init_l = _initial_state(edges, mi, problems)
    _refuse_absurd_size(data, link_delay, region_edge, problems, source)
    demand = _demand(data, mi, ri, problems)
    if problems:
        raise InstanceError(source, problems)

    pairs = sorted((r, e2) for r in range(len(regions)) for (e1, e2) in link_delay if e1 == region_edge[r])
    col = lambda items, key: frozen([x[key] for x in items])  # noqa: E731
    w, cloud = data["weights"], data["cloud"]
    inst = Instance(
        **Document.head(data),
        model_names=tuple(m["name"] for m in models), edge_names=tuple(e["name"] for e in edges),
        region_names=tuple(r["name"] for r in regions), slots=data["slots"], slot_seconds=float(data["slot_seconds"]),
        model_storage_gb=col(models, "storage_gb"), model_gpu_memory_gb=col(models, "gpu_memory_gb"),
        load_seconds=col(models, "load_seconds"), edge_inference_seconds=col(models, "edge_inference_seconds"),
        cloud_inference_seconds=col(models, "cloud_inference_seconds"),
        edge_storage_gb=col(edges, "storage_gb"), edge_gpu_memory_gb=col(edges, "gpu_memory_gb"),
        compute_seconds=col(edges, "compute_seconds"), access_delay_seconds=col(edges, "access_delay_seconds"),
        backhaul_gbps=col(edges, "backhaul_gbps"), initial_stored=frozen(init_s, bool),
        initial_loaded=frozen(init_l, bool), region_edge=frozen(region_edge, np.int64),
        pair_region=frozen([p[0] for p in pairs], np.int64), pair_edge=frozen([p[1] for p in pairs], np.int64),
        pair_delay_seconds=frozen([link_delay[(int(region_edge[r]), e2)] for r, e2 in pairs]),
        demand=frozen(demand, np.int64),
        delay_per_second=float(w["delay_per_second"]), storage_per_gb=float(w["storage_per_gb"]),
        gpu_memory_per_gb=float(w["gpu_memory_per_gb"]), backhaul_per_gb=float(w["backhaul_per_gb"]),
        cloud_enabled=bool(cloud["enabled"]), wan_delay_seconds=float(cloud["wan_delay_seconds"]),
        cloud_cost_per_request=float(cloud["cost_per_request"]),
    )
    _refuse_infinite_costs(inst, source)
    return inst


#: The cost of one download is at most this: the MILP solvers take 1e20 and beyond as infinite (HiGHS
#: stopped with status 'Unknown', SCIP refused the model). Every field within its schema range, a download
#: of 1e6 GB over 1e-6 Gbit/s at 1e9 per second of delay costs 8e21; the other costs stay below 1e16.
MAX_COST = 1e20


def _refuse_infinite_costs(inst: Instance, source: str) -> None:
    dl = inst.cost_download
    if dl.size and dl.max() >= MAX_COST:
        e, m = np.unravel_index(int(np.argmax(dl)), dl.shape)
        raise InstanceError(source, [(f"edges[{e}].backhaul_gbps", (
            f"downloading model {inst.model_names[m]!r} ({inst.model_storage_gb[m]:g} GB) over "
            f"{inst.backhaul_gbps[e]:g} Gbit/s takes {inst.download_seconds[e, m]:.3g} s and costs {dl[e, m]:.3g} "
            f"(delay_per_second x seconds + backhaul_per_gb x GB), {MAX_COST:g} or more: a number the MILP "
            "solvers take as infinite"))])


def _links(edges: list, ei: dict[str, int], problems: list) -> dict[tuple[int, int], float]:
    """(edge, linked edge) -> delay in seconds; a link to nowhere, to itself or repeated is a problem."""
    link_delay: dict[tuple[int, int], float] = {}
    for i, e in enumerate(edges):
        for j, link in enumerate(e.get("links", [])):
            where = f"edges[{i}].links[{j}].to"
            if link["to"] not in ei:
                problems.append((where, f"no edge named {link['to']!r} (edges: {listing(ei)})"))
            elif ei[link["to"]] == i:
                problems.append((where, f"an edge cannot link to itself ({link['to']!r})"))
            elif (i, ei[link["to"]]) in link_delay:
                problems.append((where, f"duplicate link to {link['to']!r}"))
            else:
                link_delay[(i, ei[link["to"]])] = float(link["delay_seconds"])
    return link_delay


def _initial_state(edges: list, mi: dict[str, int], problems: list) -> tuple[np.ndarray, np.ndarray]:
    """(E, M) stored and loaded before slot 0; a loaded model must be stored too."""
    init_s = np.zeros((len(edges), len(mi)), dtype=bool)
    init_l = np.zeros_like(init_s)
    for i, e in enumerate(edges):
        for key, arr in (("initial_stored", init_s), ("initial_loaded", init_l)):
            for j, name in enumerate(e.get(key, [])):
                if name not in mi:
                    problems.append((f"edges[{i}].{key}[{j}]", f"no model named {name!r} (models: {listing(mi)})"))
                else:
                    arr[i, mi[name]] = True
        for m in np.flatnonzero(init_l[i] & ~init_s[i]):
            problems.append((f"edges[{i}].initial_loaded", f"model {list(mi)[m]!r} is loaded but not stored "
                             "(a loaded model must also be in initial_stored)"))
    return init_s, init_l


def _refuse_absurd_size(data: dict, link_delay: dict, region_edge: np.ndarray, problems: list, source: str) -> None:
    """Refuse a model beyond MAX_VARIABLES before anything of that size (demand is R x M x T) is allocated."""
    E, M, T = len(data["edges"]), len(data["models"]), data["slots"]
    out_links = np.bincount(np.array([a for a, _ in link_delay], dtype=np.int64), minlength=E)
    nvars = 4 * E * M * T + (2 * region_edge.size + int(out_links[region_edge].sum())) * M * T
    if nvars > MAX_VARIABLES:
        raise InstanceError(source, problems + [("(top level)", f"the instance describes a model of {nvars:,} "
                                                 f"variables, more than the limit of {MAX_VARIABLES:,}; split it "
                                                 "or reduce slots")])


def _demand(data: dict, mi: dict[str, int], ri: dict[str, int], problems: list) -> np.ndarray:
    """(R, M, T) requests; every entry's region, model and length checked, one entry per pair."""
    T = data["slots"]
    demand = np.zeros((len(data["regions"]), len(data["models"]), T), dtype=np.int64)
    seen: dict[tuple[int, int], int] = {}
    for k, d in enumerate(data["demand"]):
        ok = True
        if d["region"] not in ri:
            problems.append((f"demand[{k}].region", f"no region named {d['region']!r} (regions: {listing(ri)})"))
            ok = False
        if d["model"] not in mi:
            problems.append((f"demand[{k}].model", f"no model named {d['model']!r} (models: {listing(mi)})"))
            ok = False
        if len(d["requests"]) != T:
            problems.append((f"demand[{k}].requests", f"must have one count per slot ({T}), got {len(d['requests'])}"))
            ok = False
        if ok:
            key = (ri[d["region"]], mi[d["model"]])
            if key in seen:
                problems.append((f"demand[{k}]", f"duplicate entry for region {d['region']!r} and model "
                                 f"{d['model']!r} (also demand[{seen[key]}])"))
            else:
                seen[key] = k
                demand[key[0], key[1], :] = d["requests"]
    return demand


# -- solution --------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Solution:
    """Decisions of a deployment plan. Shapes: stored/loaded (E, M, T) bool; local/cloud (R, M, T) and
    neighbour (P, M, T) request counts (int)."""

    stored: np.ndarray
    loaded: np.ndarray
    local: np.ndarray
    neighbour: np.ndarray
    cloud: np.ndarray


def empty_solution(inst: Instance) -> Solution:
    E, M, R, P, T = inst.num_edges, inst.num_models, inst.num_regions, inst.num_pairs, inst.slots
    return Solution(np.zeros((E, M, T), bool), np.zeros((E, M, T), bool), np.zeros((R, M, T), np.int64),
                    np.zeros((P, M, T), np.int64), np.zeros((R, M, T), np.int64))


def solution_to_data(inst: Instance, sol: Solution) -> dict:
    """Readable decisions: per slot and edge the stored and loaded model names; every nonzero route."""
    slots = []
    for t in range(inst.slots):
        slots.append({
            "stored": {inst.edge_names[e]: [inst.model_names[m] for m in np.flatnonzero(sol.stored[e, :, t])]
                       for e in range(inst.num_edges)},
            "loaded": {inst.edge_names[e]: [inst.model_names[m] for m in np.flatnonzero(sol.loaded[e, :, t])]
                       for e in range(inst.num_edges)},
        })
    routes = []
    for r, m, t in zip(*np.nonzero(sol.local)):
        routes.append({"region": inst.region_names[r], "model": inst.model_names[m], "slot": int(t),
                       "at": inst.edge_names[inst.region_edge[r]], "requests": int(sol.local[r, m, t])})
    for p, m, t in zip(*np.nonzero(sol.neighbour)):
        routes.append({"region": inst.region_names[inst.pair_region[p]], "model": inst.model_names[m],
                       "slot": int(t), "at": inst.edge_names[inst.pair_edge[p]],
                       "requests": int(sol.neighbour[p, m, t])})
    for r, m, t in zip(*np.nonzero(sol.cloud)):
        routes.append({"region": inst.region_names[r], "model": inst.model_names[m], "slot": int(t),
                       "at": CLOUD, "requests": int(sol.cloud[r, m, t])})
    return {"slots": slots, "routes": routes}


def solution_from_data(inst: Instance, data: dict, source: str = "<solution>") -> Solution:
    """Parse the decisions written by :func:`solution_to_data`; every bad reference is reported."""
    sol = empty_solution(inst)
    stored, loaded = sol.stored.copy(), sol.loaded.copy()
    local, neighbour, cloud = sol.local.copy(), sol.neighbour.copy(), sol.cloud.copy()
    problems: list[tuple[str, str]] = []
    ei = {n: i for i, n in enumerate(inst.edge_names)}
    mi = {n: i for i, n in enumerate(inst.model_names)}
    ri = {n: i for i, n in enumerate(inst.region_names)}
    pi = {(int(r), int(e)): p for p, (r, e) in enumerate(zip(inst.pair_region, inst.pair_edge))}
    slots = data.get("slots")
    if not isinstance(slots, list) or len(slots) != inst.slots:
        problems.append(("decisions.slots", f"must be an array of {inst.slots} slot(s)"))
        slots = []
    for t, s in enumerate(slots):
        for key, arr in (("stored", stored), ("loaded", loaded)):
            part = s.get(key, {}) if isinstance(s, dict) else None
            if not isinstance(part, dict):
                problems.append((f"decisions.slots[{t}].{key}", "must be an object edge -> model names"))
                continue
            for edge, names in part.items():
                if edge not in ei:
                    problems.append((f"decisions.slots[{t}].{key}.{edge}", "no such edge"))
                    continue
                for j, name in enumerate(names if isinstance(names, list) else []):
                    if name not in mi:
                        problems.append((f"decisions.slots[{t}].{key}.{edge}[{j}]", f"no model named {name!r}"))
                    else:
                        arr[ei[edge], mi[name], t] = True
    routes = data.get("routes", [])
    for k, route in enumerate(routes if isinstance(routes, list) else []):
        where = f"decisions.routes[{k}]"
        try:
            r, m, t, at, n = ri[route["region"]], mi[route["model"]], int(route["slot"]), route["at"], route["requests"]
        except (KeyError, TypeError, ValueError):
            problems.append((where, "needs region, model, slot, at and requests that exist in the instance"))
            continue
        if not (0 <= t < inst.slots) or not isinstance(n, int) or isinstance(n, bool) or n < 0:
            problems.append((where, "slot out of range or requests not a non-negative integer"))
        elif at == CLOUD:
            cloud[r, m, t] += n
        elif at in ei and ei[at] == inst.region_edge[r]:
            local[r, m, t] += n
        elif at in ei and (r, ei[at]) in pi:
            neighbour[pi[(r, ei[at])], m, t] += n
        else:
            problems.append((f"{where}.at", f"{at!r} cannot serve region {route['region']!r} (its edge, a linked "
                             "edge, or 'cloud')"))
    if problems:
        raise InstanceError(source, problems)
    return Solution(stored, loaded, local, neighbour, cloud)




# -- slot-to-slot state ----------------------------------------------------------------------------
def previous(state: np.ndarray, initial: np.ndarray) -> np.ndarray:
    """(..., E, M, T): the state in the slot before each slot, the initial state (E, M) before slot 0."""
    state = np.asarray(state)
    first = np.broadcast_to(initial, state.shape[:-1])[..., None]
    return np.concatenate([first, state[..., :-1]], axis=-1)


def switched_on(state: np.ndarray, initial: np.ndarray) -> np.ndarray:
    """(..., E, M, T): on in a slot and off in the slot before (a load, or a download, in that slot)."""
    state = np.asarray(state, dtype=bool)
    return state & ~previous(state, initial)
