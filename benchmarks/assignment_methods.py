"""The seed paper's method and its four baselines against the proven optimum, side by side.

    python benchmarks/assignment_methods.py [--seed 0] [--generated]

For every bundled assignment instance (instances/assignment/*.json; with ``--generated``, a generated set
of 12 from 20 to 1,632 prompts, 2 to 5 models, several latency weights and memory limits) the exact
``enumerate`` gives the reference, and each method its mean expected quality (CLIP x100), mean latency
(seconds), utility and gap to the optimum (edgeopt.relative_gap: positive when worse). Then each method's
average gap, and the issue's target for simulated annealing with default settings.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import edgeopt

ROOT = Path(__file__).resolve().parent.parent
METHODS = ("prob-anneal", "direct-assign", "random-assign", "equal-alloc", "optimal-step")
REFERENCE = "enumerate"
TARGET = 0.01

#: The generated set: (prompts, models, latency_weight, gpu_memory_gb, compute_budget, seed).
GENERATED = [
    (20, 2, 0.1, None, 1.0, 1), (50, 3, 0.3, None, 1.0, 2), (100, 3, 0.05, 25.0, 1.0, 3),
    (200, 4, 1.0, None, 0.5, 4), (300, 4, 0.02, 15.0, 1.0, 5), (500, 5, 0.1, 36.0, 1.0, 6),
    (500, 5, 3.0, None, 1.0, 7), (800, 5, 0.01, None, 2.0, 8), (1000, 4, 0.2, 25.0, 2.0, 9),
    (1200, 5, 0.05, None, 1.0, 10), (1632, 5, 0.1, 36.0, 1.0, 11), (1632, 2, 0.5, None, 0.5, 12),
]


def instances(generated: bool):
    if not generated:
        paths = sorted((ROOT / "instances" / "assignment").glob("*.json"))
        if paths:
            return [edgeopt.load(p) for p in paths]
        print("no bundled assignment instances found; using the generated set\n")
    return [edgeopt.generate("assignment", prompts=p, models=m, latency_weight=w, gpu_memory_gb=g, compute_budget=f,
                             seed=s) for p, m, w, g, f, s in GENERATED]


def row(label: str, res, ref: float | None, sense: str) -> tuple[str, float | None]:
    if res.objective is None or res.status == edgeopt.Status.ERROR:
        return f"  {label:<15}{res.status.value:>12}  {res.message}", None
    ev = res.evaluation
    gap = edgeopt.relative_gap(res.objective, ref, sense)
    gap_text = "-" if gap is None else f"{100 * gap:.4f}%"
    return (f"  {label:<15}{ev.parts['quality']:>12.4f}{ev.stats['mean_latency_seconds']:>12.4f}"
            f"{res.objective:>12.4f}{gap_text:>10}{res.solve_seconds + res.build_seconds:>9.2f}"), gap


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=0, help="seed of the randomized methods")
    ap.add_argument("--generated", action="store_true", help="use the generated set, not the bundled instances")
    args = ap.parse_args()
    gaps: dict[str, list[float]] = {m: [] for m in METHODS}
    for inst in instances(args.generated):
        ref = edgeopt.solve(inst, REFERENCE)
        proven = ref.status == edgeopt.Status.OPTIMAL
        target = ref.objective if proven else ref.bound
        memory = "-" if inst.gpu_memory_gb is None else f"{inst.gpu_memory_gb:g} GB"
        print(f"{inst.name}: {inst.num_prompts} prompts, {inst.num_models} models, latency weight "
              f"{inst.latency_weight:g}, budget {inst.compute_budget:g}, GPU memory {memory}; reference "
              f"{'=opt=' if proven else '=bound= (not proven optimal)'} {target:.6f}")
        print(f"  {'method':<15}{'quality':>12}{'latency s':>12}{'utility':>12}{'gap':>10}{'seconds':>9}")
        text, _ = row(REFERENCE, ref, target, inst.sense)
        print(text)
        for method in METHODS:
            text, gap = row(method, edgeopt.solve(inst, method, seed=args.seed), target, inst.sense)
            print(text)
            if gap is not None:
                gaps[method].append(gap)
        print()
    print("average gap to the optimum over the instances")
    for method in METHODS:
        values = gaps[method]
        print(f"  {method:<15}{100 * np.mean(values):>9.4f}%  (worst {100 * max(values):.4f}%, "
              f"{len(values)} instances)")
    mean = float(np.mean(gaps["prob-anneal"]))
    print(f"\nsimulated annealing averages <= {100 * TARGET:g}% gap to the proven optimum: "
          f"{'MET' if mean <= TARGET else 'NOT MET'} ({100 * mean:.3g}%)")


if __name__ == "__main__":
    main()
