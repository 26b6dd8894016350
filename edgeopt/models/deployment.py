"""Edge model deployment: which generative models each edge stores and loads, and where requests go.

The math (symbols, units, objective, constraints) is in docs/formulations.md, section "deployment".
This module holds the schema of the instance file, the immutable :class:`Instance`, the
:class:`Solution`, the evaluator (the truth every solver is checked against), the MILP builder and
the instance generator.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from edgeopt.io import Document, InstanceError, content_hash
from edgeopt.modeling import Model, VarBlock
from edgeopt.schema import NAME, document, nonnegative, positive
from edgeopt.result import Evaluation, Violation

KIND = "deployment"
SENSE = "min"
#: Largest model (variables) an instance may describe; beyond it the file is refused as absurd.
MAX_VARIABLES = 20_000_000
#: Relative tolerance of the evaluator's capacity checks.
TOL = 1e-6

# -- schema --------------------------------------------------------------------------------------

SCHEMA = document(
    KIND, "edgeopt deployment instance",
    ["slots", "slot_seconds", "weights", "cloud", "models", "edges", "regions", "demand"],
    {
        "slots": {"type": "integer", "minimum": 1, "maximum": 10_000},
        "slot_seconds": positive(1e7),
        "weights": {
            "type": "object",
            "additionalProperties": False,
            "required": ["delay_per_second", "storage_per_gb", "gpu_memory_per_gb", "backhaul_per_gb"],
            "properties": {
                "delay_per_second": nonnegative(1e9),
                "storage_per_gb": nonnegative(1e9),
                "gpu_memory_per_gb": nonnegative(1e9),
                "backhaul_per_gb": nonnegative(1e9),
            },
        },
        "cloud": {
            "type": "object",
            "additionalProperties": False,
            "required": ["enabled", "wan_delay_seconds", "cost_per_request"],
            "properties": {
                "enabled": {"type": "boolean"},
                "wan_delay_seconds": nonnegative(1e6),
                "cost_per_request": nonnegative(1e9),
            },
        },
        "models": {
            "type": "array",
            "minItems": 1,
            "maxItems": 10_000,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "storage_gb", "gpu_memory_gb", "load_seconds", "edge_inference_seconds",
                             "cloud_inference_seconds"],
                "properties": {
                    "name": NAME,
                    "task": {"type": "string", "maxLength": 200},
                    "storage_gb": positive(1e6),
                    "gpu_memory_gb": positive(1e5),
                    "load_seconds": nonnegative(1e6),
                    "edge_inference_seconds": positive(1e6),
                    "cloud_inference_seconds": positive(1e6),
                    "sources": {"type": "object", "additionalProperties": {"type": "string"}},
                },
            },
        },
        "edges": {
            "type": "array",
            "minItems": 1,
            "maxItems": 100_000,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "storage_gb", "gpu_memory_gb", "compute_seconds", "access_delay_seconds",
                             "backhaul_gbps"],
                "properties": {
                    "name": NAME,
                    "storage_gb": positive(1e7),
                    "gpu_memory_gb": positive(1e6),
                    "compute_seconds": positive(1e9),
                    "access_delay_seconds": nonnegative(1e6),
                    "backhaul_gbps": positive(1e6),
                    "links": {
                        "type": "array",
                        "maxItems": 100_000,
                        "items": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["to", "delay_seconds"],
                            "properties": {"to": NAME, "delay_seconds": nonnegative(1e6)},
                        },
                    },
                    "initial_stored": {"type": "array", "items": NAME},
                    "initial_loaded": {"type": "array", "items": NAME},
                },
            },
        },
        "regions": {
            "type": "array",
            "minItems": 1,
            "maxItems": 1_000_000,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "edge"],
                "properties": {"name": NAME, "edge": NAME},
            },
        },
        "demand": {
            "type": "array",
            "maxItems": 10_000_000,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["region", "model", "requests"],
                "properties": {
                    "region": NAME,
                    "model": NAME,
                    "requests": {"type": "array", "minItems": 1,
                                 "items": {"type": "integer", "minimum": 0, "maximum": 1_000_000_000}},
                },
            },
        },
    },
)

_NAMES = {"type": "array", "items": NAME}

#: The ``decisions`` of a solution file (see :func:`solution_to_data`); references are checked after.
SOLUTION_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["slots", "routes"],
    "properties": {
        "slots": {"type": "array", "items": {
            "type": "object", "additionalProperties": False, "required": ["stored", "loaded"],
            "properties": {"stored": {"type": "object", "additionalProperties": _NAMES},
                           "loaded": {"type": "object", "additionalProperties": _NAMES}}}},
        "routes": {"type": "array", "items": {
            "type": "object", "additionalProperties": False,
            "required": ["region", "model", "slot", "at", "requests"],
            "properties": {"region": NAME, "model": NAME, "at": NAME,
                           "slot": {"type": "integer", "minimum": 0},
                           "requests": {"type": "integer", "minimum": 0, "maximum": 1_000_000_000}}}},
    },
}


# -- instance --------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Instance(Document):
    """A validated deployment instance. Arrays are read-only; ``data`` is a copy of the file's content.

    Index order everywhere: edge ``e``, model ``m``, region ``r``, neighbour pair ``p``, slot ``t``.
    A neighbour pair is (region, edge other than the region's own that its edge links to).
    """

    name: str
    content: dict = field(repr=False)  # the validated document; read it through ``data``
    hash: str
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

    @property
    def num_edges(self) -> int:
        return len(self.edge_names)

    @property
    def num_models(self) -> int:
        return len(self.model_names)

    @property
    def num_regions(self) -> int:
        return len(self.region_names)

    @property
    def num_pairs(self) -> int:
        return int(self.pair_region.size)

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
        return _ro(self.delay_per_second * (a[:, None] + self.edge_inference_seconds[None, :]))

    @cached_property
    def cost_neighbour(self) -> np.ndarray:
        """(P, M): one request of the pair's region served at the pair's neighbour edge."""
        a = self.access_delay_seconds[self.region_edge[self.pair_region]] + self.pair_delay_seconds
        return _ro(self.delay_per_second * (a[:, None] + self.edge_inference_seconds[None, :]))

    @cached_property
    def cost_cloud(self) -> np.ndarray:
        """(R, M): one request served in the cloud (delay plus the cloud's price)."""
        a = self.access_delay_seconds[self.region_edge] + self.wan_delay_seconds
        return _ro(self.delay_per_second * (a[:, None] + self.cloud_inference_seconds[None, :])
                   + self.cloud_cost_per_request)

    @cached_property
    def download_seconds(self) -> np.ndarray:
        """(E, M): time to download a model's checkpoint over the edge's backhaul (GB * 8 / Gbps)."""
        return _ro(8.0 * self.model_storage_gb[None, :] / self.backhaul_gbps[:, None])

    @cached_property
    def cost_download(self) -> np.ndarray:
        """(E, M): one download of the model to the edge: its delay and its backhaul volume."""
        return _ro(self.delay_per_second * self.download_seconds
                   + self.backhaul_per_gb * self.model_storage_gb[None, :])

    @cached_property
    def cost_load(self) -> np.ndarray:
        """(M,): one load of the model from storage into GPU memory (the switching delay)."""
        return _ro(self.delay_per_second * self.load_seconds)

    @cached_property
    def cost_stored(self) -> np.ndarray:
        """(M,): keeping the model stored on an edge for one slot."""
        return _ro(self.storage_per_gb * self.model_storage_gb)

    @cached_property
    def cost_loaded(self) -> np.ndarray:
        """(M,): keeping the model loaded in an edge's GPU memory for one slot."""
        return _ro(self.gpu_memory_per_gb * self.model_gpu_memory_gb)

    def __repr__(self) -> str:
        return (f"<deployment instance {self.name!r}: {self.num_edges} edges, {self.num_models} models, "
                f"{self.num_regions} regions, {self.slots} slots, {self.num_variables} variables>")


def _ro(a) -> np.ndarray:
    a = np.array(a, dtype=float) if not isinstance(a, np.ndarray) else a
    a.setflags(write=False)
    return a


def _index(names: list[str], what: str, path: str, problems: list) -> dict[str, int]:
    seen: dict[str, int] = {}
    for i, n in enumerate(names):
        if n in seen:
            problems.append((f"{path}[{i}].name", f"duplicate {what} name {n!r} (also {path}[{seen[n]}])"))
        else:
            seen[n] = i
    return seen


def from_data(data: dict, source: str = "<data>") -> Instance:
    """Build an Instance from schema-valid data; raises InstanceError for every broken reference."""
    problems: list[tuple[str, str]] = []
    models, edges, regions = data["models"], data["edges"], data["regions"]
    T = data["slots"]
    mi = _index([m["name"] for m in models], "model", "models", problems)
    ei = _index([e["name"] for e in edges], "edge", "edges", problems)
    ri = _index([r["name"] for r in regions], "region", "regions", problems)
    E, M, R = len(edges), len(models), len(regions)

    region_edge = np.zeros(R, dtype=np.int64)
    for i, r in enumerate(regions):
        if r["edge"] not in ei:
            problems.append((f"regions[{i}].edge", f"no edge named {r['edge']!r} (edges: {_names(ei)})"))
        else:
            region_edge[i] = ei[r["edge"]]

    link_delay: dict[tuple[int, int], float] = {}
    init_s = np.zeros((E, M), dtype=bool)
    init_l = np.zeros((E, M), dtype=bool)
    for i, e in enumerate(edges):
        for j, link in enumerate(e.get("links", [])):
            where = f"edges[{i}].links[{j}].to"
            if link["to"] not in ei:
                problems.append((where, f"no edge named {link['to']!r} (edges: {_names(ei)})"))
            elif ei[link["to"]] == i:
                problems.append((where, f"an edge cannot link to itself ({link['to']!r})"))
            elif (i, ei[link["to"]]) in link_delay:
                problems.append((where, f"duplicate link to {link['to']!r}"))
            else:
                link_delay[(i, ei[link["to"]])] = float(link["delay_seconds"])
        for key, arr in (("initial_stored", init_s), ("initial_loaded", init_l)):
            for j, name in enumerate(e.get(key, [])):
                if name not in mi:
                    problems.append((f"edges[{i}].{key}[{j}]", f"no model named {name!r} (models: {_names(mi)})"))
                else:
                    arr[i, mi[name]] = True
        for m in np.flatnonzero(init_l[i] & ~init_s[i]):
            problems.append((f"edges[{i}].initial_loaded", f"model {models[m]['name']!r} is loaded but not stored "
                             "(a loaded model must also be in initial_stored)"))

    # Refuse an absurd size before allocating anything of that size (demand below is R x M x T).
    out_links = np.bincount(np.array([a for a, _ in link_delay], dtype=np.int64), minlength=E)
    nvars = 4 * E * M * T + (2 * R + int(out_links[region_edge].sum())) * M * T
    if nvars > MAX_VARIABLES:
        raise InstanceError(source, problems + [("(top level)", f"the instance describes a model of {nvars:,} "
                                                 f"variables, more than the limit of {MAX_VARIABLES:,}; split it "
                                                 "or reduce slots")])

    demand = np.zeros((R, M, T), dtype=np.int64)
    seen_pairs: dict[tuple[int, int], int] = {}
    for k, d in enumerate(data["demand"]):
        ok = True
        if d["region"] not in ri:
            problems.append((f"demand[{k}].region", f"no region named {d['region']!r} (regions: {_names(ri)})"))
            ok = False
        if d["model"] not in mi:
            problems.append((f"demand[{k}].model", f"no model named {d['model']!r} (models: {_names(mi)})"))
            ok = False
        if len(d["requests"]) != T:
            problems.append((f"demand[{k}].requests", f"must have one count per slot ({T}), got {len(d['requests'])}"))
            ok = False
        if ok:
            key = (ri[d["region"]], mi[d["model"]])
            if key in seen_pairs:
                problems.append((f"demand[{k}]", f"duplicate entry for region {d['region']!r} and model "
                                 f"{d['model']!r} (also demand[{seen_pairs[key]}])"))
            else:
                seen_pairs[key] = k
                demand[key[0], key[1], :] = d["requests"]
    if problems:
        raise InstanceError(source, problems)

    pairs = sorted((r, e2) for r in range(R) for (e1, e2) in link_delay if e1 == region_edge[r])
    pair_region = np.array([p[0] for p in pairs], dtype=np.int64)
    pair_edge = np.array([p[1] for p in pairs], dtype=np.int64)
    pair_delay = np.array([link_delay[(int(region_edge[r]), e2)] for r, e2 in pairs], dtype=float)

    col = lambda items, key: _ro(np.array([x[key] for x in items], dtype=float))  # noqa: E731
    w, cloud = data["weights"], data["cloud"]
    for a in (demand, init_s, init_l, region_edge, pair_region, pair_edge):
        a.setflags(write=False)
    return Instance(
        name=data["name"], content=copy.deepcopy(data), hash=content_hash(data),
        model_names=tuple(m["name"] for m in models), edge_names=tuple(e["name"] for e in edges),
        region_names=tuple(r["name"] for r in regions), slots=T, slot_seconds=float(data["slot_seconds"]),
        model_storage_gb=col(models, "storage_gb"), model_gpu_memory_gb=col(models, "gpu_memory_gb"),
        load_seconds=col(models, "load_seconds"), edge_inference_seconds=col(models, "edge_inference_seconds"),
        cloud_inference_seconds=col(models, "cloud_inference_seconds"),
        edge_storage_gb=col(edges, "storage_gb"), edge_gpu_memory_gb=col(edges, "gpu_memory_gb"),
        compute_seconds=col(edges, "compute_seconds"), access_delay_seconds=col(edges, "access_delay_seconds"),
        backhaul_gbps=col(edges, "backhaul_gbps"), initial_stored=init_s, initial_loaded=init_l,
        region_edge=region_edge, pair_region=_ro(pair_region), pair_edge=_ro(pair_edge),
        pair_delay_seconds=_ro(pair_delay), demand=demand,
        delay_per_second=float(w["delay_per_second"]), storage_per_gb=float(w["storage_per_gb"]),
        gpu_memory_per_gb=float(w["gpu_memory_per_gb"]), backhaul_per_gb=float(w["backhaul_per_gb"]),
        cloud_enabled=bool(cloud["enabled"]), wan_delay_seconds=float(cloud["wan_delay_seconds"]),
        cloud_cost_per_request=float(cloud["cost_per_request"]),
    )


def _names(index: dict[str, int], most: int = 8) -> str:
    names = list(index)
    return ", ".join(map(repr, names[:most])) + (f", ... ({len(names)} in all)" if len(names) > most else "")


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
                       "at": "cloud", "requests": int(sol.cloud[r, m, t])})
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
        elif at == "cloud":
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


