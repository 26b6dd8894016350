"""OR-Tools backends: CP-SAT on an exactly integer-scaled copy of the model, and SCIP through MathOpt.

Both read the matrix form (:class:`~edgeopt.modeling.MatrixForm`) and fill the backend's model
protocol buffer with whole arrays (``extend``), never with one modelling-API call per term.
How the model reaches each solver and why CP-SAT's optimum is exact: docs/solvers.md.
"""
from __future__ import annotations

import datetime
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from edgeopt.interrupt import run_in_child, run_stoppable
from edgeopt.backends.milp import MILPOptions, MILPSolver
from edgeopt.modeling import MatrixForm, Outcome, Model
from edgeopt.registry import register_backend
from edgeopt.result import Status
from edgeopt.solver import MAX_THREADS, deadline, option

#: Largest power of ten CP-SAT scaling tries: a coefficient must be a decimal with at most 9 digits after the point.
MAX_DECIMALS = 9
#: Beyond 2**53 a float no longer holds every integer, so a scaled value could not be trusted to be exact.
MAX_EXACT = 2.0 ** 53


def _element_name(blocks: dict | None, index: int, what: str) -> str:
    """``block[i,j]`` for a row or column index, found through the model's blocks (contiguous id ranges)."""
    for block in (blocks or {}).values():
        ids = block.ids
        if ids.size and ids.flat[0] <= index < ids.flat[0] + ids.size:
            idx = np.unravel_index(index - int(ids.flat[0]), ids.shape)
            return f"{block.name}[{','.join(str(int(i)) for i in idx)}]"
    return f"{what} {index}"


def _seed31(seed: int | None) -> int | None:
    # CP-SAT and MathOpt take a non-negative 32-bit seed; any Python int maps onto one deterministically.
    return None if seed is None else int(seed) % (2 ** 31)


# -- exact integer scaling for CP-SAT ----------------------------------------------------------------
def decimal_exponents(values: np.ndarray) -> np.ndarray:
    """Per value, the smallest k <= 9 such that the value is a decimal with k digits after the point, else -1.

    A float is taken as the decimal it was written as: ``v`` has k digits when the decimal
    ``round(v * 10**k) / 10**k``, converted back to the nearest float, lies within 2 units in the last
    place of ``v``. A literal such as ``0.35`` is then exactly that decimal (Python parses literals to
    the nearest float, and the division is correctly rounded), and the noise of a few arithmetic steps
    (``0.1 * 3``) is forgiven; ``1/3`` is refused at every k. A relative test on ``v * 10**k`` itself
    (``|s - round(s)| <= 1e-9 |s|``) would not do: it accepts ``1/3`` at k = 9.
    """
    v = np.asarray(values, dtype=float).ravel()
    k_of = np.full(v.size, -1, dtype=np.int64)
    tol = 2.0 * np.spacing(np.abs(v))
    pending = np.flatnonzero(np.isfinite(v))
    for k in range(MAX_DECIMALS + 1):
        if pending.size == 0:
            break
        p = 10.0 ** k
        w = v[pending]
        ok = np.abs(np.round(w * p) / p - w) <= tol[pending]
        k_of[pending[ok]] = k
        pending = pending[~ok]
    return k_of.reshape(np.shape(values))


class ScalingError(ValueError):
    """The model cannot be made integer exactly; the message names the row or column."""


def _scaled(values: np.ndarray, k: np.ndarray, what: Callable[[int], str]) -> np.ndarray:
    """``values * 10**k`` as exact integers (the decimals' numerators); ``what(i)`` names element i."""
    s = np.round(values * 10.0 ** k)
    too_big = np.abs(s) > MAX_EXACT
    if too_big.any():
        i = int(np.flatnonzero(too_big)[0])
        raise ScalingError(f"{what(i)} {values[i]:.17g} times 10**{int(k[i])} is {s[i]:.17g}, beyond 2**53 "
                           "where floats stop being exact integers")
    return s.astype(np.int64)


