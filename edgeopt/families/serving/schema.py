"""The JSON Schemas of a serving instance file and of the decisions in its solution files.

A serving instance is an offloading instance's cells (edgeopt/mec.py) over a horizon of slots that follow
each other: every model has a ``load_seconds``, every edge an initial state (``initial_loaded`` models and
``initial_backlog_seconds`` of unfinished work), the weights a ``loading_per_second``, and the document a
``slot_seconds``. Units are in the field names; references between names are checked by
``instance.from_data``.
"""
from __future__ import annotations

from edgeopt.document import NAMES, array_of, document_schema, nonnegative, positive, record
from edgeopt.mec import (CLOUD_SCHEMA, DEVICE_SCHEMA, EDGE_SCHEMA, GPU_SCHEMA, MODEL_SCHEMA, RADIO_SCHEMA,
                         SLOTS_SOLUTION_SCHEMA, USER_SCHEMA, WEIGHTS_SCHEMA)

KIND = "serving"
MAX_USERS = 100_000


def _extend(base: dict, required: list[str], properties: dict) -> dict:
    return record(base["required"] + required, {**base["properties"], **properties})


_WEIGHTS = _extend(WEIGHTS_SCHEMA, ["loading_per_second"], {"loading_per_second": nonnegative(1e6)})
_MODEL = _extend(MODEL_SCHEMA, ["load_seconds"], {"load_seconds": nonnegative(1e5)})
_EDGE = _extend(EDGE_SCHEMA, ["initial_loaded", "initial_backlog_seconds"],
                {"initial_loaded": NAMES, "initial_backlog_seconds": nonnegative(1e7)})

SCHEMA = document_schema(
    KIND, "edgeopt serving instance",
    ["slots", "slot_seconds", "weights", "radio", "cloud", "gpus", "models", "devices", "edges", "users"],
    {
        "slots": {"type": "integer", "minimum": 1, "maximum": 10_000},
        "slot_seconds": positive(86_400),
        "weights": _WEIGHTS,
        "radio": RADIO_SCHEMA,
        "cloud": CLOUD_SCHEMA,
        "gpus": array_of(GPU_SCHEMA, least=1, most=1000),
        "models": array_of(_MODEL, least=1, most=1000),
        "devices": array_of(DEVICE_SCHEMA, least=1, most=1000),
        "edges": array_of(_EDGE, least=1, most=10_000),
        "users": array_of(USER_SCHEMA, least=1, most=MAX_USERS),
    },
)

#: The ``decisions`` of a solution file: per slot the models loaded on each edge (they stay loaded into the
#: next slot only if listed there too), each requesting user's choice (null: refused) and the shares.
SOLUTION_SCHEMA = SLOTS_SOLUTION_SCHEMA
