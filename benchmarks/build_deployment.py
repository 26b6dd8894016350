"""Build and solve times of the deployment MILP: edgeopt's array builder against a hand-written Pyomo model.

For each size the script generates one seeded instance and measures
  - edgeopt build: deployment.formulate() plus Model.matrix() (the CSC form every backend reads),
  - Pyomo build: benchmarks/pyomo_algebraic.build(), the same MILP written the usual algebraic way
    (tests/test_pyomo_algebraic.py proves the two are the same model, row by row),
each as the best of --repeat runs, then the peak memory of one more build of each under tracemalloc
(separately, because tracing slows Python code), and, on sizes up to --solve-up-to variables, each
backend's solve through edgeopt.solve with --time-limit. A backend that is not registered prints n/a.

    python benchmarks/build_deployment.py                      # 1k, 10k, 100k, 300k variables
    python benchmarks/build_deployment.py --sizes 1000 10000 --repeat 5 --solve-up-to 0
"""
from __future__ import annotations

import argparse
import gc
import math
import platform
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pyomo
import scipy

import edgeopt
from edgeopt.families import deployment

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pyomo_algebraic import build as pyomo_build  # noqa: E402

BACKENDS = ("highs", "cpsat", "scip", "pyomo")
TARGET_VARIABLES = 100_000
TARGET_RATIO = 10.0


def shape_for(target: int) -> dict:
    """generate() parameters for an instance of about ``target`` variables (at least ``target``).

    Models, slots and regions per edge grow in three tiers so that no dimension is degenerate; the
    number of edges then sets the size. Neighbour pairs come from seeded random links, so the
    count is settled by generating rather than by formula.
    """
    if target < 5_000:
        base = dict(models=6, slots=4, regions_per_edge=2)
    elif target < 50_000:
        base = dict(models=10, slots=6, regions_per_edge=2)
    else:
        base = dict(models=13, slots=8, regions_per_edge=3)
    return dict(base, links_per_edge=3)


def instance_for(target: int, seed: int):
    params = shape_for(target)
    k, m, t = params["regions_per_edge"], params["models"], params["slots"]
    edges = max(2, round(target / (m * t * (4 + 2 * k + 3.5 * k))))  # about 3.5 neighbours per edge
    inst = edgeopt.generate("deployment", edges=edges, seed=seed, **params)
    per_edge = inst.num_variables / edges
    edges = max(2, math.ceil(target / per_edge))
    inst = edgeopt.generate("deployment", edges=edges, seed=seed, **params)
    while inst.num_variables < target:
        edges += 1
        inst = edgeopt.generate("deployment", edges=edges, seed=seed, **params)
    return inst


def edgeopt_build(inst):
    form = deployment.formulate(inst)
    return form, form.model.matrix()


def best_time(fn, inst, repeat: int) -> float:
    best = math.inf
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        built = fn(inst)
        best = min(best, time.perf_counter() - t0)
        del built
    return best


def peak_mib(fn, inst) -> float:
    """Peak memory traced while building (numpy reports its buffers to tracemalloc too)."""
    gc.collect()
    tracemalloc.start()
    built = fn(inst)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    del built
    return peak / 2**20


def registered_backends() -> tuple[dict, str]:
    """name -> available, and a note when the registry itself could not be read."""
    try:
        return {s.name: s.available for s in edgeopt.solvers()}, ""
    except Exception as exc:  # a solver module being written elsewhere may not import yet
        return {}, f"registry could not be listed ({type(exc).__name__}: {exc}); every backend shows n/a"


