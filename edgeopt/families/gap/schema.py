"""The JSON Schemas of a gap instance file and of the decisions in its solution files (docs/gap.md)."""
from __future__ import annotations

from edgeopt.document import array_of, document_schema, record

KIND = "gap"
MAX_AGENTS = 100_000
MAX_JOBS = 10_000_000
#: Largest magnitude of a profit, cost, resource or capacity.
MAX_VALUE = 1e12

_VALUE = {"type": "number", "minimum": -MAX_VALUE, "maximum": MAX_VALUE}
_AMOUNT = {"type": "number", "minimum": 0, "maximum": MAX_VALUE}


def _matrix(item: dict) -> dict:
    return array_of(array_of(item, least=1, most=MAX_JOBS), least=1, most=MAX_AGENTS)


SCHEMA = document_schema(
    KIND, "edgeopt generalized assignment (gap) instance",
    ["sense", "agents", "jobs", "resource", "capacity"],
    {
        "sense": {"enum": ["max", "min"]},
        "agents": {"type": "integer", "minimum": 1, "maximum": MAX_AGENTS},
        "jobs": {"type": "integer", "minimum": 1, "maximum": MAX_JOBS},
        "profit": _matrix(_VALUE),
        "cost": _matrix(_VALUE),
        "resource": _matrix(_AMOUNT),
        "capacity": array_of(_AMOUNT, least=1, most=MAX_AGENTS),
    },
    description="x[agent, job] binary; every job to exactly one agent; sum_j resource[i][j] x[i, j] <= "
                "capacity[i]; maximise sum profit[i][j] x[i, j] (sense max) or minimise sum cost[i][j] "
                "x[i, j] (sense min). Exactly one of profit (max) and cost (min).",
)

#: The ``decisions`` of a solution file: each job's agent (0-based), -1 for an unassigned job.
SOLUTION_SCHEMA = record(["assignment"], {
    "assignment": array_of({"type": "integer", "minimum": -1, "maximum": MAX_AGENTS}),
})
