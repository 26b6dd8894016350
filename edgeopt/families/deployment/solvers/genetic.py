"""The seed paper's model-level decision selection as a genetic algorithm (``genetic-paper``), and the
same algorithm improved where measurements showed it loses (``genetic``).

**genetic-paper**, the paper's method as first written here, unchanged. One individual is a whole
deployment decision: a gene per (edge, model, slot), 0 = absent, 1 = stored, 2 = stored and loaded. The
request routing is not part of the genome; it follows from the loaded models by the greedy of
:mod:`edgeopt.families.deployment.solvers.routing`, so the algorithm searches only the model-level
decisions, as the paper does. Each generation:

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

**genetic**, the same genome, fitness, repair, first population, tournaments, mutation and elitism, with
two changes (docs/heuristics.md has the measurements behind them: the paper's generations leave plans
that single-row rescheduling and two-row exchanges still improve by up to 3.6 %; the repair is not
where it loses):

* crossover takes whole *edges* from one parent or the other (every model of the edge over every slot),
  not (edge, model) rows: capacities are per edge, so an edge keeps a set of models that fitted
  together and was selected together (alone this changes little; beneath the local search it gives
  better starts);
* the best plan the generations found is finished by the local search of
  :mod:`~.local_search` (each (edge, model) row's best schedule by dynamic programming, and exchanges
  of two rows), a memetic step over the same model-level decisions with the same derived routing.
  Its result is not put back into the population: put back, it takes the population over and later
  generations find nothing better.

Without a time limit it runs ``generations`` generations and one local search, deterministically for a
seed. With a time limit it runs rounds: ``generations`` generations (the first round's stop at half the
limit at the latest, leaving the rest to its local search), then a local search of the best plan if it
changed since the last one; rounds go on until the limit or until one improves nothing. The first
round is the run without a limit, so a limit it does not reach never gives a worse plan for the same
seed. The local search stops at the limit too (checked between batches of rows and of moves).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from edgeopt.families.deployment.solvers.baselines import random_plan
from edgeopt.families.deployment.solvers.greedy import greedy_plans
from edgeopt.families.deployment.solvers.local_search import improve
from edgeopt.families.deployment.solvers.routing import assign, context, plan_cost, repair, route, unserved_requests
from edgeopt.registry import register_solver
from edgeopt.solver import Options, Solver, deadline, option, require

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


def edge_crossover(a: np.ndarray, b: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Children (B, E, M, T): uniform crossover of whole edges (every model, every slot) with probability
    ``rate``."""
    B, E = a.shape[:2]
    mixes = rng.random(B) < rate
    from_b = (rng.random((B, E)) < 0.5) & mixes[:, None]
    return np.where(from_b[:, :, None, None], b, a)


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


