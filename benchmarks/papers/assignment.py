"""The text-to-image assignment paper's comparison, reproduced with the proven optimum beside it.

    python benchmarks/papers/assignment.py [--quick] [--out DIR] [--workers 2]

The paper (the assignment seed paper: prompts of several categories sent to text-to-image diffusion
models on one edge server, each model's denoising steps and compute share chosen; its method a
probability-guided simulated annealing) reports up to +4.7 % quality and -39.1 % latency over its
benchmarks. Its figures: a Gaussian fit of quality per prompt category; model quality across denoising
steps; quality per prompt score level and model; a comparison of assignment methods. Here:

- the quality figures are drawn from edgeopt's catalogue (edgeopt/catalog/text_to_image.json, every
  quality parameter a stated assumption: docs/catalog.md; the model in docs/formulations.md,
  "Assignment"): per category, each model's Gaussian at its largest step count
  (``quality_distributions.png``); the mean against the steps (``quality_vs_steps.png``); the mean per
  PartiPrompts challenge (basic < detail < imagination < complex, the analogue of the paper's prompt
  score levels) and model (``quality_per_level.png``);
- the methods run through ``edgeopt.compare`` (every plan re-checked by the family's evaluator):
  ``prob-anneal`` (the paper's), ``direct-assign``, ``random-assign``, ``equal-alloc``, ``optimal-step``
  and the exact ``enumerate`` (the optimum, status ``optimal`` only when proved) on generated scenarios
  like the paper's (3 to 5 models, each best for some categories; 50 to 1,000 PartiPrompts prompts;
  compute budgets 0.5, 1 and 2 GPUs; latency weights 0.02, 0.05, 0.2; 81 instances, fixed seeds) and on
  the bundled instances/assignment/*.json. The randomized methods run with seeds 0, 1, 2 (``--quick``: 0).

edgeopt.compare's rows carry the objective, status and verification; the quality and latency of each
run come from solving it again in this process with the same seed (``edgeopt.solve``; every method here
is deterministic for a seed, and the two objectives are checked to agree).

Printed (and written to DIR/summary.md) as Markdown tables: the catalogue's quality per category and
model; per method, mean quality (CLIP x100), mean latency (s), mean utility, mean and worst gap to the
optimum (edgeopt.relative_gap); prob-anneal's quality and latency change against each method (relative
%, of the means over instances, and the best single instance: the paper's "up to"), with the optimum's
change against the same method beside it; for the generated scenarios, the same changes per number of
prompts, compute budget and latency weight; per instance, the optimum and each method's objective.
DIR/results.csv holds one row per (instance, method, seed). ``--quick``: two small generated and two
bundled instances, seed 0 (the test suite runs it).
"""
from __future__ import annotations

import argparse
import csv
import math
import sys
from pathlib import Path

import numpy as np
from common import default_out, out_help

import edgeopt

ROOT = Path(__file__).resolve().parents[2]
PAPER = "prob-anneal"
BASELINES = ("direct-assign", "random-assign", "equal-alloc", "optimal-step")
EXACT = "enumerate"
METHODS = (PAPER, *BASELINES, EXACT)
#: Model sets of the generated scenarios: all five catalogue models (sdxl-base-1.0 is best on basic and
#: detail prompts, pixart-alpha on imagination and complex ones, sd-1.5 and the LCM the fast ones), three
#: named ones, and three drawn by the scenario's seed.
MODEL_SETS = (5, "sd-2.1,sdxl-base-1.0,pixart-alpha", 3)
PROMPTS = (50, 200, 1000)
BUDGETS = (0.5, 1.0, 2.0)
#: Latency weights (CLIP points per second): at 0.02 the optimum mostly mixes two models, at 0.2 it uses one.
LATENCY_WEIGHTS = (0.02, 0.05, 0.2)
QUICK_GENERATED = [("sd-2.1,sdxl-base-1.0,pixart-alpha", 40, 0.5, 0.05), (5, 40, 2.0, 0.2)]
QUICK_BUNDLED = ("assign-tiny-1", "assign-mixed-1")
TOLERANCE = 1e-9


# -- instances ---------------------------------------------------------------------------------------
def generated(quick: bool) -> list:
    specs = QUICK_GENERATED if quick else [(m, p, f, w) for m in MODEL_SETS for p in PROMPTS for f in BUDGETS
                                           for w in LATENCY_WEIGHTS]
    out = []
    for i, (models, prompts, budget, weight) in enumerate(specs):
        tag = "m5" if models == 5 else "m3r" if models == 3 else "m3"
        chosen = models.split(",") if isinstance(models, str) else models
        out.append(edgeopt.generate("assignment", models=chosen, prompts=prompts, compute_budget=budget,
                                    latency_weight=weight, seed=1000 + i,
                                    name=f"paper-{tag}-p{prompts}-f{budget:g}-w{weight:g}"))
    return out


