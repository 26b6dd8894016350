"""Root gaps and times to prove of the deployment MILP, with and without each addition, side by side.

    python benchmarks/deployment_formulation.py                       # every bundled instance, 60 s per proof
    python benchmarks/deployment_formulation.py large-1 --time-limit 900
    python benchmarks/deployment_formulation.py --no-prove            # root gaps only
    python benchmarks/deployment_formulation.py large-1 --no-root --time-limit 400   # LP gaps and proofs only
    python benchmarks/deployment_formulation.py large-1 large-2 --no-prove --configs plain,+cover,+cycle
    python benchmarks/deployment_formulation.py large-1 --no-root --threads 1,2 --configs plain,+warm,portfolio
    python benchmarks/deployment_formulation.py large-1 large-2 --configs lagrange --lagrange-seconds 600
    python benchmarks/deployment_formulation.py large-1 large-2 --configs groups --groups-seconds 600

Per bundled deployment instance and per configuration (by default ``plain``, ``+compute``, ``+warm`` and
``+compute+warm``; the others with ``--configs``):

- ``plain``: formulate() as it is by default;
- ``+compute``: with the compute cuts (formulate(..., cuts=("compute",)), docs/formulations.md);
- ``+cover``: with the GPU-memory cover cuts (cuts=("cover",)); ``+compute+cover``: both;
- ``+cycle``: the plain model with odd-cycle inequalities separated on its LP relaxation (up to
  ``--cycle-rounds`` rounds of: solve the LP, add the violated ones found by :func:`separate_cycles`); they
  are not a formulate() option (docs/formulations.md, "Odd-cycle cuts: tried, not kept"), so this
  configuration solves the matrix with HiGHS directly (the same settings as the ``highs`` backend), and its
  proof time includes the separation;
- ``+warm``: the plain model with HiGHS started from the plan of ``lns`` (run first; its time is counted);
- ``+compute+warm``: both;
- ``portfolio``: the ``highs-portfolio`` backend, as many one-thread HiGHS clones as ``--threads`` says,
  sharing incumbents (with one thread it is plain HiGHS, so that row is skipped; no root run: it is plain's);
- ``lagrange``: the bound of the ``lagrange`` solver (docs/formulations.md, "Lagrangian relaxation of the slot
  coupling") after ``--lagrange-seconds``, printed in the root columns (its best plan's cost in the proof column):
  the decomposition's bound beside the LP's and HiGHS's root bound;
- ``groups``: the ``groups`` solver (docs/formulations.md, "Decomposition by groups of models") within
  ``--groups-seconds``: its bound in the root columns, the time it took in the root time column, and in the proof
  column its plan's cost, "proved" when its bound meets it; after the row, its bound after each round. With
  ``--threads 1,2`` it runs once per count, its groups solved that many at a time (option ``workers``).

``--threads 1,2`` runs every configuration with one HiGHS thread and then with two (HiGHS's ``threads``;
the portfolio's clones), one after the other, never at the same time.

Columns: the LP relaxation's bound and its root gap (to the reference of instances/reference.solu: the
optimum, or for an instance no run has proved the best bound known, so that the gap shown is a lower
bound on the true one), HiGHS's bound after its root (cuts included; ``mip_max_nodes`` 1: the root node only) and that root
gap, and the time HiGHS took to prove optimality within ``--time-limit`` (seed 0), or its final gap when
it did not. Everything is printed from this one run.
"""
from __future__ import annotations

import argparse
import dataclasses
import itertools
import time
from pathlib import Path

import numpy as np

import edgeopt
from edgeopt.comparison.reference import read_solu
from edgeopt.families.deployment.formulate import Formulation, formulate
from edgeopt.highs import highs_model, solve_matrix

ROOT = Path(__file__).resolve().parent.parent
#: name -> (formulate's cuts, warm start from lns, odd-cycle separation on the LP)
CONFIGS = {"plain": ((), False, False), "+compute": (("compute",), False, False),
           "+cover": (("cover",), False, False), "+compute+cover": (("compute", "cover"), False, False),
           "+cycle": ((), False, True), "+warm": ((), True, False), "+compute+warm": (("compute",), True, False),
           "portfolio": ((), False, False), "lagrange": ((), False, False), "groups": ((), False, False)}
