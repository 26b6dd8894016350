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
cloud-only. The population is built, bred, repaired, routed and priced in batched numpy operations, in
chunks (:func:`chunk_size`; one holds the default population of every bundled instance, so chunks change
no default run) with the time limit checked between them: a huge population stops within a chunk's time
of the limit, and what is held beyond the population itself is one chunk's work. A generation cut by the
limit puts its children so far in place of the worst plans of the population before it. The population
is bounded before any work (:data:`MAX_POPULATION` plans and :data:`MAX_POPULATION_GENES` genes in all;
the tournament by :data:`MAX_TOURNAMENT`). The run is deterministic for a seed (``seed=None`` means 0)
when no time limit cuts it short.

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

# -- what the options may cost (issue 19; docs/heuristics.md) ---------------------------------------
#: The most plans a population may hold (option ``population``).
MAX_POPULATION = 100_000
#: The most genes a population may hold in all (``population`` x edges x models x slots): the population
#: and the next one are held as one byte per gene, so about 2 x this many bytes: a generation of
#: MAX_POPULATION plans on large-2 (4,680 genes each) peaked at 0.95 GB (measured).
MAX_POPULATION_GENES = 500_000_000
#: The most individuals a tournament may compare (option ``tournament_size``).
MAX_TOURNAMENT = 1_000
#: A chunk of the population (built, bred and priced together, the time limit checked between chunks) holds
#: at most CHUNK_PLANS plans, CHUNK_GENES genes and CHUNK_CELLS routing cells (a plan's routing holds
#: (edges + regions + routes) x models x slots numbers), and at least one plan: a chunk of large-2 (56 plans)
#: is priced in about 0.3 s and 60 MB, and one chunk holds the default population (40) of every bundled
#: instance, so that chunks change no default run.
CHUNK_PLANS = 256
CHUNK_GENES = 1 << 18
CHUNK_CELLS = 1 << 23


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
        _paint(out.reshape(B * E * M, T), np.ravel_multi_index(starts[:, :3].T, (B, E, M)), starts[:, 3],
               np.minimum(starts[:, 3] + lengths, T), values)
    return out


def _paint(rows: np.ndarray, row: np.ndarray, start: np.ndarray, end: np.ndarray, values: np.ndarray) -> None:
    """Set ``rows[row[k], start[k]:end[k]] = values[k]`` for k = 0, 1, ... in turn (a later run overwrites
    an earlier one), in O(cells x log(slots) + runs) numpy work instead of one Python step per run.

    Each cell takes the value of the last run that covers it. A run is split into two (overlapping) spans of
    a power-of-two length 2^j, recorded as the run's number at level j; going down the levels, a span hands
    its highest run number to its two halves; at level 0 each cell holds the last run covering it."""
    touched, row = np.unique(row, return_inverse=True)
    R, T = touched.size, rows.shape[1]
    k = np.arange(row.size)
    length = end - start
    level = np.zeros(row.size, dtype=np.int64)
    while True:  # floor(log2(length)), exactly in integers
        longer = (length >> (level + 1)) > 0
        if not longer.any():
            break
        level += longer
    last = None
    for j in range(int(level.max()), -1, -1):
        width = T - (1 << j) + 1  # the spans of length 2^j that fit in a row start at 0 .. T - 2^j
        here = np.full((R, width), -1, dtype=np.int64)
        if last is not None:  # the halves of the spans of length 2^(j+1)
            half = 1 << j
            np.maximum(here[:, :last.shape[1]], last, out=here[:, :last.shape[1]])
            np.maximum(here[:, half:half + last.shape[1]], last, out=here[:, half:half + last.shape[1]])
        at = level == j
        np.maximum.at(here, (row[at], start[at]), k[at])
        np.maximum.at(here, (row[at], end[at] - (1 << j)), k[at])
        last = here
    rows[touched] = np.where(last >= 0, values[np.maximum(last, 0)], rows[touched])


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


