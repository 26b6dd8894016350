"""The serving Instance: the cells of edgeopt.mec over a horizon of slots that follow each other, with what
carries from one slot to the next (loaded models, unfinished work), and the option table of each slot.

Index order as in edgeopt.mec: user ``u``, slot ``t``, edge ``e``, model ``m``, configuration ``k``. The math
(symbols, units, objective, constraints) is in docs/formulations.md, section "serving".
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeopt.document import Document, InstanceError, frozen
from edgeopt.families.serving.schema import KIND
from edgeopt.mec import (  # noqa: F401  (the cells' names, used by the family's modules through this one)
    CLOUD,
    EDGE,
    LOCAL,
    PLACES,
    TOL,
    Cells,
    Options,
    Solution,
    cells_from_data,
    check_table_sizes,
    empty_solution,
    solution_from_data,
    solution_to_data,
)

SENSE = "max"


@dataclass(frozen=True, eq=False)
class Instance(Cells):
    """A validated serving instance: the cells' fields (edgeopt.mec.Cells) and what links the slots: each slot
    lasts ``slot_seconds``; loading model m on an edge takes ``model_load_seconds[m]`` of that edge's GPU in
    the slot it is loaded and costs ``loading_per_second`` per second; each edge starts with
    ``initial_loaded`` (E, M) models and ``initial_backlog_seconds`` (E,) of unfinished GPU work."""

    slot_seconds: float
    loading_per_second: float
    model_load_seconds: np.ndarray  # (M,)
    initial_loaded: np.ndarray  # (E, M) bool
    initial_backlog_seconds: np.ndarray  # (E,)

    kind = KIND
    sense = SENSE

    def __repr__(self) -> str:
        return (f"<serving instance {self.name!r}: {self.num_users} users, {self.num_edges} edges, "
                f"{self.num_models} models ({self.num_configs} configurations), {self.slots} slots of "
                f"{self.slot_seconds:g} s, {int(self.requested.sum())} requests>")

    def edge_work(self, opts: Options) -> np.ndarray:
        """(O,) the GPU seconds of each option at its edge (its generation time at the edge's full speed; 0 for
        an option off the edge)."""
        return np.where(opts.place == EDGE, self.config_reference_seconds[opts.config] / self.edge_speed[opts.edge],
                        0.0)


def from_data(data: dict, source: str = "<data>") -> Instance:
    """Build an Instance from schema-valid data; raises InstanceError for every broken reference, and for tables
    beyond edgeopt.mec.MAX_OPTION_ROWS or MAX_EDGE_MODEL_SLOTS (checked first, before anything is built)."""
    check_table_sizes(data, source)
    cells = cells_from_data(data, source)
    models = {m["name"]: j for j, m in enumerate(data["models"])}
    memory = np.array([m["gpu_memory_gb"] for m in data["models"]])
    loaded = np.zeros((len(data["edges"]), len(models)), dtype=bool)
    problems = []
    for e, edge in enumerate(data["edges"]):
        for i, name in enumerate(edge["initial_loaded"]):
            where = f"edges[{e}].initial_loaded[{i}]"
            if name not in models:
                problems.append((where, f"no model named {name!r}"))
            elif loaded[e, models[name]]:
                problems.append((where, f"model {name!r} is listed twice"))
            else:
                loaded[e, models[name]] = True
        need = float(memory[loaded[e]].sum())
        if need > edge["gpu_memory_gb"] * (1 + TOL):
            problems.append((f"edges[{e}].initial_loaded", f"the models need {need:g} GB, the edge has "
                             f"{edge['gpu_memory_gb']:g} GB of GPU memory"))
    if problems:
        raise InstanceError(source, problems)
    return Instance(
        **Document.head(data), **cells, slot_seconds=float(data["slot_seconds"]),
        loading_per_second=float(data["weights"]["loading_per_second"]),
        model_load_seconds=frozen([m["load_seconds"] for m in data["models"]]),
        initial_loaded=frozen(loaded, bool),
        initial_backlog_seconds=frozen([e["initial_backlog_seconds"] for e in data["edges"]]),
    )
