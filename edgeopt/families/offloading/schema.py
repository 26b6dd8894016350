"""The JSON Schemas of an offloading instance file and of the decisions in its solution files.

Units are in the field names. The references between names (a user's edge and device, a device's local
models, a configuration's GPU) are checked by ``instance.from_data``.
"""
from __future__ import annotations

from edgeopt.document import (NAME, NAME_OR_NULL, NAMES, SOURCES, array_of, document_schema, nonnegative, positive,
                               record)

KIND = "offloading"
MAX_USERS = 100_000

_WEIGHTS = record(["utility", "delay_per_second", "energy_per_joule", "refusal_penalty"], {
    "utility": nonnegative(1e6),
    "delay_per_second": nonnegative(1e6),
    "energy_per_joule": nonnegative(1e6),
    "refusal_penalty": nonnegative(1e9),
})

_RADIO = record(["noise_dbm_per_hz", "path_loss_intercept_db", "path_loss_slope_db", "prompt_bits"], {
    "noise_dbm_per_hz": {"type": "number", "minimum": -250, "maximum": -100},
    "path_loss_intercept_db": {"type": "number", "minimum": 0, "maximum": 300},
    "path_loss_slope_db": {"type": "number", "minimum": 0, "maximum": 100},
    "prompt_bits": positive(1e12),
})

_CLOUD = record(["enabled", "wan_delay_seconds", "gpu", "price_per_request"], {
    "enabled": {"type": "boolean"},
    "wan_delay_seconds": nonnegative(1e4),
    "gpu": NAME,
    "price_per_request": nonnegative(1e9),
})

_GPU = record(["name", "relative_speed"], {"name": NAME, "relative_speed": positive(1e3), "sources": SOURCES})

_CONFIG = record(["name", "resolution", "duration_seconds", "steps", "generation_seconds", "measured_on",
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

_MODEL = record(["name", "gpu_memory_gb", "utility", "configs"], {
    "name": NAME,
    "gpu_memory_gb": positive(1e5),
    "utility": nonnegative(1e6),
    "configs": array_of(_CONFIG, least=1, most=1000),
    "sources": SOURCES,
})

_DEVICE = record(["name", "gpu", "gpu_memory_gb", "compute_power_watts", "tx_power_watts", "rx_power_watts",
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

_EDGE = record(["name", "gpu", "gpu_memory_gb", "uplink_hz", "downlink_hz", "base_station_power_dbm"], {
    "name": NAME,
    "gpu": NAME,
    "gpu_memory_gb": positive(1e6),
    "uplink_hz": positive(1e12),
    "downlink_hz": positive(1e12),
    "base_station_power_dbm": {"type": "number", "minimum": -50, "maximum": 100},
})

#: A request, or null in a slot where the user asks for nothing. An object-or-null type (not anyOf) keeps
#: the messages precise: a bad field is named by its own path.
_REQUEST = {**record(["duration_seconds"], {"category": NAME, "duration_seconds": positive(1e4)}),
            "type": ["object", "null"]}

_USER = record(["name", "edge", "device", "distance_m", "shadowing_db", "requests"], {
    "name": NAME,
    "edge": NAME,
    "device": NAME,
    "distance_m": array_of({"type": "number", "minimum": 1, "maximum": 1e5}, least=1),
    "shadowing_db": array_of({"type": "number", "minimum": -100, "maximum": 100}, least=1),
    "requests": array_of(_REQUEST, least=1),
})

SCHEMA = document_schema(
    KIND, "edgeopt offloading instance",
    ["slots", "weights", "radio", "cloud", "gpus", "models", "devices", "edges", "users"],
    {
        "slots": {"type": "integer", "minimum": 1, "maximum": 10_000},
        "weights": _WEIGHTS,
        "radio": _RADIO,
        "cloud": _CLOUD,
        "gpus": array_of(_GPU, least=1, most=1000),
        "models": array_of(_MODEL, least=1, most=1000),
        "devices": array_of(_DEVICE, least=1, most=1000),
        "edges": array_of(_EDGE, least=1, most=10_000),
        "users": array_of(_USER, least=1, most=MAX_USERS),
    },
)

_CHOICE = {**record(["model", "config", "place"], {"model": NAME, "config": NAME,
                                                   "place": {"enum": ["local", "edge", "cloud"]}}),
           "type": ["object", "null"]}
_SHARES = record(["uplink", "downlink", "compute"], {"uplink": nonnegative(1.0 + 1e-6),
                                                    "downlink": nonnegative(1.0 + 1e-6),
                                                    "compute": nonnegative(1.0 + 1e-6)})

#: The ``decisions`` of a solution file: per slot the models loaded on each edge, each requesting user's
#: choice (null: not served) and every user's shares of its cell's uplink and downlink and its edge's compute.
SOLUTION_SCHEMA = record(["slots"], {
    "slots": array_of(record(["loaded", "choices", "shares"], {
        "loaded": {"type": "object", "additionalProperties": NAMES},
        "choices": {"type": "object", "additionalProperties": _CHOICE},
        "shares": {"type": "object", "additionalProperties": _SHARES},
    })),
})