#: What a run without --configs measures; the others are on request.
DEFAULT_CONFIGS = ("plain", "+compute", "+warm", "+compute+warm")


# -- odd-cycle inequalities (docs/formulations.md, "Odd-cycle cuts: tried, not kept") ---------------------------------
def _reach_pairs(inst):
    """The serving entries (the local column block's regions, then the neighbour block's pairs): their region
    and edge, and every pair (a, b) of entries of one region (two edges that can both serve its requests)."""
    region = np.concatenate([np.arange(inst.num_regions), inst.pair_region])
    edge = np.concatenate([inst.region_edge, inst.pair_edge])
    by_region = [np.flatnonzero(region == r) for r in range(inst.num_regions)]
    pairs = np.array([ab for entries in by_region for ab in itertools.combinations(entries, 2)],
                     dtype=np.int64).reshape(-1, 2)
    return region, edge, pairs


def cycle_row(inst, form: Formulation, m: int, nodes, arcs):
    """The odd-cycle inequality of model ``m`` for the edges ``nodes`` (k of them, k odd) and ``arcs[i] =
    (a, b, t)``: serving entries a, b of one region r_i (at nodes[i] and nodes[i+1]) in slot t. Returns
    (columns, coefficients, right-hand side) of

        sum_i (served of r_i at nodes[i] and nodes[i+1] in t_i) / d_{r_i m t_i} - sum_i W_i <= (k - 1) / 2

    with W_i = y_{nodes[i], m, ta} + sum_{ta < t <= tb} z_{nodes[i], m, t}, [ta, tb] the slots of the two arcs
    at nodes[i]."""
    region = np.concatenate([np.arange(inst.num_regions), inst.pair_region])
    serve = np.concatenate([form.blocks["local"].ids, form.blocks["neighbour"].ids])
    y, z = form.blocks["loaded"].ids, form.blocks["load"].ids
    cols, vals = [], []
    k = len(nodes)
    for a, b, t in arcs:
        d = float(inst.demand[region[a], m, t])
        cols += [serve[a, m, t], serve[b, m, t]]
        vals += [1.0 / d, 1.0 / d]
    for i, e in enumerate(nodes):
        ta, tb = sorted((arcs[i - 1][2], arcs[i][2]))
        cols += [y[e, m, ta]] + [z[e, m, t] for t in range(ta + 1, tb + 1)]
        vals += [-1.0] * (1 + tb - ta)
    return np.array(cols, dtype=np.int64), np.array(vals), (k - 1) / 2


