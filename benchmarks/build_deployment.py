"""Build and solve times of the deployment MILP: edgeopt's array builder against the same model in linopy and Pyomo.

For each size the script generates one seeded instance and measures
  - edgeopt build: deployment.formulate() plus Model.matrix() (the CSC form every backend reads),
  - linopy build: benchmarks/linopy_deployment.build_matrices(), the same MILP written with linopy's array
    API plus the solver arrays linopy assembles from it (Model.matrices: A, b, senses, bounds, types, c),
    what linopy's direct HiGHS interface reads (tests/test_linopy_deployment.py proves it the same model),
  - Pyomo build: benchmarks/pyomo_algebraic.build(), the same MILP written the usual algebraic way
    (tests/test_pyomo_algebraic.py proves the two are the same model, row by row), on sizes up to
    --pyomo-up-to variables (default every size: at 1,000,000 variables one Pyomo build takes about 20 s of
    CPU and 1 GiB, so the default run spends a few minutes there; a lower cap prints '-' above it),
each as the best of --repeat runs, then the peak memory of one more build of each under tracemalloc
(separately, because tracing slows Python code), and, on sizes up to --solve-up-to variables, each
backend's solve through edgeopt.solve with --time-limit. A backend that is not registered prints n/a.
A second table gives each builder's wall time, CPU time and memory per variable, and the growth lines compare
the per-variable costs at the largest size with those at the smallest size of at least 100,000 variables.
The growth verdict uses CPU time (time.process_time, every thread of the process), not wall time: on a shared
machine whose load exceeds its cores, a best-of-N wall time still includes the time the build waited for a
core, which grows with the size of the run, while the CPU time counts only the work done. The load averages
(os.getloadavg) at the start and end of the run are printed with the tables.

    python benchmarks/build_deployment.py                      # 1k, 10k, 100k, 300k, 1M variables
    python benchmarks/build_deployment.py --sizes 1000 10000 --repeat 5 --solve-up-to 0
"""
from __future__ import annotations

import argparse
import gc
import math
import os
import platform
import sys
import time
import tracemalloc
from pathlib import Path

import linopy
import numpy as np
import pyomo
import scipy

import edgeopt
from edgeopt.families import deployment

sys.path.insert(0, str(Path(__file__).resolve().parent))
from linopy_deployment import build_matrices as linopy_sparse_build  # noqa: E402
from pyomo_algebraic import build as pyomo_build  # noqa: E402

BACKENDS = ("highs", "cpsat", "scip", "pyomo")
TARGET_VARIABLES = 100_000
TARGET_RATIO = 10.0
#: Issue 11: at this size edgeopt's build must not be slower than linopy's.
LINOPY_TARGET_VARIABLES = 1_000_000
#: Growth is called linear when the per-variable time and memory at the largest size are at most this
#: multiple of those at the smallest size of at least TARGET_VARIABLES (slack for a shared machine's noise).
LINEAR_SLACK = 1.5


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


def linopy_dense_build(inst):
    return linopy_sparse_build(inst, sparse=False)


