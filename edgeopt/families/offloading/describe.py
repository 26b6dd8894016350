"""What ``edgeopt show`` prints for an offloading instance."""
from __future__ import annotations

import numpy as np

from edgeopt.families.offloading.instance import Instance
from edgeopt.text import fields, table


def describe(inst: Instance) -> str:
    d = inst.content
    head = [("kind", f"{inst.kind} (maximise)")]
    if d.get("description"):
        head.append(("description", d["description"]))
    w = d["weights"]
    head += [
        ("hash", inst.hash),
        ("size", f"{inst.num_users} users, {inst.num_edges} edges (cells), {inst.num_models} models with "
                 f"{inst.num_configs} configurations, {inst.slots} slot(s), {int(inst.requested.sum())} requests"),
        ("objective", f"{w['utility']:g} x utility - {w['delay_per_second']:g}/s x delay - "
                      f"{w['energy_per_joule']:g}/J x energy; a refused request costs {w['refusal_penalty']:g}"),
        ("cloud", f"enabled: {d['cloud']['gpu']}, WAN {d['cloud']['wan_delay_seconds']:g} s, "
                  f"{d['cloud']['price_per_request']:g} per request" if inst.cloud_enabled else "disabled"),
    ]
    models = table(["configuration", "seconds", "measured on", "peak GB", "video Mbit", "utility"],
                   [(inst.config_names[k], f"{c['generation_seconds']:g}", c["measured_on"],
                     f"{c['peak_gpu_memory_gb']:g}", f"{c['video_megabits']:g}", f"{inst.config_utility[k]:.4g}")
                    for k, c in enumerate(c for m in d["models"] for c in m["configs"])], "lrlrrr")
    users_per_edge = np.bincount(inst.user_edge, minlength=inst.num_edges)
    edges = table(["edge", "GPU", "GPU GB", "uplink MHz", "downlink MHz", "users"],
                  [(e["name"], e["gpu"], f"{e['gpu_memory_gb']:g}", f"{e['uplink_hz'] / 1e6:g}",
                    f"{e['downlink_hz'] / 1e6:g}", int(users_per_edge[i])) for i, e in enumerate(d["edges"])],
                  "llrrrr")
    per_device = np.bincount(inst.user_device, minlength=len(inst.device_names))
    devices = table(["device", "GPU", "runs locally", "users"],
                    [(x["name"], x["gpu"] or "-", ", ".join(x["local_models"]) or "-", int(per_device[i]))
                     for i, x in enumerate(d["devices"])], "lllr")
    eff = inst.uplink_efficiency, inst.downlink_efficiency
    radio = (f"uplink {eff[0].min():.2f}..{eff[0].max():.2f} bit/s/Hz, downlink {eff[1].min():.2f}.."
             f"{eff[1].max():.2f} bit/s/Hz over the users' slots")
    options = sum(inst.options(t).num_options for t in range(inst.slots))
    tail = [("radio", radio), ("options", f"{options} (user, configuration, place) options in all, plus refusal")]
    return "\n".join([fields(head), "", "configurations", models, "", "edges", edges, "", "devices", devices, "",
                      fields(tail)])