def integer_scaling(mf: MatrixForm, model: Model | None = None):
    """The model with every row and the objective multiplied by its own power of ten, all integer.

    Returns ``(indptr, indices, coefficients, row_lo, row_hi, objective, objective_exponent, col_lo, col_hi)``
    as int64 arrays in CSR order (row bounds use +-2**63 for infinite), or raises :class:`ScalingError`
    naming the first row or column that cannot be made integer exactly.
    """
    rows = model.row_blocks if model is not None else None
    cols = model.var_blocks if model is not None else None

    def row_name(i) -> str:
        return "row " + _element_name(rows, int(i), "row")

    def col_name(j) -> str:
        return _element_name(cols, int(j), "column")

    continuous = np.flatnonzero(~mf.integrality)
    if continuous.size:
        raise ScalingError(f"variable {col_name(continuous[0])} is continuous ({continuous.size} continuous in all); "
                           "CP-SAT solves models whose variables are all integer")
    for bound, side in ((mf.col_lo, "lower"), (mf.col_hi, "upper")):
        infinite = np.flatnonzero(~np.isfinite(bound))
        if infinite.size:
            raise ScalingError(f"variable {col_name(infinite[0])} has no {side} bound; CP-SAT needs a finite domain "
                               "for every variable")
        off = np.flatnonzero(decimal_exponents(bound) != 0)
        if off.size:
            j = off[0]
            raise ScalingError(f"variable {col_name(j)} has non-integer {side} bound {bound[j]:.17g}")
    no_scale = np.zeros(mf.num_cols, dtype=np.int64)
    col_lo = _scaled(mf.col_lo, no_scale, lambda j: f"variable {col_name(j)} has lower bound")
    col_hi = _scaled(mf.col_hi, no_scale, lambda j: f"variable {col_name(j)} has upper bound")

    A = mf.A.tocsr()
    A.sort_indices()
    m = mf.num_rows
    row_of = np.repeat(np.arange(m), np.diff(A.indptr))
    k_entry = decimal_exponents(A.data)
    # An infinite bound is no constraint on k: it stands in as 0, which every k makes integer.
    k_lo = decimal_exponents(np.where(np.isfinite(mf.row_lo), mf.row_lo, 0.0))
    k_hi = decimal_exponents(np.where(np.isfinite(mf.row_hi), mf.row_hi, 0.0))
    bad = np.flatnonzero(k_entry < 0)
    if bad.size:
        p = bad[0]
        raise ScalingError(f"{row_name(row_of[p])} has coefficient {A.data[p]:.12g} (on "
                           f"{col_name(A.indices[p])}) which is not a decimal with at most "
                           f"{MAX_DECIMALS} digits after the point")
    for k_b, bound, side in ((k_lo, mf.row_lo, "lower"), (k_hi, mf.row_hi, "upper")):
        bad = np.flatnonzero(k_b < 0)
        if bad.size:
            i = bad[0]
            raise ScalingError(f"{row_name(i)} has {side} bound {bound[i]:.12g} which is not a decimal with at "
                               f"most {MAX_DECIMALS} digits after the point")
    k_row = np.maximum(k_lo, k_hi)
    np.maximum.at(k_row, row_of, k_entry)
    coefficients = _scaled(A.data, k_row[row_of], lambda p: f"{row_name(row_of[p])} has coefficient")
    row_lo = np.full(m, -(2 ** 63), dtype=np.int64)  # CP-SAT's own "no bound"
    row_hi = np.full(m, 2 ** 63 - 1, dtype=np.int64)
    for out, bound, side in ((row_lo, mf.row_lo, "lower"), (row_hi, mf.row_hi, "upper")):
        fin = np.flatnonzero(np.isfinite(bound))
        out[fin] = _scaled(bound[fin], k_row[fin], lambda i, fin=fin, side=side: f"{row_name(fin[i])} has {side} bound")

    c = mf.c
    k_c = decimal_exponents(c)
    bad = np.flatnonzero(k_c < 0)
    if bad.size:
        j = bad[0]
        raise ScalingError(f"the objective has coefficient {c[j]:.12g} on {col_name(j)} which is "
                           f"not a decimal with at most {MAX_DECIMALS} digits after the point")
    k_obj = int(k_c.max()) if c.size else 0
    objective = _scaled(c, np.full(c.size, k_obj), lambda j: f"the objective coefficient on {col_name(j)},")
    return A.indptr, A.indices, coefficients, row_lo, row_hi, objective, k_obj, col_lo, col_hi


