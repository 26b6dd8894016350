"""The deployment paper's comparison (model-level decision selection), reproduced with the optimum beside it.

    python benchmarks/papers/deployment.py [--quick] [--time-limit 120] [--workers 2] [--out DIR]

The seed paper selects which generative models each edge server stores and loads (its genetic algorithm)
and reports three things (issue 12): lower deployment cost than its baselines; that the model-switching
(preload I/O) delay strongly affects deployment efficiency; that resource sharing between edges improves
the system. Every run below goes through ``edgeopt.compare`` (each plan re-evaluated by the family's
evaluator; HiGHS on one thread), with the methods:

- ``genetic-paper``: the paper's method as first written here (seed 0, its defaults);
- ``genetic``: the improved genetic algorithm (crossover by edge, local search), seed 0;
- the baselines ``greedy``, ``cloud-only`` and ``random`` (seed 0);
- ``highs``: the exact MILP. Its objective is the optimum when its status is ``optimal``; otherwise its
  bound is the yardstick and the gaps are upper estimates of the true gaps ("to bound").

Three parts, all on generated scenarios (``edgeopt.generate("deployment", ...)``, fixed seeds, saved as
JSON under DIR/instances/ so that any point can be rerun with ``edgeopt compare``):

1. **Comparison**: paper-style scenarios (4 to 8 edges linked in a ring plus seeded chords, 6 to 10 models
   of the catalog, 6 to 8 slots, demand 0.5 to 2 times the edges' compute): each method's cost and its gap
   to the optimum (``edgeopt.relative_gap``), and the mean and worst gap per method.
2. **Switching delay**: two of those scenarios, and the same two with each region's model popularity
   rotating by one model per slot (``-rotating``: the generator's popularity is fixed over the slots, so
   its optimal plans hardly ever switch), with every model's ``load_seconds`` scaled by 0.25, 0.5, 1, 2 and 4 (the document's
   ``models[*].load_seconds``, rounded to 3 decimals; a load costs ``delay_per_second x load_seconds`` and
   takes that much of the edge's compute in its slot): the optimal cost and its change from x1, the number of loads in the optimal plan (a load: loaded in slot t and not in t - 1, or not in the
   initial state for t = 0), the share of requests served at the edges, and each heuristic's gap.
3. **Resource sharing**: the comparison scenarios with their links between edges (neighbour routes) and
   the same documents with every ``edges[*].links`` emptied: the optimal cost with and without pooling,
   the requests served at a neighbour edge, and what pooling saves.

The plan statistics (loads, requests served at the edges or at a neighbour) come from the optimal plan,
which ``edgeopt.compare`` does not return: the script solves each such instance once more with
``edgeopt.solve(inst, "highs")`` in its own process and checks that the objective equals the sweep's (the
plan may be another optimal plan of the same cost; the counts are those of the plan it returns).

Writes DIR/instances/*.json, DIR/sweep/ (edgeopt.compare's results.csv and results.json, resumable),
DIR/summary.md (the tables printed), DIR/comparison.png, DIR/switching.png and DIR/sharing.png (matplotlib's
Figure API). ``--quick``: two tiny scenarios, one ladder of three switching factors plus its rotating
copy, seconds (the test suite runs it).
Exit status 1 if any run ended in error or was not verified.
"""
from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import numpy as np
from common import default_out, out_help

import edgeopt
from edgeopt.families.deployment.formulate import formulate
from edgeopt.families.deployment.instance import switched_on
from edgeopt.io import instance_from_data
from edgeopt.text import table

OPTIMUM = "highs"
HEURISTICS = ["genetic-paper", "genetic", "greedy", "cloud-only", "random"]
SOLVERS = [*HEURISTICS, OPTIMUM]
SEED = 0
#: Paper-style scenarios: (edges, models, slots, load, seed); 2 regions per edge, 3 links per edge.
SCENARIOS = [(4, 6, 6, 1.0, 1), (5, 8, 6, 1.0, 2), (6, 8, 8, 1.5, 3), (8, 10, 6, 1.0, 4), (5, 8, 8, 0.5, 5),
             (6, 10, 8, 2.0, 6)]
