"""The learned offloading policies judged where they can fail: regimes beyond the default, the same instances
with their catalogue listed in reverse, every method against the proven per-slot optimum.

    python benchmarks/papers/offloading_regimes.py [--quick] [--out DIR] [--policy PATH] [--ippo PATH]
                                                   [--time-limit 600]

Regimes (3 generated seeds each, seeds from 2**31 up, which the training never draws; every scenario a
second time with its models and each model's configurations listed in reverse): ``REGIMES`` below. Methods:
mappo, ippo, offload-ls, greedy-offload, equal-share, all-cloud, random-offload (seed 0) and the optimum
(offload-oa, outer approximation on HiGHS, proved at 1e-9), each plan re-priced by the evaluator.

Per regime and method, over its scenarios (the originals):

- ``mean gap`` and ``worst gap``: edgeopt.relative_gap to the optimum, in % (a reversed copy is the same
  problem and is judged against its original's optimum);
- ``loss/request``: (optimum - objective) / requests, in objective points (a served request earns 75-82
  points of utility; a refused one costs its penalty, 100 by default);
- ``headroom left``: (optimum - objective) / (optimum - all-cloud), the share of the distance from the
  trivial all-cloud rule to the optimum that the method leaves unrecovered (all-cloud refuses everything
  without a cloud); "-" where all-cloud is optimal;
- ``ms/slot``: the wall time of edgeopt.solve (option tables, the method, the allocation stage and the
  evaluator's check) per slot, each method on a fresh copy of the instance, from the same run.

Then, per method, the largest difference between a scenario's gap and its reversed copy's, the checks of
issue 17's "done when" for mappo and ippo, and the mean gaps over 30 instances at the generator's defaults
(10 users, 2 edges) with how often each policy is below greedy-offload; last, how often each policy's row
is the best row by value against the others' current choices (the best-response rule), turn by turn. Writes DIR/results.csv (one row per method and scenario), DIR/summary.md.
``--quick``: two regimes, one seed, a few seconds (the test suite runs it).
"""
from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import numpy as np
from common import default_out, failed_runs, out_help, write_rows

import edgeopt
from edgeopt.io import instance_from_data
from edgeopt.text import table

METHODS = ["mappo", "ippo", "offload-ls", "greedy-offload", "equal-share", "all-cloud", "random-offload",
           "optimum"]
SOLVER = {"optimum": "offload-oa"}
SEED0 = 2 ** 31 + 17


def weak_first_edge(data: dict) -> None:
    """The first edge's GPU becomes a 24 GB RTX 4090."""
    data["edges"][0].update(gpu="RTX 4090", gpu_memory_gb=24.0)


#: name -> (generate() parameters, an edit of the instance's data or None). Slots: 2 (1,000 users: 1).
REGIMES = {
    "default": ({}, None),
    "paper sizes": ({"users": [50, 100, 200], "edges": [2, 3, 4]}, None),
    "congested radio": ({"users": 40, "uplink_mhz": 0.2, "downlink_mhz": 0.5}, None),
    "low SNR (5 km)": ({"users": 40, "cell_radius_m": 5000.0}, None),
    "very low SNR (20 km)": ({"users": 40, "cell_radius_m": 20000.0}, None),
    "tight edge memory": ({"users": 40, "edge_gpus": ["RTX 4090"]}, None),
    "one weak edge": ({"users": 60, "edges": 3, "edge_gpus": ["A100"]}, weak_first_edge),
    "no cloud, 5/cell": ({"cloud": False}, None),
    "no cloud, 30/cell": ({"users": 60, "cloud": False}, None),
    "no cloud, 75/cell": ({"users": 150, "cloud": False}, None),
    "no cloud, weak edge": ({"users": 40, "cloud": False, "edge_gpus": ["A100"]}, weak_first_edge),
    "delay weight x10": ({"users": 60, "delay_per_second": 0.5}, None),
    "energy weight x50": ({"users": 60, "energy_per_joule": 0.05}, None),
    "heavy models only": ({"users": 40, "models": ["open-sora-1.2", "cogvideox-5b"]}, None),
    "1,000 users": ({"users": 1000, "edges": 4, "slots": 1}, None),
    "refusal penalty 0": ({"users": 40, "refusal_penalty": 0.0}, None),
}
QUICK = ["default", "no cloud, 30/cell"]
#: Generated instances at the generator's defaults (10 users, 2 edges, 1 slot) for the mean-gap comparison.
DEFAULT_SEEDS = 30
DEFAULT_METHODS = ["mappo", "ippo", "offload-ls", "greedy-offload", "equal-share", "all-cloud"]