# -- CP-SAT ------------------------------------------------------------------------------------------
def cp_model_of(mf: MatrixForm, model: Model | None = None):
    """(CpModel, objective sign, objective exponent): the model made integer exactly, as CP-SAT's proto.

    Raises :class:`ScalingError` naming the row or column that cannot be made integer exactly."""
    from ortools.sat.python import cp_model

    indptr, indices, coefficients, row_lo, row_hi, objective, k_obj, col_lo, col_hi = integer_scaling(mf, model)
    cpm = cp_model.CpModel()
    proto = cpm.proto
    variables = proto.variables
    for lo, hi in zip(col_lo.tolist(), col_hi.tolist()):
        variables.add().domain.extend((lo, hi))
    ind, coef, ptr = indices.tolist(), coefficients.tolist(), indptr.tolist()
    lo_l, hi_l = row_lo.tolist(), row_hi.tolist()
    free_lo, free_hi = -(2 ** 63), 2 ** 63 - 1
    constraints = proto.constraints
    for i in range(mf.num_rows):
        lo, hi = lo_l[i], hi_l[i]
        if lo == free_lo and hi == free_hi:
            continue  # a free row constrains nothing
        linear = constraints.add().linear
        s, e = ptr[i], ptr[i + 1]
        linear.vars.extend(ind[s:e])
        linear.coeffs.extend(coef[s:e])
        linear.domain.extend((lo, hi))
    sign = 1 if mf.sense == "min" else -1  # CP-SAT minimises; a maximisation minimises the negation
    nz = np.flatnonzero(objective)
    if nz.size:
        proto.objective.vars.extend(nz.tolist())
        proto.objective.coeffs.extend((sign * objective[nz]).tolist())
    return cpm, sign, k_obj


@dataclass(frozen=True)
class CpSatOptions(MILPOptions):
    workers: int = option(1, at_least=1, at_most=MAX_THREADS)
    linearization_level: int = option(2, at_least=0, at_most=2)
    #: Any further ``SatParameters`` field by its name (``{"interleave_search": True}``).
    parameters: dict = option(factory=dict)


@register_backend
class CpSatSolver(MILPSolver):
    """OR-Tools CP-SAT on the model made integer exactly (every row and the objective scaled by its own power of
    ten; decimals with at most 9 digits).

    Defaults: one worker with ``linearization_level=2`` (CP-SAT adds the LP relaxation of every linear
    row and cuts). Measured on the bundled medium instances (4k-12k variables) on 2 cores: this proves
    each optimum in about a second, while CP-SAT's default (linearization level 1), whether with one
    or two workers, had not closed the gap after 60 s. One worker also follows one deterministic path
    for a given seed. ``parameters`` passes further ``SatParameters`` fields.
    """

    name, requires, Options = "cpsat", ("ortools.sat.python.cp_model",), CpSatOptions
    floating_point = False  # integer arithmetic, no tolerance: its proofs hold on any row range

    def solve_matrix(self, mf, model, options, *, time_limit=None, seed=None, start=None) -> Outcome:
        from ortools.sat.python import cp_model

        until = deadline(time.perf_counter(), time_limit)
        solver = cp_model.CpSolver()
        params = solver.parameters
        # CP-SAT's own SIGINT handler would turn Ctrl-C into an ordinary stop (reported as an answer);
        # without it Ctrl-C reaches Python, which stops the search (run_stoppable) and exits.
        settings = {"num_workers": options.workers, "linearization_level": options.linearization_level,
                    "relative_gap_limit": 0.0, "absolute_gap_limit": 0.0, "catch_sigint_signal": False,
                    **options.parameters}
        if time_limit is not None:
            settings["max_time_in_seconds"] = float(time_limit)
        if seed is not None:
            settings["random_seed"] = _seed31(seed)
        for key, value in settings.items():
            if key == "num_workers" and isinstance(value, int) and value > MAX_THREADS:
                raise ValueError(f"option parameters: num_workers={value!r}: at most {MAX_THREADS}")
            try:
                setattr(params, key, value)
            except (AttributeError, TypeError, ValueError) as exc:
                raise ValueError(f"option parameters: CP-SAT rejects {key}={value!r}: {exc}") from None
        try:
            cpm, sign, k_obj = cp_model_of(mf, model)
        except ScalingError as exc:
            return Outcome(Status.ERROR, "not integer", message=f"CP-SAT cannot take this model exactly: {exc}")
        if start is not None:
            # A complete hint: CP-SAT tries it first and keeps it as its first solution when it is feasible.
            cpm.proto.solution_hint.vars.extend(range(mf.num_cols))
            cpm.proto.solution_hint.values.extend(np.round(start).astype(np.int64).tolist())
        status = run_stoppable(lambda: solver.solve(cpm), solver.stop_search, deadline=until)
        return _cpsat_outcome(solver, status, cpm, mf, sign, k_obj, hit=time_limit is not None)


