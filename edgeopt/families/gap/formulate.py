"""The GAP as a MILP (docs/gap.md), built from whole arrays."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeopt.families.gap.instance import Instance
from edgeopt.modeling import Model, VarBlock


@dataclass(frozen=True)
class Formulation:
    """The built model and the block of x[agent, job], to turn a solution vector into an assignment."""

    model: Model
    blocks: dict[str, VarBlock]

    def decode(self, values: np.ndarray) -> np.ndarray:
        """The assignment of a solution vector; if some job has not exactly one agent, the 0/1 matrix
        (so that the evaluator names the job instead of this function hiding it)."""
        x = np.round(np.asarray(values)[self.blocks["assign"].ids]) > 0.5
        if np.all(x.sum(axis=0) == 1):
            return np.argmax(x, axis=0).astype(np.int64)
        return x

    def encode(self, sol) -> np.ndarray:
        """The solution vector of an assignment (unassigned jobs have no 1), for warm starts."""
        ids = self.blocks["assign"].ids
        a = np.asarray(sol, dtype=np.int64)
        x = np.zeros(self.model.num_cols)
        j = np.flatnonzero(a >= 0)
        x[ids[a[j], j]] = 1.0
        return x


def formulate(inst: Instance) -> Formulation:
    """The GAP as a MILP (docs/gap.md), built from whole arrays."""
    m, n = inst.agents, inst.jobs
    mdl = Model(f"gap:{inst.name}", sense=inst.sense)
    x = mdl.add_variables("assign", (m, n), ub=1, integer=True)
    mdl.add_objective(x, inst.weight)
    rows = mdl.add_rows("one_agent", (n,), lo=1, hi=1)
    mdl.add_terms(rows.ids[None, :], x, 1.0)
    rows = mdl.add_rows("capacity", (m,), hi=inst.capacity)
    mdl.add_terms(rows.ids[:, None], x, inst.resource, where=inst.resource != 0)
    return Formulation(mdl, {"assign": x})