# -- evaluation ------------------------------------------------------------------------------------
def _previous(state: np.ndarray, initial: np.ndarray) -> np.ndarray:
    """(E, M, T): the state in the slot before each slot (the initial state before slot 0)."""
    return np.concatenate([initial[:, :, None], state[:, :, :-1]], axis=2)


def edge_load(inst: Instance, local: np.ndarray, neighbour: np.ndarray) -> np.ndarray:
    """(E, M, T): requests of each model served at each edge."""
    served = np.zeros((inst.num_edges, inst.num_models, inst.slots), dtype=np.int64)
    np.add.at(served, inst.region_edge, local)
    np.add.at(served, inst.pair_edge, neighbour)
    return served


def evaluate(inst: Instance, sol: Solution) -> Evaluation:
    """Recompute the objective, its parts and every violated constraint from the decisions alone."""
    E, M, R, P, T = inst.num_edges, inst.num_models, inst.num_regions, inst.num_pairs, inst.slots
    viol: list[Violation] = []
    shapes = {"stored": (E, M, T), "loaded": (E, M, T), "local": (R, M, T), "neighbour": (P, M, T),
              "cloud": (R, M, T)}
    arrays = {}
    for key, shape in shapes.items():
        a = np.asarray(getattr(sol, key))
        if a.shape != shape:
            return Evaluation(float("nan"), {}, (Violation("shape", key, float("nan"),
                                                           f"expected shape {shape}, got {a.shape}"),))
        arrays[key] = a
    for key in ("local", "neighbour", "cloud"):
        a = arrays[key].astype(float)
        bad = (a < 0) | (np.abs(a - np.round(a)) > 1e-6)
        for idx in np.argwhere(bad)[:20]:
            viol.append(Violation("integrality", f"{key}{tuple(map(int, idx))}", float(a[tuple(idx)]),
                                  "request counts must be non-negative integers"))
        arrays[key] = np.round(np.maximum(a, 0)).astype(np.int64)
    x, y = arrays["stored"].astype(bool), arrays["loaded"].astype(bool)
    local, nb, cl = arrays["local"], arrays["neighbour"], arrays["cloud"]

    def where_et(e, t):
        return f"edge {inst.edge_names[e]!r}, slot {t}"

    def check(name, lhs, cap, fmt, unit):
        over = lhs - cap
        for idx in np.argwhere(over > TOL * np.maximum(1.0, np.abs(cap))):
            i = tuple(map(int, idx))
            viol.append(Violation(name, fmt(*i), float(over[i]), f"uses {lhs[i]:.6g} {unit} of {cap[i]:.6g}"))

    for e, m, t in np.argwhere(y & ~x):
        viol.append(Violation("loaded_implies_stored", where_et(e, t), 1.0,
                              f"model {inst.model_names[m]!r} is loaded but not stored"))
    check("storage", np.einsum("emt,m->et", x, inst.model_storage_gb),
          np.broadcast_to(inst.edge_storage_gb[:, None], (E, T)), where_et, "GB")
    check("gpu_memory", np.einsum("emt,m->et", y, inst.model_gpu_memory_gb),
          np.broadcast_to(inst.edge_gpu_memory_gb[:, None], (E, T)), where_et, "GB")

    loads = y & ~_previous(y, inst.initial_loaded)
    downloads = x & ~_previous(x, inst.initial_stored)
    served = edge_load(inst, local, nb)
    busy = np.einsum("emt,m->et", served, inst.edge_inference_seconds) + np.einsum("emt,m->et", loads,
                                                                                   inst.load_seconds)
    check("compute", busy, np.broadcast_to(inst.compute_seconds[:, None], (E, T)), where_et, "GPU-seconds")
    check("backhaul", np.einsum("emt,em->et", downloads, inst.download_seconds),
          np.full((E, T), inst.slot_seconds), where_et, "seconds of download")

    # Serve only where loaded.
    for name, counts, edge_of, label in (("serve_where_loaded", local, inst.region_edge, "local"),
                                         ("serve_where_loaded", nb, inst.pair_edge, "neighbour")):
        bad = (counts > 0) & ~y[edge_of]
        for i, m, t in np.argwhere(bad)[:50]:
            viol.append(Violation(name, f"{label} route {i}, model {inst.model_names[m]!r}, slot {t}",
                                  float(counts[i, m, t]), f"{counts[i, m, t]} requests sent to edge "
                                  f"{inst.edge_names[edge_of[i]]!r}, where the model is not loaded"))
    # Every request served exactly once.
    total = local + cl
    np.add.at(total, inst.pair_region, nb)
    for r, m, t in np.argwhere(total != inst.demand):
        viol.append(Violation("demand", f"region {inst.region_names[r]!r}, model {inst.model_names[m]!r}, slot {t}",
                              float(total[r, m, t] - inst.demand[r, m, t]),
                              f"serves {total[r, m, t]} requests of {inst.demand[r, m, t]} asked"))
    if not inst.cloud_enabled and cl.any():
        viol.append(Violation("cloud_disabled", "cloud", float(cl.sum()),
                              f"{int(cl.sum())} requests sent to the cloud, which this instance disables"))

    parts = {
        "storage": float(np.einsum("emt,m->", x, inst.cost_stored)),
        "gpu_memory": float(np.einsum("emt,m->", y, inst.cost_loaded)),
        "switching": float(np.einsum("emt,m->", loads, inst.cost_load)),
        "download": float(np.einsum("emt,em->", downloads, inst.cost_download)),
        "request_delay": float(np.einsum("rmt,rm->", local, inst.cost_local)
                               + np.einsum("pmt,pm->", nb, inst.cost_neighbour)
                               + np.einsum("rmt,rm->", cl, inst.cost_cloud - inst.cloud_cost_per_request)),
        "cloud": float(cl.sum() * inst.cloud_cost_per_request),
    }
    objective = float(sum(parts.values()))
    return Evaluation(objective, parts, tuple(viol))


