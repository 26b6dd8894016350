"""Data on real generative models. Every number in generative_models.json carries its source."""
from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources


@lru_cache(maxsize=None)
def generative_models() -> tuple[dict, ...]:
    """The catalog entries (read-only copies are returned by :func:`entry`)."""
    text = resources.files(__package__).joinpath("generative_models.json").read_text(encoding="utf-8")
    return tuple(json.loads(text)["models"])


def entry(name: str) -> dict:
    for e in generative_models():
        if e["name"] == name:
            return dict(e)
    known = ", ".join(e["name"] for e in generative_models())
    raise KeyError(f"no generative model {name!r} in the catalog; known: {known}")
