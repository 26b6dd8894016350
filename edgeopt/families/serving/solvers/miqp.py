"""hindsight-miqp: the serving family's second exact method, the hindsight optimum as a convex MIQP through
CVXPY, solved by SCIP (PySCIPOpt), one cell at a time (the windows of window.py over the whole horizon).

Per cell, with the arrays of a :class:`~edgeopt.families.serving.solvers.window.Window`:

    maximise   sum_o (value_o - refusal_o) z_o - sum_{j,r} theta_jr - loading_per_second sum_jm load_m l_jm
               - delay_per_second sum_j B_j                          (+ the refusals of every request, outside)
    subject to sum_{o of r} z_o <= 1                                   per request
               sum_{o of r at the edge with model m} z_o <= y_jm       per (request, model)
               sum_m memory_m y_jm <= capacity                          per slot
               l_jm >= y_jm - y_{j-1,m} (the initial state before j = 0), l >= 0
               B_j >= B_{j-1} + sum_o work_o z_o + sum_m load_m l_jm - slot_seconds, B >= 0
               (sum_{o at j} sqrt(cost_or) z_o)^2 <= theta_jr            (a second-order cone in CVXPY)

the same program as ``hindsight``'s MILP with the squares kept exact instead of cut. SCIP runs with gap 0
and absolute gap 1e-9, one thread; a cell counts as proven only when SCIP says so and the true value of its
plan (window_value) lies within 1e-6 (relative) of SCIP's bound. As offload-miqp: the compilation and SCIP
run in a forked child that Ctrl-C kills at once and that the parent kills ``0.5 s + 5 %`` of the time limit
past the deadline.
"""
from __future__ import annotations

import pickle
import time

import numpy as np

from edgeopt import cvxscip
from edgeopt.cvxscip import PROVEN, TRUE_VALUE_RTOL, solve_maximisation
from edgeopt.families.serving.solvers.exact import (
    ExactOptions,
    greedy_start,
    horizon_result,
)
from edgeopt.families.serving.solvers.window import (
    State,
    Statics,
    Window,
    WindowAnswer,
    build_window,
    window_feasible,
    window_value,
)
from edgeopt.interrupt import run_in_child
from edgeopt.mec import EDGE
from edgeopt.registry import register_solver
from edgeopt.solver import Solver, deadline



def build_problem(w: Window):
    """(problem, z, y): the cell's MIQP in CVXPY (module docstring), without the constant refusals."""
    import scipy.sparse as sp

    from edgeopt.allocation import import_cvxpy

    cp = import_cvxpy()
    L, M, O, R = w.L, w.M, w.O, w.R
    z = cp.Variable(O, boolean=True)
    y = cp.Variable((L, M), boolean=True)
    load = cp.Variable((L, M), nonneg=True)
    backlog = cp.Variable(L, nonneg=True)
    theta = cp.Variable(L * 3, nonneg=True)
    fits = (w.memory <= w.capacity).astype(float)
    one = sp.csr_matrix((np.ones(O), (w.opt_req, np.arange(O))), shape=(R, O))
    constraints = [one @ z <= 1, y <= np.broadcast_to(fits, (L, M)), y @ w.memory <= w.capacity]
    edge = np.flatnonzero(w.place == EDGE)
    if edge.size:
        key = w.opt_req[edge] * M + w.model[edge]
        groups, group_of = np.unique(key, return_inverse=True)
        link = sp.csr_matrix((np.ones(edge.size), (group_of, edge)), shape=(groups.size, O))
        req, mod = groups // M, groups % M
        pick = sp.csr_matrix((np.ones(groups.size), (np.arange(groups.size), w.req_slot[req] * M + mod)),
                             shape=(groups.size, L * M))
        constraints.append(link @ z <= pick @ cp.reshape(y, (L * M,), order="C"))
    previous = cp.vstack([w.loaded0[None, :].astype(float), y[:-1, :]]) if L > 1 else w.loaded0[None, :].astype(float)
    constraints.append(load >= y - previous)
    work = sp.csr_matrix((w.work[edge], (w.opt_slot[edge], edge)), shape=(L, O))
    before = cp.hstack([np.array([w.backlog0]), backlog[:-1]]) if L > 1 else np.array([w.backlog0])
    constraints.append(backlog >= before + work @ z + load @ w.load - w.slot_seconds)
    rows = np.repeat(w.opt_slot * 3, 3) + np.tile(np.arange(3), O)
    cols = np.repeat(np.arange(O), 3)
    roots = sp.csr_matrix((w.root.ravel(), (rows, cols)), shape=(L * 3, O))
    constraints.append(cp.square(roots @ z) <= theta)
    objective = ((w.value - w.refusal[w.opt_req]) @ z - cp.sum(theta) - w.lam_l * cp.sum(load @ w.load)
                 - w.lam_t * cp.sum(backlog))
    return cp.Problem(cp.Maximize(objective), constraints), z, y


