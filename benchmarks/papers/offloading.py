"""The MAPPO offloading paper's comparison, reproduced with the per-slot optimum beside it.

    python benchmarks/papers/offloading.py [--quick] [--time-limit 300] [--out DIR] [--policy PATH] [--ippo PATH]

Methods (every plan verified by the evaluator, edgeopt.solve):

- ``mappo+slsqp``: the shipped MAPPO policy's greedy actions, shares by SLSQP (the paper's method);
- ``mappo``: the same actions, closed-form shares (the square-root rule, optimal for the actions);
- ``ippo``: the shipped IPPO policy (independent critics), closed-form shares;
- the paper-style baselines ``all-local``, ``all-edge``, ``all-cloud``, ``random-offload`` (seed 0), and three
  heuristics the paper does not have: ``equal-share`` (each user's best option at an equal share of its
  cell), ``greedy-offload`` (best responses in turn) and ``offload-ls`` (local search from it), closed-form
  shares;
- ``optimum``: ``offload-oa``, the exact per-slot optimum (outer approximation on HiGHS, proved at 1e-9).

Instances: the bundled ones (instances/offloading/) and generated scenarios the policies never saw: seeds
from 2**31 up (training draws its generator seeds below 2**31 - 1), 15 to 200 users on 1 to 4 edges, at the
generator's defaults otherwise (the regimes beyond them are benchmarks/papers/offloading_regimes.py's).

Columns, per method over the generated scenarios (and over the bundled ones): mean delay (s), energy (J)
and utility (VBench points) per served request, served share, the objective (summed), the mean and worst
relative gap to the optimum (edgeopt.relative_gap), and the decision time per slot (the wall time of
edgeopt.solve over the number of slots, each method on a fresh copy of the instance so that no option
table is reused; the policy file is read once before timing; at 100 users and more, the fastest of three
runs). Then MAPPO + SLSQP against each baseline in
delay, energy and utility (relative change, as the paper reports them), and at 100 users the decision time
per slot of mappo against the exact solver's time to prove, with the ratio.

Writes DIR/results.csv (one row per method and instance), DIR/summary.md (the tables) and
DIR/comparison.png (delay, energy, utility and gap per method; matplotlib's Figure API). ``--quick``: two
small bundled instances and two small generated ones, a few seconds (the test suite runs it).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from common import default_out, failed_runs, out_help, write_rows

import edgeopt
from edgeopt.io import instance_from_data
from edgeopt.text import table

ROOT = Path(__file__).resolve().parents[2]
METHODS = [  # (label, solver, options)
    ("mappo+slsqp", "mappo", {"allocation": "slsqp"}),
    ("mappo", "mappo", {}),
    ("ippo", "ippo", {}),
    ("equal-share", "equal-share", {}),
    ("greedy-offload", "greedy-offload", {}),
    ("offload-ls", "offload-ls", {}),
    ("all-cloud", "all-cloud", {}),
    ("all-edge", "all-edge", {}),
    ("all-local", "all-local", {}),
    ("random-offload", "random-offload", {}),
    ("optimum", "offload-oa", {}),
]
BASELINES = ("all-local", "all-edge", "all-cloud", "random-offload", "equal-share", "greedy-offload", "offload-ls")
#: Generated scenarios (users, edges): user counts the shipped policies never trained on; 3 slots each.
SCENARIOS = [(15, 1), (15, 2), (30, 2), (30, 3), (50, 2), (50, 3), (50, 4), (100, 2), (100, 3), (100, 4), (150, 3),
             (150, 4), (200, 4)]
QUICK_SCENARIOS = [(15, 1), (30, 2)]
SLOTS = 3
#: Instances of 100 users or more (where the decision time is compared) run every method this many times;
#: the fastest time is kept.
TIMING_REPEATS = 3
UNSEEN_SEED = 2 ** 31


def generated(scenarios) -> list:
    return [edgeopt.generate("offloading", users=u, edges=e, slots=SLOTS, seed=UNSEEN_SEED + 101 * i,
                             name=f"unseen-u{u}-e{e}-{i}") for i, (u, e) in enumerate(scenarios)]


def bundled(quick: bool) -> list:
    files = sorted((ROOT / "instances" / "offloading").glob("*.json"))
    if quick:
        files = [f for f in files if f.stem in ("offload-tiny-1", "offload-small-1")]
    return [edgeopt.load(f) for f in files]


def fresh(inst):
    """A copy with no cached option table: every method pays for its own."""
    return instance_from_data(inst.data, source=inst.name)


def run(inst, solver: str, options: dict, time_limit: float, repeats: int = 1) -> dict:
    """One method on one instance; with ``repeats`` > 1 the times are the fastest of that many runs (the
    plans are the same: every method is deterministic for seed 0), which keeps other jobs on a shared
    machine out of the timing as far as possible."""
    walls, decisions = [], []
    for _ in range(repeats):
        copy = fresh(inst)
        started = time.perf_counter()
        r = edgeopt.solve(copy, solver, time_limit=time_limit, seed=0, **options)
        walls.append(time.perf_counter() - started)
        decisions.append(r.extra.get("decision_seconds"))
    wall = min(walls)
    row = {"status": r.status.value, "objective": r.objective, "seconds_per_slot": wall / inst.slots,
           "requests": float(inst.requested.sum()), "message": r.message or ""}
    if "decision_seconds" in r.extra:  # a policy's decision alone (option tables, observations, actor, repair)
        row["decision_seconds_per_slot"] = min(decisions) / inst.slots
    if r.evaluation is not None and r.evaluation.feasible:
        row.update({k: r.evaluation.stats[k] for k in ("mean_delay_seconds", "mean_energy_joules", "mean_utility",
                                                        "served", "refused")})
        row.update({f"part_{k}": v for k, v in r.evaluation.parts.items()})
    return row


def measure(instances: list, methods: list, time_limit: float, group: str) -> list[dict]:
    rows = []
    for inst in instances:
        repeats = TIMING_REPEATS if inst.num_users >= 100 else 1
        results = {label: run(inst, solver, opts, time_limit, repeats) for label, solver, opts in methods}
        opt = results.get("optimum")
        for label, res in results.items():
            res.update(method=label, instance=inst.name, group=group, users=inst.num_users,
                       edges=inst.num_edges, slots=inst.slots)
            if opt and opt["objective"] is not None and res["objective"] is not None:
                res["gap"] = edgeopt.relative_gap(res["objective"], opt["objective"], "max")
                res["optimum_status"] = opt["status"]
            rows.append(res)
        print(f"  {inst.name}: " + ", ".join(f"{k} {100 * v['gap']:.2f}%" for k, v in results.items()
                                             if v.get("gap") is not None and k != "optimum"), flush=True)
    return rows


def _mean(rows, key):
    vals = [r[key] for r in rows if r.get(key) is not None]
    return float(np.mean(vals)) if vals else float("nan")


def summary_table(rows: list[dict], labels: list[str]) -> tuple[str, dict]:
    out, agg = [], {}
    for label in labels:
        mine = [r for r in rows if r["method"] == label]
        if not mine:
            continue
        served = sum(r.get("served", 0.0) for r in mine) / max(sum(r["requests"] for r in mine), 1.0)
        a = {"delay": _mean(mine, "mean_delay_seconds"), "energy": _mean(mine, "mean_energy_joules"),
             "utility": _mean(mine, "mean_utility"), "served": served,
             "objective": sum(r["objective"] for r in mine if r["objective"] is not None),
             "gap": _mean(mine, "gap"), "worst": max((r.get("gap", float("nan")) for r in mine), default=float("nan")),
             "time": _mean(mine, "seconds_per_slot"),
             "errors": sum(r["status"] not in ("feasible", "optimal") for r in mine)}
        agg[label] = a
        out.append((label, f"{a['delay']:.2f}", f"{a['energy']:.2f}", f"{a['utility']:.3f}", f"{100 * a['served']:.1f}%",
                    f"{a['objective']:.1f}", f"{100 * a['gap']:.3f}%", f"{100 * a['worst']:.3f}%",
                    f"{1000 * a['time']:.2f}", a["errors"]))
    head = ["method", "delay s", "energy J", "utility", "served", "objective", "mean gap", "worst gap",
            "ms/slot", "errors"]
    return table(head, out, "lrrrrrrrrr"), agg


def versus_table(agg: dict) -> str:
    """MAPPO + SLSQP against each baseline: relative change of delay, energy and utility (negative delay and
    energy changes are improvements), as the paper reports them."""
    me = agg.get("mappo+slsqp")
    if not me:
        return ""
    rows = []
    for b in (*BASELINES, "optimum"):
        if b in agg:
            o = agg[b]
            rows.append((b, *(f"{100 * (me[k] - o[k]) / abs(o[k]):+.1f}%" if o[k] else "-"
                              for k in ("delay", "energy", "utility")),
                         f"{100 * (agg['mappo+slsqp']['gap'] - o['gap']):+.3f} pt"))
    return table(["mappo+slsqp vs", "delay", "energy", "utility", "gap difference"], rows, "lrrrr")


def timing_lines(rows: list[dict]) -> list[str]:
    lines = []
    for users in sorted({r["users"] for r in rows if r["group"] == "generated"}):
        if users < 100:
            continue
        at = [r for r in rows if r["users"] == users and r["group"] == "generated"]
        mine = [r for r in at if r["method"] == "mappo"]
        pol, alone = _mean(mine, "seconds_per_slot"), _mean(mine, "decision_seconds_per_slot")
        exact = [r for r in at if r["method"] == "optimum"]
        proved = all(r["status"] == "optimal" for r in exact)
        ex = _mean(exact, "seconds_per_slot")
        lines.append(f"{users} users: mappo decides a slot in {1000 * pol:.2f} ms (option table, policy, allocation "
                     f"and the evaluator's check; the policy's decision alone {1000 * alone:.2f} ms); offload-oa "
                     f"{'proves' if proved else 'runs'} a slot in {1000 * ex:.1f} ms: {ex / pol:.0f}x "
                     f"({ex / alone:.0f}x the decision alone)")
    return lines


def plot(agg_gen: dict, path: Path) -> None:
    from matplotlib.figure import Figure

    labels = list(agg_gen)
    fig = Figure(figsize=(13, 3.6))
    axes = fig.subplots(1, 4)
    colors = ["#d62728" if lab.startswith("mappo") else "#ff7f0e" if lab == "ippo" else
              "#2ca02c" if lab == "optimum" else "#1f77b4" for lab in labels]
    for ax, (key, title) in zip(axes, [("delay", "mean delay (s)"), ("energy", "mean energy (J)"),
                                       ("utility", "mean utility (VBench)"), ("gap", "gap to optimum (%)")]):
        vals = [agg_gen[lab][key] * (100 if key == "gap" else 1) for lab in labels]
        ax.bar(range(len(labels)), vals, color=colors)
        ax.set_xticks(range(len(labels)))
        ax.set_xticklabels(labels, rotation=60, ha="right", fontsize=8)
        ax.set_title(title, fontsize=10)
        if key == "gap":
            ax.set_yscale("symlog", linthresh=1.0)
        if key == "utility":
            lo = min(v for v in vals if np.isfinite(v))
            ax.set_ylim(lo - 1.0, max(vals) + 0.5)
    fig.suptitle("offloading: MAPPO against the paper's baselines and the per-slot optimum "
                 "(generated scenarios never seen in training)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a few small instances (seconds)")
    ap.add_argument("--time-limit", type=float, default=300.0, help="seconds per method and instance")
    ap.add_argument("--out", type=Path, help=out_help())
    ap.add_argument("--policy", help="the MAPPO policy file (default: the shipped one)")
    ap.add_argument("--ippo", help="the IPPO policy file (default: the shipped one)")
    args = ap.parse_args(argv)
    args.out = args.out or default_out(__file__, args.quick)
    methods = []
    for label, solver, opts in METHODS:
        opts = dict(opts)
        if solver == "mappo" and args.policy:
            opts["policy"] = args.policy
        if solver == "ippo" and args.ippo:
            opts["policy"] = args.ippo
        methods.append((label, solver, opts))
    # Read each policy file once (and import torch) before any timing.
    warm = edgeopt.generate("offloading", users=3, seed=1)
    for label, solver, opts in methods:
        edgeopt.solve(warm, solver, **opts)
    args.out.mkdir(parents=True, exist_ok=True)
    print("generated scenarios (never seen in training):", flush=True)
    rows = measure(generated(QUICK_SCENARIOS if args.quick else SCENARIOS), methods, args.time_limit, "generated")
    print("bundled instances:", flush=True)
    rows += measure(bundled(args.quick), methods, args.time_limit, "bundled")
    labels = [m[0] for m in methods]
    gen_table, agg_gen = summary_table([r for r in rows if r["group"] == "generated"], labels)
    bun_table, agg_bun = summary_table([r for r in rows if r["group"] == "bundled"], labels)
    timing = timing_lines(rows)
    best_baseline = min(BASELINES, key=lambda b: agg_gen[b]["gap"])
    verdict = []
    if "mappo" in agg_gen:
        g = agg_gen["mappo"]["gap"]
        verdict.append(f"mappo's mean gap to the optimum on unseen scenarios: {100 * g:.3f}% "
                       f"({'<=' if g <= 0.05 else '>'} 5%); best non-exact baseline: {best_baseline} "
                       f"{100 * agg_gen[best_baseline]['gap']:.3f}%; mappo below every baseline: "
                       f"{'yes' if all(g < agg_gen[b]['gap'] for b in BASELINES) else 'no'}; below every "
                       "paper-style one (all-local, all-edge, all-cloud, random-offload): "
                       f"{'yes' if all(g < agg_gen[b]['gap'] for b in BASELINES[:4]) else 'no'}")
    text = "\n".join([
        "## Generated scenarios the policies never saw", "", "```", gen_table, "```", "",
        "MAPPO + SLSQP against each method (relative change of the per-request means):", "", "```",
        versus_table(agg_gen), "```", "",
        "## Bundled instances", "", "```", bun_table, "```", "", "```", versus_table(agg_bun), "```", "",
        "## Decision time", "", *(f"- {line}" for line in timing or ["(no generated scenario of 100 users or more)"]),
        "", *verdict, ""])
    print()
    print(text)
    (args.out / "summary.md").write_text(text)
    write_rows(args.out / "results.csv", rows)
    plot(agg_gen, args.out / "comparison.png")
    print(f"wrote {args.out / 'results.csv'}, {args.out / 'summary.md'}, {args.out / 'comparison.png'}")
    return 1 if failed_runs(rows) else 0


if __name__ == "__main__":
    sys.exit(main())
