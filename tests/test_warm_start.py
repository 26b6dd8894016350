"""Warm starts: every exact backend receives a heuristic's plan as its first incumbent.

The oracle is the plan itself: its cost, priced by the evaluator, bounds what a backend that starts from
it may report as its first solution. Each backend is stopped at its first solution (HiGHS and Pyomo at
the root with heuristics off, CP-SAT at its first solution, SCIP at a solution limit of 1); without the
start the same run reports nothing or worse, so the test can tell a start that was used from one dropped.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import edgeopt
from edgeopt.result import Status

ROOT = Path(__file__).resolve().parents[1]
MEDIUM = ROOT / "instances" / "deployment" / "medium-3.json"

#: Options that stop each backend at its first reported solution.
FIRST_SOLUTION = {
    "highs": {"highs": {"mip_max_nodes": 0, "mip_heuristic_effort": 0.0}},
    "pyomo": {"highs": {"mip_max_nodes": 0, "mip_heuristic_effort": 0.0}},
    "cpsat": {"parameters": {"stop_after_first_solution": True}},
    "scip": {"solution_limit": 1},
}


@pytest.fixture(scope="module")
def medium():
    inst = edgeopt.load(MEDIUM)
    return inst, edgeopt.solve(inst, "greedy")


@pytest.mark.parametrize("backend", sorted(FIRST_SOLUTION))
def test_a_backend_starts_from_the_plan_it_is_given(backend, medium):
    inst, greedy = medium
    assert greedy.status == Status.FEASIBLE
    cost = greedy.objective
    cold = edgeopt.solve(inst, backend, time_limit=60, **FIRST_SOLUTION[backend])
    for start in ("greedy", greedy, greedy.solution):
        warm = edgeopt.solve(inst, backend, time_limit=60, warm_start=start, **FIRST_SOLUTION[backend])
        assert warm.objective is not None and warm.status != Status.ERROR, warm.message
        assert warm.objective <= cost * (1 + 1e-9), (backend, warm.objective, cost)
        assert warm.extra["warm_start"].endswith(f"cost {cost:.10g}")
    # Without the start, the first solution of the same run is worse (or there is none): the start was used.
    assert cold.objective is None or cold.objective > cost * (1 + 1e-9), (backend, cold.objective, cost)


def test_a_warm_started_solve_still_proves_the_optimum(medium):
    inst, greedy = medium
    cold = edgeopt.solve(inst, "cpsat", time_limit=120)
    warm = edgeopt.solve(inst, "highs", time_limit=120, warm_start=greedy)
    assert cold.status == warm.status == Status.OPTIMAL
    assert warm.objective == pytest.approx(cold.objective, rel=1e-9)


def test_an_infeasible_plan_is_not_a_start_and_the_solve_goes_on():
    inst = edgeopt.load(ROOT / "instances" / "deployment" / "small-1.json")
    sol = edgeopt.solve(inst, "greedy").solution
    bad = type(sol)(sol.stored, sol.loaded, sol.local, sol.neighbour, sol.cloud * 0)  # requests left unserved
    assert not edgeopt.evaluate(inst, bad).feasible
    r = edgeopt.solve(inst, "highs", warm_start=bad)
    assert r.status == Status.OPTIMAL
    assert "no start" in r.extra["warm_start"] and "violates" in r.extra["warm_start"]


def test_warm_start_refusals_name_the_problem():
    inst = edgeopt.load(ROOT / "instances" / "deployment" / "tiny-1.json")
    with pytest.raises(ValueError, match="this solver itself"):
        edgeopt.solve(inst, "highs", warm_start="highs")
    with pytest.raises(ValueError, match="does not solve|unknown solver"):
        edgeopt.solve(inst, "highs", warm_start="anneal")
    with pytest.raises(ValueError, match="not a deployment solution"):
        edgeopt.solve(inst, "highs", warm_start=np.arange(3))
    with pytest.raises(ValueError, match="does not know option"):
        edgeopt.solve(inst, "greedy", warm_start="cloud-only")


def test_a_gap_backend_starts_from_a_gap_heuristic():
    inst = edgeopt.load(ROOT / "instances" / "gap" / "gap1.txt")[0]
    greedy = edgeopt.solve(inst, "greedy")
    warm = edgeopt.solve(inst, "scip", warm_start="greedy", solution_limit=1)
    assert warm.objective is not None
    assert edgeopt.relative_gap(warm.objective, greedy.objective, inst.sense) <= 1e-12


def run_cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "edgeopt", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def test_the_command_line_takes_a_solver_or_a_solution_file(tmp_path):
    done = run_cli("solve", MEDIUM, "--solver", "greedy", "-o", "start.json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    cost = json.loads((tmp_path / "start.json").read_text())["objective"]
    for start in ("start.json", "greedy"):
        done = run_cli("solve", MEDIUM, "--solver", "cpsat", "--warm-start", start, "--time-limit", "60", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert "warm start  " in done.stdout and f"cost {cost:.10g}" in done.stdout
    done = run_cli("solve", MEDIUM, "--solver", "genetic", "--warm-start", "greedy", cwd=tmp_path)
    assert done.returncode == 2 and "takes no starting plan" in done.stderr and "Traceback" not in done.stderr
    done = run_cli("solve", MEDIUM, "--solver", "highs", "--warm-start", "nowhere.json", cwd=tmp_path)
    assert done.returncode == 2 and "neither a solver" in done.stderr
    other = ROOT / "instances" / "deployment" / "medium-1.json"
    done = run_cli("solve", other, "--solver", "highs", "--warm-start", "start.json", cwd=tmp_path)
    assert done.returncode == 2 and "instance_hash" in done.stderr
