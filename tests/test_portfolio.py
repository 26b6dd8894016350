"""The ``highs-portfolio`` backend: HiGHS clones racing on one MILP, sharing incumbents.

Oracles: the proven optima of instances/reference.solu (read by tests/oracles.py, not by edgeopt), the
catalogue of tests/test_backends.py (values checked there by enumeration), the evaluator, and the portfolio's own
first run where the point is that a second run under other timings gives the same answer.
"""
from __future__ import annotations

import random
import time
from types import SimpleNamespace

import numpy as np
import pytest

import edgeopt
from edgeopt.backends import portfolio
from edgeopt.result import Status
from edgeopt.testing.conformance import _decisions

from conftest import INSTANCES
from interrupting import ctrl_c_after, no_backend_left
from oracles import solu_values

SOLU = solu_values(INSTANCES / "reference.solu")
NAME = "highs-portfolio"


def _bundled(name: str):
    if name.startswith("gap"):
        file, k = name.split("-")
        return edgeopt.load(INSTANCES / "gap" / f"{file}.txt")[int(k) - 1]
    return edgeopt.load(INSTANCES / "deployment" / f"{name}.json")


@pytest.mark.parametrize("name", ["tiny-1", "small-2", "medium-1", "medium-3", "gap4-3"])
def test_the_portfolio_proves_the_reference_optimum(name):
    inst = _bundled(name)
    r = edgeopt.solve(inst, NAME, seed=1)
    assert r.status == Status.OPTIMAL, r.message
    assert r.objective == pytest.approx(SOLU[name], rel=1e-9, abs=1e-9)
    assert r.evaluation.feasible
    assert r.bound == pytest.approx(SOLU[name], rel=1e-9, abs=1e-9)
    assert "(clone " in r.raw_status


def test_every_catalogue_problem_gets_its_known_answer():
    """Max and min, negative bounds, a continuous column, infeasible and unbounded models (test_backends.py)."""
    import test_backends as tb

    solver = edgeopt.get_solver("deployment", NAME)
    for name, problem in tb.CATALOGUE.items():
        mdl = problem.build()
        mf = mdl.matrix()
        out = solver.solve_matrix(mf, mdl, solver.Options(), time_limit=None, seed=0)
        assert out.status == problem.status, (name, out.status, out.raw_status)
        if problem.status == Status.OPTIMAL:
            assert out.objective == pytest.approx(problem.objective, rel=1e-9, abs=1e-9), name
            tb.check_point(mf, out.x, out.objective)
            assert out.bound == pytest.approx(out.objective, rel=1e-9, abs=1e-6), name
        else:
            assert out.bound is None and out.x is None, name


def test_the_same_seed_proves_the_same_plan_whatever_the_clones_speed(monkeypatch):
    """gap4-2 is a real race (each clone asks ~50-70 times, clone 1 proves first; with lag=4 clone 1's first
    incumbent is handed to clone 0): one clone at a time is slowed at random, which changes which clone runs
    ahead and proves first on the clock; the proven answer stays. (With lag=None, a free race, the same
    slowing gave two different optimal plans in six runs.)"""
    inst = _bundled("gap4-2")
    ask = portfolio._Race.ask
    slowed = {"clone": None, "rng": random.Random(0)}
    seen = {"handed": 0, "asked": {}}

    def slow_ask(self, c, e):
        if c.index == slowed["clone"] and slowed["rng"].random() < 0.5:
            time.sleep(0.01)
        ask(self, c, e)
        seen["handed"] += bool(e.data_in.user_has_solution)
        seen["asked"][c.index] = c.asked

    monkeypatch.setattr(portfolio._Race, "ask", slow_ask)
    answers = []
    for clone in (None, 0, 1):
        slowed.update(clone=clone, rng=random.Random(clone))
        seen.update(handed=0, asked={})
        r = edgeopt.solve(inst, NAME, seed=3, lag=4)
        assert r.status == Status.OPTIMAL and r.objective == pytest.approx(SOLU["gap4-2"], abs=1e-9)
        assert seen["handed"] > 0 and min(seen["asked"].values()) > 4, seen
        answers.append((r.objective, r.bound, r.raw_status, _decisions(inst, r.solution)))
    assert answers[1] == answers[0] and answers[2] == answers[0]


