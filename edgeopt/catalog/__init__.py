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


@lru_cache(maxsize=None)
def text_to_image() -> dict:
    """The text-to-image catalog of the assignment family (models, quality parameters, categories)."""
    text = resources.files(__package__).joinpath("text_to_image.json").read_text(encoding="utf-8")
    return json.loads(text)


@lru_cache(maxsize=None)
def parti_prompts() -> tuple[tuple[str, str], ...]:
    """(prompt, category) for every PartiPrompts prompt whose Challenge maps to an assignment category.

    PartiPrompts (google-research/parti, Apache-2.0, PartiPrompts.LICENSE beside this file); categories
    from the Challenge column: basic = Basic; detail = Simple Detail + Fine-grained Detail;
    imagination = Imagination; complex = Complex. Other challenges are left out.
    """
    mapping = {challenge: category for category, challenges in text_to_image()["categories"].items()
               for challenge in challenges}
    rows = resources.files(__package__).joinpath("PartiPrompts.tsv").read_text(encoding="utf-8").splitlines()
    out = []
    for row in rows[1:]:
        cols = row.split("\t")
        if len(cols) >= 3 and cols[2] in mapping:
            out.append((cols[0], mapping[cols[2]]))
    return tuple(out)


@lru_cache(maxsize=None)
def text_to_video() -> dict:
    """The text-to-video catalog of the offloading family (models and configurations, GPUs, devices, radio)."""
    text = resources.files(__package__).joinpath("text_to_video.json").read_text(encoding="utf-8")
    return json.loads(text)


def pick(entries, models, rng, what: str) -> list[dict]:
    """Copies of the catalog ``entries`` a generator asked for: ``models`` entries drawn by ``rng`` (kept in
    catalog order) when it is a number, else the entries of those names, in that order.

    A bad count or an unknown name is a ValueError naming ``what`` (e.g. "text-to-image model"), as for every
    other bad generator parameter.
    """
    entries = list(entries)
    if isinstance(models, int):
        if not 1 <= models <= len(entries):
            raise ValueError(f"models must be between 1 and {len(entries)} (the catalog's size), got {models}")
        return [dict(entries[i]) for i in sorted(rng.permutation(len(entries))[:models])]
    by_name = {e["name"]: e for e in entries}
    unknown = [n for n in models if n not in by_name]
    if unknown:
        raise ValueError(f"no {what} {unknown[0]!r} in the catalog; known: {', '.join(by_name)}")
    return [dict(by_name[n]) for n in models]
