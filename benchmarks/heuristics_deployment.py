"""Heuristics against the reference values of the bundled deployment instances, side by side.

    python benchmarks/heuristics_deployment.py [--seed 0] [--time-limit 60]

For every bundled instance: the reference (=opt= or =best= with its =bound=), and for each heuristic
its objective, its gap to the reference (edgeopt.relative_gap: positive when worse) and its time.
Where the reference is only a best known value, the gap to the bound is printed after a slash.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import edgeopt
from edgeopt.comparison.reference import read_solu

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--time-limit", type=float, default=60.0)
    args = ap.parse_args()
    refs = read_solu(ROOT / "instances" / "reference.solu")
    names = [s.name for s in edgeopt.solvers() if not s.exact and s.family == "deployment"]
    header = f"{'instance':<15}{'variables':>10}{'reference':>14} {'':<6}" + "".join(f"{n:>26}" for n in names)
    print(header)
    print("-" * len(header))
    for path in sorted((ROOT / "instances" / "deployment").glob("*.json")):
        inst = edgeopt.load(path)
        ref = refs[inst.name]
        if ref.infeasible:
            continue
        tag = "=opt=" if ref.optimum is not None else "=best="
        cells = []
        for name in names:
            r = edgeopt.solve(inst, name, seed=args.seed, time_limit=args.time_limit)
            if r.objective is None or r.status == edgeopt.Status.ERROR:
                cells.append(f"{r.status.value:>26}")
                continue
            gap = edgeopt.relative_gap(r.objective, ref.value, inst.sense)
            text = f"{100 * gap:.2f}%"
            if ref.optimum is None and ref.bound is not None:
                text += f"/{100 * edgeopt.relative_gap(r.objective, ref.bound, inst.sense):.2f}%"
            cells.append(f"{text + f' {r.solve_seconds:.2f}s':>26}")
        print(f"{inst.name:<15}{inst.num_variables:>10}{ref.value:>14.8g} {tag:<6}" + "".join(cells))
    print("\ncells: gap to the reference (to the bound after '/'), solve seconds; reference tag =opt= proven, "
          "=best= best known")


if __name__ == "__main__":
    main()