def next_generation(pop: "Population", genes: np.ndarray, fitness: np.ndarray, options, mutation_rate: float,
                    cross, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One generation: the ``elitism`` fittest kept, the rest children of tournament winners by ``cross``
    (crossover or edge_crossover) and mutation, repaired and priced; (genes, fitness) of the new population."""
    elite = np.argsort(fitness, kind="stable")[:options.elitism]
    n = options.population - options.elitism
    a = genes[tournament(fitness, n, options.tournament_size, rng)]
    b = genes[tournament(fitness, n, options.tournament_size, rng)]
    child_genes, child_fitness = pop.price(mutate(cross(a, b, options.crossover_rate, rng), mutation_rate, rng))
    return np.concatenate([genes[elite], child_genes]), np.concatenate([fitness[elite], child_fitness])


def mutation_rate_for(instance, rate: float | None) -> float:
    """``rate``, or by default one mutation per child on average: a fixed rate per gene would disrupt large
    genomes and leave small ones untouched (docs/heuristics.md)."""
    return 1.0 / (instance.num_edges * instance.num_models * instance.slots) if rate is None else rate


def _plan_or_none(solver, instance, genes: np.ndarray, pop: "Population", *, build: float, solve_seconds: float,
                  raw: str, extra: dict):
    """The routed plan of ``genes`` as the solver's result, or its "no plan" result when it cannot be routed."""
    sol = route(instance, genes >= 1, genes == 2)
    if sol is None:
        return solver.no_plan(f"every plan of {pop.evaluations} evaluated leaves requests that no edge can serve "
                              "and the cloud is disabled", build_seconds=build, solve_seconds=solve_seconds,
                              extra=extra)
    return solver.plan_result(instance, sol, build_seconds=build, solve_seconds=solve_seconds, raw_status=raw,
                              extra=extra)


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
class GeneticPaper(Solver):
    """Genetic algorithm over per-(edge, model, slot) store/load decisions, routing derived greedily (the
    seed paper's model-level decision selection, as first written here)."""

    name, family, Options = "genetic-paper", "deployment", GeneticOptions

    def run(self, instance, options, *, time_limit, seed, started):
        mutation_rate = mutation_rate_for(instance, options.mutation_rate)
        pop = Population(instance)
        build = time.perf_counter() - started
        t1 = time.perf_counter()
        rng = np.random.default_rng(0 if seed is None else seed)
        genes, fitness = pop.price(first_population(instance, options.population, rng))
        best = int(np.argmin(fitness))
        best_genes, best_fitness = genes[best].copy(), float(fitness[best])
        history = [best_fitness]
        stopped = "completed"
        for _ in range(options.generations):
            if time_limit is not None and time.perf_counter() - started >= time_limit:
                stopped = "stopped by the time limit"
                break
            genes, fitness = next_generation(pop, genes, fitness, options, mutation_rate, crossover, rng)
            best = int(np.argmin(fitness))
            if fitness[best] < best_fitness:
                best_genes, best_fitness = genes[best].copy(), float(fitness[best])
            history.append(best_fitness)

        solve_seconds = time.perf_counter() - t1
        extra = {"history": history, "generations": len(history) - 1, "evaluations": pop.evaluations}
        raw = f"{stopped} after {len(history) - 1} generation(s)"
        return _plan_or_none(self, instance, best_genes, pop, build=build, solve_seconds=solve_seconds, raw=raw,
                             extra=extra)


@dataclass(frozen=True)
class ImprovedOptions(GeneticOptions):
    local_search: bool = option(True)  # finish the generations' best plan by the local search


@register_solver
class Genetic(Solver):
    """Genetic algorithm over per-(edge, model, slot) store/load decisions with crossover by edge, its best
    plan finished by a local search over (edge, model) schedules; routing derived greedily."""

    name, family, Options = "genetic", "deployment", ImprovedOptions

    def run(self, instance, options, *, time_limit, seed, started):
        mutation_rate = mutation_rate_for(instance, options.mutation_rate)
        pop = Population(instance)
        build = time.perf_counter() - started
        t1 = time.perf_counter()
        stop = deadline(started, time_limit)
        rng = np.random.default_rng(0 if seed is None else seed)
        genes, fitness = pop.price(first_population(instance, options.population, rng))
        best = int(np.argmin(fitness))
        best_genes, best_fitness = genes[best].copy(), float(fitness[best])
        plan_genes, plan_fitness = best_genes, best_fitness  # the best plan so far, local search included
        history, searches, searched, rounds = [best_fitness], [], None, 0
        while True:
            rounds += 1
            start_fitness = plan_fitness
            # The first round leaves at least half of a time limit to its local search.
            until = stop if rounds > 1 or stop is None or not options.local_search else started + 0.5 * time_limit
            done = 0
            while done < options.generations and (until is None or time.perf_counter() < until):
                genes, fitness = next_generation(pop, genes, fitness, options, mutation_rate, edge_crossover, rng)
                best = int(np.argmin(fitness))
                if fitness[best] < best_fitness:
                    best_genes, best_fitness = genes[best].copy(), float(fitness[best])
                history.append(best_fitness)
                done += 1
            if best_fitness < plan_fitness:
                plan_genes, plan_fitness = best_genes, best_fitness
            searching = options.local_search and (searched is None or not np.array_equal(searched, best_genes))
            if searching and (stop is None or time.perf_counter() < stop):
                searched = best_genes
                found = improve(instance, best_genes, pop.penalty, deadline=stop)
                found_genes, found_fitness = pop.price(found.genes[None])
                searches.append({"start": best_fitness, "end": float(found_fitness[0]), "passes": found.passes,
                                 "columns": found.columns, "stopped": found.stopped})
                if found_fitness[0] < plan_fitness:
                    plan_genes, plan_fitness = found_genes[0], float(found_fitness[0])
            stalled = not plan_fitness < start_fitness
            if stop is None or time.perf_counter() >= stop or stalled:
                break

        solve_seconds = time.perf_counter() - t1
        generations = len(history) - 1
        extra = {"history": history, "generations": generations, "rounds": rounds, "local_search": searches,
                 "evaluations": pop.evaluations}
        limited = stop is not None and time.perf_counter() >= stop
        raw = (f"{'stopped by the time limit' if limited else 'completed'} after {generations} generation(s) and "
               f"{len(searches)} local search(es) in {rounds} round(s)"
               + (", the last improving nothing" if stalled and rounds > 1 and not limited else ""))
        return _plan_or_none(self, instance, plan_genes, pop, build=build, solve_seconds=solve_seconds, raw=raw,
                             extra=extra)
