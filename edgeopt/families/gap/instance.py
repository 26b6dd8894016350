"""The GAP Instance and its solutions (an assignment of jobs to agents), to and from their files.

Each job goes to exactly one agent; an agent's jobs use at most its capacity of resource; the
assignment maximises total profit or minimises total cost. The math (symbols, objective,
constraints), both file formats and the heuristics are in docs/gap.md.

Unlike deployment, the family has no single sense: OR-Library's gap1-gap12 maximise profit and
gapa-gapd minimise cost, so ``SENSE`` is None and every :class:`Instance` carries its own ``sense``
("max" or "min"), which is what edgeopt.solve, compare and the MILP backends read.

A solution is an assignment: an integer array of length ``jobs`` holding each job's agent index
(0-based), -1 for a job left unassigned. :func:`evaluate` also takes the 0/1 matrix
``x[agent, job]`` a MILP backend returns, so a job given to two agents is reported too.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeopt.document import Document, InstanceError, frozen
from edgeopt.families.gap.schema import KIND

#: None: the sense is per instance (``Instance.sense``); OR-Library has maximisation and minimisation sets.
SENSE = None
#: Largest model (agents x jobs binary variables) an instance may describe; beyond it the file is refused.
MAX_VARIABLES = 20_000_000
#: Relative tolerance of the capacity check (data are usually integers: sums are exact).
TOL = 1e-9
#: Absolute floor of the capacity check: the feasibility tolerance of the MILP backends (HiGHS and SCIP
#: accept a row exceeded by 1e-6), so that a plan they return is not refused for less than that (a job
#: of 1e-6 on an agent of capacity 0 was an "error" of highs on an instance with an obvious optimum).
ABS_TOL = 1e-6


def capacity_slack(capacity) -> np.ndarray:
    """What an agent's jobs may use beyond its capacity before the evaluator calls it a violation:
    TOL relative, at least ABS_TOL."""
    return np.maximum(ABS_TOL, TOL * np.abs(np.asarray(capacity, dtype=float)))
#: Which key holds the objective matrix for each sense.
OBJECTIVE_KEY = {"max": "profit", "min": "cost"}


@dataclass(frozen=True, eq=False)
class Instance(Document):
    """A validated GAP instance. Arrays are read-only, indexed ``[agent, job]``; ``data`` is a copy of
    the document."""

    sense: str  # "max" (profit) or "min" (cost)
    agents: int
    jobs: int
    weight: np.ndarray  # (m, n) profit when sense is "max", cost when "min"
    resource: np.ndarray  # (m, n) resource a job uses at an agent
    capacity: np.ndarray  # (m,)

    kind = KIND

    @property
    def objective_key(self) -> str:
        """``"profit"`` or ``"cost"``: the document key of :attr:`weight` and the evaluator's part."""
        return OBJECTIVE_KEY[self.sense]

    @property
    def num_variables(self) -> int:
        return self.agents * self.jobs

    def __repr__(self) -> str:
        goal = "maximise profit" if self.sense == "max" else "minimise cost"
        return f"<gap instance {self.name!r}: {self.agents} agents, {self.jobs} jobs, {goal}>"


def from_data(data: dict, source: str = "<data>") -> Instance:
    """Build an Instance from schema-valid data; raises InstanceError for every inconsistency."""
    problems: list[tuple[str, str]] = []
    m, n, sense = data["agents"], data["jobs"], data["sense"]
    key, other = OBJECTIVE_KEY[sense], OBJECTIVE_KEY["min" if sense == "max" else "max"]
    if m * n > MAX_VARIABLES:
        raise InstanceError(source, [("(top level)", f"{m} agents x {n} jobs is a model of {m * n:,} variables, "
                                      f"more than the limit of {MAX_VARIABLES:,}")])
    if other in data:
        goal = "maximised" if other == "profit" else "minimised"
        problems.append((other, f"a {other} matrix is {goal}, but this instance has sense {sense!r} "
                         f"(give '{key}' for sense {sense!r})"))
    elif key not in data:
        problems.append((key, f"missing required key (sense {sense!r} needs a '{key}' matrix)"))
    for name in (key, "resource"):
        rows = data.get(name)
        if rows is None:
            continue
        if len(rows) != m:
            problems.append((name, f"must have one row per agent ({m}), got {len(rows)}"))
        for i, row in enumerate(rows):
            if len(row) != n:
                problems.append((f"{name}[{i}]", f"must have one entry per job ({n}), got {len(row)}"))
    if len(data["capacity"]) != m:
        problems.append(("capacity", f"must have one entry per agent ({m}), got {len(data['capacity'])}"))
    if problems:
        raise InstanceError(source, problems)
    return Instance(
        **Document.head(data), sense=sense, agents=m, jobs=n,
        weight=frozen(data[key]), resource=frozen(data["resource"]),
        capacity=frozen(data["capacity"]),
    )


# -- solution --------------------------------------------------------------------------------------
#: A solution is an assignment: np.ndarray of shape (jobs,), int64, each job's agent or -1.
Solution = np.ndarray


def as_assignment_or_matrix(inst: Instance, sol) -> np.ndarray:
    a = np.asarray(sol)
    if a.shape == (inst.jobs,) or a.shape == (inst.agents, inst.jobs):
        if a.dtype == bool:
            return a
        if not np.all(np.isfinite(a)) or not np.all(a == np.round(a)):
            raise ValueError("a gap solution holds integers (agent indices, or a 0/1 matrix)")
        a = a.astype(np.int64)
        if a.ndim == 2 and not np.isin(a, (0, 1)).all():
            raise ValueError("a gap solution matrix x[agent, job] holds only 0 and 1")
        return a
    raise ValueError(f"a gap solution is an assignment of shape ({inst.jobs},) or a 0/1 matrix of shape "
                     f"({inst.agents}, {inst.jobs}); got shape {a.shape}")


def _assignment(inst: Instance, sol) -> np.ndarray:
    """The assignment vector of ``sol``; a matrix must give every job exactly one agent."""
    a = as_assignment_or_matrix(inst, sol)
    if a.ndim == 1:
        return a
    counts = a.sum(axis=0)
    bad = np.flatnonzero(counts != 1)
    if bad.size:
        j = int(bad[0])
        raise ValueError(f"job {j} is assigned to {int(counts[j])} agents; a solution file holds one agent per job")
    return np.argmax(a, axis=0).astype(np.int64)


def solution_to_data(inst: Instance, sol) -> dict:
    return {"assignment": [int(v) for v in _assignment(inst, sol)]}


def solution_from_data(inst: Instance, data: dict, source: str = "<solution>") -> np.ndarray:
    """Parse the decisions written by :func:`solution_to_data`; every bad entry is reported."""
    a = data["assignment"]
    problems = []
    if len(a) != inst.jobs:
        problems.append(("decisions.assignment", f"must have one agent per job ({inst.jobs}), got {len(a)}"))
    for j, v in enumerate(a):
        if v >= inst.agents:
            problems.append((f"decisions.assignment[{j}]", f"no agent {v}: this instance has agents 0 to "
                             f"{inst.agents - 1} (-1 leaves the job unassigned)"))
    if problems:
        raise InstanceError(source, problems)
    return np.array(a, dtype=np.int64)

