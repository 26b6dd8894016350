"""The assignment evaluator, the truth every solver is checked against, and the infeasibility pre-check."""
from __future__ import annotations

import numpy as np

from edgeopt.families.assignment.instance import TOL, Instance, Solution
from edgeopt.result import Evaluation, Violation


def _violations(inst: Instance, counts: np.ndarray, steps: np.ndarray, shares: np.ndarray) -> list[Violation]:
    """Steps off the grid, a used model without compute, shares over the budget, models over the memory."""
    viol: list[Violation] = []
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
    if not inst.fits_memory(used):
        mem = float(inst.model_gpu_memory_gb[used].sum())
        viol.append(Violation("gpu_memory", "resident models", mem - inst.gpu_memory_gb,
                              f"the models in use need {mem:g} GB of GPU memory, the server has "
                              f"{inst.gpu_memory_gb:g} GB"))
    return viol


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
    bad = (model < 0) | (model >= M)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        return Evaluation(float("nan"), {}, (Violation("assignment", f"prompt {i}", float(model[i]),
                          f"model index {int(model[i])} is out of range 0..{M - 1}"),))
    counts = np.bincount(model, minlength=M)
    used = counts > 0
    viol = _violations(inst, counts, steps, shares)
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
        sd = inst.clip_std[inst.prompt_category, model]
        draws = mu[None, :] + sd[None, :] * np.random.default_rng(seed).standard_normal((samples, N))
        utilities = draws.mean(axis=1) - inst.latency_weight * mean_latency
        stats["monte_carlo_utility"] = float(utilities.mean())
        stats["monte_carlo_stderr"] = float(utilities.std(ddof=1) / np.sqrt(samples)) if samples > 1 else float("nan")
    return Evaluation(quality + parts["latency"], parts, (), stats)


def infeasibility_reason(inst: Instance) -> str | None:
    """A sentence when no model fits the server's GPU memory (then no prompt can be served); else None."""
    if inst.gpu_memory_gb is not None and inst.model_gpu_memory_gb.min() > inst.gpu_memory_gb:
        j = int(np.argmin(inst.model_gpu_memory_gb))
        return (f"no model fits the server's {inst.gpu_memory_gb:g} GB of GPU memory (the smallest, "
                f"{inst.model_names[j]!r}, needs {inst.model_gpu_memory_gb[j]:g} GB)")
    return None