def best_time(fn, inst, repeat: int) -> tuple[float, float]:
    """The best wall time and the best CPU time (this process, every thread) over ``repeat`` builds."""
    best_wall = best_cpu = math.inf
    for _ in range(repeat):
        gc.collect()
        t0, c0 = time.perf_counter(), time.process_time()
        built = fn(inst)
        best_wall = min(best_wall, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
        del built
    return best_wall, best_cpu


def load_average() -> str:
    try:
        return "load average {:.2f} {:.2f} {:.2f} (1, 5, 15 min) on {} cores".format(*os.getloadavg(), os.cpu_count())
    except OSError:
        return "load average not available here"


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
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000, 300_000, 1_000_000],
                    help="target numbers of variables; each instance has at least that many (default: %(default)s)")
    ap.add_argument("--pyomo-up-to", type=int, default=None, metavar="VARIABLES",
                    help="build the Pyomo model only on instances of at most this many variables (about 20 s of CPU "
                         "and 1 GiB per build at 1,000,000; default: every size)")
    ap.add_argument("--linopy-dense", action="store_true",
                    help="time linopy's default dense path (linopy.Model()) instead of its sparse one "
                         "(Model(sparse=True), faster on this model)")
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

    linopy_build = linopy_dense_build if args.linopy_dense else linopy_sparse_build
    linopy_path = "dense, linopy.Model()" if args.linopy_dense else "sparse, linopy.Model(sparse=True)"
    registry, registry_note = registered_backends()
    pyomo_sizes = "every size" if args.pyomo_up_to is None else f"up to {args.pyomo_up_to:,} variables"
    print(f"edgeopt {edgeopt.__version__}, linopy {linopy.__version__} ({linopy_path}), pyomo "
          f"{pyomo.version.version}, numpy {np.__version__}, scipy {scipy.__version__}, Python "
          f"{platform.python_version()} on {platform.machine()}; build times best of {args.repeat}; Pyomo on "
          f"{pyomo_sizes}; solves with a {args.time_limit:g} s limit up to {args.solve_up_to:,} "
          "variables", flush=True)
    print(f"at the start: {load_average()}", flush=True)
    # The first build in a process pays for imports and first calls; pay it before anything is timed.
    warm = edgeopt.generate("deployment", edges=2, models=2, slots=2, seed=args.seed)
    for build in (edgeopt_build, linopy_build, pyomo_build):
        build(warm)

    headers = ["variables", "rows", "nonzeros", "edgeopt s", "linopy s", "pyomo s", "linopy/edgeopt",
               "pyomo/edgeopt", "edgeopt MiB", "linopy MiB", "pyomo MiB", *args.solvers]
    rows, measured, notes = [], [], []
    for target in args.sizes:
        inst = instance_for(target, args.seed)
        _, mf = edgeopt_build(inst)
        n = mf.num_cols
        with_pyomo = args.pyomo_up_to is None or n <= args.pyomo_up_to
        t_edge, c_edge = best_time(edgeopt_build, inst, args.repeat)
        t_linopy, c_linopy = best_time(linopy_build, inst, args.repeat)
        t_pyomo, c_pyomo = best_time(pyomo_build, inst, args.repeat) if with_pyomo else (None, None)
        mem_edge = peak_mib(edgeopt_build, inst)
        mem_linopy = peak_mib(linopy_build, inst)
        mem_pyomo = peak_mib(pyomo_build, inst) if with_pyomo else None
        measured.append(dict(n=n, time=dict(edgeopt=t_edge, linopy=t_linopy, pyomo=t_pyomo),
                             cpu=dict(edgeopt=c_edge, linopy=c_linopy, pyomo=c_pyomo),
                             mib=dict(edgeopt=mem_edge, linopy=mem_linopy, pyomo=mem_pyomo)))
        solve = [solve_cell(inst, s, registry, args.time_limit, notes) if n <= args.solve_up_to else "-"
                 for s in args.solvers]
        rows.append([f"{n:,}", f"{mf.num_rows:,}", f"{mf.A.nnz:,}", f"{t_edge:.3f}", f"{t_linopy:.3f}",
                     _cell(t_pyomo, "{:.3f}"), f"{t_linopy / t_edge:.1f}x",
                     _cell(t_pyomo and t_pyomo / t_edge, "{:.1f}x"), f"{mem_edge:.1f}", f"{mem_linopy:.1f}",
                     _cell(mem_pyomo, "{:.1f}"), *solve])
        print(f"  {inst.name}: {n:,} variables done", file=sys.stderr, flush=True)
    print()
    print(table(headers, rows))
    print()
    print("edgeopt s: formulate() + Model.matrix(); linopy s: the linopy model + Model.matrices (A, b, senses, "
          "bounds, types, c: what its direct HiGHS interface reads); pyomo s: ConcreteModel construction only (no "
          f"solver translation), '-' above --pyomo-up-to ({pyomo_sizes}); x/edgeopt: that builder's time / "
          "edgeopt's; MiB: peak traced memory of one build; solve cells: Result.solve_seconds and status, '-' = "
          "not asked (--solve-up-to), n/a = backend not registered here")
    for note in ([registry_note] if registry_note else []) + notes:
        print(f"note: {note}")
    print(f"at the end of the builds: {load_average()}")
    print()
    print(growth_report(measured))
    print()
    print(pyomo_target_line(measured))
    print(linopy_target_line(measured))
    return 0


