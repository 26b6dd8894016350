"""Mobile-edge building blocks of the families whose users ask their cell for generated videos (the offloading
family; any family built on the same cells): places and resources, the radio's spectral efficiency, the cells'
shared fields and their reading from a document, the option table of a slot, the JSON Schema pieces, and, once
each request's option is chosen, the slot's value and the resources' shares (the square-root rule).

Index order: user ``u``, slot ``t``, edge (and its cell) ``e``, model ``m``, configuration ``k`` (all models'
configurations in one list), device class ``d``. Places: 0 local, 1 edge, 2 cloud. The math (symbols, units,
objective, constraints) is in docs/formulations.md, section "offloading".
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from edgeopt import catalog
from edgeopt.allocation import allocate
from edgeopt.result import Violation
from edgeopt.document import (NAME, NAME_OR_NULL, NAMES, SOURCES, Document, InstanceError, array_of, check_unique,
                               frozen, listing, nonnegative, positive, record)

PLACES = ("local", "edge", "cloud")
LOCAL, EDGE, CLOUD = 0, 1, 2
#: Per slot the resources are the cells' uplinks (0..E-1), downlinks (E..2E-1) and the edges' compute (2E..3E-1).
UPLINK, DOWNLINK, COMPUTE = 0, 1, 2
#: Relative tolerance of the capacity checks (shares, GPU memory).
TOL = 1e-9


@dataclass(frozen=True, eq=False)
class Cells(Document):
    """Users in cells asking for generated videos, slot by slot: the fields every family built on these cells
    shares (read-only arrays). A family's Instance subclasses it (and adds its own fields)."""

    slots: int
    user_names: tuple[str, ...]
    edge_names: tuple[str, ...]
    device_names: tuple[str, ...]
    model_names: tuple[str, ...]
    config_names: tuple[str, ...]  # (K,) "model/config"
    # weights
    utility_weight: float
    delay_per_second: float
    energy_per_joule: float
    refusal_penalty: float
    prompt_bits: float
    # cloud
    cloud_enabled: bool
    wan_delay_seconds: float
    cloud_speed: float
    cloud_price: float
    # models (M,) and configurations (K,)
    model_memory_gb: np.ndarray
    config_model: np.ndarray
    config_duration_seconds: np.ndarray
    config_reference_seconds: np.ndarray  # generation time at relative speed 1
    config_peak_memory_gb: np.ndarray
    config_video_bits: np.ndarray
    config_utility: np.ndarray  # model utility x the configuration's factor
    # devices (D,)
    device_speed: np.ndarray  # 0 for a device without a GPU
    device_memory_gb: np.ndarray
    device_power_watts: np.ndarray
    device_tx_watts: np.ndarray
    device_rx_watts: np.ndarray
    device_can_run: np.ndarray  # (D, M)
    # edges (E,)
    edge_speed: np.ndarray
    edge_memory_gb: np.ndarray
    uplink_hz: np.ndarray
    downlink_hz: np.ndarray
    # users (U,) and (U, T)
    user_edge: np.ndarray
    user_device: np.ndarray
    requested: np.ndarray  # (U, T) bool
    requested_seconds: np.ndarray  # (U, T) the video length asked for (0 without a request)
    uplink_efficiency: np.ndarray  # (U, T) log2(1 + SNR) of the full uplink band, bit/s/Hz
    downlink_efficiency: np.ndarray  # (U, T)

    num_users = property(lambda self: len(self.user_names), doc="U")
    num_edges = property(lambda self: len(self.edge_names), doc="E (one cell each)")
    num_models = property(lambda self: len(self.model_names), doc="M")
    num_configs = property(lambda self: len(self.config_names), doc="K: every model's configurations")

    @cached_property
    def config_rank(self) -> np.ndarray:
        """(K,) each configuration's rank by (model name, configuration name): an order that does not depend
        on how the file lists its models and configurations (for ties and for what a policy sees)."""
        model = [self.model_names[m] for m in self.config_model]
        own = [name[len(m) + 1:] for name, m in zip(self.config_names, model)]  # config_names[k] is "model/config"
        order = sorted(range(self.num_configs), key=lambda k: (model[k], own[k]))
        rank = np.empty(self.num_configs, dtype=np.int64)
        rank[order] = np.arange(self.num_configs)
        return frozen(rank, np.int64)

    @cached_property
    def model_rank(self) -> np.ndarray:
        """(M,) each model's rank by name."""
        order = sorted(range(self.num_models), key=lambda m: self.model_names[m])
        rank = np.empty(self.num_models, dtype=np.int64)
        rank[order] = np.arange(self.num_models)
        return frozen(rank, np.int64)

    def options(self, t: int) -> "Options":
        """The option table of slot ``t`` (cached): every (user, configuration, place) that can serve a request."""
        return self._option_tables[t]

    @cached_property
    def _option_tables(self) -> tuple:
        return tuple(option_table(self, t) for t in range(self.slots))


@dataclass(frozen=True)
class Options:
    """Every way to serve each request of one slot, with what it is worth once resources are shared.

    Option ``o`` serves ``user[o]`` with configuration ``config[o]`` at ``place[o]``. With shares x of the
    three resources it uses, its value is ``value[o] - sum_j cost[o, j] / x_j`` (docs/formulations.md): the
    utility less the delay and energy that do not depend on shares, and the per-share costs of the uplink,
    downlink and edge compute in resource ``resource[o, j]``. A user may also be refused, worth
    ``-refusal_penalty``. ``needs_loaded[o]`` is the (edge, model) that must be loaded (-1: none)."""

    users: np.ndarray  # the users with a request in the slot
    user: np.ndarray  # (O,)
    config: np.ndarray
    place: np.ndarray
    value: np.ndarray
    cost: np.ndarray  # (O, 3) uplink, downlink, compute; 0 where the option does not use the resource
    resource: np.ndarray  # (O, 3) ids of those resources in 0..3E-1
    edge: np.ndarray  # (O,) the user's edge
    model: np.ndarray  # (O,)
    refusal_value: float

    @property
    def num_options(self) -> int:
        return int(self.user.size)

    @cached_property
    def of_user(self) -> dict[int, np.ndarray]:
        """Each requesting user's option indices (possibly none: then it can only be refused)."""
        order = np.argsort(self.user, kind="stable")
        bounds = np.searchsorted(self.user[order], self.users, side="left"), np.searchsorted(
            self.user[order], self.users, side="right")
        return {int(u): order[a:b] for u, a, b in zip(self.users, *bounds)}


