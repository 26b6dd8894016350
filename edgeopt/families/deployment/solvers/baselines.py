"""Baselines every deployment heuristic must beat: everything in the cloud, and random feasible plans.

``cloud-only`` stores and loads nothing and sends every request to the cloud (the plan of an operator
without edge servers); with the cloud disabled it has a plan only if nothing is asked.

``random`` draws, per slot and edge, a seeded random order of the models that some route to the
edge could serve with a saving, loads them in that order while they fit (GPU memory, storage,
backhaul, compute for loads; stored = loaded), routes the requests, and keeps the best of a few
tries. With the cloud disabled each slot first gives every request an edge (the
greedy's coverage step, :func:`~.greedy.cover`); without it a random plan would
almost never serve every request.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from edgeopt.families.deployment.evaluate import evaluate
from edgeopt.families.deployment.instance import Solution, empty_solution
from edgeopt.families.deployment.solvers.greedy import pack
from edgeopt.families.deployment.solvers.routing import context, route
from edgeopt.registry import register_solver
from edgeopt.solver import Options, Solver, option

#: Random plans drawn by ``random``; the best one is returned.
RANDOM_TRIES = 5


def cloud_only_plan(inst) -> Solution:
    """Nothing stored or loaded; every request served in the cloud."""
    sol = empty_solution(inst)
    return Solution(sol.stored, sol.loaded, sol.local, sol.neighbour, np.array(inst.demand, dtype=np.int64))


@register_solver
class CloudOnly(Solver):
    """Store nothing at the edge; serve every request in the cloud."""

    name, family = "cloud-only", "deployment"

    def run(self, instance, options, *, time_limit, seed, started):
        if not instance.cloud_enabled and instance.demand.any():
            return self.no_plan("cloud disabled", solve_seconds=time.perf_counter() - started)
        return self.plan_result(instance, cloud_only_plan(instance), build_seconds=0.0,
                                solve_seconds=time.perf_counter() - started, raw_status="cloud-only plan")


def random_plan(inst, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Stored and loaded (E, M, T) decisions: seeded random loading orders, loaded while they fit."""
    E, M, T = inst.num_edges, inst.num_models, inst.slots
    useful = context(inst).value > 0
    order = rng.permuted(np.broadcast_to(np.arange(M), (T, E, M)), axis=2)
    return pack(inst, order, useful)


@dataclass(frozen=True)
class RandomOptions(Options):
    tries: int = option(RANDOM_TRIES, at_least=1)  # random plans drawn; the best one is returned


@register_solver
class RandomFeasible(Solver):
    """Seeded random loading orders, loaded while capacities fit, routed greedily (best of ``tries``)."""

    name, family, Options = "random", "deployment", RandomOptions

    def run(self, instance, options, *, time_limit, seed, started):
        context(instance)
        build = time.perf_counter() - started
        t1 = time.perf_counter()
        rng = np.random.default_rng(0 if seed is None else seed)
        best, best_cost, done = None, np.inf, 0
        for _ in range(options.tries):
            stored, loaded = random_plan(instance, rng)
            sol = route(instance, stored, loaded)
            done += 1
            if sol is not None:
                cost = evaluate(instance, sol).objective
                if cost < best_cost:
                    best, best_cost = sol, cost
            if time_limit is not None and time.perf_counter() - started >= time_limit:
                break
        extra = {"tries": done}
        if best is None:
            return self.no_plan(f"none of {done} random plans lets every request be served at an edge and the cloud "
                                "is disabled", build_seconds=build, solve_seconds=time.perf_counter() - t1, extra=extra)
        return self.plan_result(instance, best, build_seconds=build, solve_seconds=time.perf_counter() - t1,
                                raw_status=f"best of {done} random plans", extra=extra)
