"""The JSON Schemas of a deployment instance file and of the decisions in its solution files.

Units are in the field names; the limits turn absurd values into errors before anything is allocated.
The references between names (a region's edge, a demand's model) are checked by ``instance.from_data``.
"""
from __future__ import annotations

from edgeopt.document import NAME, NAMES, SOURCES, array_of, document_schema, nonnegative, positive, record

KIND = "deployment"
#: Most requests of one region for one model in one slot.
MAX_REQUESTS = 1_000_000_000
#: Most edges, regions and slots of an instance.
MAX_EDGES, MAX_REGIONS, MAX_SLOTS = 100_000, 1_000_000, 10_000

_WEIGHTS = record(["delay_per_second", "storage_per_gb", "gpu_memory_per_gb", "backhaul_per_gb"], {
    "delay_per_second": nonnegative(1e9),
    "storage_per_gb": nonnegative(1e9),
    "gpu_memory_per_gb": nonnegative(1e9),
    "backhaul_per_gb": nonnegative(1e9),
})

_CLOUD = record(["enabled", "wan_delay_seconds", "cost_per_request"], {
    "enabled": {"type": "boolean"},
    "wan_delay_seconds": nonnegative(1e6),
    "cost_per_request": nonnegative(1e9),
})

_MODEL = record(["name", "storage_gb", "gpu_memory_gb", "load_seconds", "edge_inference_seconds",
                 "cloud_inference_seconds"], {
    "name": NAME,
    "task": {"type": "string", "maxLength": 200},
    "storage_gb": positive(1e6),
    "gpu_memory_gb": positive(1e5),
    "load_seconds": nonnegative(1e6),
    "edge_inference_seconds": positive(1e6),
    "cloud_inference_seconds": positive(1e6),
    "sources": SOURCES,
})

_EDGE = record(["name", "storage_gb", "gpu_memory_gb", "compute_seconds", "access_delay_seconds", "backhaul_gbps"], {
    "name": NAME,
    "storage_gb": positive(1e7),
    "gpu_memory_gb": positive(1e6),
    "compute_seconds": positive(1e9),
    "access_delay_seconds": nonnegative(1e6),
    "backhaul_gbps": positive(1e6),
    "links": array_of(record(["to", "delay_seconds"], {"to": NAME, "delay_seconds": nonnegative(1e6)}),
                      most=100_000),
    "initial_stored": NAMES,
    "initial_loaded": NAMES,
})

_DEMAND = record(["region", "model", "requests"], {
    "region": NAME,
    "model": NAME,
    "requests": array_of({"type": "integer", "minimum": 0, "maximum": MAX_REQUESTS}, least=1),
})

SCHEMA = document_schema(
    KIND, "edgeopt deployment instance",
    ["slots", "slot_seconds", "weights", "cloud", "models", "edges", "regions", "demand"],
    {
        "slots": {"type": "integer", "minimum": 1, "maximum": MAX_SLOTS},
        "slot_seconds": positive(1e7),
        "weights": _WEIGHTS,
        "cloud": _CLOUD,
        "models": array_of(_MODEL, least=1, most=10_000),
        "edges": array_of(_EDGE, least=1, most=MAX_EDGES),
        "regions": array_of(record(["name", "edge"], {"name": NAME, "edge": NAME}), least=1, most=MAX_REGIONS),
        "demand": array_of(_DEMAND, most=10_000_000),
    },
)

#: The ``decisions`` of a solution file (see ``instance.solution_to_data``); references are checked after.
SOLUTION_SCHEMA = record(["slots", "routes"], {
    "slots": array_of(record(["stored", "loaded"], {
        "stored": {"type": "object", "additionalProperties": NAMES},
        "loaded": {"type": "object", "additionalProperties": NAMES},
    })),
    "routes": array_of(record(["region", "model", "slot", "at", "requests"], {
        "region": NAME, "model": NAME, "at": NAME,
        "slot": {"type": "integer", "minimum": 0},
        "requests": {"type": "integer", "minimum": 0, "maximum": MAX_REQUESTS},
    })),
})
