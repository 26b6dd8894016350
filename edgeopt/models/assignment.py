"""Prompt-to-model assignment with denoising steps and compute allocation on one edge server.

An edge server hosts several text-to-image diffusion models. Each prompt goes to one model; each model
runs a number of denoising steps from its grid; the server's compute budget is split between the models.
Utility = mean expected quality (CLIP score) - latency_weight x mean latency. The math, the latency model
and why the exact method is exact: docs/formulations.md, section "assignment".
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from edgeopt.io import Document, InstanceError, content_hash
from edgeopt.result import Evaluation, Violation
from edgeopt.schema import NAME, document, nonnegative, positive

KIND = "assignment"
SENSE = "max"
#: Relative tolerance of the evaluator's budget and memory checks.
TOL = 1e-9


SCHEMA = document(
    KIND, "edgeopt assignment instance",
    ["categories", "models", "prompts", "compute_budget", "latency_weight"],
    {
        "categories": {"type": "array", "minItems": 1, "maxItems": 100, "items": NAME},
        "compute_budget": positive(1e6),
        "gpu_memory_gb": positive(1e6),
        "latency_weight": nonnegative(1e6),
        "models": {
            "type": "array", "minItems": 1, "maxItems": 100,
            "items": {
                "type": "object", "additionalProperties": False,
                "required": ["name", "step_seconds", "gpu_memory_gb", "steps", "clip_at_zero_steps", "steps_scale",
                             "quality"],
                "properties": {
                    "name": NAME,
                    "step_seconds": positive(1e4),
                    "gpu_memory_gb": positive(1e5),
                    "steps": {"type": "array", "minItems": 1, "maxItems": 1000,
                              "items": {"type": "integer", "minimum": 1, "maximum": 100_000}},
                    "clip_at_zero_steps": nonnegative(1e3),
                    "steps_scale": positive(1e5),
                    "quality": {"type": "object", "additionalProperties": {
                        "type": "object", "additionalProperties": False, "required": ["clip_max", "clip_std"],
                        "properties": {"clip_max": nonnegative(1e3), "clip_std": nonnegative(1e3)}}},
                    "sources": {"type": "object", "additionalProperties": {"type": "string"}},
                },
            },
        },
        "prompts": {
            "type": "array", "minItems": 1, "maxItems": 1_000_000,
            "items": {"type": "object", "additionalProperties": False, "required": ["category"],
                      "properties": {"category": NAME, "text": {"type": "string", "maxLength": 10_000}}},
        },
    },
)

SOLUTION_SCHEMA = {
    "type": "object", "additionalProperties": False, "required": ["assignment", "steps", "shares"],
    "properties": {
        "assignment": {"type": "array", "items": NAME},
        "steps": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}},
        "shares": {"type": "object", "additionalProperties": {"type": "number", "minimum": 0}},
    },
}


@dataclass(frozen=True, eq=False)
class Instance(Document):
    """A validated assignment instance. Index order: category ``c``, model ``j``, prompt ``i``."""

    name: str
    content: dict = field(repr=False)
    hash: str
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

    @property
    def num_models(self) -> int:
        return len(self.model_names)

    @property
    def num_categories(self) -> int:
        return len(self.categories)

    @property
    def num_prompts(self) -> int:
        return int(self.prompt_category.size)

    @cached_property
    def category_counts(self) -> np.ndarray:
        """(C,) prompts per category."""
        c = np.bincount(self.prompt_category, minlength=self.num_categories)
        c.setflags(write=False)
        return c

    def mean_clip(self, category, model, steps) -> np.ndarray:
        """Expected CLIP score of a prompt of ``category`` on ``model`` at ``steps`` (broadcasting)."""
        q0 = self.clip_at_zero_steps[model]
        return q0 + (self.clip_max[category, model] - q0) * (1.0 - np.exp(-np.asarray(steps) / self.steps_scale[model]))

    def __repr__(self) -> str:
        return (f"<assignment instance {self.name!r}: {self.num_prompts} prompts in {self.num_categories} "
                f"categories, {self.num_models} models>")


def _ro(a, dtype=float) -> np.ndarray:
    a = np.array(a, dtype=dtype)
    a.setflags(write=False)
    return a


def from_data(data: dict, source: str = "<data>") -> Instance:
    problems: list[tuple[str, str]] = []
    cats = data["categories"]
    ci: dict[str, int] = {}
    for k, c in enumerate(cats):
        if c in ci:
            problems.append((f"categories[{k}]", f"duplicate category {c!r}"))
        ci.setdefault(c, k)
    mi: dict[str, int] = {}
    for j, m in enumerate(data["models"]):
        if m["name"] in mi:
            problems.append((f"models[{j}].name", f"duplicate model name {m['name']!r} (also models[{mi[m['name']]}])"))
        mi.setdefault(m["name"], j)
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
    grids = tuple(_ro(sorted(m["steps"]), np.int64) for m in models)
    return Instance(
        name=data["name"], content=copy.deepcopy(data), hash=content_hash(data), categories=tuple(cats),
        model_names=tuple(m["name"] for m in models),
        step_seconds=_ro([m["step_seconds"] for m in models]),
        model_gpu_memory_gb=_ro([m["gpu_memory_gb"] for m in models]), steps_grid=grids,
        clip_at_zero_steps=_ro([m["clip_at_zero_steps"] for m in models]),
        steps_scale=_ro([m["steps_scale"] for m in models]), clip_max=_ro(clip_max), clip_std=_ro(clip_std),
        prompt_category=_ro([ci[p["category"]] for p in data["prompts"]], np.int64),
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


# -- evaluation ------------------------------------------------------------------------------------
def evaluate(inst: Instance, sol: Solution, *, seed: int | None = None, samples: int = 200) -> Evaluation:
    """Expected utility, its parts, every violation; with ``seed``, a Monte-Carlo utility from sampled scores.

    parts: ``quality`` (mean expected CLIP score) and ``latency`` (-latency_weight x mean latency), which
    sum to the objective. stats: ``mean_latency_seconds``, ``models_used``, and with a seed
    ``monte_carlo_utility`` and ``monte_carlo_stderr`` over ``samples`` draws of every prompt's score.
    """
    N, M = inst.num_prompts, inst.num_models
    model = np.asarray(sol.model)
    steps = np.asarray(sol.steps)
    shares = np.asarray(sol.shares, dtype=float)
    if model.shape != (N,) or steps.shape != (M,) or shares.shape != (M,):
        return Evaluation(float("nan"), {}, (Violation("shape", "solution", float("nan"),
                          f"expected model ({N},), steps ({M},), shares ({M},); got {model.shape}, {steps.shape}, "
                          f"{shares.shape}"),))
    viol: list[Violation] = []
    bad = (model < 0) | (model >= M)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        return Evaluation(float("nan"), {}, (Violation("assignment", f"prompt {i}", float(model[i]),
                          f"model index {int(model[i])} is out of range 0..{M - 1}"),))
    counts = np.bincount(model, minlength=M)
    used = counts > 0
    for j in np.flatnonzero(used):
        if steps[j] not in inst.steps_grid[j]:
            viol.append(Violation("steps_grid", f"model {inst.model_names[j]!r}", float(steps[j]),
                                  f"{int(steps[j])} steps is not in its grid {inst.steps_grid[j].tolist()}"))
        if not shares[j] > 0:
            viol.append(Violation("share_positive", f"model {inst.model_names[j]!r}", float(shares[j]),
                                  f"serves {int(counts[j])} prompts with a compute share of {shares[j]:g}"))
    if (shares < 0).any() or not np.isfinite(shares).all():
        viol.append(Violation("share_nonnegative", "shares", float(np.nanmin(shares)), "shares must be finite and >= 0"))
    total = float(shares.sum())
    if total > inst.compute_budget * (1 + TOL):
        viol.append(Violation("compute_budget", "shares", total - inst.compute_budget,
                              f"shares sum to {total:.12g}, above the budget {inst.compute_budget:g}"))
    if inst.gpu_memory_gb is not None:
        mem = float(inst.model_gpu_memory_gb[used].sum())
        if mem > inst.gpu_memory_gb * (1 + TOL):
            viol.append(Violation("gpu_memory", "resident models", mem - inst.gpu_memory_gb,
                                  f"the models in use need {mem:g} GB of GPU memory, the server has "
                                  f"{inst.gpu_memory_gb:g} GB"))
    if viol:
        return Evaluation(float("nan"), {}, tuple(viol))

    mu = inst.mean_clip(inst.prompt_category, model, steps[model])
    per_model_latency = np.zeros(M)
    per_model_latency[used] = steps[used] * inst.step_seconds[used] / shares[used]
    latency = per_model_latency[model]
    quality = float(mu.mean())
    mean_latency = float(latency.mean())
    parts = {"quality": quality, "latency": -inst.latency_weight * mean_latency}
    stats = {"mean_latency_seconds": mean_latency, "models_used": float(used.sum())}
    if seed is not None:
        rng = np.random.default_rng(seed)
        sd = inst.clip_std[inst.prompt_category, model]
        draws = mu[None, :] + sd[None, :] * rng.standard_normal((samples, N))
        utilities = draws.mean(axis=1) - inst.latency_weight * mean_latency
        stats["monte_carlo_utility"] = float(utilities.mean())
        stats["monte_carlo_stderr"] = float(utilities.std(ddof=1) / np.sqrt(samples)) if samples > 1 else float("nan")
    return Evaluation(quality + parts["latency"], parts, (), stats)


def infeasibility_reason(inst: Instance) -> str | None:
    if inst.gpu_memory_gb is not None and inst.model_gpu_memory_gb.min() > inst.gpu_memory_gb:
        j = int(np.argmin(inst.model_gpu_memory_gb))
        return (f"no model fits the server's {inst.gpu_memory_gb:g} GB of GPU memory (the smallest, "
                f"{inst.model_names[j]!r}, needs {inst.model_gpu_memory_gb[j]:g} GB)")
    return None


# -- the closed form every solver shares -----------------------------------------------------------
def optimal_shares(inst: Instance, counts: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Shares minimising mean latency for the given prompts per model and steps (edgeopt.allocation)."""
    from edgeopt.allocation import allocate

    a = counts * np.where(counts > 0, steps, 0) * inst.step_seconds / inst.num_prompts
    shares = np.zeros(inst.num_models)
    used = a > 0
    if used.any():
        shares[used] = allocate(a[used], inst.compute_budget, method="closed").shares
    return shares


