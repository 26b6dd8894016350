"""The seed paper's model-level decision selection, as a genetic algorithm (registered as ``genetic``).

One individual is a whole deployment decision: a gene per (edge, model, slot), 0 = absent, 1 = stored,
2 = stored and loaded. The request routing is not part of the genome; it follows from the loaded
models by the greedy of :mod:`edgeopt.families.deployment.solvers.routing`, so the algorithm searches only the
model-level decisions, as the paper does. Each generation:

1. every individual is repaired to respect storage, GPU memory, backhaul and the compute of loads
   (:func:`~.routing.repair`; the repaired genes are written back), routed and
   priced: its fitness is the evaluator's objective, plus a penalty larger than any feasible plan
   when the cloud is disabled and some request is left unserved;
2. the ``elitism`` best survive unchanged;
3. the rest are children: two parents picked by tournaments of ``tournament_size`` individuals;
   with probability ``crossover_rate`` a uniform crossover of whole (edge, model) rows (a child takes
   each model's decisions over all slots from one parent, so it inherits coherent plans, not a
   switch in every slot), else a copy of the first parent; then each gene, with probability
   ``mutation_rate`` (by default one over the number of genes; at least one gene per child),
   starts a mutation that sets a random decision over a random run of slots from there: a run,
   because a decision held over several slots pays its download and load once.

The first population holds the greedy plan, the cloud-only plan, random feasible plans and
mutated copies of the greedy plan; with elitism the result is never worse than greedy and
cloud-only. The whole population is repaired, routed and priced in batched numpy operations.
The run is deterministic for a seed (``seed=None`` means 0) when no time limit cuts it short.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from edgeopt.families.deployment.solvers.baselines import random_plan
from edgeopt.families.deployment.solvers.greedy import greedy_plans
from edgeopt.families.deployment.solvers.routing import assign, context, plan_cost, repair, route, unserved_requests
from edgeopt.registry import register_solver
from edgeopt.solver import Options, Solver, option, require

# -- hyperparameters: the defaults of the solver's options -----------------------------------------
POPULATION = 40  # individuals (whole deployment plans) per generation
GENERATIONS = 100  # generations after the first population, unless the time limit stops earlier
CROSSOVER_RATE = 0.9  # probability that a child is a crossover of two parents rather than a copy of one
MUTATION_RATE = None  # per gene, probability that a mutation starts there; None: 1 / genes (one per child)
TOURNAMENT_SIZE = 3  # individuals compared in each tournament that picks a parent
ELITISM = 2  # best individuals copied unchanged into the next generation
SEED_MUTATION_RATE = 0.05  # mutation rate of the greedy plan's copies in the first population


def genes_of(stored: np.ndarray, loaded: np.ndarray) -> np.ndarray:
    """Genes 0 = absent, 1 = stored, 2 = stored and loaded, from the decisions (loaded implies stored)."""
    return (stored | loaded).astype(np.int8) + loaded.astype(np.int8)


def mutate(genes: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Genes (B, E, M, T) where each mutation sets one new decision over a run of slots from its start."""
    out = genes.copy()
    B, E, M, T = genes.shape
    hit = rng.random(genes.shape) < rate
    # Every child changes somewhere: a child equal to its parents would only cost an evaluation.
    lone = np.flatnonzero(~hit.reshape(B, -1).any(axis=1))
    hit.reshape(B, -1)[lone, rng.integers(0, E * M * T, size=lone.size)] = True
    starts = np.argwhere(hit)
    if starts.size:
        lengths = rng.integers(1, T + 1, size=len(starts))
        values = rng.integers(0, 3, size=len(starts)).astype(np.int8)
        slot = np.arange(T)
        for (b, e, m, t), n, v in zip(starts, lengths, values):
            out[b, e, m, (slot >= t) & (slot < t + n)] = v
    return out


