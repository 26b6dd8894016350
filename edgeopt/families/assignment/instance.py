"""The assignment Instance, the Solution and both to and from their files.

Index order: category ``c``, model ``j``, prompt ``i``. The math, the latency model and why the exact
method is exact: docs/formulations.md, section "assignment".
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from edgeopt.document import Document, InstanceError, check_unique, frozen
from edgeopt.families.assignment.schema import KIND

SENSE = "max"
#: Relative tolerance of the budget and memory checks (the evaluator's and the solvers').
TOL = 1e-9


@dataclass(frozen=True, eq=False)
class Instance(Document):
    """A validated assignment instance. Arrays are read-only; ``data`` is a copy of the document."""

    categories: tuple[str, ...]
    model_names: tuple[str, ...]
    step_seconds: np.ndarray        # (M,) one step at the full budget
    model_gpu_memory_gb: np.ndarray  # (M,)
    steps_grid: tuple[np.ndarray, ...]  # per model, sorted allowed steps
    clip_at_zero_steps: np.ndarray  # (M,)
    steps_scale: np.ndarray         # (M,)
    clip_max: np.ndarray            # (C, M)
    clip_std: np.ndarray            # (C, M)
    prompt_category: np.ndarray     # (N,)
    compute_budget: float
    gpu_memory_gb: float | None
    latency_weight: float

    kind = KIND
    sense = SENSE

    num_models = property(lambda self: len(self.model_names), doc="M")
    num_categories = property(lambda self: len(self.categories), doc="C")
    num_prompts = property(lambda self: int(self.prompt_category.size), doc="N")

    @cached_property
    def category_counts(self) -> np.ndarray:
        """(C,) prompts per category."""
        return frozen(np.bincount(self.prompt_category, minlength=self.num_categories), np.int64)

    def mean_clip(self, category, model, steps) -> np.ndarray:
        """Expected CLIP score of a prompt of ``category`` on ``model`` at ``steps`` (broadcasting)."""
        q0 = self.clip_at_zero_steps[model]
        return q0 + (self.clip_max[category, model] - q0) * (1.0 - np.exp(-np.asarray(steps) / self.steps_scale[model]))

    def __repr__(self) -> str:
        return (f"<assignment instance {self.name!r}: {self.num_prompts} prompts in {self.num_categories} "
                f"categories, {self.num_models} models>")

    def fits_memory(self, models) -> bool:
        """Whether the models (indices or a boolean mask) fit the server's GPU memory together."""
        idx = np.asarray(models)
        idx = idx if idx.dtype == bool else idx.astype(np.int64)
        return self.gpu_memory_gb is None or float(self.model_gpu_memory_gb[idx].sum()) <= self.gpu_memory_gb * (1 + TOL)


def from_data(data: dict, source: str = "<data>") -> Instance:
    """Build an Instance from schema-valid data; raises InstanceError for every inconsistency."""
    problems: list[tuple[str, str]] = []
    cats = data["categories"]
    ci: dict[str, int] = {}
    for k, c in enumerate(cats):
        if c in ci:
            problems.append((f"categories[{k}]", f"duplicate category {c!r}"))
        ci.setdefault(c, k)
    check_unique([m["name"] for m in data["models"]], "model", "models", problems)
    for j, m in enumerate(data["models"]):
        if len(set(m["steps"])) != len(m["steps"]):
            problems.append((f"models[{j}].steps", "must not repeat a step count"))
        for c in m["quality"]:
            if c not in ci:
                problems.append((f"models[{j}].quality.{c}", f"unknown category {c!r} (categories: {', '.join(cats)})"))
        for c in cats:
            if c not in m["quality"]:
                problems.append((f"models[{j}].quality", f"missing category {c!r}: every model needs clip_max and "
                                 "clip_std for every category"))
    for i, p in enumerate(data["prompts"]):
        if p["category"] not in ci:
            problems.append((f"prompts[{i}].category", f"unknown category {p['category']!r} (categories: "
                             f"{', '.join(cats)})"))
            if len(problems) > 50:
                break
    if problems:
        raise InstanceError(source, problems)
    models = data["models"]
    C, M = len(cats), len(models)
    clip_max = np.zeros((C, M))
    clip_std = np.zeros((C, M))
    for j, m in enumerate(models):
        for c, q in m["quality"].items():
            clip_max[ci[c], j] = q["clip_max"]
            clip_std[ci[c], j] = q["clip_std"]
    grids = tuple(frozen(sorted(m["steps"]), np.int64) for m in models)
    return Instance(
        **Document.head(data), categories=tuple(cats),
        model_names=tuple(m["name"] for m in models),
        step_seconds=frozen([m["step_seconds"] for m in models]),
        model_gpu_memory_gb=frozen([m["gpu_memory_gb"] for m in models]), steps_grid=grids,
        clip_at_zero_steps=frozen([m["clip_at_zero_steps"] for m in models]),
        steps_scale=frozen([m["steps_scale"] for m in models]), clip_max=frozen(clip_max), clip_std=frozen(clip_std),
        prompt_category=frozen([ci[p["category"]] for p in data["prompts"]], np.int64),
        compute_budget=float(data["compute_budget"]),
        gpu_memory_gb=float(data["gpu_memory_gb"]) if "gpu_memory_gb" in data else None,
        latency_weight=float(data["latency_weight"]),
    )


# -- solution --------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Solution:
    """``model[i]``: the model of prompt i; ``steps[j]``: model j's denoising steps (0 if it serves
    nothing); ``shares[j]``: its share of the compute budget (same unit as ``compute_budget``)."""

    model: np.ndarray
    steps: np.ndarray
    shares: np.ndarray


def solution_to_data(inst: Instance, sol: Solution) -> dict:
    return {"assignment": [inst.model_names[j] for j in sol.model],
            "steps": {n: int(s) for n, s in zip(inst.model_names, sol.steps)},
            "shares": {n: float(f) for n, f in zip(inst.model_names, sol.shares)}}


def solution_from_data(inst: Instance, data: dict, source: str = "<solution>") -> Solution:
    mi = {n: j for j, n in enumerate(inst.model_names)}
    problems = []
    if len(data["assignment"]) != inst.num_prompts:
        problems.append(("decisions.assignment", f"must name a model for each of the {inst.num_prompts} prompts, "
                         f"got {len(data['assignment'])}"))
    for i, n in enumerate(data["assignment"]):
        if n not in mi:
            problems.append((f"decisions.assignment[{i}]", f"no model named {n!r}"))
            break
    for key in ("steps", "shares"):
        for n in data[key]:
            if n not in mi:
                problems.append((f"decisions.{key}.{n}", "no such model"))
    if problems:
        raise InstanceError(source, problems)
    steps = np.zeros(inst.num_models, dtype=np.int64)
    shares = np.zeros(inst.num_models)
    for n, s in data["steps"].items():
        steps[mi[n]] = s
    for n, f in data["shares"].items():
        shares[mi[n]] = f
    return Solution(np.array([mi[n] for n in data["assignment"]], dtype=np.int64), steps, shares)

