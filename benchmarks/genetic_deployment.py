"""Where the paper's genetic algorithm loses, measured: repair, operators, the finish of its best plan.

    python benchmarks/genetic_deployment.py [--instances small-nocloud medium-2 medium-3 large-1] [--seed 0]

For each bundled deployment instance, the paper's generations (``genetic-paper``'s defaults) are run
twice from the same seed, once with its crossover of (edge, model) rows and once with ``genetic``'s
crossover of whole edges, and counted as they go:

* the gap of the best plan to the reference (``instances/reference.solu``);
* the share of children the repair changes, and the genes it changes per child; the same share for
  children made by crossover alone (no mutation): what the crossover, not the mutation, breaks;
* the share of children better than both their parents;
* for the best plan at the end: how many (edge, model) rows have a schedule that alone improves it (the
  row move of ``genetic``'s local search, with every other row fixed), and what those gains add up to;
* the plan the local search finishes it to, and that plan's gap.

Every figure is a count or a cost, so it does not depend on the machine or its load.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import edgeopt
from edgeopt.comparison.reference import read_solu
from edgeopt.families.deployment.solvers import genetic as ga
from edgeopt.families.deployment.solvers.local_search import Schedule, improve

ROOT = Path(__file__).resolve().parent.parent


def run(inst, crossover, seed: int):
    rng = np.random.default_rng(seed)
    pop = ga.Population(inst)
    genes, fitness = pop.price(ga.first_population(inst, ga.POPULATION, rng))
    rate = 1.0 / genes[0].size
    n = ga.POPULATION - ga.ELITISM
    repaired, cut, repaired_crossover, better = [], [], [], []
    for _ in range(ga.GENERATIONS):
        elite = np.argsort(fitness, kind="stable")[:ga.ELITISM]
        ia = ga.tournament(fitness, n, ga.TOURNAMENT_SIZE, rng)
        ib = ga.tournament(fitness, n, ga.TOURNAMENT_SIZE, rng)
        crossed = crossover(genes[ia], genes[ib], ga.CROSSOVER_RATE, rng)
        children = ga.mutate(crossed, rate, rng)
        child_genes, child_fitness = pop.price(children)
        # Not part of the run: what the repair would change in the children of crossover alone.
        crossed_repaired, _ = pop.price(crossed)
        repaired_crossover.append((crossed_repaired != crossed).reshape(n, -1).any(axis=1).mean())
        changed = (child_genes != children).reshape(n, -1)
        repaired.append(changed.any(axis=1).mean())
        cut.append(changed.sum(axis=1).mean())
        better.append((child_fitness < np.minimum(fitness[ia], fitness[ib]) - 1e-9).mean())
        genes = np.concatenate([genes[elite], child_genes])
        fitness = np.concatenate([fitness[elite], child_fitness])
    b = int(np.argmin(fitness))
    s = Schedule(inst, genes[b], pop.penalty)
    e, m = (a.ravel() for a in np.indices((inst.num_edges, inst.num_models)))
    gains = np.concatenate([s.best_rows(e[k:k + 64], m[k:k + 64])[1] for k in range(0, e.size, 64)])
    gaining = gains > 1e-7 * fitness[b]
    finished = improve(inst, genes[b], pop.penalty)
    return dict(best=float(fitness[b]), repaired=np.mean(repaired), cut=np.mean(cut),
                repaired_crossover=np.mean(repaired_crossover), better=np.mean(better),
                rows=int(gaining.sum()), of=int(gains.size), gain=float(gains[gaining].sum()),
                finished=finished.cost)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--instances", nargs="+", default=["small-nocloud", "medium-2", "medium-3", "large-1"])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    refs = read_solu(ROOT / "instances" / "reference.solu")
    head = (f"{'instance':<14}{'crossover':<10}{'gap':>8}{'repaired':>10}{'genes':>7}{'by xover':>10}"
            f"{'better':>8}{'rows improvable':>17}{'their gain':>16}{'finished gap':>14}")
    print(head)
    print("-" * len(head))
    for name in args.instances:
        inst = edgeopt.load(ROOT / "instances" / "deployment" / f"{name}.json")
        ref = refs[inst.name].value
        for label, crossover in (("row", ga.crossover), ("edge", ga.edge_crossover)):
            r = run(inst, crossover, args.seed)
            gap = edgeopt.relative_gap(r["best"], ref, inst.sense)
            done = edgeopt.relative_gap(r["finished"], ref, inst.sense)
            print(f"{name:<14}{label:<10}{100 * gap:>7.2f}%{100 * r['repaired']:>9.1f}%{r['cut']:>7.2f}"
                  f"{100 * r['repaired_crossover']:>9.1f}%{100 * r['better']:>7.1f}%"
                  f"{r['rows']:>9} of {r['of']:<5}{r['gain']:>9.1f} ({100 * r['gain'] / r['best']:.1f}%)"
                  f"{100 * done:>13.2f}%", flush=True)
    print("\nrow: genetic-paper's crossover of (edge, model) rows; edge: genetic's crossover of whole edges. "
          "gap: the generations' best plan to the reference; repaired: children the repair changes, genes: "
          "genes it changes per child, by xover: children of crossover alone it would change; better: "
          "children better than both parents; rows improvable: rows whose best schedule alone improves the "
          "best plan, their gain: the sum; finished gap: after genetic's local search.")


if __name__ == "__main__":
    main()