# -- feasibility pre-check -------------------------------------------------------------------------
def infeasibility_reason(inst: Instance) -> str | None:
    """A readable reason why no plan can serve the demand, found without solving; None if none is found.

    With the cloud disabled, every requested model must fit (storage, GPU memory, one inference
    within the slot's compute) on the region's own edge or on an edge it links to.
    """
    if inst.cloud_enabled:
        return None
    fits = ((inst.model_storage_gb[None, :] <= inst.edge_storage_gb[:, None])
            & (inst.model_gpu_memory_gb[None, :] <= inst.edge_gpu_memory_gb[:, None])
            & (inst.edge_inference_seconds[None, :] <= inst.compute_seconds[:, None]))  # (E, M)
    asked = inst.demand.sum(axis=2) > 0  # (R, M)
    for r, m in np.argwhere(asked):
        candidates = [int(inst.region_edge[r])] + [int(e) for e in inst.pair_edge[inst.pair_region == r]]
        if not fits[candidates, m].any():
            names = ", ".join(repr(inst.edge_names[e]) for e in candidates)
            gpu = max(inst.edge_gpu_memory_gb[candidates])
            return (f"region {inst.region_names[r]!r} requests model {inst.model_names[m]!r} (storage "
                    f"{inst.model_storage_gb[m]:g} GB, GPU memory {inst.model_gpu_memory_gb[m]:g} GB, "
                    f"{inst.edge_inference_seconds[m]:g} s per request), but no edge that can serve it ({names}; "
                    f"largest GPU memory {gpu:g} GB) can hold and run it, and the cloud is disabled")
    return None