def odd_cycles(inst, form: Formulation, x: np.ndarray, seen: set) -> list:
    """Violated odd-cycle inequalities at the LP point ``x`` (heuristic separation): per model, for each slot
    (node weight W_e = y_emt) and for the whole horizon (W_e = y_em0 + sum_{t>0} z_emt, which bounds every
    window's W), an arc between two edges for every region that both can serve, of weight
    1/2 - s + (W_a + W_b)/2 >= 0 (s: the share of the region's requests served at the two); a cycle of odd length
    and weight below 1/2 is a violated inequality. The shortest odd cycle through each edge is found with
    Dijkstra on the bipartite double cover. Rows already in ``seen`` are skipped; new ones are added to it."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import dijkstra

    E, M, T = inst.num_edges, inst.num_models, inst.slots
    region, edge, pairs = _reach_pairs(inst)
    if len(pairs) == 0:
        return []
    serve = np.concatenate([form.blocks["local"].ids, form.blocks["neighbour"].ids])
    d = inst.demand[region].astype(float)  # (R+P, M, T)
    share = np.divide(x[serve], d, out=np.zeros_like(d), where=d > 0)
    s = share[pairs[:, 0]] + share[pairs[:, 1]]  # (pairs, M, T)
    live = d[pairs[:, 0]] > 0
    y, z = x[form.blocks["loaded"].ids], x[form.blocks["load"].ids]
    ea, eb = edge[pairs[:, 0]], edge[pairs[:, 1]]
    found = []
    for m in range(M):
        groups = [(y[:, m, t], [t]) for t in range(T)]
        groups.append((y[:, m, 0] + z[:, m, 1:].sum(axis=1), list(range(T))))
        for w, slots in groups:
            alpha = 0.5 - s[:, m, slots] + ((w[ea] + w[eb]) / 2)[:, None]  # (pairs, slots)
            cand = live[:, m, slots] & (alpha < 0.5 - 1e-6)
            if not cand.any():
                continue
            pi, ti = np.nonzero(cand)
            a = np.minimum(ea[pi], eb[pi])
            b = np.maximum(ea[pi], eb[pi])
            wt = np.maximum(alpha[pi, ti], 0.0) + 1e-9
            best = {}  # (a, b) -> (weight, pair, slot): the lightest arc between two edges
            for key, wv, p, t in zip(zip(a.tolist(), b.tolist()), wt.tolist(), pi.tolist(), ti.tolist()):
                if key not in best or wv < best[key][0]:
                    best[key] = (wv, p, slots[t])
            ka = np.array([k[0] for k in best]), np.array([k[1] for k in best])
            kw = np.array([v[0] for v in best.values()])
            # The double cover: node e on side 0 is e, on side 1 is e + E; every arc changes side.
            g = coo_matrix((np.concatenate([kw, kw]), (np.concatenate([ka[0], ka[0] + E]),
                                                       np.concatenate([ka[1] + E, ka[1]]))), shape=(2 * E, 2 * E))
            starts = np.unique(np.concatenate(ka))
            dist, pred = dijkstra(g.tocsr(), directed=False, indices=starts, return_predecessors=True, limit=0.5)
            for i, e in enumerate(starts.tolist()):
                if not dist[i, e + E] < 0.5 - 1e-6:
                    continue
                walk, v = [e + E], e + E
                while v != e:
                    v = int(pred[i, v])
                    walk.append(v)
                nodes = [v % E for v in reversed(walk)][:-1]  # e, ..., back before e
                if len(set(nodes)) != len(nodes) or len(nodes) < 3:
                    continue  # not a simple cycle: another start finds the simple one inside it
                arcs = []
                for j in range(len(nodes)):
                    u, v = nodes[j], nodes[(j + 1) % len(nodes)]
                    _, p, t = best[(min(u, v), max(u, v))]
                    # Orient the region's two entries as (at nodes[j], at nodes[j + 1]).
                    pa, pb = pairs[p] if edge[pairs[p, 0]] == u else pairs[p][::-1]
                    arcs.append((int(pa), int(pb), int(t)))
                key = (m, frozenset((min(a, b), max(a, b), t) for a, b, t in arcs))
                if key in seen:
                    continue
                cols, vals, rhs = cycle_row(inst, form, m, nodes, arcs)
                if vals @ x[cols] > rhs + 1e-6:
                    seen.add(key)
                    found.append((cols, vals, rhs))
    return found


def separate_cycles(inst, form: Formulation, mf, rounds: int):
    """Up to ``rounds`` rounds of: solve the LP relaxation of ``mf`` (warm from the last basis), add the violated
    odd-cycle inequalities. Returns ``mf`` with every row found, the rows' count and the last LP bound."""
    import highspy
    import scipy.sparse as sp

    h = highs_model(mf.relaxed())
    h.run()
    found, seen = [], set()
    for _ in range(rounds):
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            break
        new = odd_cycles(inst, form, np.asarray(h.getSolution().col_value), seen)
        if not new:
            break
        starts = np.cumsum([0] + [len(c) for c, _, _ in new[:-1]])
        h.addRows(len(new), np.full(len(new), -highspy.kHighsInf), np.array([r for _, _, r in new]),
                  int(sum(len(c) for c, _, _ in new)), starts.astype(np.int32),
                  np.concatenate([c for c, _, _ in new]).astype(np.int32), np.concatenate([v for _, v, _ in new]))
        h.run()
        found += new
    bound = h.getInfo().objective_function_value
    if not found:
        return mf, 0, bound
    rows = sp.csr_matrix((np.concatenate([v for _, v, _ in found]),
                          (np.repeat(np.arange(len(found)), [len(c) for c, _, _ in found]),
                           np.concatenate([c for c, _, _ in found]))), shape=(len(found), mf.num_cols))
    return dataclasses.replace(mf, A=sp.vstack([mf.A, rows]).tocsc(),
                               row_lo=np.concatenate([mf.row_lo, np.full(len(found), -np.inf)]),
                               row_hi=np.concatenate([mf.row_hi, [r for _, _, r in found]])), len(found), bound


