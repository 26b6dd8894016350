"""Joint text-to-video model choice, offloading and radio/compute allocation (the third seed problem).

Users of a cell ask for generated videos; each request is served on the user's device, on the cell's edge
server or in the cloud, with a model and configuration, or refused; the cells' uplink and downlink and the
edges' compute are shared among the users who offload. The math (symbols, units, objective, constraints,
the source of every default) is in docs/formulations.md, section "offloading". The family has no MILP:
its exact methods are solvers of its own (solvers/).
"""
from edgeopt.families.offloading import solvers  # noqa: F401  (registers the family's solvers)
from edgeopt.families.offloading.describe import describe
from edgeopt.families.offloading.evaluate import evaluate, infeasibility_reason
from edgeopt.families.offloading.generate import OPTIONS, generate
from edgeopt.families.offloading.instance import (PLACES, SENSE, Instance, Options, Solution, empty_solution,
                                                  from_data, solution_from_data, solution_to_data)
from edgeopt.families.offloading.plans import ALLOCATIONS, plan, shares, slot_value
from edgeopt.families.offloading.schema import KIND, SCHEMA, SOLUTION_SCHEMA
from edgeopt.registry import Family, register_family
from edgeopt.mec import precheck_table_sizes

FAMILY = register_family(Family(
    kind=KIND, title="each user's text-to-video model, configuration and place, and the radio and compute shares",
    sense=SENSE, schema=SCHEMA, solution_schema=SOLUTION_SCHEMA, instance_type=Instance, from_data=from_data,
    solution_to_data=solution_to_data, solution_from_data=solution_from_data, evaluate=evaluate,
    infeasibility_reason=infeasibility_reason, generate=generate, generator_options=OPTIONS, describe=describe,
    docs="docs/formulations.md#offloading", default_solver="offload-oa", precheck=precheck_table_sizes,
))

__all__ = ["FAMILY", "KIND", "SENSE", "SCHEMA", "SOLUTION_SCHEMA", "PLACES", "ALLOCATIONS", "Instance", "Options",
           "Solution", "empty_solution", "from_data", "solution_to_data", "solution_from_data", "evaluate",
           "infeasibility_reason", "generate", "describe", "plan", "shares", "slot_value"]