def _first_members(inst, size: int, rng: np.random.Generator):
    """The first population's plans one by one: greedy, cloud-only, then alternately random feasible plans
    and mutated copies of the greedy plan."""
    plans = [genes_of(*plan) for plan in greedy_plans(inst)]
    greedy = plans[0]
    members = (plans + [np.zeros_like(greedy)])[:size]
    yield from members
    for i in range(len(members), size):
        if i % 2 == 0:
            yield genes_of(*random_plan(inst, rng))
        else:
            yield mutate(greedy[None], SEED_MUTATION_RATE, rng)[0]


def first_population(inst, size: int, rng: np.random.Generator) -> np.ndarray:
    """Greedy, cloud-only, then alternately random feasible plans and mutated copies of the greedy plan."""
    return np.stack(list(_first_members(inst, size, rng)))


def chunk_size(instance) -> int:
    """Plans per chunk: at most CHUNK_PLANS, CHUNK_GENES genes and CHUNK_CELLS routing cells, at least one."""
    per_slot = instance.num_models * instance.slots
    cells = (instance.num_edges + 2 * instance.num_regions + instance.num_pairs) * per_slot
    return max(1, min(CHUNK_PLANS, CHUNK_GENES // (instance.num_edges * per_slot), CHUNK_CELLS // cells))


def priced_first_population(pop: "Population", size: int, rng: np.random.Generator, *, chunk: int,
                            until: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(genes, fitness) of the first population, built and priced ``chunk`` plans at a time; at ``until``
    it stops after the chunk under way (the first chunk, greedy and cloud-only in it, is always priced)."""
    inst = pop.inst
    genes = np.empty((size, inst.num_edges, inst.num_models, inst.slots), dtype=np.int8)
    fitness = np.empty(size)
    members = _first_members(inst, size, rng)
    done = 0
    while done < size:
        if done and until is not None and time.perf_counter() >= until:
            break
        n = min(chunk, size - done)
        genes[done:done + n], fitness[done:done + n] = pop.price(np.stack([next(members) for _ in range(n)]))
        done += n
    return genes[:done], fitness[:done]


def next_generation(pop: "Population", genes: np.ndarray, fitness: np.ndarray, options, mutation_rate: float,
                    cross, rng: np.random.Generator, *, chunk: int | None = None,
                    until: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One generation: the ``elitism`` fittest kept, the rest children of tournament winners by ``cross``
    (crossover or edge_crossover) and mutation, repaired and priced; (genes, fitness) of the new population.

    Children are bred and priced ``chunk`` at a time (all at once by default). At ``until`` the generation
    stops after the chunk under way: its children so far replace the worst plans of the old population,
    in place (``genes`` and ``fitness`` are changed), so that a cut costs no copy of the population."""
    size = options.population
    order = np.argsort(fitness, kind="stable")
    keep = min(options.elitism, fitness.size)
    n = size - options.elitism
    chunk = max(1, n) if chunk is None else chunk
    new_genes = np.empty((size,) + genes.shape[1:], dtype=genes.dtype)
    new_fitness = np.empty(size)
    # np.take(out=, mode="clip") gathers rows in place: a fancy index (or mode="raise") holds one more copy.
    np.take(genes, order[:keep], axis=0, out=new_genes[:keep], mode="clip")
    new_fitness[:keep] = fitness[order[:keep]]
    filled = keep
    while filled < keep + n:
        if filled > keep and until is not None and time.perf_counter() >= until:
            break
        c = min(chunk, keep + n - filled)
        a = genes[tournament(fitness, c, options.tournament_size, rng)]
        b = genes[tournament(fitness, c, options.tournament_size, rng)]
        new_genes[filled:filled + c], new_fitness[filled:filled + c] = pop.price(
            mutate(cross(a, b, options.crossover_rate, rng), mutation_rate, rng))
        filled += c
    if filled == size:
        return new_genes, new_fitness
    # Cut short (or bred from a first population the limit cut short): the worst old plans make room.
    made = filled - keep
    room = min(made, fitness.size - keep)
    worst = order[fitness.size - room:]
    genes[worst], fitness[worst] = new_genes[keep:keep + room], new_fitness[keep:keep + room]
    if room < made:
        return (np.concatenate([genes, new_genes[keep + room:filled]]),
                np.concatenate([fitness, new_fitness[keep + room:filled]]))
    return genes, fitness


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
    population: int = option(POPULATION, at_least=2, at_most=MAX_POPULATION)
    generations: int = option(GENERATIONS, at_least=0)
    crossover_rate: float = option(CROSSOVER_RATE, at_least=0.0, at_most=1.0)
    mutation_rate: float | None = option(MUTATION_RATE, at_least=0.0, at_most=1.0)  # None: 1 / genes
    tournament_size: int = option(TOURNAMENT_SIZE, at_least=1, at_most=MAX_TOURNAMENT)
    elitism: int = option(ELITISM, at_least=0)

    def check(self) -> None:
        require(self.elitism < self.population, "elitism", "below population", self.elitism)

    def check_size(self, instance) -> None:
        """The population's genes in all within MAX_POPULATION_GENES (checked before any work)."""
        genes = instance.num_edges * instance.num_models * instance.slots
        most = max(2, MAX_POPULATION_GENES // genes)
        require(self.population <= most, "population",
                f"at most {most:,} on this instance ({genes:,} genes a plan, at most "
                f"{MAX_POPULATION_GENES:,} in all)", self.population)


@register_solver
class GeneticPaper(Solver):
    """Genetic algorithm over per-(edge, model, slot) store/load decisions, routing derived greedily (the
    seed paper's model-level decision selection, as first written here)."""

    name, family, Options = "genetic-paper", "deployment", GeneticOptions

    def run(self, instance, options, *, time_limit, seed, started):
        options.check_size(instance)
        mutation_rate = mutation_rate_for(instance, options.mutation_rate)
        pop = Population(instance)
        build = time.perf_counter() - started
        t1 = time.perf_counter()
        stop, chunk = deadline(started, time_limit), chunk_size(instance)
        rng = np.random.default_rng(0 if seed is None else seed)
        genes, fitness = priced_first_population(pop, options.population, rng, chunk=chunk, until=stop)
        best = int(np.argmin(fitness))
        best_genes, best_fitness = genes[best].copy(), float(fitness[best])
        history = [best_fitness]
        stopped = "completed" if fitness.size == options.population else "stopped by the time limit"
        for _ in range(options.generations):
            if time_limit is not None and time.perf_counter() - started >= time_limit:
                stopped = "stopped by the time limit"
                break
            genes, fitness = next_generation(pop, genes, fitness, options, mutation_rate, crossover, rng,
                                             chunk=chunk, until=stop)
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
        options.check_size(instance)
        mutation_rate = mutation_rate_for(instance, options.mutation_rate)
        pop = Population(instance)
        build = time.perf_counter() - started
        t1 = time.perf_counter()
        stop, chunk = deadline(started, time_limit), chunk_size(instance)
        # The first round leaves at least half of a time limit to its local search.
        first_until = stop if stop is None or not options.local_search else started + 0.5 * time_limit
        rng = np.random.default_rng(0 if seed is None else seed)
        genes, fitness = priced_first_population(pop, options.population, rng, chunk=chunk, until=first_until)
        best = int(np.argmin(fitness))
        best_genes, best_fitness = genes[best].copy(), float(fitness[best])
        plan_genes, plan_fitness = best_genes, best_fitness  # the best plan so far, local search included
        history, searches, searched, rounds = [best_fitness], [], None, 0
        while True:
            rounds += 1
            start_fitness = plan_fitness
            until = stop if rounds > 1 else first_until
            done = 0
            while done < options.generations and (until is None or time.perf_counter() < until):
                genes, fitness = next_generation(pop, genes, fitness, options, mutation_rate, edge_crossover, rng,
                                                 chunk=chunk, until=until)
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
