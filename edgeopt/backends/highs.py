"""HiGHS through highspy: the matrix form is passed in one call (CSC arrays), the solution copied out in bulk.

Also exports any MILP family's model to MPS or LP through HiGHS's writer (:func:`export`).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from edgeopt import registry
from edgeopt.backends.interrupt import run_stoppable
from edgeopt.backends.milp import MILPSolver, Outcome, settle_infeasible_or_unbounded
from edgeopt.modeling import MatrixForm, Model
from edgeopt.registry import register_backend
from edgeopt.result import Status
from edgeopt.solver import Options, deadline, option


def _highs(mf: MatrixForm, *, names: Model | None = None):
    import highspy

    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    A = mf.A.tocsc()
    integrality = mf.integrality.astype(np.int32)  # 1 = kInteger, 0 = kContinuous
    h.passModel(mf.num_cols, mf.num_rows, int(A.nnz), 1, 1 if mf.sense == "min" else -1, float(mf.offset),
                mf.c, mf.col_lo, mf.col_hi, mf.row_lo, mf.row_hi,
                A.indptr.astype(np.int32), A.indices.astype(np.int32), A.data.astype(float), integrality)
    if names is not None:
        # LP files read '[' as the start of a quadratic term: block(i,j,k) reads back in every format.
        plain = lambda n: n.replace("[", "(").replace("]", ")")  # noqa: E731
        for j, n in enumerate(names.column_names()):
            h.passColName(j, plain(n))
        for i, n in enumerate(names.row_names()):
            h.passRowName(i, plain(n))
    return h


#: The thread count HiGHS's process-wide task scheduler was started with (None: not started by us).
_scheduler_threads: int | None = None


def use_threads(threads: int) -> None:
    """Make HiGHS's global task scheduler run ``threads`` threads. HiGHS starts that scheduler once per
    process with the first solve's thread count and answers a later solve that asks for another count
    with the status 'Not Set'; resetting it first lets thread counts change between solves."""
    global _scheduler_threads
    import highspy

    if _scheduler_threads is not None and _scheduler_threads != threads:
        highspy._core._Highs.resetGlobalScheduler(True)
    _scheduler_threads = threads


def run_highs(h, until: float | None) -> None:
    """``h.run()``, stoppable by Ctrl-C and past ``until`` (edgeopt.backends.interrupt), through HiGHS's
    user interrupt."""
    h.HandleUserInterrupt = True
    run_stoppable(h.run, h.cancelSolve, deadline=until)


def check_highs_options(options: dict) -> None:
    """Raise ValueError naming the first HiGHS option HiGHS itself rejects (name or value)."""
    import highspy

    probe = highspy.Highs()
    probe.setOptionValue("output_flag", False)
    for key, value in options.items():
        if probe.setOptionValue(key, value) != highspy.HighsStatus.kOk:
            raise ValueError(f"option highs: HiGHS rejects {key}={value!r}")


@dataclass(frozen=True)
class HighsOptions(Options):
    threads: int = option(1, at_least=1)
    mip_rel_gap: float = option(0.0, at_least=0)
    mip_abs_gap: float = option(1e-9, at_least=0)
    #: Any further HiGHS option by its HiGHS name (``{"presolve": "off"}``), checked by HiGHS.
    highs: dict = option(factory=dict)


#: HiGHS's model status -> edgeopt's; any other stop keeps what was found and proves nothing.
def _status_table():
    import highspy

    M = highspy.HighsModelStatus
    return {M.kOptimal: Status.OPTIMAL, M.kInfeasible: Status.INFEASIBLE, M.kUnbounded: Status.UNBOUNDED,
            M.kTimeLimit: Status.TIME_LIMIT, M.kInterrupt: Status.TIME_LIMIT}


@register_backend
class HighsSolver(MILPSolver):
    """HiGHS branch-and-cut through highspy (exact; mip_rel_gap 0)."""

    name, requires, Options = "highs", ("highspy",), HighsOptions

    def solve_matrix(self, mf, model, options, *, time_limit=None, seed=None) -> Outcome:
        import highspy

        check_highs_options(options.highs)
        started = time.perf_counter()
        until = deadline(started, time_limit)
        h = _highs(mf)
        settings = {"mip_rel_gap": float(options.mip_rel_gap), "mip_abs_gap": float(options.mip_abs_gap),
                    "threads": int(options.threads), **options.highs}
        if time_limit is not None:
            settings["time_limit"] = float(time_limit)
        if seed is not None:
            settings["random_seed"] = int(seed) % (2 ** 31)
        for key, value in settings.items():
            h.setOptionValue(key, value)
        use_threads(int(options.threads))
        run_highs(h, until)

        def rerun(left):
            h.setOptionValue("presolve", "off")
            if left is not None:
                h.setOptionValue("time_limit", max(1e-3, left))
            run_highs(h, until)

        ambiguous = h.getModelStatus() == highspy.HighsModelStatus.kUnboundedOrInfeasible and mf.integrality.any()
        settle_infeasible_or_unbounded(ambiguous, rerun, started, time_limit)
        ms = h.getModelStatus()
        info = h.getInfo()
        raw = h.modelStatusToString(ms)
        has_x = info.primal_solution_status == 2  # kSolutionStatusFeasible
        x = np.asarray(h.getSolution().col_value) if has_x else None
        obj = float(info.objective_function_value) if has_x else None
        bound = float(info.mip_dual_bound) if np.isfinite(info.mip_dual_bound) else None
        status = _status_table().get(ms)
        if status is None:
            status = Status.FEASIBLE if has_x else Status.ERROR
        if status in (Status.INFEASIBLE, Status.UNBOUNDED):
            x = obj = bound = None  # HiGHS leaves placeholder zeros that are not a solution or a bound
        if status == Status.OPTIMAL and not mf.integrality.any():
            bound = obj
        return Outcome(status, raw, x=x, objective=obj, bound=bound,
                       message="" if status != Status.ERROR else f"HiGHS stopped with status {raw!r}")


def export(instance, path: str) -> None:
    """Write the instance's MILP as MPS (``.mps``) or CPLEX LP (``.lp``), with readable names.

    ValueError for another suffix, or for a family without a MILP formulation."""
    import highspy

    family = registry.family_of(instance)
    if not family.has_formulation:
        with_milp = sorted(k for k, f in registry.FAMILIES.items() if f.has_formulation)
        raise ValueError(f"{family.kind} instances have no MILP formulation to export (the family's exact method "
                         f"is a solver of its own: see `edgeopt solvers`); export writes the MILP of "
                         f"{', '.join(with_milp)} instances")
    if not str(path).lower().endswith((".mps", ".lp")):
        raise ValueError(f"{path}: export writes .mps or .lp files")
    form = family.formulate(instance)
    h = _highs(form.model.matrix(), names=form.model)
    if h.writeModel(str(path)) != highspy.HighsStatus.kOk:
        raise OSError(f"{path}: HiGHS could not write the model")
