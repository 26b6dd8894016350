"""Pyomo: the matrix form as a Pyomo ConcreteModel, solved with Pyomo's APPSI HiGHS interface.

:func:`to_pyomo` hands the ConcreteModel to users who want to keep working in Pyomo (add a constraint,
write it with Pyomo's writers, solve it with another Pyomo solver):

    model, form = to_pyomo(instance)
    model.x[j]          # column j of the matrix form; form.model.column_names()[j] names it
    model.rows[i]       # row i, built from the CSR row as one LinearExpression
    model.objective

The solver is ``pyomo.contrib.appsi.solvers.Highs``, the class Pyomo registers as ``appsi_highs``
(``SolverFactory('appsi_highs')`` wraps it in Pyomo's legacy interface); the APPSI interface itself
is used for its results: termination condition, best bound and a solution loader.
"""
from __future__ import annotations

import contextlib
import logging
import math
import time
from dataclasses import dataclass

import numpy as np

from edgeopt import registry
from edgeopt.highs import check_highs_options, settle_infeasible_or_unbounded, use_threads
from edgeopt.interrupt import run_stoppable
from edgeopt.backends.milp import MILPOptions, MILPSolver
from edgeopt.modeling import MatrixForm, Outcome
from edgeopt.registry import register_backend
from edgeopt.result import Status
from edgeopt.solver import deadline, option, seconds_left


def _bound(v: float):
    return float(v) if math.isfinite(v) else None


#: Building takes one Pyomo call per row; the clock is read every this many rows.
_ROWS_PER_CHECK = 2048
#: Measured on the bundled large instances: appsi_highs takes about 1.5 times as long to load a model into
#: HiGHS (``set_instance``, which cannot be stopped part-way) as Pyomo took to build it. A solve whose time
#: left cannot cover that stops before loading.
LOAD_PER_BUILD_SECOND = 1.6


class OutOfTime(Exception):
    """The time limit ran out while the Pyomo model was being built or before it could be loaded."""


@contextlib.contextmanager
def _quiet(logger: str):
    log = logging.getLogger(logger)
    level = log.level
    log.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        log.setLevel(level)


def build(mf: MatrixForm, name: str = "edgeopt", deadline: float | None = None):
    """A ConcreteModel of ``mf``: ``x[0..n-1]`` with bounds and domain, ``rows[0..m-1]``, ``objective``.

    Each row is one :class:`~pyomo.core.expr.numeric_expr.LinearExpression` built from its CSR slice,
    which skips Pyomo's operator overloading (no intermediate sum expressions). With a ``deadline``
    (a ``time.perf_counter()`` value) building stops with :class:`OutOfTime` once it has passed.
    """
    import pyomo.environ as pe
    from pyomo.core.expr.numeric_expr import LinearExpression, MonomialTermExpression

    n = mf.num_cols
    model = pe.ConcreteModel(name=name)
    col_lo = [_bound(v) for v in mf.col_lo.tolist()]
    col_hi = [_bound(v) for v in mf.col_hi.tolist()]
    integer = mf.integrality.tolist()
    model.x = pe.Var(range(n), domain=lambda m, j: pe.Integers if integer[j] else pe.Reals,
                     bounds=lambda m, j: (col_lo[j], col_hi[j]))
    xs = [model.x[j] for j in range(n)]

    A = mf.A.tocsr()
    A.sort_indices()
    ptr = A.indptr.tolist()
    # A LinearExpression may hold a bare variable as a term with coefficient 1, which saves building a
    # MonomialTermExpression for most terms of assignment-style rows.
    terms = [xs[j] if v == 1.0 else MonomialTermExpression((v, xs[j]))
             for j, v in zip(A.indices.tolist(), A.data.tolist())]
    row_lo = [_bound(v) for v in mf.row_lo.tolist()]
    row_hi = [_bound(v) for v in mf.row_hi.tolist()]

    def row(m, i):
        if deadline is not None and i % _ROWS_PER_CHECK == 0 and time.perf_counter() > deadline:
            raise OutOfTime
        s, e = ptr[i], ptr[i + 1]
        lo, hi = row_lo[i], row_hi[i]
        if s == e:
            if (lo is None or lo <= 0.0) and (hi is None or hi >= 0.0):
                return pe.Constraint.Skip
            # A row with no terms whose bounds exclude 0 makes the model infeasible. Pyomo refuses a
            # constant constraint, so the row keeps one explicit zero term and the solver proves it.
            body = LinearExpression(constant=0.0, linear_coefs=[0.0], linear_vars=[xs[0]])
        else:
            body = LinearExpression(args=terms[s:e])
        if lo is not None and lo == hi:
            return body == lo
        return (lo, body, hi)

    model.rows = pe.Constraint(range(mf.num_rows), rule=row)
    nz = np.flatnonzero(mf.c)
    sense = pe.minimize if mf.sense == "min" else pe.maximize
    model.objective = pe.Objective(expr=LinearExpression(
        constant=float(mf.offset), linear_coefs=mf.c[nz].tolist(), linear_vars=[xs[j] for j in nz.tolist()]),
        sense=sense)
    return model