def option_table(inst: Cells, t: int) -> Options:
    """Every (user, configuration, place) that can serve a request of slot ``t``, with its value and costs."""
    users = np.flatnonzero(inst.requested[:, t])
    U, K = users.size, inst.num_configs
    u = np.repeat(users, K * 3)
    k = np.tile(np.repeat(np.arange(K), 3), U)
    p = np.tile(np.arange(3), U * K)
    m = inst.config_model[k]
    d, e = inst.user_device[u], inst.user_edge[u]
    long_enough = inst.config_duration_seconds[k] >= inst.requested_seconds[u, t] - 1e-9
    peak = inst.config_peak_memory_gb[k]
    local = (p == LOCAL) & inst.device_can_run[d, m] & (peak <= inst.device_memory_gb[d] * (1 + TOL)) & (
        inst.device_speed[d] > 0)
    edge = (p == EDGE) & (peak <= inst.edge_memory_gb[e] * (1 + TOL)) & (
        inst.model_memory_gb[m] <= inst.edge_memory_gb[e] * (1 + TOL))
    cloud = (p == CLOUD) & inst.cloud_enabled
    keep = long_enough & (local | edge | cloud)
    u, k, p, m, d, e = u[keep], k[keep], p[keep], m[keep], d[keep], e[keep]

    lam_t, lam_e = inst.delay_per_second, inst.energy_per_joule
    utility = inst.utility_weight * inst.config_utility[k]
    ref = inst.config_reference_seconds[k]
    with np.errstate(divide="ignore"):
        local_seconds = np.where(p == LOCAL, ref / np.where(inst.device_speed[d] > 0, inst.device_speed[d], 1.0), 0.0)
    edge_seconds = ref / inst.edge_speed[e]
    cloud_seconds = ref / inst.cloud_speed
    value = utility - np.select(
        [p == LOCAL, p == CLOUD],
        [(lam_t + lam_e * inst.device_power_watts[d]) * local_seconds,
         lam_t * (inst.wan_delay_seconds + cloud_seconds) + inst.cloud_price], 0.0)
    offloaded = p != LOCAL
    E = inst.num_edges
    cost = np.zeros((u.size, 3))
    cost[:, UPLINK] = np.where(offloaded, (lam_t + lam_e * inst.device_tx_watts[d]) * inst.prompt_bits / (
        inst.uplink_hz[e] * inst.uplink_efficiency[u, t]), 0.0)
    cost[:, DOWNLINK] = np.where(offloaded, (lam_t + lam_e * inst.device_rx_watts[d]) * inst.config_video_bits[k] / (
        inst.downlink_hz[e] * inst.downlink_efficiency[u, t]), 0.0)
    cost[:, COMPUTE] = np.where(p == EDGE, lam_t * edge_seconds, 0.0)
    resource = np.stack([e, E + e, 2 * E + e], axis=1)
    return Options(users=frozen(users, np.int64), user=frozen(u, np.int64), config=frozen(k, np.int64),
                   place=frozen(p, np.int64), value=frozen(value), cost=frozen(cost),
                   resource=frozen(resource, np.int64), edge=frozen(e, np.int64), model=frozen(m, np.int64),
                   refusal_value=-float(inst.refusal_penalty))


# -- from the document ---------------------------------------------------------------------------------
def spectral_efficiency(power_dbm, distance_m, shadowing_db, noise_dbm_per_hz: float, bandwidth_hz,
                        intercept_db: float, slope_db: float) -> np.ndarray:
    """log2(1 + SNR) over the whole band: path loss intercept + slope log10(d / km) plus shadowing, thermal
    noise over the band (the fixed-SNR form of docs/formulations.md)."""
    loss_db = intercept_db + slope_db * np.log10(np.asarray(distance_m) / 1000.0) + np.asarray(shadowing_db)
    noise_dbm = noise_dbm_per_hz + 10.0 * np.log10(bandwidth_hz)
    snr = 10.0 ** ((np.asarray(power_dbm) - loss_db - noise_dbm) / 10.0)
    # log1p: at -300 dB, 1 + SNR rounds to 1 and log2 would give a rate of exactly 0 (an infinite delay).
    return np.log1p(snr) / np.log(2.0)


def _index(items: list[dict], what: str, path: str, problems: list) -> dict[str, int]:
    return check_unique([x["name"] for x in items], what, path, problems)


def _ref(name, index: dict, where: str, what: str, problems: list) -> int:
    if name not in index:
        problems.append((where, f"no {what} named {name!r} ({what}s: {listing(index)})"))
        return 0
    return index[name]


def _configs(data: dict, gi: dict, problems: list) -> dict:
    """Every model's configurations in one list, with their reference-speed times (s x speed of the GPU
    they were measured on)."""
    speed = {g["name"]: g["relative_speed"] for g in data["gpus"]}
    out: dict[str, list] = {k: [] for k in ("names", "model", "duration", "ref", "peak", "bits", "utility")}
    for j, m in enumerate(data["models"]):
        check_unique([c["name"] for c in m["configs"]], "configuration", f"models[{j}].configs", problems)
        if "/" in m["name"]:
            problems.append((f"models[{j}].name", f"{m['name']!r}: '/' joins a model's name to its configuration's "
                             "(model/configuration in solution files), so a model's name cannot contain it"))
        for i, c in enumerate(m["configs"]):
            if "/" in c["name"]:
                problems.append((f"models[{j}].configs[{i}].name", f"{c['name']!r}: '/' joins a model's name to "
                                 "its configuration's, so a configuration's name cannot contain it"))
            gpu = _ref(c["measured_on"], gi, f"models[{j}].configs[{i}].measured_on", "gpu", problems)
            out["names"].append(f"{m['name']}/{c['name']}")
            out["model"].append(j)
            out["duration"].append(c["duration_seconds"])
            out["ref"].append(c["generation_seconds"] * speed.get(data["gpus"][gpu]["name"], 1.0))
            out["peak"].append(c["peak_gpu_memory_gb"])
            out["bits"].append(c["video_megabits"] * 1e6)
            out["utility"].append(m["utility"] * c["utility_factor"])
    return out


def _users(data: dict, ei: dict, di: dict, problems: list) -> dict:
    T = data["slots"]
    out: dict[str, list] = {k: [] for k in ("edge", "device", "distance", "shadowing", "requested", "seconds")}
    for i, u in enumerate(data["users"]):
        for key in ("distance_m", "shadowing_db", "requests"):
            if len(u[key]) != T:
                problems.append((f"users[{i}].{key}", f"must have one entry per slot ({T}), got {len(u[key])}"))
        out["edge"].append(_ref(u["edge"], ei, f"users[{i}].edge", "edge", problems))
        out["device"].append(_ref(u["device"], di, f"users[{i}].device", "device", problems))
        requests = (u["requests"] + [None] * T)[:T]
        out["distance"].append((u["distance_m"] + [1.0] * T)[:T])
        out["shadowing"].append((u["shadowing_db"] + [0.0] * T)[:T])
        out["requested"].append([r is not None for r in requests])
        out["seconds"].append([0.0 if r is None else r["duration_seconds"] for r in requests])
    return out


def _requests_no_configuration_serves(data: dict, configs: dict, problems: list) -> None:
    """A request for a longer video than any configuration makes can only be refused: a mistake in the file."""
    longest = max(configs["duration"], default=0.0)
    for i, u in enumerate(data["users"]):
        for t, r in enumerate(u["requests"]):
            if r is not None and r["duration_seconds"] > longest + 1e-9:
                problems.append((f"users[{i}].requests[{t}].duration_seconds", f"asks for {r['duration_seconds']:g} s "
                                 f"of video; no configuration makes more than {longest:g} s"))


