"""Seeded offloading instances: text-to-video models, GPUs and devices from the catalog, users placed in cells.

Defaults are chosen so that the allocation matters: a 10 MHz uplink and 20 MHz downlink per cell shared by
many users, edge GPUs that many users share, a cloud that is fast but far and priced.
"""
from __future__ import annotations

import copy

import numpy as np

from edgeopt import catalog
from edgeopt.document import generated_head
from edgeopt.families.offloading.schema import KIND
from edgeopt.io import instance_from_data
from edgeopt.registry import GeneratorOption, at_least, count_or_names, number

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


def _users(users: int, slots: int, edges: int, radius_m: float, request_probability: float,
           devices: list[str], longest: float, rng: np.random.Generator, mix: dict | None = None) -> list[dict]:
    shares = np.array([(DEVICE_MIX if mix is None else mix).get(d, 0.0) for d in devices])
    # Only lengths some configuration makes: a longer request could only be refused.
    lengths = [s for s in REQUESTED_SECONDS if s <= longest] or [min(REQUESTED_SECONDS[0], longest)]
    out = []
    for i in range(users):
        asks = rng.random(slots) < request_probability
        seconds = rng.choice(lengths, size=slots)
        out.append({
            "name": f"u{i}", "edge": f"edge{int(rng.integers(edges))}",
            "device": devices[int(rng.choice(len(devices), p=shares / shares.sum()))],
            "distance_m": [float(round(v, 1)) for v in rng.uniform(MIN_DISTANCE_M, radius_m, size=slots)],
            "shadowing_db": [float(round(v, 2)) for v in rng.normal(0.0, 8.0, size=slots)],
            "requests": [{"category": "basic", "duration_seconds": float(s)} if a else None
                         for a, s in zip(asks, seconds)],
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


def generate(*, users: int = 10, edges: int = 2, slots: int = 1, models: int | list[str] = 4,
             max_configs: int | None = 3, uplink_mhz: float = 10.0, downlink_mhz: float = 20.0,
             cell_radius_m: float = 500.0, request_probability: float = 0.8, cloud: bool = True,
             delay_per_second: float = 0.05, energy_per_joule: float = 0.001, refusal_penalty: float = 100.0,
             cloud_price: float = 5.0, edge_gpus: str | list[str] | None = None, device_mix: dict | None = None,
             shuffle: bool = False, seed: int = 0, name: str | None = None):
    """A seeded, deterministic offloading instance (figures from edgeopt/catalog/text_to_video.json).

    ``max_configs`` keeps each model's fastest configurations (None: all); ``request_probability`` is the
    chance that a user asks for a video in a slot; users are placed uniformly between 35 m and the cell
    radius, with 8 dB log-normal shadowing, drawn anew every slot (they move).

    ``edge_gpus`` (GPU kinds of the catalog, ``GPU_MEMORY_GB``): each edge draws its GPU among them (None: an
    A100 80 GB or an RTX 4090 24 GB); ``device_mix`` ({device class: share}): the users' device classes (None:
    ``DEVICE_MIX``); ``shuffle``: the models and each model's configurations listed in a random order, and
    ``max_configs`` keeps a random subset of each model's configurations instead of its fastest (drawn from
    a stream of their own: the users, edges and requests are those of the same seed without it).
    """
    if users < 1 or edges < 1 or slots < 1:
        raise ValueError("users, edges and slots must be at least 1")
    if max_configs is not None and max_configs < 1:
        raise ValueError(f"max_configs must be at least 1, got {max_configs}")
    if not 0.0 <= request_probability <= 1.0:
        raise ValueError(f"request_probability must be between 0 and 1, got {request_probability}")
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
    M = len(chosen)
    model_docs = [_model_doc(m, cat, max_configs, order) for m in chosen]
    longest = max(c["duration_seconds"] for m in model_docs for c in m["configs"])
    extra = "".join(f", {k}={v!r}" for k, v in (("cloud_price", cloud_price), ("edge_gpus", edge_gpus),
                                                  ("device_mix", device_mix), ("shuffle", shuffle))
                    if v != {"cloud_price": 5.0, "shuffle": False}.get(k))
    weights = "".join(f", {k}={v!r}" for k, v, d in (("delay_per_second", delay_per_second, 0.05),
                                                      ("energy_per_joule", energy_per_joule, 0.001),
                                                      ("refusal_penalty", refusal_penalty, 100.0)) if v != d)
    data = {
        **generated_head(
            KIND, name or f"offload-u{users}-e{edges}-m{M}-t{slots}-s{seed}",
            f"generated by edgeopt.generate('offloading', users={users}, edges={edges}, slots={slots}, "
            f"models={[m['name'] for m in chosen]}, max_configs={max_configs}, uplink_mhz={uplink_mhz}, "
            f"downlink_mhz={downlink_mhz}, cell_radius_m={cell_radius_m}, request_probability={request_probability}, "
            f"cloud={cloud}{weights}{extra}, seed={seed})",
            "models, GPUs, devices and radio: edgeopt/catalog/text_to_video.json (each figure with its source or "
            "stated assumption); positions, requests, edge GPUs and weights: assumptions of the generator"),
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
        "users": _users(users, slots, edges, cell_radius_m, request_probability, [d["name"] for d in devices],
                        longest, rng, mix),
    }
    return instance_from_data(data, source="<generated>")


def _names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise ValueError(f"must be comma-separated names, got {text!r}")
    return names


def _mix(text: str) -> dict:
    """``phone=0.6,laptop=0.25,jetson=0.15``."""
    out = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"must be CLASS=SHARE pairs, e.g. phone=0.6,laptop=0.4; got {text!r}")
        out[key.strip()] = number(positive=False)(value.strip())
    return out


OPTIONS = (
    GeneratorOption("users", at_least(1), 10, "users (each asks for a video in a slot with request-probability)",
                    "N"),
    GeneratorOption("edges", at_least(1), 2, "cells, one edge server each", "N"),
    GeneratorOption("slots", at_least(1), 1, "time slots (users move and ask anew in each)", "N"),
    GeneratorOption("models", count_or_names, 4, "text-to-video models: a count drawn from the catalog, or "
                    "comma-separated catalog names", "N|NAMES"),
    GeneratorOption("max_configs", at_least(1), 3, "configurations per model (its fastest ones)", "N"),
    GeneratorOption("uplink_mhz", number(positive=True), 10.0, "uplink bandwidth per cell, MHz", "MHZ"),
    GeneratorOption("downlink_mhz", number(positive=True), 20.0, "downlink bandwidth per cell, MHz", "MHZ"),
    GeneratorOption("cell_radius_m", number(positive=True), 500.0, "cell radius, metres", "M"),
    GeneratorOption("request_probability", number(positive=False), 0.8, "chance a user asks in a slot", "P"),
    GeneratorOption("cloud", bool, True, "a cloud that serves any request (--no-cloud: none)", flag=True),
    GeneratorOption("delay_per_second", number(positive=False), 0.05, "weight of a second of delay", "W"),
    GeneratorOption("energy_per_joule", number(positive=False), 0.001, "weight of a joule of device energy", "W"),
    GeneratorOption("refusal_penalty", number(positive=False), 100.0, "cost of a refused request", "X"),
    GeneratorOption("cloud_price", number(positive=False), 5.0, "the cloud's price per request", "X"),
    GeneratorOption("edge_gpus", _names, None, "GPU kinds the edges draw from (comma-separated: H100, A100, "
                    "RTX 4090, laptop RTX 4070, Jetson AGX Orin; default: A100 or RTX 4090)", "NAMES"),
    GeneratorOption("device_mix", _mix, None, "shares of the device classes (phone=0.6,laptop=0.25,jetson=0.15)",
                    "MIX"),
    GeneratorOption("shuffle", bool, False, "list models and configurations in a random order and keep a random "
                    "subset of max-configs configurations", flag=True),
)
