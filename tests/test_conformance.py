"""Conformance over the registry: every family and every registered (family, solver) pair is checked by
edgeopt.testing, on small bundled instances with their reference values; a new solver is swept in by
registering it. Deliberately broken toy solvers show that the checks catch what they claim to."""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import numpy as np
import pytest

import edgeopt
from edgeopt.comparison.reference import read_solu
from edgeopt.io import instance_from_data
from edgeopt.registry import SOLVERS, register_solver
from edgeopt.result import Result, Status
from edgeopt.solver import Options, Solver, option
from edgeopt.testing import ConformanceError, check_family, check_solver

from conftest import INSTANCES

REFERENCES = read_solu(INSTANCES / "reference.solu")


def _deployment(name: str):
    return edgeopt.load(INSTANCES / "deployment" / f"{name}.json")


def _gap(file: str, k: int):
    return edgeopt.load(INSTANCES / "gap" / f"{file}.txt")[k - 1]


#: Small bundled instances per family: each is solved twice by every solver of the family.
CASES = {
    "deployment": lambda: [_deployment(n) for n in ("tiny-1", "tiny-2", "tiny-3", "small-1", "small-nocloud",
                                                    "infeasible-gpu")],
    "assignment": lambda: [edgeopt.load(INSTANCES / "assignment" / f"assign-{n}.json")
                           for n in ("tiny-1", "tiny-2", "small-1", "small-2")],
    "gap": lambda: [_gap("gap1", 1), _gap("gap1", 2), _gap("gap4", 1)],
    "offloading": lambda: [edgeopt.load(INSTANCES / "offloading" / f"offload-{n}.json")
                           for n in ("tiny-1", "tiny-2", "tiny-3", "small-nocloud", "small-tight")],
    "serving": lambda: [edgeopt.load(INSTANCES / "serving" / f"serving-{n}.json")
                        for n in ("tiny-1", "tiny-2", "small-1", "small-backlog")],
}