def cells_from_data(data: dict, source: str = "<data>") -> dict:
    """The :class:`Cells` fields (but the Document head) of schema-valid data; raises InstanceError for every
    broken reference."""
    problems: list[tuple[str, str]] = []
    gi = _index(data["gpus"], "gpu", "gpus", problems)
    mi = _index(data["models"], "model", "models", problems)
    di = _index(data["devices"], "device", "devices", problems)
    ei = _index(data["edges"], "edge", "edges", problems)
    check_unique([u["name"] for u in data["users"]], "user", "users", problems)
    speed = {g["name"]: g["relative_speed"] for g in data["gpus"]}
    configs = _configs(data, gi, problems)
    cloud, w, radio = data["cloud"], data["weights"], data["radio"]
    _ref(cloud["gpu"], gi, "cloud.gpu", "gpu", problems)
    can_run = np.zeros((len(data["devices"]), len(data["models"])), dtype=bool)
    for d, dev in enumerate(data["devices"]):
        if dev["gpu"] is not None:
            _ref(dev["gpu"], gi, f"devices[{d}].gpu", "gpu", problems)
        for j, name in enumerate(dev["local_models"]):
            can_run[d, _ref(name, mi, f"devices[{d}].local_models[{j}]", "model", problems)] = True
        if dev["local_models"] and (dev["gpu"] is None or dev["gpu_memory_gb"] <= 0):
            problems.append((f"devices[{d}].local_models", "a device without a GPU (gpu null) or without GPU "
                             "memory runs no model"))
    for e, edge in enumerate(data["edges"]):
        _ref(edge["gpu"], gi, f"edges[{e}].gpu", "gpu", problems)
    users = _users(data, ei, di, problems)
    _requests_no_configuration_serves(data, configs, problems)
    if problems:
        raise InstanceError(source, problems)

    edges, devices = data["edges"], data["devices"]
    user_edge = np.array(users["edge"], dtype=np.int64)
    tx_dbm = 10.0 * np.log10(1000.0 * np.array([devices[d]["tx_power_watts"] for d in users["device"]]))[:, None]
    bs_dbm = np.array([edges[e]["base_station_power_dbm"] for e in user_edge])[:, None]
    up_hz = np.array([e["uplink_hz"] for e in edges])
    down_hz = np.array([e["downlink_hz"] for e in edges])
    eff = lambda power, hz: spectral_efficiency(  # noqa: E731
        power, np.array(users["distance"]), np.array(users["shadowing"]), radio["noise_dbm_per_hz"],
        hz[user_edge][:, None], radio["path_loss_intercept_db"], radio["path_loss_slope_db"])
    col = lambda items, key: frozen([x[key] for x in items])  # noqa: E731
    return dict(
        slots=data["slots"],
        user_names=tuple(u["name"] for u in data["users"]), edge_names=tuple(e["name"] for e in edges),
        device_names=tuple(d["name"] for d in devices), model_names=tuple(m["name"] for m in data["models"]),
        config_names=tuple(configs["names"]),
        utility_weight=float(w["utility"]), delay_per_second=float(w["delay_per_second"]),
        energy_per_joule=float(w["energy_per_joule"]), refusal_penalty=float(w["refusal_penalty"]),
        prompt_bits=float(radio["prompt_bits"]),
        cloud_enabled=bool(cloud["enabled"]), wan_delay_seconds=float(cloud["wan_delay_seconds"]),
        cloud_speed=float(speed[cloud["gpu"]]), cloud_price=float(cloud["price_per_request"]),
        model_memory_gb=col(data["models"], "gpu_memory_gb"),
        config_model=frozen(configs["model"], np.int64), config_duration_seconds=frozen(configs["duration"]),
        config_reference_seconds=frozen(configs["ref"]), config_peak_memory_gb=frozen(configs["peak"]),
        config_video_bits=frozen(configs["bits"]), config_utility=frozen(configs["utility"]),
        device_speed=frozen([0.0 if d["gpu"] is None else speed[d["gpu"]] for d in devices]),
        device_memory_gb=col(devices, "gpu_memory_gb"), device_power_watts=col(devices, "compute_power_watts"),
        device_tx_watts=col(devices, "tx_power_watts"), device_rx_watts=col(devices, "rx_power_watts"),
        device_can_run=frozen(can_run, bool),
        edge_speed=frozen([speed[e["gpu"]] for e in edges]), edge_memory_gb=col(edges, "gpu_memory_gb"),
        uplink_hz=frozen(up_hz), downlink_hz=frozen(down_hz),
        user_edge=frozen(user_edge, np.int64), user_device=frozen(users["device"], np.int64),
        requested=frozen(users["requested"], bool), requested_seconds=frozen(users["seconds"]),
        uplink_efficiency=frozen(eff(tx_dbm, up_hz)), downlink_efficiency=frozen(eff(bs_dbm, down_hz)),
    )


# -- JSON Schema pieces (the offloading family's schema, and any family on the same cells, build on them) --
WEIGHTS_SCHEMA = record(["utility", "delay_per_second", "energy_per_joule", "refusal_penalty"], {
    "utility": nonnegative(1e6),
    "delay_per_second": nonnegative(1e6),
    "energy_per_joule": nonnegative(1e6),
    "refusal_penalty": nonnegative(1e9),
})

RADIO_SCHEMA = record(["noise_dbm_per_hz", "path_loss_intercept_db", "path_loss_slope_db", "prompt_bits"], {
    "noise_dbm_per_hz": {"type": "number", "minimum": -250, "maximum": -100},
    "path_loss_intercept_db": {"type": "number", "minimum": 0, "maximum": 300},
    "path_loss_slope_db": {"type": "number", "minimum": 0, "maximum": 100},
    "prompt_bits": positive(1e12),
})

CLOUD_SCHEMA = record(["enabled", "wan_delay_seconds", "gpu", "price_per_request"], {
    "enabled": {"type": "boolean"},
    "wan_delay_seconds": nonnegative(1e4),
    "gpu": NAME,
    "price_per_request": nonnegative(1e9),
})

GPU_SCHEMA = record(["name", "relative_speed"], {"name": NAME, "relative_speed": positive(1e3), "sources": SOURCES})

CONFIG_SCHEMA = record(["name", "resolution", "duration_seconds", "steps", "generation_seconds", "measured_on",
                  "peak_gpu_memory_gb", "video_megabits", "utility_factor"], {
    "name": NAME,
    "resolution": NAME,
    "duration_seconds": positive(1e4),
    "steps": {"type": "integer", "minimum": 1, "maximum": 100_000},
    "generation_seconds": positive(1e6),
    "measured_on": NAME,
    "peak_gpu_memory_gb": positive(1e5),
    "video_megabits": positive(1e9),
    "utility_factor": {"type": "number", "minimum": 0, "maximum": 10},
    "sources": SOURCES,
})