def root_gap(bound, reference) -> str:
    return "-" if bound is None or reference is None else f"{100 * (reference - bound) / abs(reference):.3f}%"


def decomposition_row(inst, reference, tag: str, solver: str, seconds: float, workers: int = 1) -> None:
    """One row: a decomposition solver's bound (in the root columns) and its best plan, within ``seconds``; for
    ``groups`` (with ``workers``), its bound after each round below it."""
    t = time.perf_counter()
    r = edgeopt.solve(inst, solver, time_limit=seconds, seed=0, **({"workers": workers} if workers > 1 else {}))
    took = time.perf_counter() - t
    plan = "-" if r.objective is None else (f"proved in {took:.1f} s" if r.status == edgeopt.Status.OPTIMAL
                                            else f"plan {r.objective:.10g} at {took:.0f} s")
    print(f"{inst.name:<14}{solver:<15}{workers:>4}{reference:>14.10g}{'':>14}{'':>9}"
          f"{('-' if r.bound is None else f'{r.bound:.10g}'):>14}{root_gap(r.bound, reference):>9}{took:>8.1f}  "
          f"{plan:<28}{'' if tag == 'opt' else '  (reference: best bound known)'}", flush=True)
    if solver == "groups":
        rounds = zip(r.extra.get("bounds", []), r.extra.get("bound_seconds", []), r.extra.get("largest_group", []))
        print("    rounds: " + "; ".join(f"{b:.10g} at {s:.1f} s (largest group {g})" for b, s, g in rounds), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="*", help="bundled deployment instances (default: all)")
    ap.add_argument("--time-limit", type=float, default=60.0, help="seconds per proof (default 60)")
    ap.add_argument("--root-limit", type=float, default=600.0, help="seconds for HiGHS's root (default 600)")
    ap.add_argument("--lns-seconds", type=float, default=20.0, help="time limit of lns for the warm start")
    ap.add_argument("--cycle-rounds", type=int, default=20, help="separation rounds of +cycle (default 20)")
    ap.add_argument("--threads", default="1", help="HiGHS threads, comma-separated: each configuration is run with "
                                                   "each (default 1; e.g. 1,2)")
    ap.add_argument("--lagrange-seconds", type=float, default=120.0,
                    help="time limit of the lagrange configuration (default 120)")
    ap.add_argument("--groups-seconds", type=float, default=600.0,
                    help="time limit of the groups configuration (default 600)")
    ap.add_argument("--no-prove", action="store_true", help="root gaps only")
    ap.add_argument("--no-root", action="store_true", help="no root node run (LP gaps and proofs only)")
    ap.add_argument("--configs", default=",".join(DEFAULT_CONFIGS),
                    help=f"configurations, comma-separated (default {','.join(DEFAULT_CONFIGS)}; also "
                         f"{','.join(c for c in CONFIGS if c not in DEFAULT_CONFIGS)})")
    args = ap.parse_args()
    refs = read_solu(ROOT / "instances" / "reference.solu")
    paths = sorted((ROOT / "instances" / "deployment").glob("*.json"))
    if args.names:
        paths = [p for p in paths if p.stem in args.names]
    configs = [c for c in args.configs.split(",") if c]
    unknown = [c for c in configs if c not in CONFIGS]
    if unknown:
        ap.error(f"--configs: unknown {', '.join(unknown)}; the configurations are {', '.join(CONFIGS)}")
    try:
        thread_counts = [int(t) for t in args.threads.split(",") if t]
    except ValueError:
        ap.error(f"--threads: comma-separated whole numbers, got {args.threads!r}")
    if not thread_counts or min(thread_counts) < 1:
        ap.error(f"--threads: at least one count, each >= 1, got {args.threads!r}")
    header = (f"{'instance':<14}{'config':<15}{'thr':>4}{'reference':>14}{'LP bound':>14}{'LP gap':>9}{'root bound':>14}"
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
        for name, threads in itertools.product(configs, thread_counts):
            if name == "portfolio" and threads == 1:
                continue  # one clone is plain HiGHS
            if name == "lagrange":
                if threads == thread_counts[0]:  # its subproblems run one thread, one at a time: one row
                    decomposition_row(inst, reference, tag, name, args.lagrange_seconds)
                continue
            if name == "groups":  # its groups are solved `threads` at a time, one thread each
                decomposition_row(inst, reference, tag, name, args.groups_seconds, workers=threads)
                continue
            cuts, warm, cycle = CONFIGS[name]
            t = time.perf_counter()
            form = formulate(inst, cuts=cuts)
            mf = form.model.matrix()
            note = ""
            if cycle:
                mf, count, _ = separate_cycles(inst, form, mf, args.cycle_rounds)
                note = f"  ({count} odd-cycle rows, {time.perf_counter() - t:.1f} s to separate)"
            separation = time.perf_counter() - t
            lp = solve_matrix(mf.relaxed())
            root_bound, root_s = None, 0.0
            if not warm and name != "portfolio" and not args.no_root:  # the portfolio's root is plain's
                t = time.perf_counter()
                root = solve_matrix(mf, time_limit=args.root_limit, seed=0, threads=threads,
                                    options={"mip_max_nodes": 1})
                root_s, root_bound = time.perf_counter() - t, root.bound
            proof = "-"
            if not args.no_prove:
                t = time.perf_counter()
                if cycle:  # the rows are no formulate() option: HiGHS on the matrix, as the highs backend runs it
                    r = solve_matrix(mf, time_limit=max(1e-3, args.time_limit - separation), seed=0, threads=threads)
                    optimal, gap = r.status == edgeopt.Status.OPTIMAL, edgeopt.relative_gap(r.objective, r.bound, "min")
                    took = time.perf_counter() - t + separation
                else:
                    options = {"formulation": {"cuts": cuts}} if cuts else {}
                    if warm:
                        options["warm_start"] = edgeopt.solve(inst, "lns", seed=0, time_limit=args.lns_seconds)
                    if name == "portfolio":
                        r = edgeopt.solve(inst, "highs-portfolio", time_limit=args.time_limit, seed=0, clones=threads)
                    else:
                        r = edgeopt.solve(inst, "highs", time_limit=args.time_limit, seed=0, threads=threads, **options)
                    optimal, gap = r.status == edgeopt.Status.OPTIMAL, r.gap
                    took = time.perf_counter() - t
                gap = float("nan") if gap is None else 100 * gap
                proof = f"proved in {took:.1f} s" if optimal else f"{r.status.value}, gap {gap:.3f}% at {took:.0f} s"
            print(f"{inst.name:<14}{name:<15}{threads:>4}{reference:>14.10g}{lp.objective:>14.10g}"
                  f"{root_gap(lp.objective, reference):>9}"
                  f"{('-' if root_bound is None else f'{root_bound:.10g}'):>14}{root_gap(root_bound, reference):>9}"
                  f"{root_s:>8.1f}  {proof:<28}{'' if tag == 'opt' else '  (reference: best bound known)'}{note}",
                  flush=True)
    print("\nLP gap, root gap: (reference - bound) / reference; root: HiGHS with mip_max_nodes 1, the root node (its cuts "
          "included); +warm: started from lns's plan (lns's time included in the proof time); +cycle: the LP and root "
          "are of the model with the separated rows, the proof time includes the separation; thr: HiGHS threads "
          "(portfolio: clones); lagrange, groups: the bound in the root columns, the time taken in root s, the best plan's "
          "cost (or the proof) in the last")


if __name__ == "__main__":
    main()
