"""What ``edgeopt show`` prints for a serving instance."""
from __future__ import annotations

import numpy as np

from edgeopt.families.serving.instance import Instance
from edgeopt.text import fields, table


def describe(inst: Instance) -> str:
    d = inst.content
    w = d["weights"]
    head = [("kind", f"{inst.kind} (maximise)")]
    if d.get("description"):
        head.append(("description", d["description"]))
    per_slot = inst.requested.sum(axis=0)
    head += [
        ("hash", inst.hash),
        ("size", f"{inst.num_users} users, {inst.num_edges} edges (cells), {inst.num_models} models with "
                 f"{inst.num_configs} configurations, {inst.slots} slots of {inst.slot_seconds:g} s, "
                 f"{int(inst.requested.sum())} requests"),
        ("objective", f"{w['utility']:g} x utility - {w['delay_per_second']:g}/s x (delay + backlog at each "
                      f"slot's end) - {w['energy_per_joule']:g}/J x energy - {w['loading_per_second']:g}/s x loading; "
                      f"a refused request costs {w['refusal_penalty']:g}"),
        ("cloud", f"enabled: {d['cloud']['gpu']}, WAN {d['cloud']['wan_delay_seconds']:g} s, "
                  f"{d['cloud']['price_per_request']:g} per request" if inst.cloud_enabled else "disabled"),
        ("requests", f"{int(per_slot.min())} to {int(per_slot.max())} per slot (mean {per_slot.mean():.1f})"),
    ]
    models = table(["model", "GPU GB", "load s", "configurations"],
                   [(m["name"], f"{m['gpu_memory_gb']:g}", f"{m['load_seconds']:g}", len(m["configs"]))
                    for m in d["models"]], "lrrr")
    users_per_edge = np.bincount(inst.user_edge, minlength=inst.num_edges)
    edges = table(["edge", "GPU", "GPU GB", "uplink MHz", "users", "loaded at start", "backlog s"],
                  [(e["name"], e["gpu"], f"{e['gpu_memory_gb']:g}", f"{e['uplink_hz'] / 1e6:g}",
                    int(users_per_edge[i]), ", ".join(e["initial_loaded"]) or "-",
                    f"{e['initial_backlog_seconds']:g}") for i, e in enumerate(d["edges"])], "llrrrlr")
    return "\n".join([fields(head), "", "models", models, "", "edges", edges])