MODEL_SCHEMA = record(["name", "gpu_memory_gb", "utility", "configs"], {
    "name": NAME,
    "gpu_memory_gb": positive(1e5),
    "utility": nonnegative(1e6),
    "configs": array_of(CONFIG_SCHEMA, least=1, most=1000),
    "sources": SOURCES,
})

DEVICE_SCHEMA = record(["name", "gpu", "gpu_memory_gb", "compute_power_watts", "tx_power_watts", "rx_power_watts",
                  "local_models"], {
    "name": NAME,
    "gpu": NAME_OR_NULL,
    "gpu_memory_gb": nonnegative(1e5),
    "compute_power_watts": nonnegative(1e5),
    "tx_power_watts": positive(1e3),
    "rx_power_watts": nonnegative(1e3),
    "local_models": NAMES,
    "sources": SOURCES,
})

EDGE_SCHEMA = record(["name", "gpu", "gpu_memory_gb", "uplink_hz", "downlink_hz", "base_station_power_dbm"], {
    "name": NAME,
    "gpu": NAME,
    "gpu_memory_gb": positive(1e6),
    "uplink_hz": positive(1e12),
    "downlink_hz": positive(1e12),
    "base_station_power_dbm": {"type": "number", "minimum": -50, "maximum": 100},
})

#: A request, or null in a slot where the user asks for nothing. An object-or-null type (not anyOf) keeps
#: the messages precise: a bad field is named by its own path.
REQUEST_SCHEMA = {**record(["duration_seconds"], {"category": NAME, "duration_seconds": positive(1e4)}),
            "type": ["object", "null"]}

USER_SCHEMA = record(["name", "edge", "device", "distance_m", "shadowing_db", "requests"], {
    "name": NAME,
    "edge": NAME,
    "device": NAME,
    "distance_m": array_of({"type": "number", "minimum": 1, "maximum": 1e5}, least=1),
    "shadowing_db": array_of({"type": "number", "minimum": -100, "maximum": 100}, least=1),
    "requests": array_of(REQUEST_SCHEMA, least=1),
})


CHOICE_SCHEMA = {**record(["model", "config", "place"], {"model": NAME, "config": NAME,
                                                   "place": {"enum": ["local", "edge", "cloud"]}}),
           "type": ["object", "null"]}
SHARES_SCHEMA = record(["uplink", "downlink", "compute"], {"uplink": nonnegative(1.0 + 1e-6),
                                                    "downlink": nonnegative(1.0 + 1e-6),
                                                    "compute": nonnegative(1.0 + 1e-6)})

#: The ``decisions`` of a solution file: per slot the models loaded on each edge, each requesting user's
#: choice (null: not served) and every user's shares of its cell's uplink and downlink and its edge's compute.
SLOTS_SOLUTION_SCHEMA = record(["slots"], {
    "slots": array_of(record(["loaded", "choices", "shares"], {
        "loaded": {"type": "object", "additionalProperties": NAMES},
        "choices": {"type": "object", "additionalProperties": CHOICE_SCHEMA},
        "shares": {"type": "object", "additionalProperties": SHARES_SCHEMA},
    })),
})


# -- the decisions of every slot ---------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Solution:
    """Decisions of every slot. ``config`` and ``place`` (U, T): the configuration and place serving the user's
    request, -1 where the user is not served (refused, or nothing asked); ``loaded`` (E, M, T) the models each
    edge holds; ``shares`` (U, T, 3): the user's shares of its cell's uplink and downlink and its edge's compute."""

    config: np.ndarray
    place: np.ndarray
    loaded: np.ndarray
    shares: np.ndarray


def empty_solution(inst: Cells) -> Solution:
    U, T = inst.num_users, inst.slots
    return Solution(np.full((U, T), -1, np.int64), np.full((U, T), -1, np.int64),
                    np.zeros((inst.num_edges, inst.num_models, T), bool), np.zeros((U, T, 3)))


def solution_to_data(inst: Cells, sol: Solution) -> dict:
    """Per slot: the models loaded on each edge, each requesting user's choice (null: refused), and the shares
    of every user who offloads."""
    slots = []
    names = [n.split("/", 1) for n in inst.config_names]
    for t in range(inst.slots):
        choices, shares = {}, {}
        for u in np.flatnonzero(inst.requested[:, t]):
            k, p = int(sol.config[u, t]), int(sol.place[u, t])
            choices[inst.user_names[u]] = None if k < 0 else {"model": names[k][0], "config": names[k][1],
                                                              "place": PLACES[p]}
        for u in np.flatnonzero(np.asarray(sol.shares)[:, t].any(axis=1)):
            s = sol.shares[u, t]
            shares[inst.user_names[u]] = {"uplink": float(s[0]), "downlink": float(s[1]), "compute": float(s[2])}
        slots.append({"loaded": {inst.edge_names[e]: [inst.model_names[m] for m in np.flatnonzero(sol.loaded[e, :, t])]
                                 for e in range(inst.num_edges)},
                      "choices": choices, "shares": shares})
    return {"slots": slots}


def solution_from_data(inst: Cells, data: dict, source: str = "<solution>") -> Solution:
    """Parse the decisions written by :func:`solution_to_data`; every bad reference is reported."""
    sol = empty_solution(inst)
    config, place, loaded, shares = sol.config.copy(), sol.place.copy(), sol.loaded.copy(), sol.shares.copy()
    problems: list[tuple[str, str]] = []
    ui = {n: i for i, n in enumerate(inst.user_names)}
    ei = {n: i for i, n in enumerate(inst.edge_names)}
    mi = {n: i for i, n in enumerate(inst.model_names)}
    ki = {n: i for i, n in enumerate(inst.config_names)}
    if len(data["slots"]) != inst.slots:
        raise InstanceError(source, [("decisions.slots", f"must be an array of {inst.slots} slot(s)")])
    for t, s in enumerate(data["slots"]):
        where = f"decisions.slots[{t}]"
        for edge, names in s["loaded"].items():
            if edge not in ei:
                problems.append((f"{where}.loaded.{edge}", "no such edge"))
                continue
            for j, name in enumerate(names):
                if name not in mi:
                    problems.append((f"{where}.loaded.{edge}[{j}]", f"no model named {name!r}"))
                else:
                    loaded[ei[edge], mi[name], t] = True
        for user, choice in s["choices"].items():
            if user not in ui:
                problems.append((f"{where}.choices.{user}", "no such user"))
            elif choice is not None:
                key = f"{choice['model']}/{choice['config']}"
                if key not in ki:
                    problems.append((f"{where}.choices.{user}", f"no configuration {choice['config']!r} of model "
                                     f"{choice['model']!r}"))
                else:
                    config[ui[user], t], place[ui[user], t] = ki[key], PLACES.index(choice["place"])
        for user, x in s["shares"].items():
            if user not in ui:
                problems.append((f"{where}.shares.{user}", "no such user"))
            else:
                shares[ui[user], t] = (x["uplink"], x["downlink"], x["compute"])
    if problems:
        raise InstanceError(source, problems)
    return Solution(config, place, loaded, shares)


# -- once choices are made: shares and the slot's value ----------------------------------------------------
ALLOCATIONS = ("closed", "slsqp", "equal")