def _cell(value, fmt: str) -> str:
    return "-" if value is None else fmt.format(value)


def growth_report(measured: list[dict]) -> str:
    """Wall time, CPU time (microseconds) and memory (bytes) per variable of each builder at each size, and the
    growth lines (judged on CPU time and memory; the wall-time ratio is printed beside them)."""
    builders = ("edgeopt", "linopy", "pyomo")
    headers = ["variables"] + [f"{b} {unit}" for b in builders for unit in ("us/var", "cpu us/var", "B/var")]
    rows = [[f"{m['n']:,}"] + [cell for b in builders for cell in (
        _cell(m["time"][b] and m["time"][b] / m["n"] * 1e6, "{:.3f}"),
        _cell(m["cpu"][b] and m["cpu"][b] / m["n"] * 1e6, "{:.3f}"),
        _cell(m["mib"][b] and m["mib"][b] * 2**20 / m["n"], "{:.0f}"))] for m in measured]
    lines = [table(headers, rows),
             "us/var: best wall time per variable; cpu us/var: best CPU time of the process per variable; B/var: "
             "peak traced bytes per variable"]
    large = [m for m in measured if m["n"] >= TARGET_VARIABLES]
    if len(large) < 2:
        lines.append(f"linear growth: NOT MEASURED (needs two sizes of at least {TARGET_VARIABLES:,} variables)")
        return "\n".join(lines)
    base, top = large[0], large[-1]

    def per_variable(key: str, b: str) -> float:
        return (top[key][b] / top["n"]) / (base[key][b] / base["n"])

    for b in builders:
        if base["time"][b] is None or top["time"][b] is None:
            lines.append(f"linear growth, {b}: not measured at both {base['n']:,} and {top['n']:,} variables")
            continue
        per_cpu, per_mem, per_wall = per_variable("cpu", b), per_variable("mib", b), per_variable("time", b)
        verdict = "linear" if max(per_cpu, per_mem) <= LINEAR_SLACK else "NOT linear"
        lines.append(f"linear growth, {b}: per-variable cost at {top['n']:,} variables / at {base['n']:,}: CPU time "
                     f"{per_cpu:.2f}x, memory {per_mem:.2f}x ({verdict}: both at most {LINEAR_SLACK:g}x); wall time "
                     f"{per_wall:.2f}x")
    return "\n".join(lines)


def pyomo_target_line(measured: list[dict]) -> str:
    claim = f"target: at >= {TARGET_VARIABLES:,} variables edgeopt builds >= {TARGET_RATIO:g}x faster than Pyomo"
    ratios = [m["time"]["pyomo"] / m["time"]["edgeopt"] for m in measured
              if m["n"] >= TARGET_VARIABLES and m["time"]["pyomo"] is not None]
    if not ratios:
        return f"{claim}: NOT MEASURED (no size >= {TARGET_VARIABLES:,} with Pyomo in --sizes / --pyomo-up-to)"
    worst = min(ratios)
    return f"{claim}: {'MET' if worst >= TARGET_RATIO else 'NOT MET'} (ratio {worst:.1f})"


def linopy_target_line(measured: list[dict]) -> str:
    claim = f"target: at {LINOPY_TARGET_VARIABLES:,} variables edgeopt's build is not slower than linopy's"
    at_target = [m for m in measured if m["n"] >= LINOPY_TARGET_VARIABLES]
    if not at_target:
        return f"{claim}: NOT MEASURED (no size >= {LINOPY_TARGET_VARIABLES:,} in --sizes)"
    worst = min(at_target, key=lambda m: m["time"]["linopy"] / m["time"]["edgeopt"])
    ratio = worst["time"]["linopy"] / worst["time"]["edgeopt"]
    cpu_ratio = worst["cpu"]["linopy"] / worst["cpu"]["edgeopt"]
    return (f"{claim}: {'MET' if ratio >= 1.0 else 'NOT MET'} (linopy {worst['time']['linopy']:.3f} s, edgeopt "
            f"{worst['time']['edgeopt']:.3f} s at {worst['n']:,} variables: linopy/edgeopt {ratio:.1f}x; CPU time "
            f"{cpu_ratio:.1f}x)")


if __name__ == "__main__":
    sys.exit(main())