QUICK_SCENARIOS = [(3, 4, 3, 1.0, 1), (3, 4, 3, 1.5, 2)]
REGIONS_PER_EDGE = 2
LINKS_PER_EDGE = 3
#: The scenarios (indices into SCENARIOS) whose load times are scaled.
SWEEP_BASES = [1, 2]
QUICK_SWEEP_BASES = [0]
FACTORS = [0.25, 0.5, 1.0, 2.0, 4.0]
QUICK_FACTORS = [0.25, 1.0, 4.0]


# -- instances -------------------------------------------------------------------------------------
def base_document(spec) -> dict:
    edges, models, slots, load, seed = spec
    inst = edgeopt.generate("deployment", edges=edges, models=models, slots=slots, regions_per_edge=REGIONS_PER_EDGE,
                            links_per_edge=LINKS_PER_EDGE, load=load, seed=seed,
                            name=f"paper-e{edges}-m{models}-t{slots}-l{load:g}-s{seed}")
    return copy.deepcopy(inst.data)


def scaled_loads(doc: dict, factor: float) -> dict:
    """The document with every model's load_seconds times ``factor`` (3 decimals, as the generator writes)."""
    out = copy.deepcopy(doc)
    for m in out["models"]:
        m["load_seconds"] = float(round(m["load_seconds"] * factor, 3))
    out["name"] = f"{doc['name']}-load-x{factor:g}"
    return out


def without_links(doc: dict) -> dict:
    """The document with no link between edges: every request is served at its own edge or in the cloud."""
    out = copy.deepcopy(doc)
    for e in out["edges"]:
        e["links"] = []
    out["name"] = f"{doc['name']}-nolinks"
    return out


def rotating(doc: dict) -> dict:
    """The document with each region's model popularity rotated by one model per slot: the requests of model
    i in slot t are those the generator drew for model (i + t) mod M in that slot. Totals per region and slot
    are unchanged; which model is popular moves, so that keeping yesterday's models costs something."""
    out = copy.deepcopy(doc)
    models = [m["name"] for m in doc["models"]]
    M, T = len(models), int(doc["slots"])
    old = {(d["region"], d["model"]): d["requests"] for d in doc["demand"]}
    demand = []
    for reg in doc["regions"]:
        for i, m in enumerate(models):
            counts = [int(old.get((reg["name"], models[(i + t) % M]), [0] * T)[t]) for t in range(T)]
            if any(counts):
                demand.append({"region": reg["name"], "model": m, "requests": counts})
    out["demand"] = demand
    out["name"] = f"{doc['name']}-rotating"
    return out


