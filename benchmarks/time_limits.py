"""How far past its time limit each solver returns, model building included.

    python benchmarks/time_limits.py [--instance instances/deployment/large-2.json] [--limits 10 60]
                                     [--solvers highs cpsat scip pyomo genetic]

For each solver and limit, one `edgeopt.solve(instance, solver, time_limit=limit)` timed from the call to
its return, side by side: the wall time, the overrun (wall - limit), the allowance (limit x 0.1 + 2 s, the
promise every solver keeps: see tests/test_conformance.py) and whether it was kept, with the status the
solver returned. large-2 is the case that runs long: no backend proves it within an hour.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import edgeopt

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--instance", default=str(HERE.parent / "instances" / "deployment" / "large-2.json"))
    ap.add_argument("--limits", type=float, nargs="+", default=[10.0, 60.0])
    ap.add_argument("--solvers", nargs="+", default=["highs", "cpsat", "scip", "pyomo", "genetic"])
    args = ap.parse_args()
    inst = edgeopt.load(args.instance)
    print(f"{inst!r}")
    print(f"{'solver':10} {'limit s':>8} {'wall s':>8} {'overrun s':>10} {'allowed s':>10}  kept  status")
    for limit in args.limits:
        for name in args.solvers:
            started = time.perf_counter()
            result = edgeopt.solve(inst, name, time_limit=limit, seed=0)
            wall = time.perf_counter() - started
            allowed = 0.1 * limit + 2.0
            kept = "yes" if wall - limit <= allowed else "NO"
            print(f"{name:10} {limit:8.1f} {wall:8.2f} {wall - limit:10.2f} {allowed:10.2f}  {kept:4}  "
                  f"{result.status.value} ({result.raw_status})", flush=True)


if __name__ == "__main__":
    main()
