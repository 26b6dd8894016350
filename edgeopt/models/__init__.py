"""Problem families. Each module declares KIND, SENSE, SCHEMA and the functions
``from_data``, ``solution_to_data``, ``solution_from_data``, ``evaluate``, ``formulate``,
``infeasibility_reason`` and ``generate`` (see docs/architecture.md). A family whose instances differ
in sense (gap) sets SENSE = None; every Instance has ``sense`` ("min" or "max")."""
from __future__ import annotations

from edgeopt.models import assignment, deployment, gap

FAMILIES = {deployment.KIND: deployment, assignment.KIND: assignment, gap.KIND: gap}


def family(kind: str):
    try:
        return FAMILIES[kind]
    except KeyError:
        raise ValueError(f"unknown family {kind!r}; known: {', '.join(sorted(FAMILIES))}") from None


def family_of(instance):
    return family(instance.kind)
