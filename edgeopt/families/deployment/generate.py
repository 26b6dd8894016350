"""Seeded, deterministic deployment instances built from the catalog of real generative models."""
from __future__ import annotations

import numpy as np

from edgeopt import catalog
from edgeopt.document import generated_head
from edgeopt.families.deployment.instance import MAX_VARIABLES
from edgeopt.families.deployment.schema import KIND, MAX_EDGES, MAX_REGIONS, MAX_REQUESTS, MAX_SLOTS
from edgeopt.io import instance_from_data
from edgeopt.registry import GeneratorOption, at_least, count_or_names, number

#: Edge server types for generated instances (A): one or two GPUs of 24, 48 or 80 GB (RTX 4090,
#: RTX 6000 Ada / A6000 and A100/H100 80G classes), local storage of 64 to 512 GB.
EDGE_TYPES = (
    {"gpu_memory_gb": 24.0, "storage_gb": 64.0, "gpus": 1},
    {"gpu_memory_gb": 48.0, "storage_gb": 128.0, "gpus": 1},
    {"gpu_memory_gb": 80.0, "storage_gb": 256.0, "gpus": 1},
    {"gpu_memory_gb": 160.0, "storage_gb": 512.0, "gpus": 2},
)


def _r3(v) -> float:
    """Rounded to 3 decimals, so that generated data are exact decimals (see CP-SAT's scaling)."""
    return float(round(float(v), 3))


def _models(models: int | list[str], rng: np.random.Generator) -> list[dict]:
    chosen = catalog.pick(catalog.generative_models(), models, rng, "generative model")
    keys = ("name", "task", "storage_gb", "gpu_memory_gb", "load_seconds", "edge_inference_seconds",
            "cloud_inference_seconds", "sources")
    return [{k: e[k] for k in keys} for e in chosen]


def _edges(edges: int, links_per_edge: int, slot_seconds: float, rng: np.random.Generator) -> list[dict]:
    docs = []
    for e in range(edges):
        kind = EDGE_TYPES[int(rng.integers(len(EDGE_TYPES)))]
        docs.append({
            "name": f"edge{e}",
            "storage_gb": kind["storage_gb"],
            "gpu_memory_gb": kind["gpu_memory_gb"],
            "compute_seconds": _r3(kind["gpus"] * slot_seconds),
            "access_delay_seconds": _r3(rng.uniform(0.005, 0.02)),
            "backhaul_gbps": float(rng.choice([1.0, 2.5, 10.0])),
            "links": [],
        })
    if edges > 1:
        # A ring keeps every edge reachable; extra links are seeded chords. Links go both ways.
        pairs = {(e, (e + 1) % edges) for e in range(edges)}
        for e in range(edges):
            # At most edges - 1 draws: more could add no link an edge does not already have a chance of, and
            # a huge links_per_edge would loop for hours.
            for _ in range(min(max(0, links_per_edge - 2), edges - 1)):
                f = int(rng.integers(edges))
                if f != e:
                    pairs.add((e, f))
        pairs |= {(b, a) for a, b in pairs}
        for a, b in sorted(pairs):
            if a != b:
                docs[a]["links"].append({"to": f"edge{b}", "delay_seconds": _r3(rng.uniform(0.01, 0.05))})
    return docs


def _demand(regions: list[dict], models: list[dict], regions_per_edge: int, slots: int, slot_seconds: float,
            load: float, rng: np.random.Generator) -> list[dict]:
    """Mean demand: the edges' compute, spread over regions and models with a Zipf popularity per region."""
    M = len(models)
    capacity_requests = slot_seconds / float(np.mean([m["edge_inference_seconds"] for m in models]))
    # The largest mean a count is drawn with (the most popular model of a region), checked before any draw:
    # numpy refuses a Poisson mean beyond about 1e19 with a bare "lam value too large".
    top = load * capacity_requests / float((1.0 / np.arange(1, M + 1) ** 0.8).sum()) / regions_per_edge
    if not top <= MAX_REQUESTS:
        raise ValueError(f"load {load:g} asks for a mean of {top:.3g} requests per region, model and slot, more than "
                         f"the limit of {MAX_REQUESTS:,}; use a smaller load or shorter slots")
    out = []
    for reg in regions:
        popularity = 1.0 / np.arange(1, M + 1) ** 0.8
        popularity = popularity[rng.permutation(M)] / popularity.sum()
        for m in range(M):
            counts = rng.poisson(load * capacity_requests * popularity[m] / regions_per_edge, size=slots)
            if counts.any():
                out.append({"region": reg["name"], "model": models[m]["name"], "requests": [int(c) for c in counts]})
    return out