def saved(doc: dict, folder: Path):
    """The instance of ``doc``, written to folder/<name>.json and loaded back from there."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{doc['name']}.json"
    edgeopt.save(instance_from_data(doc, source=str(path)), path)
    return path, edgeopt.load(path)


# -- runs ------------------------------------------------------------------------------------------
def sweep(paths: list[Path], args) -> dict:
    """edgeopt.compare over the files: {(instance name, solver): row}."""
    df = edgeopt.compare([str(p) for p in paths], SOLVERS, seeds=[SEED], time_limit=args.time_limit,
                         workers=args.workers, out=args.out / "sweep", reference=None, progress=False, report=False)
    return {(r["instance"], r["solver"]): r for r in df.to_dict(orient="records")}


def yardstick(rows: dict, name: str) -> tuple[float, str]:
    """The optimum (kind 'opt') when HiGHS proved it, else its bound (kind 'bound')."""
    r = rows[(name, OPTIMUM)]
    if r["status"] == "optimal" and r["verified"]:
        return float(r["objective"]), "opt"
    return float(r["bound"]) if r["bound"] == r["bound"] else float("nan"), "bound"


def gap(rows: dict, name: str, solver: str) -> float:
    ref, _ = yardstick(rows, name)
    r = rows[(name, solver)]
    if not r["verified"] or r["objective"] != r["objective"] or ref != ref:
        return float("nan")
    return edgeopt.relative_gap(float(r["objective"]), ref, "min")


def plan_stats(inst, expected: float, time_limit: float) -> dict:
    """Loads, requests served at the edges and at a neighbour in the plan HiGHS returns (solved again here)."""
    r = edgeopt.solve(inst, OPTIMUM, time_limit=3 * time_limit, seed=SEED, threads=1)
    if r.objective is None or abs(r.objective - expected) > 1e-6 * max(1.0, abs(expected)):
        print(f"{inst.name}: HiGHS solved again gives {r.objective} ({r.status.value}), the sweep {expected}: "
              "no plan statistics", file=sys.stderr)
        return {"loads": "-", "edge_share": float("nan"), "neighbour": "-", "switching": float("nan")}
    sol = r.solution
    loads = int(switched_on(np.asarray(sol.loaded), inst.initial_loaded).sum())
    total = float(inst.demand.sum())
    local, neighbour = float(np.asarray(sol.local).sum()), float(np.asarray(sol.neighbour).sum())
    return {"loads": loads, "edge_share": (local + neighbour) / total if total else 0.0,
            "neighbour": int(neighbour), "switching": r.evaluation.parts["switching"]}


def pct(v: float) -> str:
    return "-" if v != v else f"{100 * v:.2f}%"


def status_of(rows, name) -> str:
    r = rows[(name, OPTIMUM)]
    return "optimal" if yardstick(rows, name)[1] == "opt" else f"{r['status']} (gap to bound {pct(r['gap'])})"


# -- tables ----------------------------------------------------------------------------------------
def comparison_tables(rows: dict, names: list[str], sizes: dict) -> tuple[str, str, dict]:
    head = ["scenario", "vars", "optimum", "highs status", *HEURISTICS]
    body = []
    for n in names:
        ref, kind = yardstick(rows, n)
        cells = [f"{rows[(n, s)]['objective']:.1f} ({pct(gap(rows, n, s))})" for s in HEURISTICS]
        body.append((n, f"{sizes[n]:,}", f"{ref:.1f}" + ("" if kind == "opt" else " (bound)"), status_of(rows, n),
                     *cells))
    per = table(head, body, "lrrl" + "r" * len(HEURISTICS))
    agg = {}
    summ = []
    for s in HEURISTICS:
        gaps = [gap(rows, n, s) for n in names]
        agg[s] = {"mean": float(np.nanmean(gaps)), "worst": float(np.nanmax(gaps)),
                  "cost": float(sum(rows[(n, s)]["objective"] for n in names))}
        summ.append((s, f"{agg[s]['cost']:.1f}", pct(agg[s]["mean"]), pct(agg[s]["worst"]),
                     sum(g <= 1e-9 for g in gaps)))
    opt_total = sum(yardstick(rows, n)[0] for n in names)
    summ.append(("optimum (highs)", f"{opt_total:.1f}", "0.00%", "0.00%", len(names)))
    agg["optimum"] = {"cost": opt_total}
    summary = table(["method", "total cost", "mean gap", "worst gap", "scenarios at the optimum"], summ, "lrrrr")
    return per, summary, agg


def versus_table(agg: dict) -> str:
    """genetic-paper's total cost against each other method's (negative: genetic-paper is cheaper)."""
    me = agg["genetic-paper"]["cost"]
    body = [(b, f"{100 * (me - agg[b]['cost']) / agg[b]['cost']:+.2f}%") for b in (*HEURISTICS[1:], "optimum")]
    return table(["genetic-paper vs", "total cost change"], body, "lr")


def switching_table(rows: dict, points: list[tuple[str, float, str]], stats: dict) -> str:
    head = ["scenario", "load x", "optimum", "vs x1", "highs status", "loads", "switching cost", "served at edges",
            *(f"{s} gap" for s in HEURISTICS)]
    body = []
    for base, factor, n in points:
        ref, kind = yardstick(rows, n)
        st = stats[n]
        unit = next((yardstick(rows, m)[0] for b, f, m in points if b == base and f == 1.0), float("nan"))
        body.append((base, f"{factor:g}", f"{ref:.1f}" + ("" if kind == "opt" else " (bound)"),
                     f"{100 * (ref - unit) / unit:+.2f}%", status_of(rows, n), st["loads"], f"{st['switching']:.1f}", pct(st["edge_share"]),
                     *(pct(gap(rows, n, s)) for s in HEURISTICS)))
    return table(head, body, "lrrrlrrr" + "r" * len(HEURISTICS))


def sharing_table(rows: dict, pairs: list[tuple[str, str]], stats: dict) -> str:
    head = ["scenario", "optimum with links", "status", "optimum without", "status", "pooling saves",
            "served at a neighbour", "genetic-paper with / without", "greedy with / without"]
    body = []
    for on, off in pairs:
        a, ka = yardstick(rows, on)
        b, kb = yardstick(rows, off)
        body.append((on, f"{a:.1f}", status_of(rows, on), f"{b:.1f}", status_of(rows, off),
                     f"{100 * (b - a) / b:.2f}%" if ka == kb == "opt" else "-", stats[on]["neighbour"],
                     f"{rows[(on, 'genetic-paper')]['objective']:.1f} / {rows[(off, 'genetic-paper')]['objective']:.1f}",
                     f"{rows[(on, 'greedy')]['objective']:.1f} / {rows[(off, 'greedy')]['objective']:.1f}"))
    return table(head, body, "lrlrlrrrr")


# -- figures ---------------------------------------------------------------------------------------
def plot_comparison(rows, names, path: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 3.8))
    ax = fig.subplots()
    width = 0.8 / len(HEURISTICS)
    for i, s in enumerate(HEURISTICS):
        ax.bar(np.arange(len(names)) + i * width, [100 * gap(rows, n, s) for n in names], width, label=s)
    ax.set_xticks(np.arange(len(names)) + 0.4 - width / 2)
    ax.set_xticklabels(names, rotation=20, ha="right", fontsize=7)
    ax.set_yscale("symlog", linthresh=1.0)
    ax.set_ylabel("gap to the optimum (%)")
    ax.legend(fontsize=8)
    ax.set_title("deployment: the paper's genetic algorithm, its baselines and the optimum (HiGHS)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def plot_switching(rows, points, stats, path: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13, 3.6))
    axes = fig.subplots(1, 3)
    for base in dict.fromkeys(b for b, _, _ in points):
        mine = [(f, n) for b, f, n in points if b == base]
        fs = [f for f, _ in mine]
        axes[0].plot(fs, [yardstick(rows, n)[0] for _, n in mine], "o-", label=base)
        axes[1].plot(fs, [stats[n]["loads"] for _, n in mine], "o-", label=base)
        for s, style in (("genetic-paper", "o-"), ("greedy", "s--")):
            axes[2].plot(fs, [100 * gap(rows, n, s) for _, n in mine], style, label=f"{s}, {base}")
    for ax, title in zip(axes, ("optimal cost", "loads in the optimal plan", "gap to the optimum (%)")):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("load times x")
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def plot_sharing(rows, pairs, path: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 3.6))
    ax = fig.subplots()
    x = np.arange(len(pairs))
    ax.bar(x - 0.2, [yardstick(rows, on)[0] for on, _ in pairs], 0.4, label="links between edges")
    ax.bar(x + 0.2, [yardstick(rows, off)[0] for _, off in pairs], 0.4, label="no links")
    ax.set_xticks(x)
    ax.set_xticklabels([on for on, _ in pairs], rotation=20, ha="right", fontsize=7)
    ax.set_ylabel("optimal cost")
    ax.legend(fontsize=8)
    ax.set_title("deployment: the optimum with and without resource sharing between edges", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="two tiny scenarios, three switching factors (seconds)")
    ap.add_argument("--time-limit", type=float, default=120.0, help="seconds per method and instance")
    ap.add_argument("--workers", type=int, default=2, help="worker processes of edgeopt.compare")
    ap.add_argument("--out", type=Path, help=out_help())
    args = ap.parse_args(argv)
    args.out = args.out or default_out(__file__, args.quick)
    if not (args.time_limit > 0 and np.isfinite(args.time_limit)):
        ap.error(f"--time-limit must be a positive number of seconds, got {args.time_limit:g}")
    if args.workers < 1:
        ap.error(f"--workers must be at least 1, got {args.workers}")
    if args.out.exists() and not args.out.is_dir():
        ap.error(f"--out {args.out}: exists and is not a folder")
    specs = QUICK_SCENARIOS if args.quick else SCENARIOS
    bases = QUICK_SWEEP_BASES if args.quick else SWEEP_BASES
    factors = QUICK_FACTORS if args.quick else FACTORS
    folder = args.out / "instances"

    docs = [base_document(s) for s in specs]
    paths, insts = {}, {}

    def add(doc):
        p, inst = saved(doc, folder)
        paths[inst.name], insts[inst.name] = p, inst
        return inst.name

    names = [add(d) for d in docs]
    points = []
    ladders = [(names[i], docs[i]) for i in bases]
    for i in bases:
        doc = rotating(docs[i])
        ladders.append((add(doc), doc))
    for name, doc in ladders:
        for f in factors:
            points.append((name, f, name if f == 1.0 else add(scaled_loads(doc, f))))
    pairs = [(names[i], add(without_links(d))) for i, d in enumerate(docs)]
    sizes = {n: formulate(inst).model.num_cols for n, inst in insts.items()}
    print(f"{len(insts)} instances ({min(sizes.values()):,} to {max(sizes.values()):,} variables), solvers "
          f"{', '.join(SOLVERS)}, seed {SEED}, time limit {args.time_limit:g} s, {args.workers} worker(s)", flush=True)

    loads = [m["load_seconds"] for d in docs for m in d["models"]]
    print(f"the scenarios' models load in {min(loads):g} to {max(loads):g} s (median {np.median(loads):g} s) at x1; "
          f"slots of {docs[0]['slot_seconds']:g} s, each edge's compute {min(e['compute_seconds'] for d in docs for e in d['edges']):g}"
          f" to {max(e['compute_seconds'] for d in docs for e in d['edges']):g} GPU-seconds per slot", flush=True)
    rows = sweep(list(paths.values()), args)
    errors = [r for r in rows.values() if r["status"] == "error" or not r["verified"]]
    if errors:
        for r in errors:
            print(f"ERROR {r['solver']} on {r['instance']}: {r['status']} {r['message']}", file=sys.stderr)
        return 1
    stats = {}
    for _, _, n in points:
        stats[n] = plan_stats(insts[n], float(rows[(n, OPTIMUM)]["objective"]), args.time_limit)
    for on, _ in pairs:
        stats.setdefault(on, plan_stats(insts[on], float(rows[(on, OPTIMUM)]["objective"]), args.time_limit))

    per, summary, agg = comparison_tables(rows, names, sizes)
    unproved = [n for n in paths if yardstick(rows, n)[1] != "opt"]
    below = [(n, s) for n in paths for s in HEURISTICS
             if rows[(n, s)]["objective"] < yardstick(rows, n)[0] - 1e-6 * abs(yardstick(rows, n)[0])]
    text = "\n".join([
        "## Comparison: cost (gap to the optimum) per method", "", "```", per, "```", "", "```", summary, "```", "",
        "```", versus_table(agg), "```", "",
        "## Switching delay: every model's load_seconds scaled", "", "```", switching_table(rows, points, stats), "```",
        "",
        "## Resource sharing: links between edges on and off", "", "```", sharing_table(rows, pairs, stats), "```",
        "",
        f"instances proven optimal by HiGHS: {len(paths) - len(unproved)} of {len(paths)}"
        + (f" (not proven: {', '.join(unproved)})" if unproved else ""),
        f"heuristic costs below the yardstick (would mean a wrong optimum): {len(below)}", ""])
    print()
    print(text)
    (args.out / "summary.md").write_text(text)
    plot_comparison(rows, names, args.out / "comparison.png")
    plot_switching(rows, points, stats, args.out / "switching.png")
    plot_sharing(rows, pairs, args.out / "sharing.png")
    print(f"wrote {args.out / 'summary.md'}, {args.out / 'sweep'}/results.csv, {args.out / 'comparison.png'}, "
          f"{args.out / 'switching.png'}, {args.out / 'sharing.png'}")
    return 1 if below else 0


if __name__ == "__main__":
    sys.exit(main())
