"""Stage two of the offloading heuristics: closed-form, SLSQP and equal shares side by side.

    python benchmarks/offloading_allocation.py [--seed 0] [--time-limit 120] [--generated 3]

Every heuristic of the offloading family (the exact methods are left out) on every bundled offloading
instance and on a few generated ones, once per allocation: ``closed`` (the square-root rule, optimal for
the choices the heuristic made), ``slsqp`` (the paper's stage two, scipy's SLSQP on the same problem) and
``equal`` (every user of a resource gets the same share). The choices do not depend on the allocation, so
closed >= slsqp >= equal must hold on every row (1e-9 relative slack for rounding); a violation is printed.
Columns: the three objectives, what SLSQP and the equal split lose against the closed form (relative to
|closed|), and the seconds SLSQP and the closed form took.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import edgeopt
from edgeopt.text import table

ROOT = Path(__file__).resolve().parent.parent
ALLOCATIONS = ("closed", "slsqp", "equal")
RTOL = 1e-9
#: Generated instances beside the bundled ones: tight radio, a crowd on one edge, no cloud.
GENERATED = [
    dict(users=60, edges=2, slots=3, uplink_mhz=2.0, downlink_mhz=5.0, seed=101),
    dict(users=120, edges=1, slots=2, models=4, max_configs=None, seed=102),
    dict(users=50, edges=3, slots=4, cloud=False, cell_radius_m=2000.0, seed=103),
]


def _not_above(a: float, b: float) -> bool:
    return a <= b + RTOL * max(1.0, abs(a), abs(b))


def rows_for(inst, solvers: list[str], seed: int, time_limit: float) -> tuple[list, list]:
    rows, violations = [], []
    for name in solvers:
        results = {a: edgeopt.solve(inst, name, allocation=a, seed=seed, time_limit=time_limit) for a in ALLOCATIONS}
        bad = [f"{a}: {r.status.value} {r.message}" for a, r in results.items() if r.status != edgeopt.Status.FEASIBLE]
        if bad:
            violations.append(f"{inst.name} {name}: no feasible plan: {'; '.join(bad)}")
            rows.append((inst.name, name, *("-" for _ in range(7))))
            continue
        v = {a: r.objective for a, r in results.items()}
        scale = max(1.0, abs(v["closed"]))
        if not _not_above(v["slsqp"], v["closed"]):
            violations.append(f"{inst.name} {name}: slsqp {v['slsqp']!r} > closed {v['closed']!r}")
        if not _not_above(v["equal"], v["slsqp"]):
            violations.append(f"{inst.name} {name}: equal {v['equal']!r} > slsqp {v['slsqp']!r}")
        fallback = results["slsqp"].extra.get("closed_form_slots")
        if fallback:
            violations.append(f"{inst.name} {name}: SLSQP replaced by the closed form in slots {fallback} "
                              f"({results['slsqp'].raw_status})")
        rows.append((inst.name, name, f"{v['closed']:.6f}", f"{v['slsqp']:.6f}", f"{v['equal']:.6f}",
                     f"{(v['closed'] - v['slsqp']) / scale:.1e}", f"{100 * (v['closed'] - v['equal']) / scale:.3f}%",
                     f"{results['slsqp'].solve_seconds:.2f}", f"{results['closed'].solve_seconds:.2f}"))
    return rows, violations


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--time-limit", type=float, default=120.0, help="per solve, seconds")
    ap.add_argument("--generated", type=int, default=len(GENERATED), help="how many generated instances to add")
    args = ap.parse_args(argv)
    solvers = [s.name for s in edgeopt.solvers() if s.family == "offloading" and not s.exact]
    instances = [edgeopt.load(p) for p in sorted((ROOT / "instances" / "offloading").glob("*.json"))]
    instances += [edgeopt.generate("offloading", name=f"generated-{i + 1}", **params)
                  for i, params in enumerate(GENERATED[:args.generated])]
    rows, violations = [], []
    for inst in instances:
        r, v = rows_for(inst, solvers, args.seed, args.time_limit)
        rows += r
        violations += v
        print(f"{inst.name}: {inst.num_users} users, {inst.num_edges} edges, {inst.slots} slots, "
              f"{int(inst.requested.sum())} requests", file=sys.stderr, flush=True)
    print(table(["instance", "heuristic", "closed", "slsqp", "equal", "slsqp loss", "equal loss", "slsqp s",
                 "closed s"], rows, "llrrrrrrr"))
    print(f"\n{len(rows)} rows; losses relative to max(1, |closed|); 'slsqp s'/'closed s': solve seconds "
          "(choices and shares)")
    if violations:
        print(f"\n{len(violations)} violation(s) of closed >= slsqp >= equal (or failures):")
        for line in violations:
            print(f"  {line}")
        return 1
    print("closed >= slsqp >= equal on every row")
    return 0


if __name__ == "__main__":
    sys.exit(main())