def solve_cell(inst, name: str, registry: dict, time_limit: float, notes: list) -> str:
    if not registry.get(name, False):
        return "n/a"
    try:
        result = edgeopt.solve(inst, name, time_limit=time_limit, seed=0)
    except Exception as exc:  # one failing backend must not hide the others' numbers
        notes.append(f"{name} on {inst.num_variables:,} variables: {type(exc).__name__}: {exc}")
        return "failed"
    if result.status == edgeopt.Status.ERROR:
        notes.append(f"{name} on {inst.num_variables:,} variables: {result.message}")
    seconds = result.solve_seconds if result.solve_seconds is not None else float("nan")
    return f"{seconds:.2f}s {result.status}"


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = lambda cells: "  ".join(c.rjust(w) for c, w in zip(cells, widths))  # noqa: E731
    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000, 300_000],
                    help="target numbers of variables; each instance has at least that many (default: %(default)s)")
    ap.add_argument("--repeat", type=int, default=3, help="build times are the best of N runs (default: %(default)s)")
    ap.add_argument("--time-limit", type=float, default=20.0,
                    help="seconds per backend solve (default: %(default)s)")
    ap.add_argument("--solve-up-to", type=int, default=20_000, metavar="VARIABLES",
                    help="solve only instances of at most this many variables; 0 solves none (default: %(default)s)")
    ap.add_argument("--solvers", nargs="+", default=list(BACKENDS),
                    help="backends to solve with (default: %(default)s)")
    ap.add_argument("--seed", type=int, default=1, help="seed of the generated instances (default: %(default)s)")
    args = ap.parse_args(argv)
    if args.repeat < 1 or args.time_limit <= 0 or min(args.sizes) < 1:
        ap.error("--repeat and --sizes must be >= 1 and --time-limit > 0")

    registry, registry_note = registered_backends()
    print(f"edgeopt {edgeopt.__version__}, pyomo {pyomo.version.version}, numpy {np.__version__}, scipy "
          f"{scipy.__version__}, Python {platform.python_version()} on {platform.machine()}; build times best of "
          f"{args.repeat}; solves with a {args.time_limit:g} s limit up to {args.solve_up_to:,} variables", flush=True)
    headers = ["variables", "rows", "nonzeros", "edgeopt s", "pyomo s", "ratio", "edgeopt MiB", "pyomo MiB",
               *args.solvers]
    rows, ratios, notes = [], {}, []
    for target in args.sizes:
        inst = instance_for(target, args.seed)
        _, mf = edgeopt_build(inst)
        t_edge = best_time(edgeopt_build, inst, args.repeat)
        t_pyomo = best_time(pyomo_build, inst, args.repeat)
        mem_edge = peak_mib(edgeopt_build, inst)
        mem_pyomo = peak_mib(pyomo_build, inst)
        ratios[mf.num_cols] = t_pyomo / t_edge
        solve = [solve_cell(inst, s, registry, args.time_limit, notes) if mf.num_cols <= args.solve_up_to else "-"
                 for s in args.solvers]
        rows.append([f"{mf.num_cols:,}", f"{mf.num_rows:,}", f"{mf.A.nnz:,}", f"{t_edge:.3f}", f"{t_pyomo:.3f}",
                     f"{t_pyomo / t_edge:.1f}x", f"{mem_edge:.1f}", f"{mem_pyomo:.1f}", *solve])
        print(f"  {inst.name}: {mf.num_cols:,} variables done", file=sys.stderr, flush=True)
    print()
    print(table(headers, rows))
    print()
    print("edgeopt s: formulate() + Model.matrix(); pyomo s: ConcreteModel construction only (no solver "
          "translation); ratio: pyomo s / edgeopt s; MiB: peak traced memory of one build; solve cells: "
          "Result.solve_seconds and status, '-' = not asked (--solve-up-to), n/a = backend not registered here")
    for note in ([registry_note] if registry_note else []) + notes:
        print(f"note: {note}")
    large = {n: r for n, r in ratios.items() if n >= TARGET_VARIABLES}
    if large:
        worst = min(large.values())
        verdict = "MET" if worst >= TARGET_RATIO else "NOT MET"
        print(f"target: at >= {TARGET_VARIABLES:,} variables edgeopt builds >= {TARGET_RATIO:g}x faster than Pyomo: "
              f"{verdict} (ratio {worst:.1f})")
    else:
        print(f"target: at >= {TARGET_VARIABLES:,} variables edgeopt builds >= {TARGET_RATIO:g}x faster than Pyomo: "
              f"NOT MEASURED (no size >= {TARGET_VARIABLES:,} in --sizes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