def slot_value(opts: Options, chosen: np.ndarray) -> float:
    """The slot's objective for a choice per requesting user (an option index, -1 to refuse), the resources
    shared optimally: the options' values less, per resource, (sum of sqrt(cost))^2."""
    chosen = np.asarray(chosen)
    picked = chosen[chosen >= 0]
    value = float(opts.value[picked].sum()) + opts.refusal_value * int((chosen < 0).sum())
    roots = np.zeros(int(opts.resource.max(initial=-1)) + 1)
    np.add.at(roots, opts.resource[picked].ravel(), np.sqrt(opts.cost[picked]).ravel())
    return value - float((roots ** 2).sum())


#: Relative floor of a user's cost on a resource it uses, for sharing only: a user whose delay and energy
#: weigh nothing (weights 0) still needs some share of what it uses, or its delay would be infinite.
COST_FLOOR = 1e-12


def shares(inst: Cells, opts: Options, chosen: np.ndarray, allocation: str = "closed") -> np.ndarray:
    """(U, 3) every user's shares of its uplink, downlink and compute for these choices: every user who
    offloads gets a positive share of its cell's uplink and downlink, every edge user of the edge's compute."""
    if allocation not in ALLOCATIONS:
        raise ValueError(f"allocation must be one of {', '.join(ALLOCATIONS)}, got {allocation!r}")
    x = np.zeros((inst.num_users, 3))
    picked = np.asarray(chosen)[np.asarray(chosen) >= 0]
    place = opts.place[picked]
    for j in range(3):
        uses = (place == EDGE) if j == 2 else (place != LOCAL)
        a, r, users = opts.cost[picked, j], opts.resource[picked, j], opts.user[picked]
        for res in np.unique(r[uses]):
            mine = (r == res) & uses
            if allocation == "equal" or not (a[mine] > 0).any():
                x[users[mine], j] = 1.0 / mine.sum()
            else:
                weights = np.maximum(a[mine], COST_FLOOR * a[mine].max())
                x[users[mine], j] = allocate(weights, 1.0, method=allocation).shares
    return x


def loaded_for(inst: Cells, opts: Options, chosen: np.ndarray) -> np.ndarray:
    """(E, M) the models the edge options among the choices need loaded (and nothing else)."""
    loaded = np.zeros((inst.num_edges, inst.num_models), dtype=bool)
    picked = np.asarray(chosen)[np.asarray(chosen) >= 0]
    on_edge = picked[opts.place[picked] == EDGE]
    loaded[opts.edge[on_edge], opts.model[on_edge]] = True
    return loaded


def fits_memory(inst: Cells, opts: Options, chosen: np.ndarray) -> bool:
    """Whether the models these choices need loaded fit every edge's GPU memory."""
    need = loaded_for(inst, opts, chosen) @ inst.model_memory_gb
    return bool((need <= inst.edge_memory_gb * (1 + 1e-9)).all())


# -- the evaluator's building blocks (the truth: from the decisions alone, never from an option table) --------
#: Violations listed per kind at the most.
MAX_LISTED = 50


def choice_violations(inst: Cells, k: np.ndarray, p: np.ndarray, loaded: np.ndarray) -> list[Violation]:
    """Choices that cannot be made: a configuration where nothing is asked, too short, a place the device,
    the edge or the cloud cannot give it."""
    viol = []
    served = k >= 0
    u_idx, t_idx = np.nonzero(served | (p >= 0))
    for u, t in zip(u_idx.tolist(), t_idx.tolist()):
        where = f"user {inst.user_names[u]!r}, slot {t}"
        kk, pp = int(k[u, t]), int(p[u, t])
        if not (0 <= kk < inst.num_configs) or pp not in (LOCAL, EDGE, CLOUD):
            viol.append(Violation("choice", where, float(kk), f"configuration {kk} at place {pp} does not exist"))
            continue
        m, d, e = inst.config_model[kk], inst.user_device[u], inst.user_edge[u]
        name = inst.config_names[kk]
        reasons = []
        if not inst.requested[u, t]:
            reasons.append("the user asked for nothing in this slot")
        elif inst.config_duration_seconds[kk] < inst.requested_seconds[u, t] - 1e-9:
            reasons.append(f"{name} makes {inst.config_duration_seconds[kk]:g} s of video, "
                           f"{inst.requested_seconds[u, t]:g} s were asked")
        peak = inst.config_peak_memory_gb[kk]
        if pp == LOCAL and not (inst.device_can_run[d, m] and inst.device_speed[d] > 0
                                and peak <= inst.device_memory_gb[d] * (1 + TOL)):
            reasons.append(f"device {inst.device_names[d]!r} cannot run {name} ({peak:g} GB peak)")
        if pp == EDGE and not loaded[e, m, t]:
            reasons.append(f"model {inst.model_names[m]!r} is not loaded on edge {inst.edge_names[e]!r}")
        if pp == EDGE and peak > inst.edge_memory_gb[e] * (1 + TOL):
            reasons.append(f"{name} needs {peak:g} GB, edge {inst.edge_names[e]!r} has {inst.edge_memory_gb[e]:g}")
        if pp == CLOUD and not inst.cloud_enabled:
            reasons.append("the cloud is disabled")
        for r in reasons:
            viol.append(Violation("choice", where, 1.0, f"{PLACES[pp]} {name}: {r}"))
    return viol[:MAX_LISTED * 4]


def capacity_violations(inst: Cells, p: np.ndarray, loaded: np.ndarray, x: np.ndarray) -> list[Violation]:
    """Loaded models over an edge's memory; shares negative, over 1 per resource, or 0 where needed."""
    viol = []
    T, E = inst.slots, inst.num_edges
    mem = np.einsum("emt,m->et", loaded, inst.model_memory_gb)
    for e, t in np.argwhere(mem > inst.edge_memory_gb[:, None] * (1 + TOL)):
        viol.append(Violation("gpu_memory", f"edge {inst.edge_names[e]!r}, slot {t}", float(mem[e, t]
                    - inst.edge_memory_gb[e]), f"loaded models need {mem[e, t]:g} GB of {inst.edge_memory_gb[e]:g}"))
    if (x < 0).any() or not np.isfinite(x).all():
        viol.append(Violation("shares", "shares", float(np.nanmin(x)), "shares must be finite and >= 0"))
    for j, what in enumerate(("uplink", "downlink", "compute")):
        total = np.zeros((E, T))
        np.add.at(total, inst.user_edge, np.nan_to_num(x[:, :, j]))
        for e, t in np.argwhere(total > 1 + TOL):
            viol.append(Violation(f"{what}_shares", f"edge {inst.edge_names[e]!r}, slot {t}", float(total[e, t] - 1),
                                  f"the {what} shares of its users sum to {total[e, t]:.12g}, above 1"))
        needs = (p == EDGE) if j == 2 else (p == EDGE) | (p == CLOUD)
        for u, t in np.argwhere(needs & ~(x[:, :, j] > 0))[:MAX_LISTED]:
            viol.append(Violation(f"{what}_shares", f"user {inst.user_names[u]!r}, slot {t}", 0.0,
                                  f"offloads with no {what} share"))
    return viol


