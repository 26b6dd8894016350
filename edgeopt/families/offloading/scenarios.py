"""The space of offloading scenarios a learned policy trains on, drawn with a seed.

A scenario is one call of the family's generator (generate.py) with parameters drawn from :class:`Ranges`:
a random subset of the catalog's models in a random order with a random subset of their configurations
(``shuffle``), every GPU kind of the catalog on the edges, a random mix of the device classes, the weights
of delay, energy and refusal and the cloud's price drawn log-uniformly around the generator's defaults, the
cloud on or off, cells of 0.1 to 20 km, narrow to wide bands, 1 to 8 cells of 1 to 250 users each. A draw
whose instance the family refuses (without a cloud, a user that no edge and no device can serve) is drawn
again from the same stream, so a seed always gives the same scenarios.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from edgeopt import catalog
from edgeopt.document import InstanceError
from edgeopt.families.offloading.generate import GPU_MEMORY_GB, generate

#: The generator's default weights, which the factors multiply.
DEFAULTS = {"delay_per_second": 0.05, "energy_per_joule": 0.001, "refusal_penalty": 100.0, "cloud_price": 5.0}
#: Draws in a row that may be refused before the ranges are declared unusable.
MAX_REDRAWS = 200


@dataclass(frozen=True)
class Ranges:
    """What the training draws from. A pair is (low, high), drawn log-uniformly for the factors, the cell
    radius, the bands and the users per cell, uniformly for the rest; ``cloud`` and ``free_refusal`` are
    probabilities."""

    cells: tuple[int, int] = (1, 8)
    users_per_cell: tuple[int, int] = (1, 250)
    delay_factor: tuple[float, float] = (0.1, 10.0)  # x 0.05 per second
    energy_factor: tuple[float, float] = (0.1, 100.0)  # x 0.001 per joule
    refusal_factor: tuple[float, float] = (0.1, 10.0)  # x 100 per refused request
    free_refusal: float = 0.1  # the chance that refusing costs nothing
    cloud_price_factor: tuple[float, float] = (0.1, 10.0)  # x 5 per request
    cloud: float = 0.5  # the chance of a cloud
    cell_radius_m: tuple[float, float] = (100.0, 20_000.0)
    uplink_mhz: tuple[float, float] = (0.2, 20.0)  # the downlink has twice the uplink's band
    request_probability: tuple[float, float] = (0.3, 1.0)
    slots: int = 2  # slots per drawn instance (each slot is one problem)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, tuple) and (
                    len(value) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                               and math.isfinite(v) for v in value) or not value[0] <= value[1]):
                raise ValueError(f"range {f.name}: must be two finite numbers LOW,HIGH with LOW <= HIGH, "
                                     f"got {value!r}")
        for name in ("cells", "users_per_cell"):
            lo, hi = getattr(self, name)
            if lo < 1 or int(lo) != lo or int(hi) != hi:
                raise ValueError(f"range {name}: must be whole numbers >= 1, got {getattr(self, name)!r}")
        if self.cells[1] > 64 or self.users_per_cell[1] > 2000:
            raise ValueError("range cells: at most 64; users_per_cell: at most 2000 (a training problem is held "
                             f"in memory whole), got {self.cells!r} and {self.users_per_cell!r}")
        for name in ("delay_factor", "energy_factor", "refusal_factor", "cloud_price_factor", "cell_radius_m",
                     "uplink_mhz"):
            lo, hi = getattr(self, name)
            if not lo > 0:
                raise ValueError(f"range {name}: must be > 0 (drawn log-uniformly), got {getattr(self, name)!r}")
            if hi > 1e6:
                raise ValueError(f"range {name}: at most 1e6, got {getattr(self, name)!r}")
        if not 100.0 <= self.cell_radius_m[0]:
            raise ValueError(f"range cell_radius_m: at least 100 m, got {self.cell_radius_m!r}")
        lo, hi = self.request_probability
        if not (0 < lo and hi <= 1):
            raise ValueError(f"range request_probability: within (0, 1], got {self.request_probability!r}")
        for name in ("cloud", "free_refusal"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name}: a probability between 0 and 1, got {getattr(self, name)!r}")
        if not (isinstance(self.slots, int) and 1 <= self.slots <= 100):
            raise ValueError(f"slots: an integer between 1 and 100, got {self.slots!r}")

    def as_dict(self) -> dict:
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v)
                for f in dataclasses.fields(self)}


def make_ranges(**changes) -> Ranges:
    """The defaults with ``changes`` (a pair as a list or tuple); an unknown name is a ValueError naming it."""
    known = {f.name for f in dataclasses.fields(Ranges)}
    unknown = sorted(set(changes) - known)
    if unknown:
        raise ValueError(f"unknown range(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return Ranges(**{k: tuple(v) if isinstance(v, list) else v for k, v in changes.items()})


def _log_uniform(rng: np.random.Generator, pair) -> float:
    lo, hi = pair
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi)))) if hi > lo else float(lo)


def draw(rng: np.random.Generator, ranges: Ranges = Ranges()) -> dict:
    """One scenario's generator parameters (keyword arguments of ``generate``, the seed among them)."""
    names = [m["name"] for m in catalog.text_to_video()["models"]]
    devices = [d["name"] for d in catalog.text_to_video()["devices"]]
    cells = int(rng.integers(ranges.cells[0], ranges.cells[1] + 1))
    per_cell = round(_log_uniform(rng, ranges.users_per_cell))
    models = [names[i] for i in rng.permutation(len(names))[:int(rng.integers(1, len(names) + 1))]]
    uplink = _log_uniform(rng, ranges.uplink_mhz)
    refusal = DEFAULTS["refusal_penalty"] * _log_uniform(rng, ranges.refusal_factor)
    if rng.random() < ranges.free_refusal:
        refusal = 0.0
    mix = rng.dirichlet(np.ones(len(devices)))
    return {
        "users": cells * per_cell, "edges": cells, "models": models,
        "max_configs": [1, 2, 3, None][int(rng.integers(4))],
        "uplink_mhz": uplink, "downlink_mhz": 2.0 * uplink,
        "cell_radius_m": _log_uniform(rng, ranges.cell_radius_m),
        "request_probability": float(rng.uniform(*ranges.request_probability)),
        "cloud": bool(rng.random() < ranges.cloud),
        "delay_per_second": DEFAULTS["delay_per_second"] * _log_uniform(rng, ranges.delay_factor),
        "energy_per_joule": DEFAULTS["energy_per_joule"] * _log_uniform(rng, ranges.energy_factor),
        "refusal_penalty": refusal,
        "cloud_price": DEFAULTS["cloud_price"] * _log_uniform(rng, ranges.cloud_price_factor),
        "edge_gpus": list(GPU_MEMORY_GB), "device_mix": {d: float(v) for d, v in zip(devices, mix)},
        "shuffle": True, "slots": ranges.slots, "seed": int(rng.integers(2 ** 31 - 1)),
    }


def sample(rng: np.random.Generator, ranges: Ranges = Ranges(), name: str | None = None):
    """One drawn instance (redrawn while the family refuses it); its parameters are in its description."""
    for _ in range(MAX_REDRAWS):
        params = draw(rng, ranges)
        try:
            return generate(**params, name=name)
        except (InstanceError, ValueError):
            continue
    raise ValueError(f"{MAX_REDRAWS} draws in a row gave instances the family refuses; widen the ranges "
                     f"({ranges.as_dict()})")


__all__ = ["DEFAULTS", "Ranges", "draw", "make_ranges", "sample"]
