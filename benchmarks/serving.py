"""Online serving methods against the hindsight optimum: how much of the gap between the myopic exact policy and
the hindsight optimum each method closes.

    python benchmarks/serving.py [--quick] [--out DIR] [--time-limit 600]

Instances: the bundled ones (instances/serving/) and held-out trace windows: the Azure traces replayed from
starting points the bundled instances do not use (``WINDOWS``), 20 users on 3 edges (RTX 4090s, or an RTX
4090, a Jetson AGX Orin and an A100) and no cloud, 30 slots of 10 s, where what carries from slot to slot
matters; the learned policies never trained on a trace. Methods: every online method of the family
(``myopic``, ``mpc``, ``keep-greedy``, ``lru-greedy``, ``lfu-greedy``, ``static-plan``, ``forward-greedy``,
and the shipped learned policies ``mappo`` and ``ippo``) and the yardstick ``hindsight`` (every arrival
known, proven optimal; its bound where a limit stops it).

Per method and instance: the objective; its gap to the hindsight optimum (%); **the share of the
hindsight-minus-myopic gap it closes**, (objective - myopic) / (hindsight - myopic) (100 %: as good as
knowing the future; 0 %: no better than the exact myopic policy; negative: worse; "-" where myopic is
optimal); the loss per request in objective points against hindsight; loads per slot; the mean backlog
(GPU seconds at a slot's end); the wall time of edgeopt.solve per slot (the evaluator's check included); and
the decision time per slot of the online methods (the time inside the method's decisions, without the
driver's checks and the final pricing), with each method's speed-up over mpc's. Then the means over the
held-out windows and over the bundled instances, and one plot per held-out window of the cumulative
objective over the horizon per method.

Writes DIR/results.csv, DIR/summary.md and DIR/cumulative-*.png (matplotlib's Figure API). ``--quick``:
two small bundled instances and one small window, seconds (the test suite runs it).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from papers.common import failed_runs, write_rows

import edgeopt
from edgeopt.families.serving import slot_objectives
from edgeopt.text import table

ROOT = Path(__file__).resolve().parents[1]
ONLINE = ["myopic", "mpc", "keep-greedy", "lru-greedy", "lfu-greedy", "static-plan", "forward-greedy", "mappo",
          "ippo"]
METHODS = ["hindsight", *ONLINE]
#: Held-out trace windows: (trace, seconds into it where cell 0 starts, the edges' GPUs); the bundled instances
#: start at 0, 600, 1200 (code) and 0, 1800 (conversation). The learned policies never train on a trace (only on
#: the processes fitted to them).
WINDOWS = [("trace-code", 300, "RTX 4090"), ("trace-code", 900, "RTX 4090"), ("trace-code", 2100, "RTX 4090"),
           ("trace-conv", 900, "RTX 4090"), ("trace-conv", 2700, "RTX 4090"), ("trace-code", 1500, "mixed"),
           ("trace-conv", 2100, "mixed"), ("trace-conv", 3000, "mixed")]
GPUS = {"RTX 4090": ["RTX 4090"], "mixed": ["RTX 4090", "Jetson AGX Orin", "A100"]}
HELD_OUT = dict(users=20, edges=3, slots=30, cloud=False, loading_per_second=1.0)


def held_out(quick: bool) -> list:
    if quick:
        return [edgeopt.generate("serving", users=8, edges=2, slots=8, edge_gpus=["RTX 4090"], cloud=False,
                                 loading_per_second=1.0, arrivals="trace-code", trace_start=300, seed=2 ** 31,
                                 name="window-code-300-quick")]
    out = []
    for i, (arrivals, start, gpus) in enumerate(WINDOWS):
        suffix = "" if gpus == "RTX 4090" else f"-{gpus}"
        out.append(edgeopt.generate("serving", **HELD_OUT, edge_gpus=GPUS[gpus], arrivals=arrivals, trace_start=start,
                                    seed=2 ** 31 + i, name=f"window-{arrivals.split('-')[1]}-{start}{suffix}"))
    return out


def bundled(quick: bool) -> list:
    files = sorted((ROOT / "instances" / "serving").glob("*.json"))
    if quick:
        files = [f for f in files if f.stem in ("serving-tiny-2", "serving-small-1")]
    return [edgeopt.load(f) for f in files]


def measure(instances: list, group: str, time_limit: float) -> tuple[list[dict], dict]:
    rows, curves = [], {}
    for inst in instances:
        results, walls = {}, {}
        for m in METHODS:
            started = time.perf_counter()
            results[m] = edgeopt.solve(inst, m, time_limit=time_limit, seed=0)
            walls[m] = time.perf_counter() - started
        h, my = results["hindsight"], results["myopic"]
        opt = h.objective if h.status == edgeopt.Status.OPTIMAL else None
        reference = opt if opt is not None else h.bound
        headroom = None if opt is None else opt - my.objective
        requests = float(inst.requested.sum())
        curves[inst.name] = {}
        for m, r in results.items():
            ok = r.evaluation is not None and r.evaluation.feasible
            row = {"group": group, "instance": inst.name, "method": m, "status": r.status.value,
                   "objective": r.objective, "hindsight": opt, "hindsight_bound": h.bound,
                   "ms_per_slot": 1000 * walls[m] / inst.slots, "requests": requests, "message": r.message or "",
                   "decision_ms_per_slot": r.extra.get("decision_ms_per_slot")}
            if ok and reference is not None:
                row["gap"] = edgeopt.relative_gap(r.objective, reference, "max")
                row["loss_per_request"] = (reference - r.objective) / max(requests, 1.0)
            if ok and headroom is not None and headroom > 1e-9 * max(1.0, abs(opt)):
                row["gap_closed"] = (r.objective - my.objective) / headroom
            if ok:
                row.update(loads_per_slot=r.evaluation.stats["loads_per_slot"],
                           mean_backlog_seconds=r.evaluation.stats["mean_backlog_seconds"])
                curves[inst.name][m] = np.cumsum(slot_objectives(inst, r.solution))
            rows.append(row)
        closed = {m: rows[-len(METHODS) + i].get("gap_closed") for i, m in enumerate(METHODS)}
        print(f"  {inst.name}: hindsight {h.status.value} {h.objective:.1f}; gap closed " + ", ".join(
            f"{m} {'-' if c is None else f'{100 * c:.0f}%'}" for m, c in closed.items() if m != "hindsight"), flush=True)
    return rows, curves


def _mean(rows, key):
    vals = [r[key] for r in rows if r.get(key) is not None]
    return float(np.mean(vals)) if vals else None


def summary(rows: list[dict], group: str) -> str:
    out = []
    for m in METHODS:
        mine = [r for r in rows if r["group"] == group and r["method"] == m]
        if not mine:
            continue
        f = lambda v, scale=1.0, fmt=".2f", unit="": "-" if v is None else f"{scale * v:{fmt}}{unit}"  # noqa: E731
        out.append((m, f(_mean(mine, "gap"), 100, ".3f", "%"), f(_mean(mine, "gap_closed"), 100, ".1f", "%"),
                    f(_mean(mine, "loss_per_request"), 1, ".3f"), f(_mean(mine, "loads_per_slot")),
                    f(_mean(mine, "mean_backlog_seconds")), f(_mean(mine, "ms_per_slot"), 1, ".1f"),
                    f(_mean(mine, "decision_ms_per_slot"), 1, ".2f"),
                    sum(r["status"] not in ("optimal", "feasible") for r in mine)))
    text = table(["method", "mean gap", "gap closed", "loss/request", "loads/slot", "backlog s", "ms/slot",
                  "decide ms/slot", "errors"], out, "lrrrrrrrr")
    decide = {m: _mean([r for r in rows if r["group"] == group and r["method"] == m], "decision_ms_per_slot")
              for m in ("mpc", "mappo", "ippo", "forward-greedy")}
    if decide["mpc"]:
        text += "\n\ndecision time per slot against mpc's (the same run): " + ", ".join(
            f"{m} {decide['mpc'] / v:.1f}x faster" for m, v in decide.items() if m != "mpc" and v)
    return text


def plot(curves: dict, path: Path, name: str) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    base = curves.get("myopic")
    for m, c in curves.items():
        ax.plot(np.arange(1, c.size + 1), c - (base if base is not None else 0.0), lw=1.6 if m == "hindsight" else 1.1,
                label=m)
    ax.axhline(0.0, color="grey", lw=0.8, ls="--")
    ax.set_xlabel("slot")
    ax.set_ylabel("cumulative objective, against myopic")
    ax.set_title(f"{name}: cumulative objective over the horizon")
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="two small bundled instances and one small window")
    ap.add_argument("--time-limit", type=float, default=600.0, help="seconds per method and instance")
    ap.add_argument("--out", type=Path, default=Path("results") / "serving", help="output directory")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    print("held-out trace windows:", flush=True)
    rows, curves = measure(held_out(args.quick), "held-out", args.time_limit)
    print("bundled instances:", flush=True)
    more, _ = measure(bundled(args.quick), "bundled", args.time_limit)
    rows += more
    text = "\n".join(["## Held-out trace windows", "", "```", summary(rows, "held-out"), "```", "",
                      "## Bundled instances", "", "```", summary(rows, "bundled"), "```", ""])
    print()
    print(text)
    (args.out / "summary.md").write_text(text)
    write_rows(args.out / "results.csv", rows)
    for name, c in curves.items():
        plot(c, args.out / f"cumulative-{name}.png", name)
    print(f"wrote {args.out / 'results.csv'}, {args.out / 'summary.md'} and {len(curves)} plot(s)")
    return 1 if failed_runs(rows) else 0


if __name__ == "__main__":
    sys.exit(main())
