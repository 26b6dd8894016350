"""edgeopt.highs.solve_many: independent MILPs solved by one-thread HiGHS runs, several at once.

Oracle: :func:`edgeopt.highs.solve_matrix` on each model alone, a separate path through HiGHS (this process's
own thread, one model at a time) with the same settings.
"""
from __future__ import annotations

import time

import numpy as np
import pytest
import scipy.sparse as sp

import edgeopt
from edgeopt.families.deployment.formulate import formulate
from edgeopt.families.deployment.solvers.groups import Split
from edgeopt.highs import solve_many, solve_matrix
from edgeopt.modeling import MatrixForm
from edgeopt.result import Status

from conftest import INSTANCES
from interrupting import ctrl_c_after, no_backend_left


def _group_models(name: str, models) -> list[MatrixForm]:
    inst = edgeopt.load(INSTANCES / "deployment" / f"{name}.json")
    form = formulate(inst)
    split = Split(inst, form, form.model.matrix())
    return [split.problem(tuple(g))[1] for g in models]


def _infeasible() -> MatrixForm:
    """One integer column in [0, 1] with a row asking for at least 2."""
    return MatrixForm(sense="min", c=np.array([1.0]), offset=0.0, A=sp.csc_matrix(np.array([[1.0]])),
                      row_lo=np.array([2.0]), row_hi=np.array([np.inf]), col_lo=np.array([0.0]),
                      col_hi=np.array([1.0]), integrality=np.array([True]))


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_each_result_is_what_one_solve_alone_gives(workers):
    mfs = _group_models("small-1", [[0], [1], [2], [3], [0, 1], [1, 2, 3]]) + [_infeasible()]
    mfs += _group_models("medium-3", [[0, 2], [1]])
    outs = solve_many(mfs, workers=workers, seed=3)
    assert len(outs) == len(mfs)
    for mf, out in zip(mfs, outs):
        alone = solve_matrix(mf, seed=3)
        assert out.status == alone.status and out.raw_status == alone.raw_status
        if alone.x is None:
            assert out.x is None and out.objective is None and out.bound is None
            continue
        assert out.objective == pytest.approx(alone.objective, rel=1e-12, abs=1e-12)
        assert out.bound == pytest.approx(alone.bound, rel=1e-12, abs=1e-12)
        assert np.array_equal(out.x, alone.x)
    assert outs[6].status == Status.INFEASIBLE


@pytest.mark.parametrize("workers", [1, 2])
def test_a_model_that_would_start_after_the_deadline_is_not_started(workers):
    mfs = _group_models("small-1", [[0], [1]])
    assert solve_many(mfs, workers=workers, until=time.perf_counter() - 1.0) == [None, None]


def test_the_deadline_stops_the_running_solves():
    """large-1's groups of models 11, 0 and 8 take HiGHS about 10, 5 and 5 s each here; with 1 s left the running
    ones are stopped (their own time limit, or edgeopt's stop past the deadline) and a model not started by then
    never is: back well within the slack a loaded machine needs, with no proof claimed for a stopped solve."""
    mfs = _group_models("large-1", [[11], [0], [8]])
    started = time.perf_counter()
    outs = solve_many(mfs, workers=2, until=started + 1.0, seed=0)
    assert time.perf_counter() - started < 1.0 + 12.0
    assert all(out is None or out.status in (Status.TIME_LIMIT, Status.OPTIMAL) for out in outs)
    assert any(out is None or out.status == Status.TIME_LIMIT for out in outs)  # 20 s of work cannot fit in 1 s
    for out in outs:
        if out is not None and out.bound is not None and out.objective is not None:
            assert out.bound <= out.objective + 1e-6


def test_ctrl_c_stops_every_running_solve():
    """KeyboardInterrupt 1 s into two workers' solves of groups HiGHS needs 5-10 s each for: it reaches the caller
    within seconds and no HiGHS thread is left running."""
    mfs = _group_models("large-1", [[11], [0], [8]])
    started = time.perf_counter()
    with ctrl_c_after(1.0):
        with pytest.raises(KeyboardInterrupt):
            solve_many(mfs, workers=2, seed=0)
        assert time.perf_counter() - started < 1.0 + 4.0
    assert no_backend_left()
