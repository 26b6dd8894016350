"""Throughput of edgeopt.compare with 1 and 2 local worker processes on a CPU-bound sweep.

    python benchmarks/compare_throughput.py [--seeds 4] [--generations 100] [--repeat 1]

The sweep: the genetic algorithm (a fixed number of generations, no time limit, so every run does the
same work whatever the machine's load) on the bundled medium deployment instances, seeds 0..N-1. It is
timed end to end (pool start-up included) with workers=1 and workers=2, best of --repeat; the rows of
the two sweeps must agree except for their times. Prints runs per second for each and the speedup,
then what two processes of plain arithmetic gain on this machine at the moment (the ceiling: other
load on the cores shows up there too), then the target of issue 4 on a 2-core machine: 2 workers give at least 1.7x the throughput of 1.
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from edgeopt.comparison.sweep import TIME_COLUMNS, compare

ROOT = Path(__file__).resolve().parent.parent
INSTANCES = [ROOT / "instances" / "deployment" / f"medium-{k}.json" for k in (1, 2, 3)]
TARGET = 1.7


def _spin(n: int) -> int:
    total = 0
    for i in range(n):
        total += i
    return total


def machine_ceiling(n: int = 10_000_000) -> float:
    """The speedup two processes of plain Python arithmetic get here right now (other load shows up as < 2)."""
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(2) as pool:
        pool.submit(_spin, 1).result()
        t0 = time.perf_counter()
        pool.submit(_spin, n).result()
        one = time.perf_counter() - t0
        t0 = time.perf_counter()
        list(pool.map(_spin, [n, n]))
        two = time.perf_counter() - t0
    return 2 * one / two


def sweep(workers: int, seeds: int, generations: int):
    t0 = time.perf_counter()
    df = compare(INSTANCES, ["genetic"], seeds=range(seeds), workers=workers, progress=False, reference=None,
                 options={"generations": generations})
    return time.perf_counter() - t0, df


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=4, help="seeds per instance (default 4)")
    ap.add_argument("--generations", type=int, default=100, help="genetic generations per run (default 100)")
    ap.add_argument("--repeat", type=int, default=1, help="timings per worker count; the best is kept (default 1)")
    args = ap.parse_args()
    runs = len(INSTANCES) * args.seeds
    print(f"sweep: genetic ({args.generations} generations) on {len(INSTANCES)} medium deployment instances x "
          f"{args.seeds} seeds = {runs} runs; {os.cpu_count()} cores")
    best, frames = {}, {}
    for workers in (1, 2):
        times = []
        for _ in range(args.repeat):
            seconds, df = sweep(workers, args.seeds, args.generations)
            times.append(seconds)
        best[workers], frames[workers] = min(times), df
        bad = df[df.status != "feasible"]
        print(f"workers={workers}: {best[workers]:8.2f} s  {runs / best[workers]:6.2f} runs/s"
              + (f"  ({len(bad)} runs not feasible!)" if len(bad) else ""))
    same = frames[1].drop(columns=list(TIME_COLUMNS)).equals(frames[2].drop(columns=list(TIME_COLUMNS)))
    print(f"rows identical except times: {'yes' if same else 'NO'}")
    speedup = best[1] / best[2]
    print(f"speedup 2 workers / 1 worker: {speedup:.2f}x (this machine's ceiling now, two spinning "
          f"processes: {machine_ceiling():.2f}x)")
    print(f"2 workers >= {TARGET}x throughput of 1: {'MET' if speedup >= TARGET else 'NOT MET'} ({speedup:.2f}x)")


if __name__ == "__main__":
    main()