def scenario(regime: str, i: int):
    params, edit = REGIMES[regime]
    params = {k: (v[i % len(v)] if isinstance(v, list) and k not in ("models", "edge_gpus") else v)
              for k, v in params.items()}
    params.setdefault("slots", 2)
    inst = edgeopt.generate("offloading", **params, seed=SEED0 + 1000 * list(REGIMES).index(regime) + i,
                            name=f"{regime} #{i}")
    if edit is not None:
        data = copy.deepcopy(inst.data)
        edit(data)
        inst = instance_from_data(data, source=inst.name)
    return inst


def reversed_catalogue(inst):
    data = copy.deepcopy(inst.data)
    data["models"] = data["models"][::-1]
    for m in data["models"]:
        m["configs"] = m["configs"][::-1]
    return instance_from_data(data, source=inst.name + " reversed")


def run(inst, method: str, options: dict, time_limit: float) -> dict:
    fresh = instance_from_data(inst.data, source=inst.name)  # no cached option table
    started = time.perf_counter()
    r = edgeopt.solve(fresh, SOLVER.get(method, method), time_limit=time_limit, seed=0, **options)
    wall = time.perf_counter() - started
    return {"status": r.status.value, "objective": r.objective, "ms_per_slot": 1000 * wall / inst.slots,
            "decision_ms_per_slot": 1000 * r.extra["decision_seconds"] / inst.slots if "decision_seconds" in r.extra
            else None, "message": r.message or ""}


def measure(regimes: list[str], seeds: int, options: dict, time_limit: float) -> list[dict]:
    rows = []
    for regime in regimes:
        for i in range(seeds):
            base = scenario(regime, i)
            reference = None
            for order, inst in (("original", base), ("reversed", reversed_catalogue(base))):
                res = {m: run(inst, m, options.get(m, {}), time_limit) for m in METHODS}
                # One problem, one optimum: the reversed copy is judged against the original's proven optimum
                # (offload-oa may find another optimal plan on it, equal to the last bits).
                reference = res["optimum"]["objective"] if reference is None else reference
                opt, cloud = reference, res["all-cloud"]["objective"]
                res["optimum"]["own_optimum"] = res["optimum"]["objective"]
                requests = float(inst.requested.sum())
                for m, r in res.items():
                    obj = r["objective"]
                    r.update(regime=regime, seed=i, order=order, method=m, instance=inst.name, users=inst.num_users,
                             requests=requests, optimum=opt, optimum_status=res["optimum"]["status"])
                    if obj is not None and opt is not None:
                        r["gap"] = edgeopt.relative_gap(obj, opt, "max")
                        r["loss_per_request"] = (opt - obj) / max(requests, 1.0)
                        r["headroom_left"] = (opt - obj) / (opt - cloud) if opt - cloud > 1e-9 * max(1, abs(opt)) \
                            else None
                        r["worse_than_all_cloud"] = obj < cloud - 1e-9 * max(1.0, abs(cloud))
                    rows.append(r)
                print(f"  {inst.name}: " + ", ".join(f"{m} {100 * r['gap']:.3f}%" for m, r in res.items()
                                                     if r.get("gap") is not None and m != "optimum"), flush=True)
    return rows


def agreement_lines(regimes: list[str], seeds: int, options: dict) -> list[str]:
    """How often each policy's row is the mover's best row by value against the others' current choices (the
    best-response rule), turn by turn, on the original scenarios, and whether the plans equal that rule's."""
    import torch

    from edgeopt.families.offloading.observation import Board
    from edgeopt.families.offloading.solvers import mappo

    lines = []
    for policy in ("mappo", "ippo"):
        path = options.get(policy, {}).get("policy") or mappo.POLICIES / f"offloading-{policy}.pt"
        actor = mappo.cached_policy(path).actor
        same = turns = equal_plans = scenarios = 0
        for regime in regimes:
            for i in range(seeds):
                inst = scenario(regime, i)
                board, rule = Board([(inst, t) for t in range(inst.slots)]), Board([(inst, t) for t in range(inst.slots)])
                while not board.done:
                    movers = board.movers()
                    rows = board.rows(movers)
                    with torch.inference_mode():
                        pick = mappo.greedy_rows(actor, *mappo._tensors(rows), movers.size)
                    best = mappo.first_best(np.where(rows["allowed"], rows["q"], -np.inf), rows["mover"], movers.size)
                    same += int((rows["q"][pick] == rows["q"][best]).sum())
                    turns += movers.size
                    board.apply(movers, rows["option"][pick])
                while not rule.done:
                    movers = rule.movers()
                    rows = rule.rows(movers)
                    best = mappo.first_best(np.where(rows["allowed"], rows["q"], -np.inf), rows["mover"], movers.size)
                    rule.apply(movers, rows["option"][best])
                equal_plans += int(np.array_equal(board.chosen, rule.chosen))
                scenarios += 1
        lines.append(f"{policy}: took a best-valued row on {same:,} of {turns:,} turns ({100 * same / max(turns, 1):.3f}%); "
                     f"its plan is the best-response rule's on {equal_plans} of {scenarios} scenarios")
    return lines


