"""The oracles of tests/oracles.py are checked themselves, against brute force and each other.

tests/oracles.py is the expected value of other tests (test_bundled, test_compare), so it must be right
on its own: the assignment oracle (vertex enumeration) against a brute force over every prompt-level
assignment, the deployment pricing against tests/bruteforce.py's optimum, and the deployment checker
against plans broken on purpose.
"""
from __future__ import annotations

import copy

import pytest

import edgeopt

from bruteforce import brute_force
from conftest import INSTANCES
from oracles import (assignment_brute_force, assignment_optimum, deployment_cost, deployment_violations,
                     read_decisions, solu_values)

SOLU = solu_values(INSTANCES / "reference.solu")

#: Tiny assignment instances (6 prompts, 2 models: 64 prompt-level assignments times the steps grids).
TINY_ASSIGNMENT = {
    **{f"seed{s}": dict(prompts=6, models=2, seed=s) for s in range(4)},
    # With a small latency weight the best plan splits the categories over both models...
    "split": dict(prompts=6, models=["sdxl-base-1.0", "pixart-alpha"], latency_weight=0.02, seed=0),
    # ...unless the GPU memory (25 GB < 21.72 + 11 GB) holds only one of them.
    "split-no-memory": dict(prompts=6, models=["sdxl-base-1.0", "pixart-alpha"], latency_weight=0.02,
                            gpu_memory_gb=25.0, seed=0),
    "three-models": dict(prompts=5, models=3, latency_weight=0.05, seed=1),
}


@pytest.fixture(scope="module")
def tiny_assignment():
    out = {}
    for name, params in TINY_ASSIGNMENT.items():
        inst = edgeopt.generate("assignment", **params)
        out[name] = (inst, assignment_brute_force(inst))
    return out


@pytest.mark.parametrize("name", sorted(TINY_ASSIGNMENT))
def test_assignment_oracle_equals_prompt_level_brute_force(name, tiny_assignment):
    inst, brute = tiny_assignment[name]
    assert assignment_optimum(inst) == pytest.approx(brute, rel=1e-12, abs=1e-12)


def test_tiny_assignment_catalogue_splits_and_binds_memory(tiny_assignment):
    """The catalogue must hold an optimum that needs two models and one that the memory limit changes,
    or the agreement above would not exercise the oracle's maps and its memory check."""
    inst, brute = tiny_assignment["split"]
    assert brute > assignment_brute_force(inst, max_models=1) + 1e-6
    _, limited = tiny_assignment["split-no-memory"]
    assert limited < brute - 1e-6
    assert limited == pytest.approx(assignment_brute_force(inst, max_models=1), rel=1e-12)


@pytest.mark.parametrize("name", ["tiny-1", "tiny-2", "tiny-3"])
def test_deployment_cost_of_an_optimal_plan_is_the_brute_force_optimum(name, tmp_path):
    """HiGHS's plan, read back from its solution file, priced by the oracle: tests/bruteforce.py's optimum
    (an enumeration sharing no code with oracles.py) and reference.solu's =opt=."""
    inst = edgeopt.load(INSTANCES / "deployment" / f"{name}.json")
    result = edgeopt.solve(inst, "highs")
    path = tmp_path / "plan.json"
    edgeopt.save_solution(inst, result, path)
    decisions = read_decisions(path)
    assert deployment_violations(inst, decisions) == []
    assert deployment_cost(inst, decisions) == pytest.approx(brute_force(inst), rel=1e-9)
    assert deployment_cost(inst, path) == pytest.approx(SOLU[name], rel=1e-9)


def test_deployment_checker_names_broken_plans(tmp_path):
    inst = edgeopt.load(INSTANCES / "deployment" / "tiny-2.json")
    path = tmp_path / "plan.json"
    edgeopt.save_solution(inst, edgeopt.solve(inst, "highs"), path)
    plan = read_decisions(path)
    edge_route = next(r for r in plan["routes"] if r["at"] != "cloud")
    assert edge_route["requests"] > 0, "the optimum of tiny-2 serves requests at an edge"

    unloaded = copy.deepcopy(plan)
    for slot in unloaded["slots"]:
        slot["loaded"] = {e: [] for e in slot["loaded"]}
    assert ("serve_where_loaded", (edge_route["region"], edge_route["model"], edge_route["slot"])) \
        in deployment_violations(inst, unloaded)

    short = copy.deepcopy(plan)
    short["routes"] = [r for r in short["routes"] if r != edge_route]
    assert deployment_violations(inst, short) == [
        ("demand", (edge_route["region"], edge_route["model"], edge_route["slot"]))]
    # One request fewer costs less: the pricing sees every route.
    assert deployment_cost(inst, short) < deployment_cost(inst, plan) - 1e-9