# -- the MILP --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Formulation:
    """A built model and the blocks needed to turn a solution vector back into a :class:`Solution`."""

    model: Model
    blocks: dict[str, VarBlock]
    initial_stored: np.ndarray
    initial_loaded: np.ndarray

    def decode(self, values: np.ndarray) -> Solution:
        v = {k: np.round(np.asarray(values)[b.ids]) for k, b in self.blocks.items()}
        return Solution(stored=v["stored"] > 0.5, loaded=v["loaded"] > 0.5, local=v["local"].astype(np.int64),
                        neighbour=v["neighbour"].astype(np.int64), cloud=v["cloud"].astype(np.int64))

    def encode(self, sol: Solution) -> np.ndarray:
        """The solution vector of a plan (the auxiliary load/download indicators recomputed), for warm starts."""
        x = np.zeros(self.model.num_cols)
        for key in ("stored", "loaded", "local", "neighbour", "cloud"):
            x[self.blocks[key].ids] = getattr(sol, key)
        prev = lambda s, s0: np.concatenate([s0[:, :, None], s[:, :, :-1]], axis=2)  # noqa: E731
        x[self.blocks["load"].ids] = sol.loaded & ~prev(sol.loaded, self.initial_loaded)
        x[self.blocks["download"].ids] = sol.stored & ~prev(sol.stored, self.initial_stored)
        return x