def defaults_lines(count: int, options: dict, time_limit: float) -> list[str]:
    """Mean gaps over ``count`` instances at the generator's defaults (seeds the training never draws), and
    how often each policy is below, level with or above greedy-offload."""
    gaps: dict[str, list[float]] = {m: [] for m in DEFAULT_METHODS}
    for i in range(count):
        inst = edgeopt.generate("offloading", seed=SEED0 + 500_000 + i)
        opt = run(inst, "optimum", {}, time_limit)["objective"]
        for m in DEFAULT_METHODS:
            gaps[m].append(edgeopt.relative_gap(run(inst, m, options.get(m, {}), time_limit)["objective"], opt, "max"))
    lines = [f"{count} instances at the generator's defaults: mean gap " + ", ".join(
        f"{m} {100 * np.mean(g):.4f}%" for m, g in gaps.items())]
    for policy in ("mappo", "ippo"):
        d = np.array(gaps[policy]) - np.array(gaps["greedy-offload"])
        lines.append(f"{policy} against greedy-offload on them: below on {int((d < 0).sum())}, level on "
                     f"{int((d == 0).sum())}, above on {int((d > 0).sum())}; mean gap "
                     f"{'below' if np.mean(gaps[policy]) < np.mean(gaps['greedy-offload']) else 'not below'}")
    return lines


def _stat(rows, key, fn):
    vals = [r[key] for r in rows if r.get(key) is not None]
    return fn(vals) if vals else None


def regime_table(rows: list[dict], regimes: list[str], order: str = "original") -> tuple[str, dict]:
    out, agg = [], {}
    for regime in regimes:
        for m in METHODS:
            mine = [r for r in rows if r["regime"] == regime and r["method"] == m and r["order"] == order]
            if not mine:
                continue
            a = {"mean": _stat(mine, "gap", np.mean), "worst": _stat(mine, "gap", max),
                 "loss": _stat(mine, "loss_per_request", np.mean), "headroom": _stat(mine, "headroom_left", np.mean),
                 "ms": _stat(mine, "ms_per_slot", np.mean),
                 "worse_than_cloud": sum(bool(r.get("worse_than_all_cloud")) for r in mine),
                 "errors": sum(r["status"] not in ("optimal", "feasible") for r in mine)}
            agg[(regime, m)] = a
            pct = lambda v: "-" if v is None else f"{100 * v:.3f}%"
            out.append((regime if m == METHODS[0] else "", m, pct(a["mean"]), pct(a["worst"]),
                        "-" if a["loss"] is None else f"{round(a['loss'], 4) + 0.0:.4f}",
                        "-" if a["headroom"] is None else f"{round(100 * a['headroom'], 1) + 0.0:.1f}%",
                        f"{a['ms']:.1f}", a["errors"]))
    head = ["regime", "method", "mean gap", "worst gap", "loss/request", "headroom left", "ms/slot", "errors"]
    return table(head, out, "llrrrrrr"), agg