def bundled(quick: bool) -> list:
    files = sorted((ROOT / "instances" / "assignment").glob("*.json"))
    if quick:
        files = [f for f in files if f.stem in QUICK_BUNDLED]
    return [edgeopt.load(f) for f in files]


# -- the catalogue's quality model ---------------------------------------------------------------------
def mean_quality(model: dict, category: str, steps) -> np.ndarray:
    """mu_cj(s) of docs/formulations.md, "Assignment"."""
    q0, qmax, k = model["clip_at_zero_steps"], model["quality"][category]["clip_max"], model["steps_scale"]
    return q0 + (qmax - q0) * (1.0 - np.exp(-np.asarray(steps, dtype=float) / k))


def catalogue_table(cat: dict) -> str:
    """Per category and model: mean and standard deviation at the model's largest step count; the best
    model per category marked with *."""
    models, cats = cat["models"], list(cat["categories"])
    head = ["category", *(f"{m['name']} ({max(m['steps'])} steps)" for m in models)]
    rows = []
    for c in cats:
        means = [float(mean_quality(m, c, max(m["steps"]))) for m in models]
        best = int(np.argmax(means))
        rows.append([c, *(f"{mu:.2f} ± {m['quality'][c]['clip_std']:.1f}{' *' if j == best else ''}"
                          for j, (mu, m) in enumerate(zip(means, models)))])
    rows.append(["seconds per image", *(f"{max(m['steps']) * m['step_seconds']:.2f}" for m in models)])
    return md_table(head, rows)


