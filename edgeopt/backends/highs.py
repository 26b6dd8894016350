"""The ``highs`` backend: HiGHS branch-and-cut on any family's MILP (the driver is edgeopt.highs), and the
export of a MILP family's model to MPS or LP through HiGHS's writer (:func:`export`).
"""
from __future__ import annotations

from dataclasses import dataclass

from edgeopt import registry
from edgeopt.backends.milp import MILPOptions, MILPSolver
from edgeopt.highs import check_highs_options, highs_model, solve_matrix
from edgeopt.modeling import Outcome
from edgeopt.registry import register_backend
from edgeopt.solver import MAX_THREADS, option


@dataclass(frozen=True)
class HighsOptions(MILPOptions):
    threads: int = option(1, at_least=1, at_most=MAX_THREADS)
    mip_rel_gap: float = option(0.0, at_least=0)
    mip_abs_gap: float = option(1e-9, at_least=0)
    #: Any further HiGHS option by its HiGHS name (``{"presolve": "off"}``), checked by HiGHS.
    highs: dict = option(factory=dict)


@register_backend
class HighsSolver(MILPSolver):
    """HiGHS branch-and-cut through highspy (exact; mip_rel_gap 0)."""

    name, requires, Options = "highs", ("highspy",), HighsOptions

    def solve_matrix(self, mf, model, options, *, time_limit=None, seed=None, start=None) -> Outcome:
        check_highs_options(options.highs)
        return solve_matrix(mf, time_limit=time_limit, seed=seed, threads=options.threads,
                            mip_rel_gap=options.mip_rel_gap, mip_abs_gap=options.mip_abs_gap, options=options.highs,
                            start=start)


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
    h = highs_model(form.model.matrix(), names=form.model)
    if h.writeModel(str(path)) != highspy.HighsStatus.kOk:
        raise OSError(f"{path}: HiGHS could not write the model")
