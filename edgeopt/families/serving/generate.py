"""Seeded serving instances: the offloading family's cells (edgeopt.mec.generate_cells) over a horizon of slots
whose requests arrive in bursts, drawn from a process fitted to a real trace or replayed from it.

Arrivals (``arrivals``): each cell has its own stream of per-slot intensities ``m_t`` (mean 1 over the
stream), and a user of the cell asks for a video in slot t with chance ``min(1, request_rate x m_t)``:

- ``"poisson"``: ``m_t = 1``, every slot alike;
- ``"mmpp-code"`` / ``"mmpp-conv"``: a 3-state Markov-modulated Poisson process fitted (edgeopt.arrivals) to
  the Azure code-completion or conversation trace, sampled second by second and summed per slot;
- ``"trace-code"`` / ``"trace-conv"``: the trace itself, summed per slot, each cell replaying its own window
  (cell e starts ``trace_start + e x slots x slot_seconds`` seconds in, wrapping around the trace's end;
  ``trace_start`` None: drawn by the seed).

``diurnal_amplitude`` multiplies the intensities by a day's shape (edgeopt.arrivals.diurnal, clock from
``start_hour``): it matters for horizons of hours, slots of minutes.
"""
from __future__ import annotations

import math
from functools import cache

import numpy as np

from edgeopt import arrivals as arrival_processes
from edgeopt import catalog
from edgeopt.document import generated_head
from edgeopt.families.serving.schema import KIND, SCHEMA
from edgeopt.io import instance_from_data
from edgeopt.mec import check_cell_parameters, check_generated_size, generate_cells
from edgeopt.registry import GeneratorOption, at_least, choice, count_or_names, number

ARRIVALS = ("poisson", "mmpp-code", "mmpp-conv", "trace-code", "trace-conv")
_TRACE = {"code": "azure-code-2023", "conv": "azure-conv-2023"}


@cache
def fitted(which: str) -> arrival_processes.MMPP:
    """The 3-state MMPP fitted to a bundled trace (deterministic; fitted once per process)."""
    model, _ = arrival_processes.fit_mmpp(arrival_processes.trace(_TRACE[which]), states=3)
    return model


def intensities(arrivals: str, cells: int, slots: int, slot_seconds: float, rng: np.random.Generator,
                trace_start: int | None = None) -> np.ndarray:
    """(cells, slots) the per-slot intensity of each cell's stream, mean 1 over the process (or the trace)."""
    if arrivals == "poisson":
        return np.ones((cells, slots))
    kind, _, which = arrivals.partition("-")
    whole = int(round(slot_seconds))
    if kind == "trace":
        counts = arrival_processes.trace(_TRACE[which])
        length = counts.size
        start = int(rng.integers(length)) if trace_start is None else int(trace_start) % length
        mean = counts.mean() * whole
        out = np.empty((cells, slots))
        for e in range(cells):
            first = (start + e * slots * whole) % length
            window = np.take(counts, np.arange(first, first + slots * whole), mode="wrap")
            out[e] = arrival_processes.per_slot(window, whole) / mean
        return out
    model = fitted(which)
    mean = model.mean_rate * whole
    return np.stack([model.sample(slots, whole, rng) / mean for _ in range(cells)])


#: The serving generator's own numbers and their ranges (the shared cell parameters, bands, radius, weights,
#: prices, are those of the cell generators, edgeopt.mec.CELL_RANGES): the slot's
#: length as the schema bounds it, whole seconds (arrivals are counted per second); the loading weight as the
#: schema bounds it; a chance; a day's amplitude (a rate cannot go negative); the clock's hour.
RANGES = {
    "slot_seconds": (1.0, float(SCHEMA["properties"]["slot_seconds"]["maximum"])),
    "loading_per_second": (0.0, float(SCHEMA["properties"]["weights"]["properties"]["loading_per_second"]["maximum"])),
    "request_rate": (0.0, 1.0),
    "diurnal_amplitude": (0.0, 1.0),
    "start_hour": (0.0, 24.0),
}
#: The largest ``trace_start``, in seconds (the window wraps around the trace's end: larger ones add nothing).
MAX_TRACE_START = 10**9


def _number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_)) \
        and math.isfinite(value)


