"""Online serving over time (issue 18's family): the offloading family's cells (edgeopt/mec.py) over a horizon
of slots that follow each other. A model loaded on an edge stays loaded until evicted, loading one takes its
load time of the edge's GPU and costs; GPU work that does not fit in a slot carries over as a backlog, each
second of it costing as a second of delay in every slot it is carried. Requests arrive in bursts (edgeopt.arrivals: processes fitted to real
Azure traces, or the traces replayed). The math is in docs/formulations.md, section "serving".
"""
from edgeopt.families.serving import solvers  # noqa: F401  (registers the family's solvers)
from edgeopt.families.serving.describe import describe
from edgeopt.families.serving.evaluate import dynamics, evaluate, infeasibility_reason, slot_objectives
from edgeopt.families.serving.generate import OPTIONS, generate
from edgeopt.families.serving.instance import (SENSE, Instance, Solution, empty_solution, from_data,
                                               solution_from_data, solution_to_data)
from edgeopt.families.serving.schema import KIND, SCHEMA, SOLUTION_SCHEMA
from edgeopt.registry import Family, register_family
from edgeopt.mec import precheck_table_sizes

FAMILY = register_family(Family(
    kind=KIND, title="which models each edge keeps loaded slot after slot, and each arriving request's model, "
                     "configuration and place, with the backlog and loading they cost",
    sense=SENSE, schema=SCHEMA, solution_schema=SOLUTION_SCHEMA, instance_type=Instance, from_data=from_data,
    solution_to_data=solution_to_data, solution_from_data=solution_from_data, evaluate=evaluate,
    infeasibility_reason=infeasibility_reason, generate=generate, generator_options=OPTIONS, describe=describe,
    docs="docs/formulations.md#serving", default_solver="hindsight", precheck=precheck_table_sizes,
))

__all__ = ["FAMILY", "KIND", "SENSE", "SCHEMA", "SOLUTION_SCHEMA", "Instance", "Solution", "empty_solution",
           "from_data", "solution_to_data", "solution_from_data", "evaluate", "dynamics", "infeasibility_reason",
           "generate", "describe", "slot_objectives"]
