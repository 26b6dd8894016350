"""What ``edgeopt show`` prints for a deployment instance."""
from __future__ import annotations

from edgeopt.families.deployment.evaluate import infeasibility_reason
from edgeopt.families.deployment.formulate import formulate
from edgeopt.families.deployment.instance import Instance
from edgeopt.modeling import size_line
from edgeopt.text import fields, table


def describe(inst: Instance) -> str:
    d = inst.content
    demand_per_model = inst.demand.sum(axis=(0, 2))
    cloud, w = d["cloud"], d["weights"]
    head = [("kind", f"{inst.kind} (minimise)")]
    if d.get("description"):
        head.append(("description", d["description"]))
    head += [
        ("hash", inst.hash),
        ("size", f"{inst.num_edges} edges, {inst.num_models} models, {inst.num_regions} regions, "
                 f"{inst.num_pairs} neighbour routes, {inst.slots} slot(s) of {inst.slot_seconds:g} s"),
        ("demand", f"{int(inst.demand.sum())} requests in {len(d['demand'])} demand entries"),
        ("cloud", f"enabled: WAN delay {cloud['wan_delay_seconds']:g} s, {cloud['cost_per_request']:g} per request"
                  if cloud["enabled"] else "disabled"),
        ("weights", f"delay {w['delay_per_second']:g}/s, storage {w['storage_per_gb']:g}/GB, "
                    f"GPU memory {w['gpu_memory_per_gb']:g}/GB, backhaul {w['backhaul_per_gb']:g}/GB"),
    ]
    models = table(["name", "task", "storage GB", "GPU GB", "load s", "edge s/req", "cloud s/req", "requests"],
                   [(m["name"], m.get("task", "-"), f"{m['storage_gb']:g}", f"{m['gpu_memory_gb']:g}",
                     f"{m['load_seconds']:g}", f"{m['edge_inference_seconds']:g}", f"{m['cloud_inference_seconds']:g}",
                     int(demand_per_model[i])) for i, m in enumerate(d["models"])], "llrrrrrr")
    edges = table(["name", "storage GB", "GPU GB", "compute s", "access s", "backhaul Gbps", "links"],
                  [(e["name"], f"{e['storage_gb']:g}", f"{e['gpu_memory_gb']:g}", f"{e['compute_seconds']:g}",
                    f"{e['access_delay_seconds']:g}", f"{e['backhaul_gbps']:g}",
                    ", ".join(link["to"] for link in e.get("links", [])) or "-") for e in d["edges"]], "lrrrrrl")
    parts = [fields(head), "", "models", models, "", "edges", edges]
    initial = [(e["name"], ", ".join(e.get("initial_stored", [])) or "-", ", ".join(e.get("initial_loaded", [])) or "-")
               for e in d["edges"] if e.get("initial_stored") or e.get("initial_loaded")]
    if initial:
        parts += ["", "initial state", table(["edge", "stored", "loaded"], initial)]
    tail = [("MILP", size_line(formulate(inst).model))]
    reason = infeasibility_reason(inst)
    if reason is not None:
        tail.append(("infeasible", reason))
    parts += ["", fields(tail)]
    return "\n".join(parts)
