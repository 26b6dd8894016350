"""Reproduce instances/reference.solu: every value in it is written by this script, with the settings below.

    python instances/solve_reference.py                 # every instance (large-1 and large-2 take long)
    python instances/solve_reference.py tiny-1 gap1-3   # only these; the other lines are kept
    python instances/solve_reference.py --check NAME..  # recompute and compare with the file; exit 1 if any differs

=opt= NAME VALUE     proven optimal
=best= NAME VALUE    best value found within the run's limit ...
=bound= NAME VALUE   ... and the best proven bound beside it
=inf= NAME           proven infeasible
=hash= NAME HASH     the content hash of the instance the values are for (edgeopt's addition to .solu)

How each value is made (``SOLVER``, ``HIGHS_LIMITS``): deployment and gap instances by HiGHS (one thread, mip_rel_gap 0,
mip_abs_gap 1e-9, seed 0), assignment instances by the exact enumeration, offloading instances by the
outer approximation (offload-oa; the tests check offload-miqp agrees); the value written is the
evaluator's objective of the plan the run returns, to 12 significant digits. HiGHS with one thread and a
node limit is deterministic, so a run stopped by ``mip_max_nodes`` (large-2, which no run has proved)
gives the same best value and bound on any machine with the pinned HiGHS; a time limit would not. For large-2 a
second run, the ``groups`` decomposition for one round (``GROUPS_RUNS``; deterministic too), gives a higher
bound: the better value and the better bound of the two runs are written (the groups' bound is a bound of the
MILP, docs/formulations.md, "Decomposition by groups of models"). The
gap optima are also OR-Library's published ones (instances/gap/README.md): ``--check`` compares both.
instances/README.md says how long each run takes.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import edgeopt
from edgeopt.comparison.reference import Reference, comment_lines, read_solu, write_solu

HERE = Path(__file__).resolve().parent
SOLU = HERE / "reference.solu"
#: The copy that ships inside the package, so that references work after a plain `pip install` from any
#: folder; written with SOLU, and kept equal to it (tests/test_reference_script.py).
PACKAGED = HERE.parent / "edgeopt" / "data" / "reference.solu"

#: The solver of each family and its options; per instance, further HiGHS options (a node limit).
SOLVER = {"deployment": "highs", "gap": "highs", "assignment": "enumerate", "offloading": "offload-oa",
          "serving": "hindsight"}
#: Instances no run proves in reasonable time: a deterministic node limit instead of a clock.
HIGHS_LIMITS = {"large-2": {"mip_max_nodes": 300}}
#: Instances whose bound a second deterministic run raises: the ``groups`` decomposition for a number of rounds
#: (no time limit, one thread, seed 0); the bound written is the better one, and so is the value.
GROUPS_RUNS = {"large-2": {"rounds": 1}}

HEADER = ["# Reference values of the bundled instances (MIPLIB .solu style), every one written by",
          "# instances/solve_reference.py (the settings and the run times are in instances/README.md):",
          "# deployment and gap by HiGHS 1.12 (one thread, mip_rel_gap 0, seed 0; large-2 stopped at a node",
          "# limit, its bound from the groups decomposition), assignment by the exact enumeration. gap*: also",
          "# OR-Library's published optima."]


def bundled() -> dict[str, tuple[str, object]]:
    """Every bundled instance by name, with the file it comes from."""
    out = {}
    for kind in ("deployment", "assignment", "offloading", "serving"):
        for f in sorted((HERE / kind).glob("*.json")):
            inst = edgeopt.load(f)
            out[inst.name] = (str(f.relative_to(HERE.parent)), inst)
    for f in sorted((HERE / "gap").glob("*.txt")):
        for inst in edgeopt.load(f):
            out[inst.name] = (str(f.relative_to(HERE.parent)), inst)
    return out


def reference_of(inst) -> tuple[Reference | None, str]:
    """Solve one instance as RUNS says; the reference it proves and a line on how it went."""
    options = {"seed": 0}
    if SOLVER[inst.kind] == "highs" and inst.name in HIGHS_LIMITS:
        options["highs"] = HIGHS_LIMITS[inst.name]
    started = time.perf_counter()
    r = edgeopt.solve(inst, SOLVER[inst.kind], **options)
    took = f"{r.status.value} in {time.perf_counter() - started:.1f} s ({r.raw_status})"
    # The value recorded is the evaluator's price of the plan (the truth) to 12 significant digits: sums
    # of floats carry noise in the last bits (435.99999999999994 for OR-Library's integer optimum 436),
    # and no solver's tolerance comes near 1e-12.
    value = None if r.evaluation is None else float(f"{r.evaluation.objective:.12g}")
    if r.status == edgeopt.Status.OPTIMAL:
        return Reference(inst.name, optimum=value, hash=inst.hash), took
    if r.status == edgeopt.Status.INFEASIBLE:
        return Reference(inst.name, infeasible=True, hash=inst.hash), took
    if value is not None:
        bound = None if r.bound is None else float(f"{r.bound:.12g}")
        if inst.name in GROUPS_RUNS:
            started = time.perf_counter()
            g = edgeopt.solve(inst, "groups", seed=0, **GROUPS_RUNS[inst.name])
            took += f"; groups: {g.status.value} in {time.perf_counter() - started:.1f} s ({g.raw_status})"
            g_value = None if g.evaluation is None else float(f"{g.evaluation.objective:.12g}")
            if g.status == edgeopt.Status.OPTIMAL:
                return Reference(inst.name, optimum=g_value, hash=inst.hash), took
            if g_value is not None and g_value < value:
                value = g_value
            if g.bound is not None and (bound is None or g.bound > bound):
                bound = float(f"{g.bound:.12g}")
        return Reference(inst.name, best=value, bound=bound, hash=inst.hash), took
    return None, took + f": nothing to record ({r.message})"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="*", help="instance names (default: every bundled instance)")
    ap.add_argument("--check", action="store_true", help="compare with the file instead of writing it")
    ap.add_argument("--solu", type=Path, default=SOLU, help="the .solu file (default: instances/reference.solu)")
    args = ap.parse_args(argv)
    instances = bundled()
    unknown = sorted(set(args.names) - set(instances))
    if unknown:
        ap.error(f"no bundled instance named {', '.join(unknown)}")
    refs = read_solu(args.solu) if args.solu.exists() else {}
    differ = 0
    for name in args.names or sorted(instances):
        path, inst = instances[name]
        new, took = reference_of(inst)
        if args.check:
            same = new == refs.get(name)
            differ += not same
            print(f"{name}: {'same' if same else 'DIFFERENT'}: computed {new}, file {refs.get(name)} ({took})",
                  flush=True)
            continue
        print(f"{name} ({path}): {took}: {new}", flush=True)
        if new is not None:
            refs[name] = new
            # After every instance: a long run that is stopped keeps what it proved.
            header = comment_lines(args.solu) if args.solu.exists() else HEADER
            write_solu(args.solu, refs, header)
            if args.solu == SOLU:
                write_solu(PACKAGED, refs, header)
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