def generate(*, edges: int = 3, regions_per_edge: int = 2, models: int | list[str] = 4, slots: int = 2,
             links_per_edge: int = 2, slot_seconds: float = 60.0, load: float = 1.0, cloud: bool = True,
             seed: int = 0, name: str | None = None):
    """A seeded, deterministic deployment instance built from the catalog of real generative models.

    ``models`` is a count (the first ones of a seeded shuffle of the catalog) or a list of catalog
    names. ``load`` scales the mean demand; 1.0 asks roughly what the edges' GPUs can serve.
    Numbers are rounded to at most 3 decimals so that the data are exact decimals (see CP-SAT).
    """
    if edges < 1 or regions_per_edge < 1 or slots < 1:
        raise ValueError("edges, regions_per_edge and slots must be at least 1")
    count = models if isinstance(models, int) else len(models)
    least = (4 * edges + 2 * edges * regions_per_edge) * count * slots  # neighbour routes left out
    if least > MAX_VARIABLES:
        # Refused before any request count is drawn: the loader would refuse it only after.
        raise ValueError(f"these parameters describe a model of at least {least:,} variables, more than the limit "
                         f"of {MAX_VARIABLES:,}; use fewer edges, regions, models or slots")
    if edges > MAX_EDGES or edges * regions_per_edge > MAX_REGIONS or slots > MAX_SLOTS:
        # Likewise: 200,000 edges took a minute to build before the schema refused them.
        raise ValueError(f"{edges:,} edges, {edges * regions_per_edge:,} regions and {slots:,} slots: more than the "
                         f"limits of an instance ({MAX_EDGES:,} edges, {MAX_REGIONS:,} regions, {MAX_SLOTS:,} slots)")
    rng = np.random.default_rng(seed)
    model_docs = _models(models, rng)
    edge_docs = _edges(edges, links_per_edge, slot_seconds, rng)
    region_docs = [{"name": f"region{e}_{k}", "edge": f"edge{e}"} for e in range(edges)
                   for k in range(regions_per_edge)]
    demand_docs = _demand(region_docs, model_docs, regions_per_edge, slots, slot_seconds, load, rng)
    M = len(model_docs)
    data = {
        **generated_head(
            KIND, name or f"deploy-e{edges}-m{M}-r{edges * regions_per_edge}-t{slots}-s{seed}",
            f"generated by edgeopt.generate('deployment', edges={edges}, regions_per_edge={regions_per_edge}, "
            f"models={M}, slots={slots}, links_per_edge={links_per_edge}, load={load}, cloud={cloud}, seed={seed})",
            "model figures: edgeopt/catalog/generative_models.json (each with its source); edge types, delays, "
            "prices and demand: assumptions of the generator"),
        "slots": slots, "slot_seconds": float(slot_seconds),
        "weights": {"delay_per_second": 1.0, "storage_per_gb": 0.001, "gpu_memory_per_gb": 0.01,
                    "backhaul_per_gb": 0.01},
        "cloud": {"enabled": bool(cloud), "wan_delay_seconds": 0.1, "cost_per_request": 2.0},
        "models": model_docs, "edges": edge_docs, "regions": region_docs, "demand": demand_docs,
    }
    return instance_from_data(data, source="<generated>")


OPTIONS = (
    GeneratorOption("edges", at_least(1), 3, "edge servers", "N"),
    GeneratorOption("regions_per_edge", at_least(1), 2, "user regions per edge", "N"),
    GeneratorOption("models", count_or_names, 4, "generative models: a count drawn from the catalog, or "
                    "comma-separated catalog names", "N|NAMES"),
    GeneratorOption("slots", at_least(1), 2, "time slots", "N"),
    GeneratorOption("links_per_edge", at_least(0), 2, "links per edge; a ring links every edge to two "
                    "neighbours", "N"),
    GeneratorOption("slot_seconds", number(positive=True), 60.0, "length of a slot in seconds", "S"),
    GeneratorOption("load", number(positive=True), 1.0, "demand scale; 1.0 asks about what the edges' GPUs can serve", "X"),
    GeneratorOption("cloud", bool, True, "a cloud that serves any request (--no-cloud: every request is "
                    "served at an edge)", flag=True),
)
