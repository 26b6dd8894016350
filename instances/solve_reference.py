"""Recompute instances/reference.solu (MIPLIB-style tags) with each family's exact solver.

    python instances/solve_reference.py [--time-limit 1800] [NAME ...]

=opt= NAME VALUE     proven optimal (HiGHS, mip_rel_gap 0)
=best= NAME VALUE    best known value (time limit reached) ...
=bound= NAME VALUE   ... and the best proven bound beside it
=inf= NAME           proven infeasible

Deployment instances are solved by HiGHS, assignment instances by `enumerate`. Only the named
instances are re-solved; the other lines of the file (the OR-Library GAP optima among them) are kept.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import edgeopt

HERE = Path(__file__).resolve().parent
SOLU = HERE / "reference.solu"
#: The exact solver that proves each family's reference values.
SOLVER = {"deployment": "highs", "assignment": "enumerate"}


def read_solu(path: Path) -> dict[str, list[str]]:
    lines: dict[str, list[str]] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0].startswith("="):
                lines.setdefault(parts[1], []).append(line)
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="*", help="instance file stems under instances/<family>/ (default: all)")
    ap.add_argument("--time-limit", type=float, default=1800.0)
    args = ap.parse_args()
    files = sorted(f for kind in SOLVER for f in (HERE / kind).glob("*.json"))
    if args.names:
        files = [f for f in files if f.stem in args.names]
    lines = read_solu(SOLU)
    for f in files:
        inst = edgeopt.load(f)
        r = edgeopt.solve(inst, SOLVER[inst.kind], time_limit=args.time_limit)
        if r.status == edgeopt.Status.OPTIMAL:
            new = [f"=opt= {inst.name} {r.objective!r}"]
        elif r.status == edgeopt.Status.INFEASIBLE:
            new = [f"=inf= {inst.name}"]
        elif r.objective is not None:
            new = [f"=best= {inst.name} {r.objective!r}", f"=bound= {inst.name} {r.bound!r}"]
        else:
            print(f"{inst.name}: {r.status.value}, nothing to record ({r.message})")
            continue
        lines[inst.name] = new
        print(f"{inst.name}: {r.status.value} in {r.solve_seconds:.1f} s: {' | '.join(new)}", flush=True)
        write_solu(lines)  # after every instance: a long run that stops keeps what it proved


def write_solu(lines: dict[str, list[str]]) -> None:
    body = "\n".join(line for name in sorted(lines) for line in lines[name])
    header = ("# Reference values of the bundled instances (MIPLIB .solu style), from\n"
              "# instances/solve_reference.py: deployment by HiGHS 1.12 (mip_rel_gap 0, one thread),\n"
              "# assignment by the exact enumeration; gap*: published optima (instances/gap/README.md).\n")
    edgeopt.io.write_atomic(SOLU, header + body + "\n")


if __name__ == "__main__":
    main()
