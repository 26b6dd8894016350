"""The generalized assignment problem (GAP), in J.E. Beasley's OR-Library format and as JSON.

Each job goes to exactly one agent; an agent's jobs use at most its capacity of resource; the
assignment maximises total profit or minimises total cost. The math, both file formats and the
heuristics are in docs/gap.md. The family registers a reader for OR-Library's text files (``orlib``),
so ``edgeopt.load`` returns the list of a file's problems.
"""
import re
from pathlib import Path

from edgeopt.families.gap import solvers  # noqa: F401  (registers the family's solvers)
from edgeopt.families.gap.describe import describe
from edgeopt.families.gap.evaluate import evaluate, infeasibility_reason
from edgeopt.families.gap.formulate import Formulation, formulate
from edgeopt.families.gap.generate import OPTIONS, TYPES, generate
from edgeopt.families.gap.instance import (MAX_VARIABLES, OBJECTIVE_KEY, SENSE, TOL, Instance, Solution, from_data,
                                           solution_from_data, solution_to_data)
from edgeopt.families.gap.orlib import parse_orlib, sense_from_name, to_orlib
from edgeopt.families.gap.schema import KIND, SCHEMA, SOLUTION_SCHEMA
from edgeopt.registry import Family, Reader, register_family


def is_orlib_text(text: str, path: str = "") -> bool:
    """An OR-Library file starts with a number (its count of problems); a .json file never is one."""
    return Path(path).suffix.lower() != ".json" and re.match(r"\s*[+-]?\d", text) is not None


FAMILY = register_family(Family(
    kind=KIND, title="OR-Library's generalized assignment problem: jobs to agents under capacities",
    sense=SENSE, schema=SCHEMA, solution_schema=SOLUTION_SCHEMA, instance_type=Instance, from_data=from_data,
    solution_to_data=solution_to_data, solution_from_data=solution_from_data, evaluate=evaluate,
    infeasibility_reason=infeasibility_reason, generate=generate, generator_options=OPTIONS, describe=describe,
    formulate=formulate, readers=(Reader("OR-Library GAP text", is_orlib_text, parse_orlib),),
    docs="docs/gap.md", default_solver="highs",
))

__all__ = ["FAMILY", "KIND", "SENSE", "SCHEMA", "SOLUTION_SCHEMA", "MAX_VARIABLES", "OBJECTIVE_KEY", "TOL", "TYPES",
           "Instance", "Solution", "Formulation", "from_data", "solution_to_data", "solution_from_data", "evaluate",
           "infeasibility_reason", "formulate", "generate", "describe", "parse_orlib", "to_orlib", "sense_from_name",
           "is_orlib_text"]
