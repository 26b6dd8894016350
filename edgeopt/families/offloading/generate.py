"""Seeded offloading instances: text-to-video models, GPUs and devices from the catalog, users placed in cells.

Defaults are chosen so that the allocation matters: a 10 MHz uplink and 20 MHz downlink per cell shared by
many users, edge GPUs that many users share, a cloud that is fast but far and priced.
"""
from __future__ import annotations

import math

import numpy as np

from edgeopt.document import generated_head
from edgeopt.families.offloading.schema import KIND
from edgeopt.io import instance_from_data
from edgeopt.mec import (CLOUD_SCHEMA, EDGE_SCHEMA, GPU_MEMORY_GB, MIN_DISTANCE_M, USER_SCHEMA,  # noqa: F401
                         WEIGHTS_SCHEMA, check_generated_size, generate_cells)  # (GPU_MEMORY_GB: the scenario space)
from edgeopt.registry import GeneratorOption, at_least, count_or_names, number


def _limit(schema: dict, key: str, end: str = "maximum") -> float:
    field = schema["properties"][key]
    return float((field.get("items", field))[end])


#: Each number's range, in its own unit: that of the field it becomes (the schema's), so that the generator makes
#: only what its loader accepts (an uplink of 10^7 MHz was refused as "edges[0].uplink_hz" of the generated
#: document, a cell radius under 35 m failed in numpy with "high - low < 0"). A band is at least 1e-6 Hz.
RANGES = {
    "uplink_mhz": (_limit(EDGE_SCHEMA, "uplink_hz", "minimum") / 1e6, _limit(EDGE_SCHEMA, "uplink_hz") / 1e6),
    "downlink_mhz": (_limit(EDGE_SCHEMA, "downlink_hz", "minimum") / 1e6, _limit(EDGE_SCHEMA, "downlink_hz") / 1e6),
    "cell_radius_m": (MIN_DISTANCE_M, _limit(USER_SCHEMA, "distance_m")),
    "request_probability": (0.0, 1.0),
    "delay_per_second": (0.0, _limit(WEIGHTS_SCHEMA, "delay_per_second")),
    "energy_per_joule": (0.0, _limit(WEIGHTS_SCHEMA, "energy_per_joule")),
    "refusal_penalty": (0.0, _limit(WEIGHTS_SCHEMA, "refusal_penalty")),
    "cloud_price": (0.0, _limit(CLOUD_SCHEMA, "price_per_request")),
}


def check_parameters(**values) -> None:
    """ValueError naming the first parameter a generator cannot make a valid instance of: a number outside
    ``RANGES`` (or not a finite number), ``max_configs`` not a whole number >= 1, ``seed`` not a whole number
    >= 0, ``models`` an empty or repeating list of names, ``device_mix`` shares whose sum overflows."""
    for name, (low, high) in RANGES.items():
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
    check_generated_size(users, edges, slots)  # before any work: the sizes the schema and the time allow
    check_parameters(max_configs=max_configs, uplink_mhz=uplink_mhz, downlink_mhz=downlink_mhz,
                     cell_radius_m=cell_radius_m, request_probability=request_probability,
                     delay_per_second=delay_per_second, energy_per_joule=energy_per_joule,
                     refusal_penalty=refusal_penalty, cloud_price=cloud_price, seed=seed, models=models,
                     device_mix=device_mix)
    data, names = generate_cells(
        users=users, edges=edges, slots=slots, models=models, max_configs=max_configs, uplink_mhz=uplink_mhz,
        downlink_mhz=downlink_mhz, cell_radius_m=cell_radius_m, cloud=cloud, delay_per_second=delay_per_second,
        energy_per_joule=energy_per_joule, refusal_penalty=refusal_penalty, cloud_price=cloud_price,
        edge_gpus=edge_gpus, device_mix=device_mix, shuffle=shuffle, seed=seed,
        asks=lambda edge, draws: draws < request_probability)
    M = len(names)
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
            f"models={names}, max_configs={max_configs}, uplink_mhz={uplink_mhz}, "
            f"downlink_mhz={downlink_mhz}, cell_radius_m={cell_radius_m}, request_probability={request_probability}, "
            f"cloud={cloud}{weights}{extra}, seed={seed})",
            "models, GPUs, devices and radio: edgeopt/catalog/text_to_video.json (each figure with its source or "
            "stated assumption); positions, requests, edge GPUs and weights: assumptions of the generator"),
        **data,
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