def check_parameters(**values) -> None:
    """ValueError naming the first of the serving generator's own parameters it cannot make a valid instance of
    (``RANGES``; ``slot_seconds`` whole; ``trace_start`` None or a whole number from 0 to ``MAX_TRACE_START``;
    ``arrivals`` one of ``ARRIVALS``), before anything is drawn: each used to fail as a refusal of the
    generated document ("<generated>: slot_seconds: must be <= 86400") or deep in numpy."""
    arrivals = values.get("arrivals", "poisson")
    if not isinstance(arrivals, str) or arrivals not in ARRIVALS:
        raise ValueError(f"arrivals must be one of {', '.join(ARRIVALS)}, got {arrivals!r}")
    for name, (low, high) in RANGES.items():
        if name in values and not (_number(values[name]) and low <= values[name] <= high):
            raise ValueError(f"{name} must be a number from {low:g} to {high:g}, got {values[name]!r}")
    if "slot_seconds" in values and not float(values["slot_seconds"]).is_integer():
        raise ValueError(f"slot_seconds must be a whole number of seconds (arrivals are counted per second), "
                         f"got {values['slot_seconds']!r}")
    start = values.get("trace_start")
    if start is not None and (isinstance(start, (bool, np.bool_)) or not isinstance(start, (int, np.integer))
                              or not 0 <= start <= MAX_TRACE_START):
        raise ValueError(f"trace_start must be a whole number of seconds from 0 to {MAX_TRACE_START:g} (or None: "
                         f"drawn), got {start!r}")


def generate(*, users: int = 12, edges: int = 2, slots: int = 12, slot_seconds: float = 10.0,
             models: int | list[str] = 4, max_configs: int | None = 3, arrivals: str = "mmpp-code",
             request_rate: float = 0.4, trace_start: int | None = None, diurnal_amplitude: float = 0.0,
             start_hour: float = 0.0, uplink_mhz: float = 10.0, downlink_mhz: float = 20.0,
             cell_radius_m: float = 500.0, cloud: bool = True, delay_per_second: float = 0.05,
             energy_per_joule: float = 0.001, refusal_penalty: float = 100.0, cloud_price: float = 5.0,
             loading_per_second: float = 0.05, edge_gpus: str | list[str] | None = None,
             device_mix: dict | None = None, shuffle: bool = False, seed: int = 0, name: str | None = None):
    """A seeded, deterministic serving instance (docs/formulations.md, "serving"). Edges start empty (nothing
    loaded, no backlog). Models carry their ``load_seconds`` from the catalog."""
    check_generated_size(users, edges, slots)  # before any work: the sizes the schema and the time allow
    check_parameters(arrivals=arrivals, slot_seconds=slot_seconds, request_rate=request_rate,
                     trace_start=trace_start, diurnal_amplitude=diurnal_amplitude, start_hour=start_hour,
                     loading_per_second=loading_per_second)
    check_cell_parameters(max_configs=max_configs, uplink_mhz=uplink_mhz, downlink_mhz=downlink_mhz,
                          cell_radius_m=cell_radius_m, delay_per_second=delay_per_second,
                          energy_per_joule=energy_per_joule, refusal_penalty=refusal_penalty, cloud_price=cloud_price,
                          seed=seed, models=models, device_mix=device_mix)
    stream = np.random.default_rng([seed, 2])  # the arrivals' own stream: the cells' draws are those of the seed
    level = intensities(arrivals, edges, slots, float(slot_seconds), stream, trace_start)
    level = level * arrival_processes.diurnal(slots, float(slot_seconds), amplitude=diurnal_amplitude,
                                              start_hour=start_hour)[None, :]
    chance = np.minimum(1.0, request_rate * level)
    data, names = generate_cells(
        users=users, edges=edges, slots=slots, models=models, max_configs=max_configs, uplink_mhz=uplink_mhz,
        downlink_mhz=downlink_mhz, cell_radius_m=cell_radius_m, cloud=cloud, delay_per_second=delay_per_second,
        energy_per_joule=energy_per_joule, refusal_penalty=refusal_penalty, cloud_price=cloud_price,
        edge_gpus=edge_gpus, device_mix=device_mix, shuffle=shuffle, seed=seed,
        asks=lambda edge, draws: draws < chance[edge])
    load = {m["name"]: m for m in catalog.text_to_video()["models"]}
    for m in data["models"]:
        m["load_seconds"] = load[m["name"]]["load_seconds"]
        m.setdefault("sources", {})["load_seconds"] = load[m["name"]]["sources"]["load_seconds"]
    for e in data["edges"]:
        e.update(initial_loaded=[], initial_backlog_seconds=0.0)
    data["weights"]["loading_per_second"] = float(loading_per_second)
    settings = ", ".join(f"{k}={v!r}" for k, v in (
        ("users", users), ("edges", edges), ("slots", slots), ("slot_seconds", slot_seconds), ("models", names),
        ("max_configs", max_configs), ("arrivals", arrivals), ("request_rate", request_rate),
        ("trace_start", trace_start), ("diurnal_amplitude", diurnal_amplitude), ("start_hour", start_hour),
        ("uplink_mhz", uplink_mhz), ("downlink_mhz", downlink_mhz), ("cell_radius_m", cell_radius_m),
        ("cloud", cloud), ("delay_per_second", delay_per_second), ("energy_per_joule", energy_per_joule),
        ("refusal_penalty", refusal_penalty), ("cloud_price", cloud_price),
        ("loading_per_second", loading_per_second), ("edge_gpus", edge_gpus), ("device_mix", device_mix),
        ("shuffle", shuffle), ("seed", seed)))
    doc = {
        **generated_head(
            KIND, name or f"serving-u{users}-e{edges}-t{slots}-{arrivals}-s{seed}",
            f"generated by edgeopt.generate('serving', {settings})",
            "models, GPUs, devices, radio and load times: edgeopt/catalog/text_to_video.json (each figure with its "
            "source or stated assumption); arrivals: edgeopt/catalog/azure_arrivals_2023.json (Azure Public "
            "Dataset, CC-BY 4.0; Patel et al., 'Splitwise', ISCA 2024) or a Poisson stream; positions, requests, "
            "edge GPUs and weights: assumptions of the generator"),
        "slot_seconds": float(slot_seconds),
        **data,
    }
    return instance_from_data(doc, source="<generated>")


