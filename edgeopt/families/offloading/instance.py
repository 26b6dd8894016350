"""The offloading Instance (the cells of edgeopt.mec: read-only arrays, the radio physics derived once, the
option table of each slot, which every solver works on), the Solution, and both to and from their files.

Index order: user ``u``, slot ``t``, edge (and its cell) ``e``, model ``m``, configuration ``k`` (all models'
configurations in one list), device class ``d``. Places: 0 local, 1 edge, 2 cloud. The math (symbols,
units, objective, constraints) is in docs/formulations.md, section "offloading".
"""
from __future__ import annotations

from dataclasses import dataclass

from edgeopt.document import Document
from edgeopt.families.offloading.schema import KIND
from edgeopt.mec import (  # noqa: F401  (the cells' names, used by the family's modules through this one)
    CLOUD,
    COMPUTE,
    DOWNLINK,
    EDGE,
    LOCAL,
    PLACES,
    TOL,
    UPLINK,
    Cells,
    Options,
    Solution,
    cells_from_data,
    check_table_sizes,
    empty_solution,
    solution_from_data,
    solution_to_data,
    spectral_efficiency,
)

SENSE = "max"


@dataclass(frozen=True, eq=False)
class Instance(Cells):
    """A validated offloading instance: the cells' fields (edgeopt.mec.Cells), every slot standing alone.
    Arrays are read-only; ``data`` is a copy of the document."""

    kind = KIND
    sense = SENSE

    def __repr__(self) -> str:
        return (f"<offloading instance {self.name!r}: {self.num_users} users, {self.num_edges} edges, "
                f"{self.num_models} models ({self.num_configs} configurations), {self.slots} slots, "
                f"{int(self.requested.sum())} requests>")


def from_data(data: dict, source: str = "<data>") -> Instance:
    """Build an Instance from schema-valid data; raises InstanceError for every broken reference, and for tables
    beyond edgeopt.mec.MAX_OPTION_ROWS or MAX_EDGE_MODEL_SLOTS (checked first, before anything is built)."""
    check_table_sizes(data, source)
    return Instance(**Document.head(data), **cells_from_data(data, source))
