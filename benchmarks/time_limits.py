"""How far past its time limit each solver returns, model building included.

    python benchmarks/time_limits.py [--instance instances/deployment/large-2.json] [--limits 10 60]
                                     [--solvers highs cpsat scip pyomo genetic]
    python benchmarks/time_limits.py --option-row-limit --limits 3 5 --solvers offload-oa offload-miqp mappo

For each solver and limit, one `edgeopt.solve(instance, solver, time_limit=limit)` timed from the call to
its return, side by side: the wall time, the overrun (wall - limit), the allowance (limit x 0.1 + 2 s, the
promise every solver keeps: see tests/test_conformance.py) and whether it was kept, with the status the
solver returned. large-2 is the case that runs long: no backend proves it within an hour.
--option-row-limit times the offloading solvers on an instance built in memory at the largest size an
offloading file may have: 500 requests x 333 configurations x 3 places, 499,500 option rows
(edgeopt.mec.MAX_OPTION_ROWS is 500,000), the case where HiGHS's presolve ran past offload-oa's limit.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import edgeopt

HERE = Path(__file__).resolve().parent


def option_row_limit_instance():
    """500 users asking for a 2-s video each, 333 copies of one configuration, one edge, a Jetson device that
    holds the model: 499,500 option rows."""
    from edgeopt.families import offloading

    data = edgeopt.generate("offloading", users=1, edges=1, slots=1, models=1, max_configs=1, seed=0).data
    model = data["models"][0]
    model["configs"] = [{**model["configs"][0], "name": f"c{i}"} for i in range(333)]
    device = next(d for d in data["devices"] if d["gpu"] == "Jetson AGX Orin")
    device["local_models"] = [model["name"]]
    user = data["users"][0]
    data["users"] = [{**user, "name": f"u{i}", "device": device["name"], "distance_m": [100.0],
                      "shadowing_db": [0.0], "requests": [{"duration_seconds": 2.0}]} for i in range(500)]
    return offloading.from_data(data)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--instance", default=str(HERE.parent / "instances" / "deployment" / "large-2.json"))
    ap.add_argument("--limits", type=float, nargs="+", default=[10.0, 60.0])
    ap.add_argument("--solvers", nargs="+", default=["highs", "cpsat", "scip", "pyomo", "genetic"])
    ap.add_argument("--option-row-limit", action="store_true",
                    help="an offloading instance of 499,500 option rows, built in memory (instead of --instance)")
    args = ap.parse_args()
    inst = option_row_limit_instance() if args.option_row_limit else edgeopt.load(args.instance)
    print(f"{inst!r}")
    print(f"{'solver':14} {'limit s':>8} {'wall s':>8} {'overrun s':>10} {'allowed s':>10}  kept  status")
    for limit in args.limits:
        for name in args.solvers:
            started = time.perf_counter()
            result = edgeopt.solve(inst, name, time_limit=limit, seed=0)
            wall = time.perf_counter() - started
            allowed = 0.1 * limit + 2.0
            kept = "yes" if wall - limit <= allowed else "NO"
            print(f"{name:14} {limit:8.1f} {wall:8.2f} {wall - limit:10.2f} {allowed:10.2f}  {kept:4}  "
                  f"{result.status.value} ({result.raw_status})", flush=True)


if __name__ == "__main__":
    main()
