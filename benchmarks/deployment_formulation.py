"""Root gaps and times to prove of the deployment MILP, with and without each addition, side by side.

    python benchmarks/deployment_formulation.py                       # every bundled instance, 60 s per proof
    python benchmarks/deployment_formulation.py large-1 --time-limit 900
    python benchmarks/deployment_formulation.py --no-prove            # root gaps only

Per bundled deployment instance and per configuration:

- ``plain``: formulate() as it is by default;
- ``+compute``: with the compute cuts (formulate(..., cuts=("compute",)), docs/formulations.md);
- ``+warm``: the plain model with HiGHS started from the plan of ``lns`` (run first; its time is counted);
- ``+compute+warm``: both.

Columns: the LP relaxation's bound and its root gap (to the reference of instances/reference.solu: the
optimum, or for an instance no run has proved the best bound known, so that the gap shown is a lower
bound on the true one), HiGHS's bound after its root (cuts included; ``mip_max_nodes`` 1: the root node only) and that root
gap, and the time HiGHS took to prove optimality within ``--time-limit`` (one thread, seed 0), or its
final gap when it did not. Everything is printed from this one run.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import edgeopt
from edgeopt.comparison.reference import read_solu
from edgeopt.families.deployment.formulate import formulate
from edgeopt.highs import solve_matrix

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = {"plain": ((), False), "+compute": (("compute",), False), "+warm": ((), True),
           "+compute+warm": (("compute",), True)}


def root_gap(bound, reference) -> str:
    return "-" if bound is None or reference is None else f"{100 * (reference - bound) / abs(reference):.3f}%"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="*", help="bundled deployment instances (default: all)")
    ap.add_argument("--time-limit", type=float, default=60.0, help="seconds per proof (default 60)")
    ap.add_argument("--root-limit", type=float, default=600.0, help="seconds for HiGHS's root (default 600)")
    ap.add_argument("--lns-seconds", type=float, default=20.0, help="time limit of lns for the warm start")
    ap.add_argument("--no-prove", action="store_true", help="root gaps only")
    ap.add_argument("--configs", default=",".join(CONFIGS), help="configurations, comma-separated")
    args = ap.parse_args()
    refs = read_solu(ROOT / "instances" / "reference.solu")
    paths = sorted((ROOT / "instances" / "deployment").glob("*.json"))
    if args.names:
        paths = [p for p in paths if p.stem in args.names]
    configs = [c for c in args.configs.split(",") if c]
    header = (f"{'instance':<14}{'config':<15}{'reference':>14}{'LP bound':>14}{'LP gap':>9}{'root bound':>14}"
              f"{'root gap':>9}{'root s':>8}  {'proof':<28}")
    print(header)
    print("-" * len(header))
    for path in paths:
        inst = edgeopt.load(path)
        ref = refs.get(inst.name)
        if ref is None or ref.infeasible:
            continue
        reference = ref.optimum if ref.optimum is not None else ref.bound
        tag = "opt" if ref.optimum is not None else "bound"
        for name in configs:
            cuts, warm = CONFIGS[name]
            mf = formulate(inst, cuts=cuts).model.matrix()
            lp = solve_matrix(mf.relaxed())
            root_bound, root_s = None, 0.0
            if not warm:
                t = time.perf_counter()
                root = solve_matrix(mf, time_limit=args.root_limit, seed=0, options={"mip_max_nodes": 1})
                root_s, root_bound = time.perf_counter() - t, root.bound
            proof = "-"
            if not args.no_prove:
                t = time.perf_counter()
                options = {"formulation": {"cuts": cuts}} if cuts else {}
                if warm:
                    options["warm_start"] = edgeopt.solve(inst, "lns", seed=0, time_limit=args.lns_seconds)
                r = edgeopt.solve(inst, "highs", time_limit=args.time_limit, seed=0, **options)
                took = time.perf_counter() - t
                proof = (f"proved in {took:.1f} s" if r.status == edgeopt.Status.OPTIMAL else
                         f"{r.status.value}, gap {100 * (r.gap or float('nan')):.3f}% at {took:.0f} s")
            print(f"{inst.name:<14}{name:<15}{reference:>14.10g}{lp.objective:>14.10g}"
                  f"{root_gap(lp.objective, reference):>9}"
                  f"{('-' if root_bound is None else f'{root_bound:.10g}'):>14}{root_gap(root_bound, reference):>9}"
                  f"{root_s:>8.1f}  {proof:<28}{'' if tag == 'opt' else '  (reference: best bound known)'}",
                  flush=True)
    print("\nLP gap, root gap: (reference - bound) / reference; root: HiGHS with mip_max_nodes 1, the root node (its cuts "
          "included); +warm: started from lns's plan (lns's time included in the proof time)")


if __name__ == "__main__":
    main()