OPTIONS = (
    GeneratorOption("users", at_least(1), 12, "users (a user asks for at most one video per slot)", "N"),
    GeneratorOption("edges", at_least(1), 2, "cells, one edge server each", "N"),
    GeneratorOption("slots", at_least(1), 12, "slots of the horizon", "N"),
    GeneratorOption("slot_seconds", number(positive=True), 10.0, "slot length, whole seconds", "S"),
    GeneratorOption("models", count_or_names, 4, "text-to-video models: a count drawn from the catalog, or "
                    "comma-separated catalog names", "N|NAMES"),
    GeneratorOption("max_configs", at_least(1), 3, "configurations per model (its fastest ones)", "N"),
    GeneratorOption("arrivals", choice(*ARRIVALS), "mmpp-code", "the arrival process (" + ", ".join(ARRIVALS) + ")",
                    "KIND"),
    GeneratorOption("request_rate", number(positive=False), 0.4, "mean chance a user asks in a slot", "P"),
    GeneratorOption("trace_start", at_least(0), None, "seconds into the trace where cell 0's window starts "
                    "(trace arrivals; default: drawn)", "S"),
    GeneratorOption("diurnal_amplitude", number(positive=False), 0.0, "day-shaped scaling of the arrivals, 0 to 1",
                    "A"),
    GeneratorOption("start_hour", number(positive=False), 0.0, "the clock's hour at the first slot", "H"),
    GeneratorOption("cloud", bool, True, "a cloud that serves any request (--no-cloud: none)", flag=True),
    GeneratorOption("loading_per_second", number(positive=False), 0.05, "cost of a second of model loading", "W"),
    GeneratorOption("delay_per_second", number(positive=False), 0.05, "weight of a second of delay", "W"),
    GeneratorOption("energy_per_joule", number(positive=False), 0.001, "weight of a joule of device energy", "W"),
    GeneratorOption("refusal_penalty", number(positive=False), 100.0, "cost of a refused request", "X"),
    GeneratorOption("cell_radius_m", number(positive=True), 500.0, "cell radius, metres", "M"),
)