def _solve_here(w: Window, until: float | None, seed: int | None) -> dict:
    """Compile the cell with CVXPY and solve it with SCIP here (in the calling process): SCIP's status, z and y
    (None: no solution) and SCIP's bound in the MIQP's own terms (None: none)."""
    if until is not None and time.perf_counter() >= until:
        return {"status": "not started", "z": None, "y": None, "bound": None}
    problem, z, y = build_problem(w)
    out = solve_maximisation(problem, until, seed)
    solved = out["solved"] and z.value is not None and y.value is not None
    return {"status": out["status"], "bound": out["bound"], "nodes": out.get("nodes"),
            "z": np.asarray(z.value, dtype=float) if solved else None,
            "y": np.asarray(y.value, dtype=float) if solved else None}


def solve_cell(w: Window, until: float | None, seed: int | None, grace: float) -> WindowAnswer:
    """One cell in a child process (stoppable by Ctrl-C, killed ``grace`` s past ``until``)."""
    start = greedy_start(w)
    start_value = window_value(w, *start)
    if w.O == 0:
        return WindowAnswer(start[0], start[1], start_value, start_value, True, False, "no option in the cell")
    data = run_in_child(lambda: pickle.dumps(_solve_here(w, until, seed)), deadline=until, grace=grace)
    if data is None:
        return WindowAnswer(start[0], start[1], start_value, None, False, True, "SCIP killed past the time limit")
    out = pickle.loads(data)
    status = out["status"]
    bound = None if out["bound"] is None else out["bound"] + float(w.refusal.sum())
    if out["z"] is None:
        return WindowAnswer(start[0], start[1], start_value, bound, False,
                            status == "timelimit" or status.startswith("not started"), f"SCIP: {status}, no solution")
    z = np.round(out["z"])
    y = np.round(out["y"]).astype(bool)
    choice = np.full(w.R, -1, dtype=np.int64)
    on = np.flatnonzero(z > 0.5)
    choice[w.opt_req[on]] = on
    if window_feasible(w, choice, y) and window_value(w, choice, y) >= start_value:
        value = window_value(w, choice, y)
    else:  # cannot happen with SCIP's tolerances on 0/1 variables; never return a worse plan
        choice, y = start
        value = start_value
    proven = status in PROVEN and bound is not None and bound - value <= TRUE_VALUE_RTOL * max(1.0, abs(value))
    return WindowAnswer(choice, y, value, bound, proven, status == "timelimit", f"SCIP: {status}")


@register_solver
class HindsightMiqp(Solver):
    """Exact hindsight optimum, the second method: per cell the convex MIQP over the whole horizon through
    CVXPY, solved by SCIP at gap 0 (killable on Ctrl-C); must agree with hindsight."""

    name, family, Options = "hindsight-miqp", "serving", ExactOptions
    requires = ("pyscipopt",)
    exact = gives_bound = True

    @classmethod
    def probe(cls) -> str | None:
        return cvxscip.probe()

    def run(self, instance, options, *, time_limit, seed, started):
        cvxscip.prepare()  # before the children are forked: each inherits the imports

        until = deadline(started, time_limit)
        grace = 0.5 + 0.05 * (time_limit or 0.0)
        statics, state = Statics.of(instance), State.initial(instance)
        tables = [instance.options(t) for t in range(instance.slots)]
        windows = [build_window(statics, e, tables, state) for e in range(instance.num_edges)]
        built = time.perf_counter()
        answers = [solve_cell(w, until, seed, grace) for w in windows]
        return horizon_result(self, instance, windows, answers, started=started, built=built)