def crossover(a: np.ndarray, b: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Children (B, E, M, T): uniform crossover of whole (edge, model) rows with probability ``rate``."""
    B, E, M, _ = a.shape
    mixes = rng.random(B) < rate
    from_b = (rng.random((B, E, M)) < 0.5) & mixes[:, None, None]
    return np.where(from_b[..., None], b, a)


def tournament(fitness: np.ndarray, count: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``count`` winners, each the fittest of ``size`` individuals drawn with replacement."""
    entrants = rng.integers(0, fitness.size, size=(count, size))
    return entrants[np.arange(count), np.argmin(fitness[entrants], axis=1)]


class Population:
    """Repairs, routes and prices whole populations of genes for one instance."""

    def __init__(self, inst):
        self.inst = inst
        ctx = context(inst)
        # Any feasible plan costs less than this: every model held, loaded and downloaded in every slot,
        # every request on its dearest route. An unroutable plan pays it on top, so it always ranks last.
        E, T = inst.num_edges, inst.slots
        holding = float(T * (E * (inst.cost_stored + inst.cost_loaded + inst.cost_load).sum()
                             + inst.cost_download.sum()))
        dearest = max(float(ctx.route_cost.max(initial=0.0)), float(inst.cost_cloud.max(initial=0.0)))
        self.penalty = holding + float(inst.demand.sum()) * dearest + 1.0
        self.unserved_price = ctx.unserved_price
        self.evaluations = 0

    def price(self, genes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(repaired genes, fitness) of a batch of genes (B, E, M, T)."""
        stored, loaded = repair(self.inst, genes >= 1, genes == 2)
        routing = assign(self.inst, loaded)
        cost = plan_cost(self.inst, stored, loaded, routing)
        unserved = unserved_requests(self.inst, routing)
        bad = (unserved > 0) | ~routing.loads_fit
        fitness = np.where(bad, cost + self.penalty + unserved * self.unserved_price, cost)
        self.evaluations += genes.shape[0]
        return genes_of(stored, loaded), fitness


def first_population(inst, size: int, rng: np.random.Generator) -> np.ndarray:
    """Greedy, cloud-only, then alternately random feasible plans and mutated copies of the greedy plan."""
    plans = [genes_of(*plan) for plan in greedy_plans(inst)]
    greedy = plans[0]
    members = plans + [np.zeros_like(greedy)]
    while len(members) < size:
        if len(members) % 2 == 0:
            members.append(genes_of(*random_plan(inst, rng)))
        else:
            members.append(mutate(greedy[None], SEED_MUTATION_RATE, rng)[0])
    return np.stack(members[:size])


@dataclass(frozen=True)
class GeneticOptions(Options):
    population: int = option(POPULATION, at_least=2)
    generations: int = option(GENERATIONS, at_least=0)
    crossover_rate: float = option(CROSSOVER_RATE, at_least=0.0, at_most=1.0)
    mutation_rate: float | None = option(MUTATION_RATE, at_least=0.0, at_most=1.0)  # None: 1 / genes
    tournament_size: int = option(TOURNAMENT_SIZE, at_least=1)
    elitism: int = option(ELITISM, at_least=0)

    def check(self) -> None:
        require(self.elitism < self.population, "elitism", "below population", self.elitism)


@register_solver
class Genetic(Solver):
    """Genetic algorithm over per-(edge, model, slot) store/load decisions, routing derived greedily (the
    seed paper's model-level decision selection)."""

    name, family, Options = "genetic", "deployment", GeneticOptions

    def run(self, instance, options, *, time_limit, seed, started):
        mutation_rate = options.mutation_rate
        if mutation_rate is None:
            # A fixed rate per gene would disrupt large genomes and leave small ones untouched; one
            # mutation per child on average works across the bundled sizes (docs/heuristics.md).
            mutation_rate = 1.0 / (instance.num_edges * instance.num_models * instance.slots)
        population, elitism = options.population, options.elitism
        pop = Population(instance)
        build = time.perf_counter() - started
        t1 = time.perf_counter()
        rng = np.random.default_rng(0 if seed is None else seed)
        genes, fitness = pop.price(first_population(instance, population, rng))
        best = int(np.argmin(fitness))
        best_genes, best_fitness = genes[best].copy(), float(fitness[best])
        history = [best_fitness]
        stopped = "completed"
        for _ in range(options.generations):
            if time_limit is not None and time.perf_counter() - started >= time_limit:
                stopped = "stopped by the time limit"
                break
            elite = np.argsort(fitness, kind="stable")[:elitism]
            n = population - elitism
            a = genes[tournament(fitness, n, options.tournament_size, rng)]
            b = genes[tournament(fitness, n, options.tournament_size, rng)]
            children = mutate(crossover(a, b, options.crossover_rate, rng), mutation_rate, rng)
            child_genes, child_fitness = pop.price(children)
            genes = np.concatenate([genes[elite], child_genes])
            fitness = np.concatenate([fitness[elite], child_fitness])
            best = int(np.argmin(fitness))
            if fitness[best] < best_fitness:
                best_genes, best_fitness = genes[best].copy(), float(fitness[best])
            history.append(best_fitness)

        solve_seconds = time.perf_counter() - t1
        extra = {"history": history, "generations": len(history) - 1, "evaluations": pop.evaluations}
        raw = f"{stopped} after {len(history) - 1} generation(s)"
        sol = route(instance, best_genes >= 1, best_genes == 2)
        if sol is None:
            return self.no_plan(f"every plan of {pop.evaluations} evaluated leaves requests that no edge can serve "
                                "and the cloud is disabled", build_seconds=build, solve_seconds=solve_seconds,
                                extra=extra)
        return self.plan_result(instance, sol, build_seconds=build, solve_seconds=solve_seconds, raw_status=raw,
                                extra=extra)
