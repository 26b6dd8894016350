"""HiGHS through highspy: the matrix form is passed in one call (CSC arrays), the solution copied out in bulk.

Also exports any family's MILP to MPS or LP through HiGHS's writer.
"""
from __future__ import annotations

import numpy as np

from edgeopt.modeling import MatrixForm, Model
from edgeopt.result import Status
from edgeopt.solvers import register
from edgeopt.solvers.milp import MILPSolver, Outcome


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


class HighsSolver(MILPSolver):
    name = "highs"
    module = "highspy"
    description = "HiGHS branch-and-cut through highspy (exact; mip_rel_gap 0)"

    def solve_matrix(self, mf, model, *, time_limit=None, seed=None, threads: int = 1,
                     mip_rel_gap: float = 0.0, mip_abs_gap: float = 1e-9, **options) -> Outcome:
        import highspy

        h = _highs(mf)
        h.setOptionValue("mip_rel_gap", float(mip_rel_gap))
        h.setOptionValue("mip_abs_gap", float(mip_abs_gap))
        h.setOptionValue("threads", int(threads))
        if time_limit is not None:
            h.setOptionValue("time_limit", float(time_limit))
        if seed is not None:
            h.setOptionValue("random_seed", int(seed))
        for key, value in options.items():
            if h.setOptionValue(key, value) != highspy.HighsStatus.kOk:
                return Outcome(Status.ERROR, "option rejected", message=f"HiGHS rejected option {key}={value!r}")
        h.run()
        ms = h.getModelStatus()
        if ms == highspy.HighsModelStatus.kUnboundedOrInfeasible and mf.integrality.any():
            # HiGHS's MIP presolve cannot tell the two apart; its search without presolve can.
            h.setOptionValue("presolve", "off")
            if time_limit is not None:
                h.setOptionValue("time_limit", max(1e-3, float(time_limit) - h.getRunTime()))
            h.run()
            ms = h.getModelStatus()
        info = h.getInfo()
        raw = h.modelStatusToString(ms)
        has_x = info.primal_solution_status == 2  # kSolutionStatusFeasible
        x = np.asarray(h.getSolution().col_value) if has_x else None
        obj = float(info.objective_function_value) if has_x else None
        bound = float(info.mip_dual_bound) if np.isfinite(info.mip_dual_bound) else None
        M = highspy.HighsModelStatus
        table = {
            M.kOptimal: Status.OPTIMAL,
            M.kInfeasible: Status.INFEASIBLE,
            M.kUnbounded: Status.UNBOUNDED,
            M.kTimeLimit: Status.TIME_LIMIT,
            M.kInterrupt: Status.TIME_LIMIT,
        }
        status = table.get(ms)
        if status is None:
            # Other stops (solution or iteration limits, errors): keep what was found, prove nothing.
            status = Status.FEASIBLE if has_x else Status.ERROR
        if status in (Status.INFEASIBLE, Status.UNBOUNDED):
            x = obj = bound = None  # HiGHS leaves placeholder zeros that are not a solution or a bound
        if status == Status.OPTIMAL and not mf.integrality.any():
            bound = obj
        return Outcome(status, raw, x=x, objective=obj, bound=bound,
                       message="" if status != Status.ERROR else f"HiGHS stopped with status {raw!r}")


def export(instance, path: str) -> None:
    """Write the instance's MILP as MPS (``.mps``) or CPLEX LP (``.lp``), with readable names."""
    import highspy
    from edgeopt.models import family_of

    if not str(path).lower().endswith((".mps", ".lp")):
        raise ValueError(f"{path}: export writes .mps or .lp files")
    form = family_of(instance).formulate(instance)
    h = _highs(form.model.matrix(), names=form.model)
    if h.writeModel(str(path)) != highspy.HighsStatus.kOk:
        raise OSError(f"{path}: HiGHS could not write the model")


register(HighsSolver())