def timings(inst: Cells, k: np.ndarray, p: np.ndarray, x: np.ndarray) -> dict[str, np.ndarray]:
    """(U, T) seconds and joules of every served user: uplink, generation, downlink, delay, energy; the
    utility and the cloud price. Zero for users not served. Assumes the choices and shares are valid."""
    U, T = k.shape
    served = k >= 0
    kk = np.where(served, k, 0)
    d, e = inst.user_device[:, None], inst.user_edge[:, None]
    offloaded = served & ((p == EDGE) | (p == CLOUD))
    with np.errstate(divide="ignore", invalid="ignore"):
        up = np.where(offloaded, inst.prompt_bits / (x[:, :, 0] * inst.uplink_hz[e] * inst.uplink_efficiency), 0.0)
        down = np.where(offloaded, inst.config_video_bits[kk] / (x[:, :, 1] * inst.downlink_hz[e]
                                                                * inst.downlink_efficiency), 0.0)
        ref = inst.config_reference_seconds[kk]
        speed = np.select([p == LOCAL, p == EDGE, p == CLOUD],
                          [np.broadcast_to(inst.device_speed[d], (U, T)), inst.edge_speed[e] * x[:, :, 2],
                           np.full((U, T), inst.cloud_speed)], 1.0)
        generation = np.where(served, ref / speed, 0.0)
    wan = np.where(served & (p == CLOUD), inst.wan_delay_seconds, 0.0)
    energy = np.where(p == LOCAL, inst.device_power_watts[d] * generation,
                      inst.device_tx_watts[d] * up + inst.device_rx_watts[d] * down)
    return {"uplink": up, "generation": generation, "downlink": down, "delay": up + generation + down + wan,
            "energy": np.where(served, energy, 0.0), "utility": np.where(served, inst.config_utility[kk], 0.0),
            "price": np.where(served & (p == CLOUD), inst.cloud_price, 0.0)}


# -- generated cells (the families' generators build on them) -----------------------------------------------
#: Edge servers of generated instances (A): an 80 GB data-centre GPU or a 24 GB workstation GPU per cell.
EDGE_GPUS = (("A100", 80.0), ("RTX 4090", 24.0))
#: The memory of every GPU kind of the catalog, for edges drawn with ``edge_gpus``: H100 SXM 80 GB HBM3 (NVIDIA
#: H100 Tensor Core GPU data sheet), A100 80 GB (NVIDIA A100 data sheet), GeForce RTX 4090 24 GB GDDR6X (NVIDIA
#: product specifications), laptop RTX 4070 8 GB and Jetson AGX Orin 32 GB (the catalog's device entries and
#: their sources).
GPU_MEMORY_GB = {"H100": 80.0, "A100": 80.0, "RTX 4090": 24.0, "laptop RTX 4070": 8.0, "Jetson AGX Orin": 32.0}
#: Share of users per device class (A): mostly phones, which must offload.
DEVICE_MIX = {"phone": 0.6, "laptop": 0.25, "jetson": 0.15}
#: Video lengths users ask for, in seconds (A).
REQUESTED_SECONDS = (2.0, 4.0)
#: Users stand between this distance from their base station and the cell radius (3GPP TR 36.814: 35 m).
MIN_DISTANCE_M = 35.0


def _models(models, rng: np.random.Generator, cat: dict) -> list[dict]:
    return catalog.pick(cat["models"], models, rng, "text-to-video model")


def _model_doc(entry: dict, cat: dict, max_configs: int | None, shuffle: np.random.Generator | None = None) -> dict:
    """A catalog model as the instance holds it: each configuration with its video size and utility factor.
    ``shuffle``: keep a random subset of ``max_configs`` configurations (not the fastest), in a random order."""
    doc = {k: copy.deepcopy(entry[k]) for k in ("name", "gpu_memory_gb", "utility", "sources")}
    doc["sources"].pop("load_seconds", None)  # slots stand alone here: loading a model costs nothing
    configs = sorted(entry["configs"], key=lambda c: (c["generation_seconds"], c["name"]))
    if shuffle is None:
        configs = configs[:max_configs]
    else:
        configs = [configs[i] for i in shuffle.permutation(len(configs))[:max_configs]]
    doc["configs"] = []
    for c in configs:
        c = copy.deepcopy(c)
        c["video_megabits"] = float(round(cat["video_megabits_per_second"][c["resolution"]] * c["duration_seconds"], 6))
        c["utility_factor"] = cat["resolution_utility_factor"][c["resolution"]]
        doc["configs"].append(c)
    return doc


def _generated_users(users: int, slots: int, edges: int, radius_m: float, asks, devices: list[str], longest: float,
           rng: np.random.Generator, mix: dict | None = None) -> list[dict]:
    shares = np.array([(DEVICE_MIX if mix is None else mix).get(d, 0.0) for d in devices])
    # Only lengths some configuration makes: a longer request could only be refused.
    lengths = [s for s in REQUESTED_SECONDS if s <= longest] or [min(REQUESTED_SECONDS[0], longest)]
    out = []
    for i in range(users):
        draws = rng.random(slots)
        seconds = rng.choice(lengths, size=slots)
        edge = int(rng.integers(edges))
        asked = asks(edge, draws)
        out.append({
            "name": f"u{i}", "edge": f"edge{edge}",
            "device": devices[int(rng.choice(len(devices), p=shares / shares.sum()))],
            "distance_m": [float(round(v, 1)) for v in rng.uniform(MIN_DISTANCE_M, radius_m, size=slots)],
            "shadowing_db": [float(round(v, 2)) for v in rng.normal(0.0, 8.0, size=slots)],
            "requests": [{"category": "basic", "duration_seconds": float(s)} if a else None
                         for a, s in zip(asked, seconds)],
        })
    return out


def _device_mix(mix, devices: list[str]) -> dict | None:
    """``device_mix`` checked: None, or a share per device class of the catalog (non-negative, not all 0)."""
    if mix is None:
        return None
    mix = dict(mix)
    unknown = sorted(set(mix) - set(devices))
    if unknown:
        raise ValueError(f"device_mix: no device class {unknown[0]!r} in the catalog; known: {', '.join(devices)}")
    if any(not isinstance(v, (int, float)) or isinstance(v, bool) or not np.isfinite(v) or v < 0
           for v in mix.values()) or not sum(mix.values()) > 0:
        raise ValueError(f"device_mix: shares must be finite, >= 0 and not all 0, got {mix}")
    return mix


def _edge_gpus(edge_gpus) -> list[str] | None:
    if edge_gpus is None:
        return None
    names = [edge_gpus] if isinstance(edge_gpus, str) else list(edge_gpus)
    unknown = [n for n in names if n not in GPU_MEMORY_GB]
    if not names or unknown:
        raise ValueError(f"edge_gpus: GPU kinds of the catalog, one or more of {', '.join(GPU_MEMORY_GB)}; got "
                         f"{edge_gpus!r}")
    return names