def test_without_a_proof_the_best_incumbent_and_the_tightest_bound_are_kept():
    """_combined over stand-in clones: for min and max, the best objective (first among equals) and the bound
    closest to it, whichever clones hold them."""
    import highspy

    def clone(i, obj, bound, status=highspy.HighsModelStatus.kTimeLimit):
        info = SimpleNamespace(primal_solution_status=2 if obj is not None else 0,
                               objective_function_value=obj if obj is not None else np.inf,
                               mip_dual_bound=bound if bound is not None else -np.inf)
        h = SimpleNamespace(getInfo=lambda: info, getSolution=lambda: SimpleNamespace(col_value=[float(i)]),
                            modelStatusToString=lambda s: str(s))
        return portfolio._Clone(i, i, h, status=status)

    out = portfolio._combined([clone(0, 10.0, 7.0), clone(1, 9.0, 6.0), clone(2, 9.0, 8.0), clone(3, None, None)], 1.0)
    assert (out.status, out.objective, list(out.x), out.bound) == (Status.TIME_LIMIT, 9.0, [1.0], 8.0)
    out = portfolio._combined([clone(0, 10.0, 12.0), clone(1, 11.0, 13.0), clone(2, None, 11.5)], -1.0)
    assert (out.objective, list(out.x), out.bound) == (11.0, [1.0], 11.5)
    out = portfolio._combined([clone(0, None, None, highspy.HighsModelStatus.kInterrupt)], 1.0)
    assert (out.status, out.x, out.bound, out.raw_status) == (Status.TIME_LIMIT, None, None, portfolio.DEADLINE_STOP)


def test_the_time_limit_bounds_the_whole_call_on_large_2():
    """3 s on large-2 (156,000 variables; no backend proves it in minutes): back within the documented
    limit x 1.1 + 2 s plus slack for a loaded machine, with a feasible plan or none, and a valid bound."""
    inst = _bundled("large-2")
    started = time.perf_counter()
    r = edgeopt.solve(inst, NAME, time_limit=3, seed=0)
    wall = time.perf_counter() - started
    assert wall < 3 * 1.1 + 2 + 12, wall
    assert r.status == Status.TIME_LIMIT, (r.status, r.message)
    if r.solution is not None:
        assert r.evaluation.feasible
    if r.bound is not None:  # reference.solu: a plan of 18897.57021 exists
        assert r.bound <= 18897.57021 * (1 + 1e-9)
        assert r.objective is None or r.bound <= r.objective * (1 + 1e-9)


def test_ctrl_c_stops_every_clone():
    """KeyboardInterrupt in the calling thread (tests/interrupting.py), 1 s into a race HiGHS needs ~15 s of one
    core for: it reaches the caller within seconds and every clone's thread ends soon after (none is left
    solving)."""
    inst = edgeopt.generate("gap", agents=5, jobs=40, type="D", seed=1)
    started = time.perf_counter()
    with ctrl_c_after(1.0):
        with pytest.raises(KeyboardInterrupt):
            edgeopt.solve(inst, NAME, seed=0)
        assert time.perf_counter() - started < 1.0 + 4.0
    assert no_backend_left()


def test_a_warm_start_reaches_every_clone():
    """Stopped at the root with heuristics off (as tests/test_warm_start.py does for highs), the portfolio's
    plan is at least as good as the greedy plan it was given, and without it, worse or none."""
    inst = _bundled("medium-3")
    greedy = edgeopt.solve(inst, "greedy")
    root = {"highs": {"mip_max_nodes": 0, "mip_heuristic_effort": 0.0}}
    warm = edgeopt.solve(inst, NAME, time_limit=60, warm_start=greedy, **root)
    cold = edgeopt.solve(inst, NAME, time_limit=60, **root)
    assert warm.objective is not None and warm.objective <= greedy.objective * (1 + 1e-9)
    assert cold.objective is None or cold.objective > greedy.objective * (1 + 1e-9)


@pytest.mark.parametrize("options, words", [
    ({"clones": 9}, "option clones: must be between 1 and 8"),
    ({"clones": 0}, "option clones: must be between 1 and 8"),
    ({"lag": 0}, "option lag: must be >= 1"),
    ({"highs": {"threads": 2}}, "option highs: must be without 'threads'"),
    ({"highs": {"random_seed": 2}}, "option highs: must be without 'random_seed'"),
    ({"highs": {"no_such_option": 1}}, "option highs: HiGHS rejects no_such_option"),
])
def test_options_out_of_range_are_refused_by_name(options, words):
    inst = _bundled("tiny-1")
    with pytest.raises(ValueError, match=words.replace("(", r"\(")):
        edgeopt.solve(inst, NAME, **options)


def test_clone_seeds_derive_from_the_run_seed():
    assert portfolio.clone_seed(None, 0) == 0 and portfolio.clone_seed(7, 0) == 7
    seeds = [portfolio.clone_seed(2**31 - 1, i) for i in range(portfolio.MAX_CLONES)]
    assert len(set(seeds)) == portfolio.MAX_CLONES and all(0 <= s < 2**31 for s in seeds)