def to_pyomo(instance):
    """The instance's MILP as a Pyomo ConcreteModel, with the Formulation that decodes its ``x`` values.

    ``form.decode([model.x[j].value for j in range(len(model.x))])`` turns a Pyomo solution into the
    family's Solution, which ``edgeopt.evaluate`` checks.
    """
    form = registry.family_of(instance).formulate(instance)
    return build(form.model.matrix(), form.model.name), form


@dataclass(frozen=True)
class PyomoOptions(MILPOptions):
    mip_abs_gap: float = option(1e-9, at_least=0)
    #: Any further HiGHS option by its HiGHS name, handed to appsi_highs (checked by HiGHS first).
    highs: dict = option(factory=dict)


@register_backend
class PyomoSolver(MILPSolver):
    """A Pyomo ConcreteModel built from the arrays, solved by appsi_highs (exact; mip_rel_gap 0)."""

    # pyomo.environ (Pyomo's plugins: 0.2-1.7 s the first time) is imported by the availability check, before
    # any clock starts: imported inside build(), it was charged to the first solve's time limit, and tiny-1
    # with --time-limit 2 ended "the time limit ran out while the Pyomo model was being built" (issue 19).
    # scipy.sparse too: imported after Pyomo, it pulls in scipy.stats through Pyomo's deferred-import hook (up to
    # 4.5 s under load), which the first timed build paid.
    name, requires, Options = "pyomo", ("pyomo.environ", "pyomo.contrib.appsi.solvers", "highspy", "scipy.sparse"), \
        PyomoOptions

    @classmethod
    def probe(cls) -> str | None:
        from pyomo.contrib.appsi.solvers import Highs

        return None if Highs().available() else "pyomo's appsi_highs reports HiGHS unavailable"

    def solve_matrix(self, mf, model, options, *, time_limit=None, seed=None, start=None) -> Outcome:
        from pyomo.contrib.appsi.base import TerminationCondition as TC
        from pyomo.contrib.appsi.solvers import Highs

        # APPSI passes HiGHS options on without checking what HiGHS answers, so they are checked first.
        check_highs_options(options.highs)
        started = time.perf_counter()
        try:
            with _quiet("pyomo.core"):  # Pyomo logs an ERROR for the exception that stops the build
                pm = build(mf, getattr(model, "name", "edgeopt"), deadline=deadline(started, time_limit))
        except OutOfTime:
            return Outcome(Status.TIME_LIMIT, "time limit while building the Pyomo model",
                           message="the time limit ran out while the Pyomo model was being built")
        load = LOAD_PER_BUILD_SECOND * (time.perf_counter() - started)
        left = seconds_left(started, time_limit, floor=0.0)
        if left is not None and left < load:
            return Outcome(Status.TIME_LIMIT, "time limit before loading the model into HiGHS",
                           message=f"{left:.2f} s left of the time limit; loading the model into HiGHS through "
                                   f"Pyomo takes about {load:.2f} s here")
        opt = Highs(only_child_vars=True)  # every declared x[j] becomes a HiGHS column, used or not
        opt.config.load_solution = False
        if start is not None:
            # Pyomo's way: the variables' values, handed by appsi_highs to HiGHS's setSolution.
            for j, value in enumerate(np.asarray(start, dtype=float).tolist()):
                pm.x[j].set_value(value, skip_validation=True)
            opt.config.warmstart = True
        opt.config.mip_gap = 0.0
        highs_options = {"output_flag": False, "threads": 1, "mip_abs_gap": float(options.mip_abs_gap)}
        if seed is not None:
            highs_options["random_seed"] = int(seed) % (2 ** 31)
        highs_options.update(options.highs)
        opt.highs_options = highs_options
        use_threads(int(highs_options["threads"]))
        # The HiGHS model exists before the solve starts, so that Ctrl-C or an overrun can stop it
        # (appsi_highs runs HiGHS with its user interrupt on); the solve then finds nothing to update.
        opt.set_instance(pm)
        for check in ("check_for_new_or_removed_constraints", "check_for_new_or_removed_vars",
                      "check_for_new_or_removed_params", "check_for_new_objective", "update_constraints",
                      "update_vars", "update_params", "update_named_expressions", "update_objective"):
            setattr(opt.update_config, check, False)
        until = deadline(started, time_limit)
        left = seconds_left(started, time_limit)
        if left is not None:
            opt.config.time_limit = left  # what loading the model left of the limit

        def run():
            return run_stoppable(lambda: opt.solve(pm), lambda: opt._solver_model.cancelSolve(), deadline=until)

        def rerun(left):
            opt.highs_options = {**highs_options, "presolve": "off"}
            if left is not None:
                opt.config.time_limit = left
            return run()

        try:
            results = run()
            ambiguous = results.termination_condition == TC.infeasibleOrUnbounded
            results = settle_infeasible_or_unbounded(ambiguous, rerun, started, time_limit) or results
            if results.termination_condition == TC.error and not ambiguous:
                # As in edgeopt.highs: once more without presolve and with a feasibility tolerance ten times
                # tighter, where HiGHS failed numerically (in presolve, or at its own tolerance).
                highs_options["mip_feasibility_tolerance"] = 0.1 * float(
                    highs_options.get("mip_feasibility_tolerance", 1e-6))
                left = seconds_left(started, time_limit, floor=0.0)
                if left is None or left > 0:
                    results = rerun(left)
        except Exception as exc:  # APPSI raises plain exceptions for rejected options or models
            return Outcome(Status.ERROR, "solve error", message=f"Pyomo/appsi_highs failed: {exc}")
        return _outcome(results, pm, mf)