def _hundred_models():
    """An assignment instance of 100 models and 4 categories (the catalog's five, each copied 20 times with
    slightly lower quality): far more candidates than the exact enumeration may count or price."""
    data = edgeopt.generate("assignment", prompts=200, models=5, seed=3).data
    models = []
    for k in range(100):
        m = copy.deepcopy(data["models"][k % 5])
        m["name"] = f"{m['name']}-copy{k}"
        for q in m["quality"].values():
            q["clip_max"] = round(q["clip_max"] - 0.01 * (k // 5), 4)
        models.append(m)
    data.update(name="assign-100-models", models=models)
    return instance_from_data(data, "<100 models>")


#: Per family an instance on which every solver would run long without a limit, and the time limit it must
#: honour (model building, candidate counting and bounds included).
LONG = {
    "deployment": lambda: (_deployment("large-2"), 2.0),
    "assignment": lambda: (_hundred_models(), 1.0),
    "gap": lambda: (edgeopt.generate("gap", agents=40, jobs=800, type="D", seed=1), 1.0),
    "offloading": lambda: (edgeopt.generate("offloading", users=300, edges=3, slots=10, models=4, max_configs=None,
                                            seed=1), 1.0),
    "serving": lambda: (edgeopt.load(INSTANCES / "serving" / "serving-large-2.json"), 2.0),
}
#: Where a solver cannot find a plan by design, said here rather than hidden (the cloud-only baseline
#: has nothing to offer when the instance disables the cloud).
NO_PLAN_BY_DESIGN = {("deployment", "cloud-only"): {"small-nocloud"}}
#: A brute force refuses (ValueError naming max_combinations) what the family's long case asks: its long
#: case is the largest bundled instance it accepts, which it cannot finish within the limit.
LONG_BY_DESIGN = {("offloading", "offload-enumerate"): lambda: (
    edgeopt.load(INSTANCES / "offloading" / "offload-small-tight.json"), 0.5)}

PAIRS = [(e.family, e.name) for e in edgeopt.solvers()]


@pytest.fixture(scope="module")
def cases():
    return {kind: make() for kind, make in CASES.items()}


def test_every_family_and_solver_is_covered():
    assert set(CASES) == set(edgeopt.registry.FAMILIES) == set(LONG)
    assert len(PAIRS) == len(set(PAIRS)) >= 20


@pytest.mark.parametrize("kind", sorted(CASES))
def test_family_conforms(kind, cases):
    check_family(kind, cases[kind])


#: The seconds check_solver allows past ``limit x 1.1`` here (its own TIME_SLACK is 2 s, the documented promise):
#: a long case's model building is part of the call and takes several times longer on a loaded machine (pyomo on
#: large-2 under a 2-s limit returned after 5.3 s at load 4.4 on 2 cores). Large overruns (88 s and 34 s past a
#: 3-s limit in issue 19) are still caught here; smaller ones by the tests aimed at them, and
#: test_a_solver_that_ignores_its_time_limit_is_caught keeps the 2 s.
LOADED_MACHINE_SLACK = 15.0


@pytest.mark.parametrize("kind,name", PAIRS, ids=[f"{k}-{n}" for k, n in PAIRS])
def test_solver_conforms(kind, name, cases, monkeypatch):
    import edgeopt.testing.conformance as conformance
    monkeypatch.setattr(conformance, "TIME_SLACK", LOADED_MACHINE_SLACK)
    skip = NO_PLAN_BY_DESIGN.get((kind, name), set())
    long_case = LONG_BY_DESIGN.get((kind, name), LONG[kind])()
    check_solver(kind, name, [i for i in cases[kind] if i.name not in skip], REFERENCES, long_case=long_case)


# -- broken toy solvers: each must be caught --------------------------------------------------------
@pytest.fixture
def toy():
    """Register a toy deployment solver class for one test; take it out of the registry afterwards."""
    registered = []

    def register(cls):
        register_solver(cls)
        registered.append((cls.family, cls.name))
        return cls

    yield register
    for key in registered:
        SOLVERS.pop(key, None)


def _greedy_plan(instance, seed=None):
    return edgeopt.solve(instance, "greedy").solution


def _toy_cases():
    return [_deployment("tiny-2"), _deployment("small-1")]


def test_a_plan_that_breaks_a_constraint_is_caught(toy):
    @toy
    class Overloads(Solver):
        """Toy: sends every request to its own edge, loaded or not."""

        name, family = "toy-overloads", "deployment"

        def run(self, instance, options, *, time_limit, seed, started):
            plan = _greedy_plan(instance)
            local = np.array(instance.demand, dtype=np.int64)
            bad = type(plan)(plan.stored, plan.loaded, local, np.zeros_like(plan.neighbour), np.zeros_like(local))
            return self.plan_result(instance, bad, build_seconds=0.0, solve_seconds=0.0, raw_status="toy")

    with pytest.raises(ConformanceError, match="ended in error: solution from toy-overloads violates"):
        check_solver("deployment", "toy-overloads", _toy_cases(), REFERENCES)


def test_a_solver_that_ignores_its_time_limit_is_caught(toy):
    @toy
    class Sleeps(Solver):
        """Toy: sleeps 4 s whatever its time limit, then returns the greedy plan."""

        name, family = "toy-sleeps", "deployment"

        def run(self, instance, options, *, time_limit, seed, started):
            time.sleep(4.0)
            return self.plan_result(instance, _greedy_plan(instance), build_seconds=0.0, solve_seconds=4.0,
                                    raw_status="toy")

    with pytest.raises(ConformanceError, match=r"took [0-9.]+ s with time_limit=0.5 on 'tiny-2'"):
        check_solver("deployment", "toy-sleeps", [], REFERENCES, long_case=(_deployment("tiny-2"), 0.5))


def test_a_nondeterministic_solver_is_caught(toy):
    draws = np.random.default_rng()  # unseeded on purpose: the bug under test

    @toy
    class Unseeded(Solver):
        """Toy: a random plan that ignores the seed."""

        name, family = "toy-unseeded", "deployment"

        def run(self, instance, options, *, time_limit, seed, started):
            from edgeopt.families.deployment.solvers.baselines import random_plan
            from edgeopt.families.deployment.solvers.routing import route

            for _ in range(50):
                plan = route(instance, *random_plan(instance, draws))
                if plan is not None:
                    return self.plan_result(instance, plan, build_seconds=0.0, solve_seconds=0.0, raw_status="toy")
            return self.no_plan("no routable random plan")

    with pytest.raises(ConformanceError, match="the same seed gave two answers"):
        check_solver("deployment", "toy-unseeded", [_deployment("medium-1")], REFERENCES)


def test_a_heuristic_better_than_the_proven_optimum_is_caught(toy):
    @toy
    class Boasts(Solver):
        """Toy: reports half the evaluator's objective (the evaluator turns the result into an error)."""

        name, family = "toy-boasts", "deployment"

        def run(self, instance, options, *, time_limit, seed, started):
            res = self.plan_result(instance, _greedy_plan(instance), build_seconds=0.0, solve_seconds=0.0,
                                   raw_status="toy")
            return res.with_(objective=res.objective / 2)

    with pytest.raises(ConformanceError, match="reports objective .* but the evaluator computes"):
        check_solver("deployment", "toy-boasts", _toy_cases(), REFERENCES)


def test_a_bound_beyond_the_proven_optimum_is_caught(toy):
    @toy
    class Overbounds(Solver):
        """Toy: the greedy plan with its own cost as the bound, though it gives no bound."""

        name, family = "toy-overbounds", "deployment"

        def run(self, instance, options, *, time_limit, seed, started):
            res = self.plan_result(instance, _greedy_plan(instance), build_seconds=0.0, solve_seconds=0.0,
                                   raw_status="toy")
            return res.with_(bound=res.objective)

    with pytest.raises(ConformanceError) as caught:
        check_solver("deployment", "toy-overbounds", [_deployment("small-1")], REFERENCES)
    text = str(caught.value)
    assert "is beyond the proven optimum" in text and "not registered as giving one" in text


def test_a_false_claim_of_optimality_or_infeasibility_is_caught(toy):
    @toy
    class Claims(Solver):
        """Toy: the greedy plan, claimed optimal; and infeasible where there is no cloud."""

        name, family = "toy-claims", "deployment"

        def run(self, instance, options, *, time_limit, seed, started):
            if not instance.cloud_enabled:
                return Result(Status.INFEASIBLE, self.name, raw_status="toy")
            res = self.plan_result(instance, _greedy_plan(instance), build_seconds=0.0, solve_seconds=0.0,
                                   raw_status="toy")
            return res.with_(status=Status.OPTIMAL)

    with pytest.raises(ConformanceError) as caught:
        check_solver("deployment", "toy-claims", [_deployment("small-1"), _deployment("small-nocloud")], REFERENCES)
    text = str(caught.value)
    assert "claims optimal at" in text and "a heuristic claims a proof of optimality" in text
    assert "a heuristic claims the instance infeasible" in text


def test_an_option_accepted_blindly_is_caught(toy):
    @toy
    class Lax(Solver):
        """Toy: takes any keyword at all."""

        name, family = "toy-lax", "deployment"

        @classmethod
        def parse_options(cls, options):
            return Options()

        def run(self, instance, options, *, time_limit, seed, started):
            return self.plan_result(instance, _greedy_plan(instance), build_seconds=0.0, solve_seconds=0.0,
                                    raw_status="toy")

    with pytest.raises(ConformanceError, match="accepted an unknown option"):
        check_solver("deployment", "toy-lax", _toy_cases(), REFERENCES)


def test_a_conforming_toy_passes(toy):
    @dataclass(frozen=True)
    class Tries(Options):
        tries: int = option(2, at_least=1)

    @toy
    class Fine(Solver):
        """Toy: the greedy plan, honestly."""

        name, family, Options = "toy-fine", "deployment", Tries

        def run(self, instance, options, *, time_limit, seed, started):
            plan = _greedy_plan(instance)
            if plan is None:
                return self.no_plan("greedy found none")
            return self.plan_result(instance, plan, build_seconds=0.0, solve_seconds=0.0, raw_status="toy")

    check_solver("deployment", "toy-fine", _toy_cases(), REFERENCES, long_case=(_deployment("tiny-1"), 0.5))
    with pytest.raises(ValueError, match="option tries: must be >= 1, got 0"):
        edgeopt.solve(_deployment("tiny-1"), "toy-fine", tries=0)
