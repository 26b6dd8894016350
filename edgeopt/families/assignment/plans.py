"""Complete plans from an assignment and steps: the compute split by the square-root rule.

Every solver of the family shares these: with the assignment and steps fixed, the shares that minimise
the mean latency are a closed form (edgeopt.allocation), and the utility they give needs no share at all.
"""
from __future__ import annotations

import numpy as np

from edgeopt.allocation import allocate
from edgeopt.families.assignment.instance import Instance, Solution


def optimal_shares(inst: Instance, counts: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Shares minimising mean latency for the given prompts per model and steps (edgeopt.allocation)."""
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