def plot_catalogue(cat: dict, out: Path) -> list[Path]:
    from matplotlib.figure import Figure

    models, cats = cat["models"], list(cat["categories"])
    colors = dict(zip([m["name"] for m in models], ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"]))
    paths = []

    fig = Figure(figsize=(13, 3.4))
    axes = fig.subplots(1, len(cats), sharey=True)
    x = np.linspace(10, 42, 400)
    for ax, c in zip(axes, cats):
        for m in models:
            mu, sd = float(mean_quality(m, c, max(m["steps"]))), m["quality"][c]["clip_std"]
            ax.plot(x, np.exp(-0.5 * ((x - mu) / sd) ** 2) / (sd * math.sqrt(2 * math.pi)), color=colors[m["name"]],
                    label=f"{m['name']} N({mu:.1f}, {sd:.1f}²)")
        ax.set_title(f"{c} ({', '.join(cat['categories'][c])})", fontsize=9)
        ax.set_xlabel("CLIP score x100", fontsize=8)
        ax.legend(fontsize=6)
    axes[0].set_ylabel("density")
    fig.suptitle("quality per prompt category and model, at each model's largest step count "
                 "(catalogue Gaussians: stated assumptions)", fontsize=10)
    fig.tight_layout()
    paths.append(out / "quality_distributions.png")
    fig.savefig(paths[-1], dpi=110)

    fig = Figure(figsize=(13, 3.4))
    axes = fig.subplots(1, len(cats), sharey=True)
    s = np.linspace(0, 50, 201)
    for ax, c in zip(axes, cats):
        for m in models:
            ax.plot(s, mean_quality(m, c, s), color=colors[m["name"]], label=m["name"])
            ax.plot(m["steps"], mean_quality(m, c, m["steps"]), "o", color=colors[m["name"]], ms=3)
        ax.set_title(c, fontsize=9)
        ax.set_xlabel("denoising steps", fontsize=8)
        ax.set_ylim(17, 33)
    axes[0].set_ylabel("mean CLIP score x100")
    axes[-1].legend(fontsize=7)
    fig.suptitle("mean quality against denoising steps (dots: each model's step grid)", fontsize=10)
    fig.tight_layout()
    paths.append(out / "quality_vs_steps.png")
    fig.savefig(paths[-1], dpi=110)

    fig = Figure(figsize=(8, 3.6))
    ax = fig.subplots()
    width = 0.8 / len(models)
    for j, m in enumerate(models):
        vals = [float(mean_quality(m, c, max(m["steps"]))) for c in cats]
        errs = [m["quality"][c]["clip_std"] for c in cats]
        ax.bar(np.arange(len(cats)) + (j - (len(models) - 1) / 2) * width, vals, width, yerr=errs, capsize=2,
               color=colors[m["name"]], label=m["name"])
    ax.set_xticks(range(len(cats)))
    ax.set_xticklabels([f"level {i + 1}: {c}" for i, c in enumerate(cats)], fontsize=8)
    ax.set_ylim(20, 36)
    ax.set_ylabel("mean CLIP score x100 (± 1 sd)")
    ax.legend(fontsize=7, ncol=3)
    ax.set_title("quality per prompt level (PartiPrompts challenge) and model, largest step count", fontsize=10)
    fig.tight_layout()
    paths.append(out / "quality_per_level.png")
    fig.savefig(paths[-1], dpi=110)
    return paths


# -- runs --------------------------------------------------------------------------------------------
def run(instances: list, group: str, seeds: list[int], workers: int) -> list[dict]:
    """edgeopt.compare over the instances and methods; then quality and latency per run by solving it
    again with the same seed, checked against the compare row's objective."""
    df = edgeopt.compare(instances, list(METHODS), seeds=seeds, workers=workers, reference=None, progress=False,
                         report=False)
    by_name = {inst.name: inst for inst in instances}
    rows = []
    for rec in df.to_dict("records"):
        inst = by_name[rec["instance"]]
        row = {"group": group, "instance": rec["instance"], "method": rec["solver"], "seed": int(rec["seed"]),
               "prompts": inst.num_prompts, "models": inst.num_models, "compute_budget": inst.compute_budget,
               "latency_weight": inst.latency_weight, "status": rec["status"], "verified": bool(rec["verified"]),
               "objective": None if rec["objective"] is None or rec["objective"] != rec["objective"]
               else float(rec["objective"]), "message": rec["message"] or ""}
        if row["verified"]:
            res = edgeopt.solve(inst, rec["solver"], seed=row["seed"])
            if res.objective is None or abs(res.objective - row["objective"]) > TOLERANCE * max(1.0, abs(res.objective)):
                raise RuntimeError(f"{rec['solver']} on {rec['instance']} seed {row['seed']}: edgeopt.compare gave "
                                   f"{row['objective']!r}, solving again {res.objective!r}")
            ev = res.evaluation
            row.update(quality=float(ev.parts["quality"]), latency=float(ev.stats["mean_latency_seconds"]),
                       models_used=int(ev.stats["models_used"]))
        rows.append(row)
    optimum = {}
    for r in rows:
        if r["method"] == EXACT and r["status"] == "optimal":
            optimum[r["instance"]] = r["objective"]
    for r in rows:
        opt = optimum.get(r["instance"])
        r["optimum"] = opt
        r["gap"] = edgeopt.relative_gap(r["objective"], opt, "max") if opt is not None and r["verified"] else None
    return rows


def _mean(values) -> float:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else float("nan")


def per_instance(rows: list[dict]) -> dict:
    """(instance, method) -> mean over seeds of objective, quality, latency, gap."""
    out: dict = {}
    for key in sorted({(r["instance"], r["method"]) for r in rows}):
        mine = [r for r in rows if (r["instance"], r["method"]) == key]
        out[key] = {k: _mean(r.get(k) for r in mine) for k in ("objective", "quality", "latency", "gap")}
        out[key]["worst_objective_over_seeds"] = max((r["objective"] for r in mine if r["objective"] is not None),
                                                     default=float("nan"))
    return out


def aggregate(rows: list[dict]) -> dict:
    inst = per_instance(rows)
    agg = {}
    for m in METHODS:
        mine = [v for (_, meth), v in inst.items() if meth == m]
        runs = [r for r in rows if r["method"] == m]
        agg[m] = {"quality": _mean(v["quality"] for v in mine), "latency": _mean(v["latency"] for v in mine),
                  "utility": _mean(v["objective"] for v in mine), "gap": _mean(v["gap"] for v in mine),
                  "worst": max((r["gap"] for r in runs if r["gap"] is not None), default=float("nan")),
                  "mixed": sum(1 for r in runs if r.get("models_used", 0) > 1), "runs": len(runs),
                  "unverified": sum(1 for r in runs if not r["verified"])}
    return agg


def md_table(head, rows) -> str:
    lines = ["| " + " | ".join(map(str, head)) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(map(str, r)) + " |" for r in rows]
    return "\n".join(lines)


def methods_table(agg: dict) -> str:
    rows = [(m, f"{a['quality']:.4f}", f"{a['latency']:.3f}", f"{a['utility']:.4f}", f"{100 * a['gap']:.4f} %",
             f"{100 * a['worst']:.4f} %", f"{a['mixed']}/{a['runs']}", a["unverified"]) for m, a in agg.items()]
    return md_table(["method", "mean quality (CLIP x100)", "mean latency (s)", "mean utility", "mean gap to optimum",
                     "worst gap", "runs mixing models", "unverified"], rows)


def _rel(a: float, b: float) -> float:
    return 100.0 * (a - b) / abs(b) if b else float("nan")


def versus_table(rows: list[dict], agg: dict) -> str:
    """prob-anneal's and the optimum's relative change in quality and latency against each method: of the
    means over instances, and the best single instance for prob-anneal (the paper's "up to")."""
    inst = per_instance(rows)
    names = sorted({i for i, _ in inst})
    out = []
    for b in (*BASELINES, EXACT):
        pairs = [(inst[(n, PAPER)], inst[(n, b)]) for n in names if (n, PAPER) in inst and (n, b) in inst]
        dq = [_rel(p["quality"], o["quality"]) for p, o in pairs]
        dl = [_rel(p["latency"], o["latency"]) for p, o in pairs]
        pa, ob, opt = agg[PAPER], agg[b], agg[EXACT]
        out.append((b if b != EXACT else "optimum (enumerate)",
                    f"{_rel(pa['quality'], ob['quality']):+.2f} %", f"{max(dq):+.2f} %",
                    f"{_rel(pa['latency'], ob['latency']):+.1f} %", f"{min(dl):+.1f} %",
                    f"{_rel(opt['quality'], ob['quality']):+.2f} %", f"{_rel(opt['latency'], ob['latency']):+.1f} %",
                    f"{100 * (ob['gap'] - pa['gap']):+.3f} pt"))
    return md_table(["prob-anneal vs", "quality (means)", "quality (best instance)", "latency (means)",
                     "latency (best instance)", "optimum's quality vs it", "optimum's latency vs it",
                     "its gap minus prob-anneal's"], out)


def setting_table(rows: list[dict]) -> str:
    """prob-anneal's relative change in quality / latency against each baseline, and its mean gap to the
    optimum, per number of prompts, compute budget and latency weight (means over the instances of each)."""
    inst = per_instance(rows)
    info = {r["instance"]: r for r in rows}
    out = []
    for key, label in (("prompts", "prompts"), ("compute_budget", "budget"), ("latency_weight", "latency weight")):
        for value in sorted({r[key] for r in rows}):
            names = sorted(n for n in {i for i, _ in inst} if info[n][key] == value)
            cells = []
            for b in BASELINES:
                pa = [inst[(n, PAPER)] for n in names]
                ob = [inst[(n, b)] for n in names]
                cells.append(f"{_rel(_mean(p['quality'] for p in pa), _mean(o['quality'] for o in ob)):+.2f} % / "
                             f"{_rel(_mean(p['latency'] for p in pa), _mean(o['latency'] for o in ob)):+.1f} %")
            mixed = sum(1 for n in names if any(r["method"] == EXACT and r.get("models_used", 0) > 1
                                                for r in rows if r["instance"] == n))
            out.append((f"{label} {value:g}", len(names), mixed, *cells,
                        f"{100 * _mean(inst[(n, PAPER)]['gap'] for n in names):.4f} %"))
    return md_table(["setting", "instances", "optimum mixes models", *(f"vs {b}: quality / latency" for b in BASELINES),
                     "prob-anneal's gap to optimum"], out)


def instance_table(rows: list[dict]) -> str:
    """Per instance: the proven optimum and each method's objective (the largest over seeds), so that no
    printed objective can hide above the optimum."""
    inst = per_instance(rows)
    names = sorted({i for i, _ in inst})
    out = []
    for n in names:
        r0 = next(r for r in rows if r["instance"] == n)
        opt = r0["optimum"]
        models_used = next((r.get("models_used") for r in rows if r["instance"] == n and r["method"] == EXACT), "-")
        out.append((n, r0["prompts"], r0["models"], f"{r0['compute_budget']:g}", f"{r0['latency_weight']:g}",
                    models_used, "-" if opt is None else f"{opt:.6f}",
                    *(f"{inst[(n, m)]['worst_objective_over_seeds']:.6f}" if (n, m) in inst else "-"
                      for m in METHODS if m != EXACT)))
    return md_table(["instance", "prompts", "models", "budget", "latency weight", "models in the optimum",
                     "optimum", *(m for m in METHODS if m != EXACT)], out)


def plot_methods(aggs: dict, path: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13, 3.6))
    axes = fig.subplots(1, 3)
    width = 0.8 / len(aggs)
    colors = ["#1f77b4", "#ff7f0e"]
    for g, (group, agg) in enumerate(aggs.items()):
        labels = list(agg)
        for ax, (key, title, scale) in zip(axes, [("quality", "mean quality (CLIP x100)", 1),
                                                   ("latency", "mean latency (s)", 1),
                                                   ("gap", "mean gap to the optimum (%)", 100)]):
            vals = [agg[m][key] * scale for m in labels]
            ax.bar(np.arange(len(labels)) + (g - (len(aggs) - 1) / 2) * width, vals, width, color=colors[g % 2],
                   label=group)
            ax.set_xticks(range(len(labels)))
            ax.set_xticklabels(labels, rotation=45, ha="right", fontsize=8)
            ax.set_title(title, fontsize=10)
    qs = [a[m]["quality"] for a in aggs.values() for m in a]
    axes[0].set_ylim(min(qs) - 0.5, max(qs) + 0.3)
    axes[2].set_yscale("symlog", linthresh=0.1)
    axes[0].legend(fontsize=8)
    fig.suptitle("assignment methods against the proven optimum (enumerate)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="two generated and two bundled instances, seed 0 (seconds)")
    ap.add_argument("--out", type=Path, help=out_help())
    ap.add_argument("--workers", type=int, default=2, help="worker processes of edgeopt.compare")
    args = ap.parse_args(argv)
    args.out = args.out or default_out(__file__, args.quick)
    seeds = [0] if args.quick else [0, 1, 2]
    args.out.mkdir(parents=True, exist_ok=True)
    cat = edgeopt.catalog.text_to_image()
    figures = plot_catalogue(cat, args.out)

    groups = {"generated": generated(args.quick), "bundled": bundled(args.quick)}
    rows = []
    for group, insts in groups.items():
        print(f"{group}: {len(insts)} instances x {len(METHODS)} methods x seeds {seeds}", flush=True)
        rows += run(insts, group, seeds, args.workers)
    aggs = {g: aggregate([r for r in rows if r["group"] == g]) for g in groups}
    sections = ["## The catalogue's quality model (every parameter a stated assumption)", "",
                ("Mean ± standard deviation of the CLIP score (x100) per PartiPrompts challenge and model at the model's "
                 "largest step count; * the best model of the category; last row the seconds per image at the full "
                 "budget."), "", catalogue_table(cat), ""]
    for g, agg in aggs.items():
        mine = [r for r in rows if r["group"] == g]
        exact = [r for r in mine if r["method"] == EXACT]
        sections += [f"## {g.capitalize()} instances", "",
                     (f"{len({r['instance'] for r in mine})} instances, seeds {seeds}; optimum proved on "
                      f"{sum(r['status'] == 'optimal' for r in exact)} of {len(exact)} enumerate runs; the optimum "
                      f"mixes models on {len({r['instance'] for r in exact if r.get('models_used', 0) > 1})} of "
                      f"{len({r['instance'] for r in exact})} instances."), "",
                     methods_table(agg), "",
                     ("prob-anneal's relative change against each method (negative latency: faster); the optimum's "
                      "change against the same method beside it:"), "", versus_table(mine, agg), "",
                     *([("By setting: prob-anneal's relative change in quality / latency against each baseline "
                         "(means over the instances of the setting):"), "", setting_table(mine), ""]
                       if g == "generated" else []),
                     "Per instance: the optimum and each method's objective (utility; the largest over seeds):", "",
                     instance_table(mine), ""]
    text = "\n".join(sections)
    print()
    print(text)
    plot_methods(aggs, args.out / "methods.png")
    figures.append(args.out / "methods.png")
    (args.out / "summary.md").write_text(text + "\n")
    keys = ["group", "instance", "method", "seed", "prompts", "models", "compute_budget", "latency_weight", "status",
            "verified", "objective", "optimum", "gap", "quality", "latency", "models_used", "message"]
    with open(args.out / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
    print(f"wrote {args.out / 'summary.md'}, {args.out / 'results.csv'}, " + ", ".join(str(p) for p in figures))
    bad = [r for r in rows if not r["verified"] or (r["optimum"] is not None and r["objective"] is not None
                                                   and r["objective"] > r["optimum"] + TOLERANCE * abs(r["optimum"]))]
    for r in bad:
        print(f"ERROR {r['method']} on {r['instance']} seed {r['seed']}: {r['status']} {r['objective']} "
              f"(optimum {r['optimum']}) {r['message']}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