def _limit(schema: dict, key: str, end: str = "maximum") -> float:
    field = schema["properties"][key]
    return float((field.get("items", field))[end])


#: Each number of the cell generators (offloading and serving), with its range, in its own unit: that of the field it becomes (the schema's), so that the generator makes
#: only what its loader accepts (an uplink of 10^7 MHz was refused as "edges[0].uplink_hz" of the generated
#: document, a cell radius under 35 m failed in numpy with "high - low < 0"). A band is at least 1e-6 Hz.
CELL_RANGES = {
    "uplink_mhz": (_limit(EDGE_SCHEMA, "uplink_hz", "minimum") / 1e6, _limit(EDGE_SCHEMA, "uplink_hz") / 1e6),
    "downlink_mhz": (_limit(EDGE_SCHEMA, "downlink_hz", "minimum") / 1e6, _limit(EDGE_SCHEMA, "downlink_hz") / 1e6),
    "cell_radius_m": (MIN_DISTANCE_M, _limit(USER_SCHEMA, "distance_m")),
    "request_probability": (0.0, 1.0),
    "delay_per_second": (0.0, _limit(WEIGHTS_SCHEMA, "delay_per_second")),
    "energy_per_joule": (0.0, _limit(WEIGHTS_SCHEMA, "energy_per_joule")),
    "refusal_penalty": (0.0, _limit(WEIGHTS_SCHEMA, "refusal_penalty")),
    "cloud_price": (0.0, _limit(CLOUD_SCHEMA, "price_per_request")),
}


def check_cell_parameters(**values) -> None:
    """ValueError naming the first parameter a generator cannot make a valid instance of: a number outside
    ``CELL_RANGES`` (or not a finite number), ``max_configs`` not a whole number >= 1, ``seed`` not a whole number
    >= 0, ``models`` an empty or repeating list of names, ``device_mix`` shares whose sum overflows."""
    for name, (low, high) in CELL_RANGES.items():
        if name not in values:
            continue
        value = values[name]
        number_ = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
        if not number_ or not math.isfinite(value) or not low <= value <= high:
            raise ValueError(f"{name} must be a number from {low:g} to {high:g}, got {value!r}")
        hz = name.replace("_mhz", "_hz")
        if hz != name and not (_limit(EDGE_SCHEMA, hz, "minimum") <= value * 1e6 <= _limit(EDGE_SCHEMA, hz)):
            raise ValueError(f"{name} must be a number from {low:g} to {high:g}, got {value!r}")  # (the Hz it makes)
    max_configs, seed, models = values.get("max_configs"), values.get("seed", 0), values.get("models", 1)
    if max_configs is not None and (isinstance(max_configs, bool) or not isinstance(max_configs, (int, np.integer))
                                    or max_configs < 1):
        raise ValueError(f"max_configs must be a whole number >= 1 (or None: all), got {max_configs!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a whole number >= 0, got {seed!r}")
    if isinstance(models, (list, tuple)) and (not models or len(set(map(str, models))) < len(models)):
        raise ValueError(f"models must name one or more catalog models, each once, got {models!r}")
    mix = values.get("device_mix")
    if isinstance(mix, dict) and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                                     for v in mix.values()) and not math.isfinite(sum(mix.values())):
        raise ValueError(f"device_mix: shares must have a finite sum, got {mix}")


#: What a generated instance may hold, checked before any work (the schemas' own limits, and the user-slots a
#: generator builds one by one: 100,000 users in one slot take about 20 s here).
MAX_GENERATED = {"users": 100_000, "edges": 10_000, "slots": 10_000, "user_slots": 1_000_000}


