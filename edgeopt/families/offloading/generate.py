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
#: Share of users per device class (A): mostly phones, which must offload.
DEVICE_MIX = {"phone": 0.6, "laptop": 0.25, "jetson": 0.15}
#: Video lengths users ask for, in seconds (A).
REQUESTED_SECONDS = (2.0, 4.0)
#: Users stand between this distance from their base station and the cell radius (3GPP TR 36.814: 35 m).
MIN_DISTANCE_M = 35.0


def _models(models, rng: np.random.Generator, cat: dict) -> list[dict]:
    return catalog.pick(cat["models"], models, rng, "text-to-video model")


def _model_doc(entry: dict, cat: dict, max_configs: int | None) -> dict:
    """A catalog model as the instance holds it: each configuration with its video size and utility factor."""
    doc = {k: copy.deepcopy(entry[k]) for k in ("name", "gpu_memory_gb", "utility", "sources")}
    configs = sorted(entry["configs"], key=lambda c: (c["generation_seconds"], c["name"]))[:max_configs]
    doc["configs"] = []
    for c in configs:
        c = copy.deepcopy(c)
        c["video_megabits"] = float(round(cat["video_megabits_per_second"][c["resolution"]] * c["duration_seconds"], 6))
        c["utility_factor"] = cat["resolution_utility_factor"][c["resolution"]]
        doc["configs"].append(c)
    return doc


def _users(users: int, slots: int, edges: int, radius_m: float, request_probability: float,
           devices: list[str], longest: float, rng: np.random.Generator) -> list[dict]:
    mix = np.array([DEVICE_MIX.get(d, 0.0) for d in devices])
    # Only lengths some configuration makes: a longer request could only be refused.
    lengths = [s for s in REQUESTED_SECONDS if s <= longest] or [min(REQUESTED_SECONDS[0], longest)]
    out = []
    for i in range(users):
        asks = rng.random(slots) < request_probability
        seconds = rng.choice(lengths, size=slots)
        out.append({
            "name": f"u{i}", "edge": f"edge{int(rng.integers(edges))}",
            "device": devices[int(rng.choice(len(devices), p=mix / mix.sum()))],
            "distance_m": [float(round(v, 1)) for v in rng.uniform(MIN_DISTANCE_M, radius_m, size=slots)],
            "shadowing_db": [float(round(v, 2)) for v in rng.normal(0.0, 8.0, size=slots)],
            "requests": [{"category": "basic", "duration_seconds": float(s)} if a else None
                         for a, s in zip(asks, seconds)],
        })
    return out


def generate(*, users: int = 10, edges: int = 2, slots: int = 1, models: int | list[str] = 4,
             max_configs: int | None = 3, uplink_mhz: float = 10.0, downlink_mhz: float = 20.0,
             cell_radius_m: float = 500.0, request_probability: float = 0.8, cloud: bool = True,
             delay_per_second: float = 0.05, energy_per_joule: float = 0.001, refusal_penalty: float = 100.0,
             seed: int = 0, name: str | None = None):
    """A seeded, deterministic offloading instance (figures from edgeopt/catalog/text_to_video.json).

    ``max_configs`` keeps each model's fastest configurations (None: all); ``request_probability`` is the
    chance that a user asks for a video in a slot; users are placed uniformly between 35 m and the cell
    radius, with 8 dB log-normal shadowing, drawn anew every slot (they move).
    """
    if users < 1 or edges < 1 or slots < 1:
        raise ValueError("users, edges and slots must be at least 1")
    if max_configs is not None and max_configs < 1:
        raise ValueError(f"max_configs must be at least 1, got {max_configs}")
    if not 0.0 <= request_probability <= 1.0:
        raise ValueError(f"request_probability must be between 0 and 1, got {request_probability}")
    rng = np.random.default_rng(seed)
    cat = catalog.text_to_video()
    chosen = _models(models, rng, cat)
    edge_docs = []
    for e in range(edges):
        gpu, memory = EDGE_GPUS[int(rng.integers(len(EDGE_GPUS)))]
        edge_docs.append({"name": f"edge{e}", "gpu": gpu, "gpu_memory_gb": memory, "uplink_hz": uplink_mhz * 1e6,
                          "downlink_hz": downlink_mhz * 1e6,
                          "base_station_power_dbm": cat["radio"]["base_station_power_dbm"]})
    devices = [copy.deepcopy(d) for d in cat["devices"]]
    kept = {m["name"] for m in chosen}
    for d in devices:
        d["local_models"] = [m for m in d["local_models"] if m in kept]
    radio = cat["radio"]
    M = len(chosen)
    model_docs = [_model_doc(m, cat, max_configs) for m in chosen]
    longest = max(c["duration_seconds"] for m in model_docs for c in m["configs"])
    data = {
        **generated_head(
            KIND, name or f"offload-u{users}-e{edges}-m{M}-t{slots}-s{seed}",
            f"generated by edgeopt.generate('offloading', users={users}, edges={edges}, slots={slots}, "
            f"models={[m['name'] for m in chosen]}, max_configs={max_configs}, uplink_mhz={uplink_mhz}, "
            f"downlink_mhz={downlink_mhz}, cell_radius_m={cell_radius_m}, request_probability={request_probability}, "
            f"cloud={cloud}, seed={seed})",
            "models, GPUs, devices and radio: edgeopt/catalog/text_to_video.json (each figure with its source or "
            "stated assumption); positions, requests, edge GPUs and weights: assumptions of the generator"),
        "slots": slots,
        "weights": {"utility": 1.0, "delay_per_second": float(delay_per_second),
                    "energy_per_joule": float(energy_per_joule), "refusal_penalty": float(refusal_penalty)},
        "radio": {k: radio[k] for k in ("noise_dbm_per_hz", "path_loss_intercept_db", "path_loss_slope_db",
                                        "prompt_bits")},
        "cloud": {"enabled": bool(cloud), "wan_delay_seconds": 0.1, "gpu": "H100", "price_per_request": 5.0},
        "gpus": [{"name": g["name"], "relative_speed": g["relative_speed"]} for g in cat["gpus"]],
        "models": model_docs,
        "devices": [{k: d[k] for k in ("name", "gpu", "gpu_memory_gb", "compute_power_watts", "tx_power_watts",
                                       "rx_power_watts", "local_models")} for d in devices],
        "edges": edge_docs,
        "users": _users(users, slots, edges, cell_radius_m, request_probability, [d["name"] for d in devices],
                        longest, rng),
    }
    return instance_from_data(data, source="<generated>")


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
)