def formulate(inst: Instance) -> Formulation:
    """Build the deployment MILP (docs/formulations.md) from whole arrays; no loop per variable."""
    E, M, R, P, T = inst.num_edges, inst.num_models, inst.num_regions, inst.num_pairs, inst.slots
    d = inst.demand.astype(float)
    mdl = Model(f"deployment:{inst.name}", sense="min")
    x = mdl.add_variables("stored", (E, M, T), ub=1, integer=True)
    y = mdl.add_variables("loaded", (E, M, T), ub=1, integer=True)
    z = mdl.add_variables("load", (E, M, T), ub=1, integer=True)
    q = mdl.add_variables("download", (E, M, T), ub=1, integer=True)
    u = mdl.add_variables("local", (R, M, T), ub=d, integer=True)
    v = mdl.add_variables("neighbour", (P, M, T), ub=d[inst.pair_region], integer=True)
    w = mdl.add_variables("cloud", (R, M, T), ub=d if inst.cloud_enabled else 0.0, integer=True)

    mdl.add_objective(x, inst.cost_stored[None, :, None])
    mdl.add_objective(y, inst.cost_loaded[None, :, None])
    mdl.add_objective(z, inst.cost_load[None, :, None])
    mdl.add_objective(q, inst.cost_download[:, :, None])
    mdl.add_objective(u, inst.cost_local[:, :, None])
    mdl.add_objective(v, inst.cost_neighbour[:, :, None])
    mdl.add_objective(w, inst.cost_cloud[:, :, None])

    # Capacities per edge and slot.
    rows = mdl.add_rows("storage", (E, T), hi=inst.edge_storage_gb[:, None])
    mdl.add_terms(rows.ids[:, None, :], x, inst.model_storage_gb[None, :, None])
    rows = mdl.add_rows("gpu_memory", (E, T), hi=inst.edge_gpu_memory_gb[:, None])
    mdl.add_terms(rows.ids[:, None, :], y, inst.model_gpu_memory_gb[None, :, None])
    rows = mdl.add_rows("compute", (E, T), hi=inst.compute_seconds[:, None])
    p_m = inst.edge_inference_seconds[None, :, None]
    mdl.add_terms(rows.ids[inst.region_edge][:, None, :], u, p_m)
    mdl.add_terms(rows.ids[inst.pair_edge][:, None, :], v, p_m)
    mdl.add_terms(rows.ids[:, None, :], z, inst.load_seconds[None, :, None])
    rows = mdl.add_rows("backhaul", (E, T), hi=inst.slot_seconds)
    mdl.add_terms(rows.ids[:, None, :], q, inst.download_seconds[:, :, None])

    # Loaded implies stored: y - x <= 0.
    rows = mdl.add_rows("loaded_implies_stored", (E, M, T), hi=0.0)
    mdl.add_terms(rows, y, 1.0)
    mdl.add_terms(rows, x, -1.0)

    # Load and download indicators are exactly max(0, s_t - s_{t-1}) for binary s: three rows each.
    init = {"load": inst.initial_loaded.astype(float), "download": inst.initial_stored.astype(float)}
    for ind, state, name in ((z, y, "load"), (q, x, "download")):
        prev0 = init[name]  # (E, M): the state before slot 0 is data
        # ind - s_t + s_{t-1} >= 0
        r1 = mdl.add_rows(f"{name}_lower", (E, M, T), lo=np.concatenate(
            [-prev0[:, :, None], np.zeros((E, M, T - 1))], axis=2))
        mdl.add_terms(r1, ind, 1.0)
        mdl.add_terms(r1, state, -1.0)
        mdl.add_terms(r1.ids[:, :, 1:], state.ids[:, :, :-1], 1.0)
        # ind - s_t <= 0
        r2 = mdl.add_rows(f"{name}_needs_state", (E, M, T), hi=0.0)
        mdl.add_terms(r2, ind, 1.0)
        mdl.add_terms(r2, state, -1.0)
        # ind + s_{t-1} <= 1
        r3 = mdl.add_rows(f"{name}_was_absent", (E, M, T), hi=np.concatenate(
            [1.0 - prev0[:, :, None], np.ones((E, M, T - 1))], axis=2))
        mdl.add_terms(r3, ind, 1.0)
        mdl.add_terms(r3.ids[:, :, 1:], state.ids[:, :, :-1], 1.0)

    # Serve only where loaded: u[r,m,t] <= d[r,m,t] * y[edge(r),m,t], likewise for neighbour pairs.
    rows = mdl.add_rows("local_where_loaded", (R, M, T), hi=0.0)
    mdl.add_terms(rows, u, 1.0)
    mdl.add_terms(rows, y.ids[inst.region_edge], -d)
    rows = mdl.add_rows("neighbour_where_loaded", (P, M, T), hi=0.0)
    mdl.add_terms(rows, v, 1.0)
    mdl.add_terms(rows, y.ids[inst.pair_edge], -d[inst.pair_region])

    # Every request served exactly once.
    rows = mdl.add_rows("demand", (R, M, T), lo=d, hi=d)
    mdl.add_terms(rows, u, 1.0)
    mdl.add_terms(rows, w, 1.0)
    mdl.add_terms(rows.ids[inst.pair_region], v, 1.0)

    blocks = {"stored": x, "loaded": y, "load": z, "download": q, "local": u, "neighbour": v, "cloud": w}
    return Formulation(mdl, blocks, inst.initial_stored, inst.initial_loaded)


