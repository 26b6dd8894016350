"""The JSON Schemas of an assignment instance file and of the decisions in its solution files."""
from __future__ import annotations

from edgeopt.document import NAME, SOURCES, array_of, document_schema, nonnegative, positive, record

KIND = "assignment"
#: Most prompts an instance holds.
MAX_PROMPTS = 1_000_000

_QUALITY = record(["clip_max", "clip_std"], {"clip_max": nonnegative(1e3), "clip_std": nonnegative(1e3)})

_MODEL = record(["name", "step_seconds", "gpu_memory_gb", "steps", "clip_at_zero_steps", "steps_scale", "quality"], {
    "name": NAME,
    "step_seconds": positive(1e4),
    "gpu_memory_gb": positive(1e5),
    "steps": array_of({"type": "integer", "minimum": 1, "maximum": 100_000}, least=1, most=1000),
    "clip_at_zero_steps": nonnegative(1e3),
    "steps_scale": positive(1e5),
    "quality": {"type": "object", "additionalProperties": _QUALITY},
    "sources": SOURCES,
})

SCHEMA = document_schema(
    KIND, "edgeopt assignment instance",
    ["categories", "models", "prompts", "compute_budget", "latency_weight"],
    {
        "categories": array_of(NAME, least=1, most=100),
        "compute_budget": positive(1e6),
        "gpu_memory_gb": positive(1e6),
        "latency_weight": nonnegative(1e6),
        "models": array_of(_MODEL, least=1, most=100),
        "prompts": array_of(record(["category"], {"category": NAME, "text": {"type": "string", "maxLength": 10_000}}),
                            least=1, most=MAX_PROMPTS),
    },
)

#: The ``decisions`` of a solution file: each prompt's model, each model's steps and compute share.
SOLUTION_SCHEMA = record(["assignment", "steps", "shares"], {
    "assignment": array_of(NAME),
    "steps": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}},
    "shares": {"type": "object", "additionalProperties": {"type": "number", "minimum": 0}},
})
