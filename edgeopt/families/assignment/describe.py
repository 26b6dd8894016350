"""What ``edgeopt show`` prints for an assignment instance."""
from __future__ import annotations

from edgeopt.families.assignment.evaluate import infeasibility_reason
from edgeopt.families.assignment.instance import Instance
from edgeopt.text import fields, table


def describe(inst: Instance) -> str:
    d = inst.content
    head = [("kind", f"{inst.kind} (maximise)")]
    if d.get("description"):
        head.append(("description", d["description"]))
    memory = "no limit" if inst.gpu_memory_gb is None else f"{inst.gpu_memory_gb:g} GB"
    head += [
        ("hash", inst.hash),
        ("size", f"{inst.num_prompts} prompts in {inst.num_categories} categories, {inst.num_models} models"),
        ("server", f"compute budget {inst.compute_budget:g}, GPU memory {memory}"),
        ("utility", f"mean CLIP score - {inst.latency_weight:g} x mean latency in seconds"),
    ]
    categories = table(["category", "prompts"], [(c, int(n)) for c, n in zip(inst.categories, inst.category_counts)],
                       "lr")
    rows = []
    for j, name in enumerate(inst.model_names):
        grid = inst.steps_grid[j]
        best = max(range(inst.num_categories), key=lambda c: inst.clip_max[c, j])
        rows.append((name, f"{inst.step_seconds[j]:g}", f"{inst.model_gpu_memory_gb[j]:g}",
                     f"{grid[0]}..{grid[-1]} ({grid.size})", f"{inst.clip_max[:, j].min():g}..{inst.clip_max[:, j].max():g}",
                     inst.categories[best]))
    models = table(["name", "s/step", "GPU GB", "steps", "CLIP max", "best category"], rows, "lrrrrl")
    tail = [("exact method", "enumerate (category maps x steps, exact by convexity; no MILP to export)")]
    reason = infeasibility_reason(inst)
    if reason is not None:
        tail.append(("infeasible", reason))
    return "\n".join([fields(head), "", "categories", categories, "", "models", models, "", fields(tail)])
