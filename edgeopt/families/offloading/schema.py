"""The JSON Schemas of an offloading instance file and of the decisions in its solution files.

Units are in the field names. The references between names (a user's edge and device, a device's local
models, a configuration's GPU) are checked by ``instance.from_data``.
"""
from __future__ import annotations

from edgeopt.document import array_of, document_schema
from edgeopt.mec import (CLOUD_SCHEMA, DEVICE_SCHEMA, EDGE_SCHEMA, GPU_SCHEMA, MODEL_SCHEMA, RADIO_SCHEMA,
                         SLOTS_SOLUTION_SCHEMA, USER_SCHEMA, WEIGHTS_SCHEMA)

KIND = "offloading"
MAX_USERS = 100_000

SCHEMA = document_schema(
    KIND, "edgeopt offloading instance",
    ["slots", "weights", "radio", "cloud", "gpus", "models", "devices", "edges", "users"],
    {
        "slots": {"type": "integer", "minimum": 1, "maximum": 10_000},
        "weights": WEIGHTS_SCHEMA,
        "radio": RADIO_SCHEMA,
        "cloud": CLOUD_SCHEMA,
        "gpus": array_of(GPU_SCHEMA, least=1, most=1000),
        "models": array_of(MODEL_SCHEMA, least=1, most=1000),
        "devices": array_of(DEVICE_SCHEMA, least=1, most=1000),
        "edges": array_of(EDGE_SCHEMA, least=1, most=10_000),
        "users": array_of(USER_SCHEMA, least=1, most=MAX_USERS),
    },
)

#: The ``decisions`` of a solution file: per slot the models loaded on each edge, each requesting user's
#: choice (null: not served) and every user's shares of its cell's uplink and downlink and its edge's compute.
SOLUTION_SCHEMA = SLOTS_SOLUTION_SCHEMA