def plan(inst: Instance, model: np.ndarray, steps: np.ndarray) -> Solution:
    """A complete solution from an assignment and steps: the compute split optimally (closed form)."""
    model = np.asarray(model, dtype=np.int64)
    counts = np.bincount(model, minlength=inst.num_models)
    steps = np.where(counts > 0, np.asarray(steps, dtype=np.int64), 0)
    return Solution(model, steps, optimal_shares(inst, counts, steps))


def utility_of_counts(inst: Instance, counts: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Expected utility with optimal shares, vectorized over leading axes.

    ``counts[..., c, j]`` prompts of category c on model j and ``steps[..., j]``: quality is linear in
    the counts; with optimal shares the mean latency is (sum_j sqrt(n_j s_j tau_j / N))^2 / F (the
    square-root rule), which needs no share variables.
    """
    N = inst.num_prompts
    c_idx = np.arange(inst.num_categories)[:, None]
    j_idx = np.arange(inst.num_models)[None, :]
    mu = inst.mean_clip(c_idx, j_idx, steps[..., None, :])  # (..., C, M)
    quality = (counts * mu).sum(axis=(-2, -1)) / N
    n_j = counts.sum(axis=-2)
    root = np.sqrt(n_j * steps * inst.step_seconds / N).sum(axis=-1)
    return quality - inst.latency_weight * root ** 2 / inst.compute_budget


# -- generator -------------------------------------------------------------------------------------
def generate(*, prompts: int = 100, models: int | list[str] = 3, latency_weight: float = 0.5,
             compute_budget: float = 1.0, gpu_memory_gb: float | None = None, seed: int = 0,
             name: str | None = None) -> Instance:
    """A seeded instance: prompts sampled from PartiPrompts (with their challenge categories) and models
    from the text-to-image catalog (each figure with its source or stated assumption)."""
    from edgeopt import catalog
    from edgeopt.io import instance_from_data

    rng = np.random.default_rng(seed)
    cat = catalog.text_to_image()
    entries = cat["models"]
    if isinstance(models, int):
        if not 1 <= models <= len(entries):
            raise ValueError(f"models must be between 1 and {len(entries)} (the catalog's size), got {models}")
        chosen = [entries[i] for i in sorted(rng.permutation(len(entries))[:models])]
    else:
        by_name = {e["name"]: e for e in entries}
        unknown = [n for n in models if n not in by_name]
        if unknown:
            raise ValueError(f"no text-to-image model {unknown[0]!r} in the catalog; known: {', '.join(by_name)}")
        chosen = [by_name[n] for n in models]
    pool = catalog.parti_prompts()
    if prompts < 1:
        raise ValueError(f"prompts must be at least 1, got {prompts}")
    picks = rng.choice(len(pool), size=prompts, replace=prompts > len(pool))
    data = {
        "kind": KIND, "format": 1,
        "name": name or f"assign-p{prompts}-m{len(chosen)}-s{seed}",
        "description": (f"generated by edgeopt.models.assignment.generate(prompts={prompts}, models="
                        f"{[m['name'] for m in chosen]}, latency_weight={latency_weight}, compute_budget="
                        f"{compute_budget}, gpu_memory_gb={gpu_memory_gb}, seed={seed})"),
        "source": "prompts: PartiPrompts (google-research/parti, Apache-2.0); models: "
                  "edgeopt/catalog/text_to_image.json (sources and assumptions per field)",
        "categories": list(cat["categories"]),
        "compute_budget": float(compute_budget),
        "latency_weight": float(latency_weight),
        "models": copy.deepcopy(chosen),
        "prompts": [{"category": pool[k][1], "text": pool[k][0]} for k in picks],
    }
    if gpu_memory_gb is not None:
        data["gpu_memory_gb"] = float(gpu_memory_gb)
    return instance_from_data(data, source="<generated>")
