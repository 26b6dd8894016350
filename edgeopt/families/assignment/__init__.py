"""Prompt-to-model assignment with denoising steps and compute allocation on one edge server.

An edge server hosts several text-to-image diffusion models. Each prompt goes to one model; each model
runs a number of denoising steps from its grid; the server's compute budget is split between the models.
Utility = mean expected quality (CLIP score) - latency_weight x mean latency. The math, the latency model
and why the exact method is exact: docs/formulations.md, section "assignment". The family has no MILP:
its exact method is the solver ``enumerate`` (solvers/enumerate.py).
"""
from edgeopt.families.assignment import solvers  # noqa: F401  (registers the family's solvers)
from edgeopt.families.assignment.describe import describe
from edgeopt.families.assignment.evaluate import evaluate, infeasibility_reason
from edgeopt.families.assignment.generate import OPTIONS, generate
from edgeopt.families.assignment.instance import (SENSE, TOL, Instance, Solution, from_data, solution_from_data,
                                                  solution_to_data)
from edgeopt.families.assignment.plans import optimal_shares, plan, utility_of_counts
from edgeopt.families.assignment.schema import KIND, SCHEMA, SOLUTION_SCHEMA
from edgeopt.registry import Family, register_family

FAMILY = register_family(Family(
    kind=KIND, title="which text-to-image model serves each prompt, its denoising steps and its compute share",
    sense=SENSE, schema=SCHEMA, solution_schema=SOLUTION_SCHEMA, instance_type=Instance, from_data=from_data,
    solution_to_data=solution_to_data, solution_from_data=solution_from_data, evaluate=evaluate,
    infeasibility_reason=infeasibility_reason, generate=generate, generator_options=OPTIONS, describe=describe,
    docs="docs/formulations.md#assignment", default_solver="enumerate",
))

__all__ = ["FAMILY", "KIND", "SENSE", "TOL", "SCHEMA", "SOLUTION_SCHEMA", "Instance", "Solution", "from_data",
           "solution_to_data", "solution_from_data", "evaluate", "infeasibility_reason", "generate", "describe",
           "optimal_shares", "plan", "utility_of_counts"]