def check_generated_size(users, edges, slots) -> None:
    """ValueError naming the first size a generator cannot make (checked before any work)."""
    for name, value in (("users", users), ("edges", edges), ("slots", slots)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a whole number >= 1, got {value!r}")
        if value > MAX_GENERATED[name]:
            raise ValueError(f"{name} must be at most {MAX_GENERATED[name]:,}, got {value:,}")
    if users * slots > MAX_GENERATED["user_slots"]:
        raise ValueError(f"users x slots must be at most {MAX_GENERATED['user_slots']:,}, got {users:,} x {slots:,}")


#: The most option rows an instance may need (issue 19, item 6): ``Cells.options`` lays out every request x
#: every configuration x 3 places, over all slots, before it drops the options that cannot serve. Checked
#: when a file is read (and by the generators before they draw users), before any table is built. Measured
#: at the limit, one cell: ``show`` and the heuristics peak under 200 MB, the exact methods and mappo under 1 GB
#: (20,000 users x 1,000 configurations, 60 million rows, took 10 GB and 97 s to show).
MAX_OPTION_ROWS = 500_000
#: The most (edge, model, slot) entries: every plan holds the models loaded on each edge in each slot (E, M, T),
#: the evaluator and the serving methods work on arrays of that shape and the serving policies on E x M rows
#: per slot (10^11, which a 2 MB file can ask for, ran out of memory; at the limit the serving policies peak
#: near 700 MB).
MAX_EDGE_MODEL_SLOTS = 250_000
#: The most user-slots (users x slots): the (users, slots) arrays of the instance, of every plan and of the
#: evaluator; what a generator may make (MAX_GENERATED), a file may hold (6 million, in 63 MB, took 1.4 GB).
MAX_USER_SLOTS = MAX_GENERATED["user_slots"]


def _too_many(rows: int, loaded: int) -> tuple[str, str] | None:
    """(field, words) of the first table beyond its limit, or None."""
    if rows > MAX_OPTION_ROWS:
        return "options", (f"{rows:,} option rows, more than the limit of {MAX_OPTION_ROWS:,} "
                           "(edgeopt.mec.MAX_OPTION_ROWS)")
    if loaded > MAX_EDGE_MODEL_SLOTS:
        return "loaded", (f"{loaded:,} (edge, model, slot) entries, more than the limit of {MAX_EDGE_MODEL_SLOTS:,} "
                          "(edgeopt.mec.MAX_EDGE_MODEL_SLOTS)")
    return None


def check_table_sizes(data: dict, source: str) -> None:
    """One-line InstanceError naming the file and the field when schema-valid ``data`` has more user-slots than
    ``MAX_USER_SLOTS``, or would need more option rows than ``MAX_OPTION_ROWS`` or more (edge, model, slot)
    entries than ``MAX_EDGE_MODEL_SLOTS``; counted from the document alone, before anything is built."""
    T, U = data["slots"], len(data["users"])
    if U * T > MAX_USER_SLOTS:
        raise InstanceError(source, [("users", f"{U:,} users x {T:,} slots make {U * T:,} user-slots, more than "
                                      f"the limit of {MAX_USER_SLOTS:,} (edgeopt.mec.MAX_USER_SLOTS)")])
    requests = sum(r is not None for u in data["users"] for r in u["requests"][:T])
    configs = sum(len(m["configs"]) for m in data["models"])
    E, M = len(data["edges"]), len(data["models"])
    beyond = _too_many(requests * configs * len(PLACES), E * M * T)
    if beyond is None:
        return
    if beyond[0] == "options":
        where, what = "users", (f"{requests:,} requests (users[*].requests) x {configs:,} configurations "
                                f"(models[*].configs) x {len(PLACES)} places make {beyond[1]}")
    else:
        where, what = "edges", f"{E:,} edges x {M:,} models x {T:,} slots make {beyond[1]}"
    raise InstanceError(source, [(where, what)])


def precheck_table_sizes(data, source: str) -> None:
    """:func:`check_table_sizes` before the JSON Schema check, which takes seconds to minutes on a document of
    tens of MB: a document too large to read is refused at once; one whose shape is wrong is left to the
    schema, which names what is wrong."""
    try:
        slots = data["slots"]
        if not (isinstance(slots, int) and all(isinstance(u, dict) and isinstance(u["requests"], list)
                                               for u in data["users"])
                and all(isinstance(m["configs"], list) for m in data["models"]) and isinstance(data["edges"], list)):
            return
        check_table_sizes(data, source)
    except (KeyError, TypeError, AttributeError, IndexError):
        return


def check_generated_tables(users: int, edges: int, slots: int, models: int, configs: int) -> None:
    """ValueError when a generated instance could need more option rows or (edge, model, slot) entries than
    a file may (``check_table_sizes``): every user asking in every slot. Checked before users are drawn."""
    beyond = _too_many(users * slots * configs * len(PLACES), edges * models * slots)
    if beyond is None:
        return
    if beyond[0] == "options":
        raise ValueError(f"users x slots x configurations (models, max_configs) x {len(PLACES)} places: {users:,} x "
                         f"{slots:,} x {configs:,} x {len(PLACES)} make {beyond[1]}")
    raise ValueError(f"edges x models x slots: {edges:,} x {models:,} x {slots:,} make {beyond[1]}")


def generate_cells(*, users: int, edges: int, slots: int, models, max_configs: int | None, uplink_mhz: float,
                   downlink_mhz: float, cell_radius_m: float, cloud: bool, delay_per_second: float,
                   energy_per_joule: float, refusal_penalty: float, cloud_price: float, edge_gpus, device_mix,
                   shuffle: bool, seed: int, asks) -> tuple[dict, list[str]]:
    """The cells' part of a generated document (slots, weights, radio, cloud, gpus, models, devices, edges,
    users) and the chosen models' names, drawn from the catalog by ``seed``. ``asks(edge, draws)`` says in which
    slots a user of cell ``edge`` asks for a video, from ``draws``, one uniform number in [0, 1) per slot
    (``draws < p``: a chance p in every slot). Every user's draws come from one seeded stream, in a fixed order
    (draws, video lengths, cell, device, distances, shadowing)."""
    rng = np.random.default_rng(seed)
    order = np.random.default_rng([seed, 1]) if shuffle else None
    cat = catalog.text_to_video()
    kinds = _edge_gpus(edge_gpus)
    chosen = _models(models, rng, cat)
    if order is not None:
        chosen = [chosen[i] for i in order.permutation(len(chosen))]
    edge_docs = []
    for e in range(edges):
        if kinds is None:
            gpu, memory = EDGE_GPUS[int(rng.integers(len(EDGE_GPUS)))]
        else:
            gpu = kinds[int(rng.integers(len(kinds)))]
            memory = GPU_MEMORY_GB[gpu]
        edge_docs.append({"name": f"edge{e}", "gpu": gpu, "gpu_memory_gb": memory, "uplink_hz": uplink_mhz * 1e6,
                          "downlink_hz": downlink_mhz * 1e6,
                          "base_station_power_dbm": cat["radio"]["base_station_power_dbm"]})
    devices = [copy.deepcopy(d) for d in cat["devices"]]
    mix = _device_mix(device_mix, [d["name"] for d in devices])
    kept = {m["name"] for m in chosen}
    for d in devices:
        d["local_models"] = [m for m in d["local_models"] if m in kept]
    radio = cat["radio"]
    model_docs = [_model_doc(m, cat, max_configs, order) for m in chosen]
    check_generated_tables(users, edges, slots, len(model_docs), sum(len(m["configs"]) for m in model_docs))
    longest = max(c["duration_seconds"] for m in model_docs for c in m["configs"])
    data = {
        "slots": slots,
        "weights": {"utility": 1.0, "delay_per_second": float(delay_per_second),
                    "energy_per_joule": float(energy_per_joule), "refusal_penalty": float(refusal_penalty)},
        "radio": {k: radio[k] for k in ("noise_dbm_per_hz", "path_loss_intercept_db", "path_loss_slope_db",
                                        "prompt_bits")},
        "cloud": {"enabled": bool(cloud), "wan_delay_seconds": 0.1, "gpu": "H100",
                  "price_per_request": float(cloud_price)},
        "gpus": [{"name": g["name"], "relative_speed": g["relative_speed"]} for g in cat["gpus"]],
        "models": model_docs,
        "devices": [{k: d[k] for k in ("name", "gpu", "gpu_memory_gb", "compute_power_watts", "tx_power_watts",
                                       "rx_power_watts", "local_models")} for d in devices],
        "edges": edge_docs,
        "users": _generated_users(users, slots, edges, cell_radius_m, asks, [d["name"] for d in devices], longest, rng, mix),
    }
    return data, [m["name"] for m in chosen]


def check_and_price(inst: Cells, sol: Solution) -> tuple[list[Violation], dict | None]:
    """The evaluator's front shared by the families on these cells: the decisions' shapes, every choice and
    capacity violation, and the delays and energies of the plan (``timings``); ``(violations, None)`` when
    anything is wrong, else ``([], {"k", "p", "loaded", "x", **timings})``."""
    U, T, E, M = inst.num_users, inst.slots, inst.num_edges, inst.num_models
    want = {"config": (U, T), "place": (U, T), "loaded": (E, M, T), "shares": (U, T, 3)}
    viol = [Violation("shape", key, float("nan"), f"expected shape {shape}, got {np.shape(getattr(sol, key))}")
            for key, shape in want.items() if np.shape(getattr(sol, key)) != shape]
    if viol:
        return viol, None
    k = np.asarray(sol.config, dtype=np.int64)
    p = np.asarray(sol.place, dtype=np.int64)
    loaded = np.asarray(sol.loaded, dtype=bool)
    x = np.asarray(sol.shares, dtype=float)
    viol = choice_violations(inst, k, p, loaded) + capacity_violations(inst, p, loaded, x)
    if viol:
        return viol, None
    tm = timings(inst, k, p, x)
    bad = ~np.isfinite(tm["delay"]) | ~np.isfinite(tm["energy"])
    if bad.any():  # a rate of 0 (no signal) or a share too small to represent: no finite delay
        u, t = (int(v) for v in np.argwhere(bad)[0])
        return [Violation("delay", f"user {inst.user_names[u]!r}, slot {t}", float("inf"),
                          "the delay or energy is not finite (a rate of 0)")], None
    return [], {"k": k, "p": p, "loaded": loaded, "x": x, **tm}
