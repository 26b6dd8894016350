"""What ``edgeopt show`` prints for a gap instance."""
from __future__ import annotations

from edgeopt.families.gap.evaluate import infeasibility_reason
from edgeopt.families.gap.formulate import formulate
from edgeopt.families.gap.instance import Instance
from edgeopt.modeling import size_line
from edgeopt.text import fields, table


def describe(inst: Instance) -> str:
    goal = "maximise profit" if inst.sense == "max" else "minimise cost"
    head = [("kind", f"{inst.kind} ({goal})")]
    if inst.content.get("description"):
        head.append(("description", inst.content["description"]))
    head += [("hash", inst.hash), ("size", f"{inst.agents} agents, {inst.jobs} jobs")]
    agents = table(["agent", "capacity", "resource per job", f"{inst.objective_key} per job"],
                   [(i, f"{inst.capacity[i]:g}", f"{inst.resource[i].min():g}..{inst.resource[i].max():g}",
                     f"{inst.weight[i].min():g}..{inst.weight[i].max():g}") for i in range(inst.agents)], "rrrr")
    tail = [("MILP", size_line(formulate(inst).model))]
    reason = infeasibility_reason(inst)
    if reason is not None:
        tail.append(("infeasible", reason))
    return "\n".join([fields(head), "", agents, "", fields(tail)])