def _cpsat_outcome(solver, status, cpm, mf: MatrixForm, sign: int, k_obj: int, *, hit: bool) -> Outcome:
    """CP-SAT's answer in edgeopt's terms. Without a proof CP-SAT stops only at a limit; with a time limit
    set (``hit``), that is the limit. (Its wall_time can read well under a tiny limit, so comparing the
    two misreads short limits.)"""
    from ortools.sat.python import cp_model as S

    response = solver.response_proto
    raw = solver.status_name(status)
    has_x = status in (S.OPTIMAL, S.FEASIBLE)
    x = np.asarray(list(response.solution), dtype=float) if has_x else None
    scale = 10.0 ** k_obj
    obj = (sign * response.objective_value / scale + mf.offset) if has_x else None
    bound = sign * response.best_objective_bound / scale + mf.offset
    if status not in (S.OPTIMAL, S.FEASIBLE, S.UNKNOWN) or not np.isfinite(bound):
        bound = None
    message = ""
    if status == S.OPTIMAL:
        mapped = Status.OPTIMAL
    elif status == S.FEASIBLE:
        mapped = Status.TIME_LIMIT if hit else Status.FEASIBLE
    elif status == S.INFEASIBLE:
        mapped, bound = Status.INFEASIBLE, None
    elif status == S.MODEL_INVALID:
        from ortools.sat.python import cp_model_helper

        mapped, bound = Status.ERROR, None
        message = f"CP-SAT rejected the model: {cp_model_helper.CpSatHelper.validate_model(cpm.proto)}"
    elif status == S.UNKNOWN and hit:
        mapped = Status.TIME_LIMIT
    else:
        mapped, bound = Status.ERROR, None
        message = f"CP-SAT stopped with status {raw} before finding a solution or a proof"
    return Outcome(mapped, raw, x=x, objective=obj, bound=bound, message=message)


# -- SCIP through MathOpt ------------------------------------------------------------------------------
def model_proto(mf: MatrixForm, name: str = "edgeopt"):
    """The matrix form as a MathOpt ``ModelProto`` (every repeated field filled from arrays at once)."""
    from ortools.math_opt import model_pb2

    mp = model_pb2.ModelProto(name=name)
    n, m = mf.num_cols, mf.num_rows
    mp.variables.ids.extend(range(n))
    mp.variables.lower_bounds.extend(mf.col_lo.tolist())
    mp.variables.upper_bounds.extend(mf.col_hi.tolist())
    mp.variables.integers.extend(mf.integrality.tolist())
    mp.objective.maximize = mf.sense == "max"
    mp.objective.offset = float(mf.offset)
    nz = np.flatnonzero(mf.c)
    mp.objective.linear_coefficients.ids.extend(nz.tolist())
    mp.objective.linear_coefficients.values.extend(mf.c[nz].tolist())
    mp.linear_constraints.ids.extend(range(m))
    mp.linear_constraints.lower_bounds.extend(mf.row_lo.tolist())
    mp.linear_constraints.upper_bounds.extend(mf.row_hi.tolist())
    A = mf.A.tocsr()
    A.sort_indices()  # MathOpt wants the matrix entries in row-major order
    mp.linear_constraint_matrix.row_ids.extend(np.repeat(np.arange(m), np.diff(A.indptr)).tolist())
    mp.linear_constraint_matrix.column_ids.extend(A.indices.tolist())
    mp.linear_constraint_matrix.coefficients.extend(A.data.tolist())
    return mp


@dataclass(frozen=True)
class ScipOptions(MILPOptions):
    relative_gap: float = option(0.0, at_least=0)
    absolute_gap: float = option(1e-9, at_least=0)
    #: Stop after this many solutions (MathOpt's solution_limit); None: no limit.
    solution_limit: int | None = option(None, at_least=1)


