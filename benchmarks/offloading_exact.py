"""The offloading family's exact methods side by side: time to prove optimality, or the gap at the time limit.

    python benchmarks/offloading_exact.py [--time-limit 120] [--users 10,30,100,300,1000] [--seed 0] [--whole]

For each user count: a generated instance with 3 edges and 1 slot, the generator's defaults otherwise except
``models=4, max_configs=4`` (every catalog model with at most its four fastest configurations), which gives
users about 12 options each (the mean over the users who ask is printed). Each exact method runs once with
the time limit: offload-miqp (CVXPY + SCIP), offload-oa (outer approximation on HiGHS) and, where the
instance is small enough, offload-enumerate; ``--whole`` adds both MIQP and OA on each slot whole
(``split=False``: no splitting into independent parts). A cell is the wall time of a proof (``1.23 s``), the
gap at the limit (``gap 0.12% @120 s``), or why the method did not run. Every result is verified by the
evaluator (edgeopt.solve); the objectives of proofs must agree to 1e-6.

The target line: 100 users, 3 edges, 12 options per user proved optimal in under 60 s on one thread (each
method is single-threaded: HiGHS with threads=1, SCIP's default, CVXPY's compilation in Python), MET when
every exact method that runs proves it within 60 s.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import edgeopt
from edgeopt.families.offloading.solvers.enumeration import combinations, count_text, groups_of
from edgeopt.text import table

TARGET_USERS, TARGET_SECONDS = 100, 60.0
GENERATOR = dict(edges=3, slots=1, models=4, max_configs=4)


def options_per_user(inst) -> float:
    opts = inst.options(0)
    return float(np.mean([len(opts.of_user[int(u)]) for u in opts.users])) if opts.users.size else 0.0


def run(inst, solver: str, options: dict, limit: float):
    started = time.perf_counter()
    try:
        r = edgeopt.solve(inst, solver, time_limit=limit, **options)
    except ValueError:  # offload-enumerate refuses what it cannot enumerate
        count = sum(combinations(inst, t, g) for t in range(inst.slots) for g in groups_of(inst, t, True))
        return None, f"refused ({count_text(count)} combinations)", None
    wall = time.perf_counter() - started
    if r.status == edgeopt.Status.ERROR:
        return r, f"error: {r.message}", wall
    if r.status == edgeopt.Status.OPTIMAL:
        return r, f"{wall:.2f} s", wall
    gap = "-" if r.gap is None else f"{100 * r.gap:.3g}%"
    return r, f"{r.status.value}, gap {gap} @{wall:.0f} s", wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--time-limit", type=float, default=120.0, help="seconds per method and instance (default 120)")
    ap.add_argument("--users", default="10,30,100,300,1000", help="comma-separated user counts")
    ap.add_argument("--seed", type=int, default=0, help="generator seed")
    ap.add_argument("--whole", action="store_true", help="also solve each slot whole (split=False)")
    args = ap.parse_args()
    methods = [("offload-miqp", {}), ("offload-oa", {}), ("offload-enumerate", {})]
    if args.whole:
        methods[2:2] = [("offload-miqp", {"split": False}), ("offload-oa", {"split": False})]
    labels = [name.replace("offload-", "") + (" (whole slot)" if opts else "") for name, opts in methods]
    edgeopt.solve(edgeopt.generate("offloading", users=3, **GENERATOR), "offload-miqp")  # imports, off the clock
    rows, target = [], None
    for users in (int(u) for u in args.users.split(",")):
        inst = edgeopt.generate("offloading", users=users, seed=args.seed, **GENERATOR)
        opts = inst.options(0)
        cells, proofs, walls = [], [], {}
        for (name, options), label in zip(methods, labels):
            r, text, wall = run(inst, name, options, args.time_limit)
            cells.append(text)
            if r is not None and r.status == edgeopt.Status.OPTIMAL:
                proofs.append(r.objective)
                walls[label] = wall
            elif r is not None:
                walls[label] = None
        agree = "yes" if not proofs or max(proofs) - min(proofs) <= 1e-6 * max(1.0, abs(max(proofs))) else "NO"
        best = max(proofs) if proofs else None
        rows.append([users, opts.users.size, f"{options_per_user(inst):.1f}", opts.num_options, *cells,
                     "-" if best is None else f"{best:.6f}", agree])
        if users == TARGET_USERS:
            target = (options_per_user(inst), walls)
    print(f"offloading, exact methods: 3 edges, 1 slot, {GENERATOR['models']} models, max_configs="
          f"{GENERATOR['max_configs']}, seed {args.seed}; time limit {args.time_limit:g} s per method\n")
    print(table(["users", "asking", "options/user", "options", *labels, "optimum", "agree"], rows,
                align="rrrr" + "r" * len(labels) + "rl"))
    if target is not None:
        mean, walls = target
        met = bool(walls) and all(w is not None and w < TARGET_SECONDS for w in walls.values())
        detail = ", ".join(f"{k} {'not proved' if w is None else f'{w:.2f} s'}" for k, w in walls.items())
        print(f"\ntarget: {TARGET_USERS} users, 3 edges, 12 options per user proved optimal in under "
              f"{TARGET_SECONDS:g} s on one thread: {'MET' if met else 'NOT MET'} ({mean:.1f} options per user; "
              f"{detail})")


if __name__ == "__main__":
    main()
