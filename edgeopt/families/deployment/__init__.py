"""Edge model deployment: which generative models each edge stores and loads, and where requests go.

The math (symbols, units, objective, constraints) is in docs/formulations.md, section "deployment".
One module per part of the family contract: ``schema``, ``instance`` (Instance, Solution, files),
``evaluate`` (the truth), ``formulate`` (the MILP), ``generate``, ``describe``; ``solvers/`` holds the
family's own heuristics.
"""
from edgeopt.families.deployment import solvers  # noqa: F401  (registers the family's solvers)
from edgeopt.families.deployment.describe import describe
from edgeopt.families.deployment.evaluate import evaluate, infeasibility_reason
from edgeopt.families.deployment.formulate import Formulation, formulate
from edgeopt.families.deployment.generate import OPTIONS, generate
from edgeopt.families.deployment.instance import (MAX_VARIABLES, SENSE, Instance, Solution, empty_solution,
                                                  from_data, solution_from_data, solution_to_data)
from edgeopt.families.deployment.schema import KIND, SCHEMA, SOLUTION_SCHEMA
from edgeopt.registry import Family, register_family

FAMILY = register_family(Family(
    kind=KIND, title="which models each edge stores and loads per slot, and where each request is served",
    sense=SENSE, schema=SCHEMA, solution_schema=SOLUTION_SCHEMA, instance_type=Instance, from_data=from_data,
    solution_to_data=solution_to_data, solution_from_data=solution_from_data, evaluate=evaluate,
    infeasibility_reason=infeasibility_reason, generate=generate, generator_options=OPTIONS, describe=describe,
    formulate=formulate, docs="docs/formulations.md#deployment", default_solver="highs",
))

__all__ = ["FAMILY", "KIND", "SENSE", "SCHEMA", "SOLUTION_SCHEMA", "MAX_VARIABLES", "Instance", "Solution",
           "Formulation", "empty_solution", "from_data", "solution_to_data", "solution_from_data", "evaluate",
           "infeasibility_reason", "formulate", "generate", "describe"]