def reversal_lines(rows: list[dict]) -> list[str]:
    lines = []
    pairs = [(r, x) for r in rows if r["method"] == "optimum" and r["order"] == "original"
             for x in rows if x["method"] == "optimum" and x["order"] == "reversed" and x["regime"] == r["regime"]
             and x["seed"] == r["seed"]]
    if pairs:
        worst = max(abs(x["own_optimum"] - r["own_optimum"]) / max(1.0, abs(r["own_optimum"])) for r, x in pairs)
        lines.append(f"the proven optima of a scenario and its reversed copy differ by at most {worst:.1e} "
                     "(relative); every gap, the reversed copy's included, is to the original's optimum")
    for m in METHODS:
        diffs = []
        for r in rows:
            if r["method"] != m or r["order"] != "original" or r.get("gap") is None:
                continue
            twin = [x for x in rows if x["method"] == m and x["order"] == "reversed" and x["regime"] == r["regime"]
                    and x["seed"] == r["seed"]]
            if twin and twin[0].get("gap") is not None:
                diffs.append(abs(twin[0]["gap"] - r["gap"]))
        if diffs:
            same = sum(d == 0.0 for d in diffs)
            lines.append(f"{m}: identical gap on {same} of {len(diffs)} reversed scenarios; largest difference "
                         f"{100 * max(diffs):.6f} pt")
    return lines


def verdict(agg: dict, regimes: list[str], rows: list[dict]) -> list[str]:
    out = []
    for policy in ("mappo", "ippo"):
        fails = []
        for regime in regimes:
            me = agg.get((regime, policy))
            if me is None or me["mean"] is None:
                continue
            for other in ("greedy-offload", "equal-share"):
                o = agg.get((regime, other))
                if o and o["mean"] is not None and me["mean"] > o["mean"] + 1e-12:
                    fails.append(f"{regime}: mean {100 * me['mean']:.3f}% > {other} {100 * o['mean']:.3f}%")
            if me["mean"] > 0.005:
                fails.append(f"{regime}: mean {100 * me['mean']:.3f}% > 0.5%")
        worse = [r for r in rows if r["method"] == policy and r.get("worse_than_all_cloud")]
        default = agg.get(("default", policy))
        out.append(f"{policy}: mean gap <= 0.5% and <= greedy-offload's and equal-share's in every regime: "
                   f"{'yes' if not fails else 'no (' + '; '.join(fails) + ')'}")
        out.append(f"{policy}: worse than all-cloud on {len(worse)} scenario(s)"
                   + (f" ({', '.join(r['instance'] for r in worse[:5])})" if worse else ""))
        if default and default["loss"] is not None:
            out.append(f"{policy}: loss per request in the default regime {default['loss']:.4f} points "
                       f"({'<=' if default['loss'] <= 0.05 else '>'} 0.05)")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="two regimes, one seed (seconds)")
    ap.add_argument("--seeds", type=int, default=3, help="scenarios per regime (3)")
    ap.add_argument("--time-limit", type=float, default=600.0, help="seconds per method and scenario")
    ap.add_argument("--out", type=Path, help=out_help())
    ap.add_argument("--policy", help="the MAPPO policy file (default: the shipped one)")
    ap.add_argument("--ippo", help="the IPPO policy file (default: the shipped one)")
    args = ap.parse_args(argv)
    args.out = args.out or default_out(__file__, args.quick)
    options = {"mappo": {"policy": args.policy} if args.policy else {},
               "ippo": {"policy": args.ippo} if args.ippo else {}}
    regimes = QUICK if args.quick else list(REGIMES)
    seeds = 1 if args.quick else args.seeds
    warm = edgeopt.generate("offloading", users=3, seed=1)  # read the policies (and import torch) before timing
    for m in METHODS:
        edgeopt.solve(warm, SOLVER.get(m, m), **options.get(m, {}))
    rows = measure(regimes, seeds, options, args.time_limit)
    text_main, agg = regime_table(rows, regimes)
    text_rev, _ = regime_table(rows, regimes, "reversed")
    lines = reversal_lines(rows)
    checks = verdict(agg, regimes, rows) + defaults_lines(3 if args.quick else DEFAULT_SEEDS, options,
                                                          args.time_limit)
    learned = agreement_lines(regimes, seeds, options)
    summary = "\n".join(["## Regimes (scenarios as generated)", "", "```", text_main, "```", "",
                         "## The same scenarios, catalogue reversed", "", "```", text_rev, "```", "",
                         "## Reversed against original", "", *(f"- {x}" for x in lines), "",
                         "## Checks", "", *(f"- {x}" for x in checks), "",
                         "## What the policies learned", "", *(f"- {x}" for x in learned), ""])
    print()
    print(summary)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "summary.md").write_text(summary)
    write_rows(args.out / "results.csv", rows)
    print(f"wrote {args.out / 'results.csv'}, {args.out / 'summary.md'}")
    return 1 if failed_runs(rows) else 0


if __name__ == "__main__":
    sys.exit(main())
