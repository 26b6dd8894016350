"""Solving a CVXPY problem with SCIP at gap 0 and reading SCIP's own status and dual bound, which CVXPY does not
report: the exact MIQP methods of the families (offload-miqp, hindsight-miqp) share this one call.

CVXPY 1.8.2's SCIP interface (cvxpy/reductions/solvers/conic_solvers/scip_conif.py) maps the status and the
primal values only, but hands back PySCIPOpt's Model in its raw solution dict (``solution["model"]``): the
status and the dual bound are read there. SCIP minimises the negated objective of a maximisation (CVXPY's
FlipObjective), and CVXPY keeps the objective's constant apart as an offset: both are turned back.
"""
from __future__ import annotations

import time
import warnings

from edgeopt.result import PROOF_RTOL

#: SCIP statuses that prove the incumbent optimal at relative gap 0 / absolute gap 1e-9.
PROVEN = ("optimal", "gaplimit")
#: How far the true value of SCIP's plan may lie below SCIP's bound for it to count as proven: the one proof
#: tolerance of edgeopt (edgeopt.result.PROOF_RTOL; SCIP meets the cone constraints within 1e-6 anyway).
TRUE_VALUE_RTOL = PROOF_RTOL


def probe() -> str | None:
    """Why CVXPY cannot hand a problem to SCIP here (None: it can). cvxpy is imported through
    edgeopt.allocation.import_cvxpy, which silences its OR-Tools warning."""
    from edgeopt.allocation import import_cvxpy

    try:
        cp = import_cvxpy()
    except Exception as exc:  # an import can fail with ImportError or a broken shared library
        return f"cvxpy: {type(exc).__name__}: {exc}"
    return None if "SCIP" in cp.installed_solvers() else "CVXPY does not find SCIP (PySCIPOpt)"


def prepare() -> None:
    """Import cvxpy and PySCIPOpt before a child process is forked for a solve (each inherits them)."""
    from edgeopt.allocation import import_cvxpy

    import_cvxpy()
    import pyscipopt  # noqa: F401


def scip_params(seed: int | None, seconds: float | None) -> dict:
    """SCIP's parameters for a proof at gap 0 (absolute gap 1e-9, one thread), through CVXPY's ``scip_params``
    solver option."""
    params = {"limits/gap": 0.0, "limits/absgap": 1e-9, "lp/threads": 1}
    if seed is not None:
        params["randomization/randomseedshift"] = int(seed) % (2 ** 31)
    if seconds is not None:
        params["limits/time"] = max(float(seconds), 1e-3)
    return params


def solve_maximisation(problem, until: float | None, seed: int | None) -> dict:
    """Compile the (maximisation) ``problem`` for SCIP and solve it, giving SCIP what is left until ``until``
    (a perf_counter deadline) after compiling: ``status`` (SCIP's words, or "not started ..."), ``solved``
    (whether the problem's variables hold SCIP's solution), ``bound`` (SCIP's dual bound in the problem's own
    maximised terms, None without one) and ``nodes``."""
    from cvxpy import settings as s

    if until is not None and time.perf_counter() >= until:
        return {"status": "not started", "solved": False, "bound": None}
    data, chain, inverse = problem.get_problem_data(solver="SCIP")
    left = None if until is None else until - time.perf_counter()
    if left is not None and left <= 0:
        return {"status": "not started (compiling took the time left)", "solved": False, "bound": None}
    solution = chain.solve_via_data(problem, data, False, False, {"scip_params": scip_params(seed, left)})
    model = solution["model"]
    offset = float(inverse[-1].get(s.OFFSET, 0.0) if hasattr(inverse[-1], "get") else 0.0)
    dual = model.getDualbound()
    out = {"status": model.getStatus(), "bound": -(dual + offset) if abs(dual) < model.infinity() else None,
           "nodes": int(model.getNNodes()), "scip_seconds": float(model.getSolvingTime()), "solved": False}
    if solution.get("primal") is not None:
        with warnings.catch_warnings():  # "Solution may be inaccurate" at a time limit: callers price it
            warnings.simplefilter("ignore")
            problem.unpack_results(solution, chain, inverse)
        out["solved"] = True
    return out