# -- generator -------------------------------------------------------------------------------------
#: Edge server types for generated instances (A): one or two GPUs of 24, 48 or 80 GB (RTX 4090,
#: RTX 6000 Ada / A6000 and A100/H100 80G classes), local storage of 64 to 512 GB.
EDGE_TYPES = (
    {"gpu_memory_gb": 24.0, "storage_gb": 64.0, "gpus": 1},
    {"gpu_memory_gb": 48.0, "storage_gb": 128.0, "gpus": 1},
    {"gpu_memory_gb": 80.0, "storage_gb": 256.0, "gpus": 1},
    {"gpu_memory_gb": 160.0, "storage_gb": 512.0, "gpus": 2},
)


def generate(*, edges: int = 3, regions_per_edge: int = 2, models: int | list[str] = 4, slots: int = 2,
             links_per_edge: int = 2, slot_seconds: float = 60.0, load: float = 1.0, cloud: bool = True,
             seed: int = 0, name: str | None = None) -> Instance:
    """A seeded, deterministic deployment instance built from the catalog of real generative models.

    ``models`` is a count (the first ones of a seeded shuffle of the catalog) or a list of catalog
    names. ``load`` scales the mean demand; 1.0 asks roughly what the edges' GPUs can serve.
    Numbers are rounded to at most 3 decimals so that the data are exact decimals (see CP-SAT).
    """
    from edgeopt import catalog

    if edges < 1 or regions_per_edge < 1 or slots < 1:
        raise ValueError("edges, regions_per_edge and slots must be at least 1")
    rng = np.random.default_rng(seed)
    entries = list(catalog.generative_models())
    if isinstance(models, int):
        if not 1 <= models <= len(entries):
            raise ValueError(f"models must be between 1 and {len(entries)} (the catalog's size), got {models}")
        chosen = [entries[i] for i in sorted(rng.permutation(len(entries))[:models])]
    else:
        chosen = [catalog.entry(n) for n in models]
    model_docs = [{k: e[k] for k in ("name", "task", "storage_gb", "gpu_memory_gb", "load_seconds",
                                     "edge_inference_seconds", "cloud_inference_seconds", "sources")}
                  for e in chosen]

    r3 = lambda v: float(round(float(v), 3))  # noqa: E731
    edge_docs = []
    for e in range(edges):
        kind = EDGE_TYPES[int(rng.integers(len(EDGE_TYPES)))]
        edge_docs.append({
            "name": f"edge{e}",
            "storage_gb": kind["storage_gb"],
            "gpu_memory_gb": kind["gpu_memory_gb"],
            "compute_seconds": r3(kind["gpus"] * slot_seconds),
            "access_delay_seconds": r3(rng.uniform(0.005, 0.02)),
            "backhaul_gbps": float(rng.choice([1.0, 2.5, 10.0])),
            "links": [],
        })
    if edges > 1:
        # A ring keeps every edge reachable; extra links are seeded chords. Links go both ways.
        pairs = {(e, (e + 1) % edges) for e in range(edges)}
        for e in range(edges):
            for _ in range(max(0, links_per_edge - 2)):
                f = int(rng.integers(edges))
                if f != e:
                    pairs.add((e, f))
        pairs |= {(b, a) for a, b in pairs}
        for a, b in sorted(pairs):
            if a != b:
                edge_docs[a]["links"].append({"to": f"edge{b}", "delay_seconds": r3(rng.uniform(0.01, 0.05))})

    region_docs = [{"name": f"region{e}_{k}", "edge": f"edge{e}"} for e in range(edges)
                   for k in range(regions_per_edge)]
    # Mean demand: the edges' compute, spread over regions and models with a Zipf popularity per region.
    M = len(model_docs)
    mean_inf = float(np.mean([m["edge_inference_seconds"] for m in model_docs]))
    capacity_requests = slot_seconds / mean_inf
    demand_docs = []
    for reg in region_docs:
        popularity = 1.0 / np.arange(1, M + 1) ** 0.8
        popularity = popularity[rng.permutation(M)] / popularity.sum()
        for m in range(M):
            lam = load * capacity_requests * popularity[m] / regions_per_edge
            counts = rng.poisson(lam, size=slots)
            if counts.any():
                demand_docs.append({"region": reg["name"], "model": model_docs[m]["name"],
                                    "requests": [int(c) for c in counts]})
    data = {
        "kind": KIND, "format": 1,
        "name": name or f"deploy-e{edges}-m{M}-r{edges * regions_per_edge}-t{slots}-s{seed}",
        "description": (f"generated by edgeopt.models.deployment.generate(edges={edges}, regions_per_edge="
                        f"{regions_per_edge}, models={M}, slots={slots}, links_per_edge={links_per_edge}, "
                        f"load={load}, cloud={cloud}, seed={seed})"),
        "source": "model figures: edgeopt/catalog/generative_models.json (each with its source); edge types, "
                  "delays, prices and demand: assumptions of the generator",
        "slots": slots, "slot_seconds": float(slot_seconds),
        "weights": {"delay_per_second": 1.0, "storage_per_gb": 0.001, "gpu_memory_per_gb": 0.01,
                    "backhaul_per_gb": 0.01},
        "cloud": {"enabled": bool(cloud), "wan_delay_seconds": 0.1, "cost_per_request": 2.0},
        "models": model_docs, "edges": edge_docs, "regions": region_docs, "demand": demand_docs,
    }
    from edgeopt.io import instance_from_data

    return instance_from_data(data, source="<generated>")