def _outcome(results, pm, mf: MatrixForm) -> Outcome:
    """APPSI's results in edgeopt's terms (its termination condition mapped through a local table)."""
    from pyomo.contrib.appsi.base import TerminationCondition as TC

    tc = results.termination_condition
    raw = tc.name
    x = obj = None
    if results.best_feasible_objective is not None:
        values = results.solution_loader.get_primals()
        x = np.array([values[pm.x[j]] for j in range(mf.num_cols)], dtype=float)
        obj = float(results.best_feasible_objective)
    bound = results.best_objective_bound
    bound = float(bound) if bound is not None and math.isfinite(bound) else None
    message = ""
    table = {TC.optimal: Status.OPTIMAL, TC.infeasible: Status.INFEASIBLE, TC.unbounded: Status.UNBOUNDED,
             TC.maxTimeLimit: Status.TIME_LIMIT}
    status = table.get(tc)
    if tc == TC.interrupted:  # only edgeopt cancels the solve: at its deadline (Ctrl-C raises instead)
        status, raw = Status.TIME_LIMIT, "time limit (stopped at edgeopt's deadline)"
    if status is None:
        if x is not None and tc in (TC.maxIterations, TC.objectiveLimit, TC.minStepLength):
            status = Status.FEASIBLE
        else:
            status = Status.ERROR
            message = ("HiGHS proved the model infeasible or unbounded but could not tell which"
                       if tc == TC.infeasibleOrUnbounded else f"Pyomo/appsi_highs stopped with {raw}")
    if status in (Status.INFEASIBLE, Status.UNBOUNDED, Status.ERROR):
        x = obj = bound = None
    return Outcome(status, raw, x=x, objective=obj, bound=bound, message=message)