@register_backend
class ScipSolver(MILPSolver):
    """SCIP through OR-Tools MathOpt (exact; one thread, relative gap 0, absolute gap 1e-9)."""

    name, requires, Options = "scip", ("ortools.math_opt.python.mathopt",), ScipOptions

    def solve_matrix(self, mf, model, options, *, time_limit=None, seed=None, start=None) -> Outcome:
        from ortools.math_opt import result_pb2, solution_pb2
        from ortools.math_opt.core.python import solver as core
        from ortools.math_opt.python import mathopt

        until = deadline(time.perf_counter(), time_limit)
        params = mathopt.SolveParameters(
            relative_gap_tolerance=float(options.relative_gap), absolute_gap_tolerance=float(options.absolute_gap),
            threads=1,
            random_seed=_seed31(seed),
            solution_limit=options.solution_limit,
            # SCIP's clock starts after MathOpt has built its model: a little of the limit is left for that.
            time_limit=None if time_limit is None else datetime.timedelta(seconds=0.95 * float(time_limit)))
        # The model goes to the solver as a proto: mathopt.solve would first build a Python Model and
        # later one Python object per variable in the result, which costs more than the solve on big models.
        proto = model_proto(mf, getattr(model, "name", "edgeopt"))

        model_params = mathopt.ModelSolveParameters().to_proto()
        if start is not None:
            # SCIP tries a hint as a solution before it presolves; a feasible one is its first incumbent.
            hint = model_params.solution_hints.add()
            hint.variable_values.ids.extend(range(mf.num_cols))
            hint.variable_values.values.extend(np.asarray(start, dtype=float).tolist())

        def work() -> bytes:
            return core.solve(proto, mathopt.SolverType.GSCIP.value, mathopt.StreamableSolverInitArguments().to_proto(),
                              params.to_proto(), model_params, None,
                              mathopt.CallbackRegistration().to_proto(), None, None).SerializeToString()

        # In a child process: SCIP looks at its interrupt flag (Ctrl-C, MathOpt's interrupter) only now and
        # then, and not for up to 18 s on large-2; a killed child stops at once (edgeopt.interrupt).
        try:
            # Killed only well past the limit (within the promised 10% + 2 s), so that SCIP returns on its
            # own, with its incumbent, whenever it can.
            data = run_in_child(work, deadline=until, grace=1.0 + 0.1 * (time_limit or 0.0))
        except RuntimeError as exc:
            return Outcome(Status.ERROR, "solve error", message=f"MathOpt/SCIP failed: {exc}")
        if data is None:
            return Outcome(Status.TIME_LIMIT, "stopped past the time limit",
                           message="SCIP ran past its time limit and was stopped; it left no solution")
        res = result_pb2.SolveResultProto.FromString(data)
        term = mathopt.parse_termination(res.termination)
        R, L = mathopt.TerminationReason, mathopt.Limit
        raw = term.reason.name + (f" ({term.limit.name})" if term.limit is not None else "")
        if term.detail:
            raw += f": {term.detail}"

        x = obj = None
        feasible = solution_pb2.SOLUTION_STATUS_FEASIBLE
        for sol in res.solutions:  # MathOpt lists the best solution first
            if sol.HasField("primal_solution") and sol.primal_solution.feasibility_status == feasible:
                values = sol.primal_solution.variable_values
                x = np.zeros(mf.num_cols)
                x[np.asarray(values.ids, dtype=np.int64)] = np.asarray(values.values, dtype=float)
                x[mf.integrality] = np.round(x[mf.integrality])  # SCIP's integrality tolerance is 1e-6
                obj = float(sol.primal_solution.objective_value)
                break
        dual = float(term.objective_bounds.dual_bound)
        bound = dual if np.isfinite(dual) else None
        message = ""
        if term.reason == R.OPTIMAL:
            status = Status.OPTIMAL
        elif term.reason == R.INFEASIBLE:
            status, bound = Status.INFEASIBLE, None
        elif term.reason == R.UNBOUNDED:
            status, bound = Status.UNBOUNDED, None
        elif term.reason == R.INFEASIBLE_OR_UNBOUNDED:
            status, bound = Status.ERROR, None
            message = "SCIP proved the model infeasible or unbounded but could not tell which"
        elif term.reason == R.FEASIBLE:
            status = Status.TIME_LIMIT if term.limit == L.TIME else Status.FEASIBLE
        elif term.reason == R.NO_SOLUTION_FOUND and term.limit == L.TIME:
            status = Status.TIME_LIMIT
        else:
            status = Status.ERROR
            message = f"SCIP stopped with {raw}"
        if status in (Status.INFEASIBLE, Status.UNBOUNDED, Status.ERROR):
            x = obj = None  # an unbounded model's point is arbitrary, not an objective value
        return Outcome(status, raw, x=x, objective=obj, bound=bound, message=message)

