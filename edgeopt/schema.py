"""Building blocks of the families' JSON Schemas: names, bounded numbers, the common document head."""
from __future__ import annotations

#: A name: a non-empty string of reasonable length (model, edge, category, ...).
NAME = {"type": "string", "minLength": 1, "maxLength": 200}
#: Free text (description, source).
TEXT = {"type": "string", "maxLength": 10_000}


def positive(maximum: float) -> dict:
    """A number > 0 and <= maximum (the maximum turns absurd values into errors)."""
    return {"type": "number", "exclusiveMinimum": 0, "maximum": maximum}


def nonnegative(maximum: float) -> dict:
    """A number >= 0 and <= maximum."""
    return {"type": "number", "minimum": 0, "maximum": maximum}


def document(kind: str, title: str, required: list[str], properties: dict, **extra) -> dict:
    """The schema of an instance file: ``kind``, ``format`` 1, ``name``, optional ``description`` and
    ``source``, the family's own ``properties``; unknown keys are errors."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": title,
        **extra,
        "type": "object",
        "additionalProperties": False,
        "required": ["kind", "format", "name", *required],
        "properties": {"kind": {"const": kind}, "format": {"const": 1}, "name": NAME, "description": TEXT,
                       "source": TEXT, **properties},
    }
