"""offload-miqp: the convex MIQP of a slot through CVXPY, solved by SCIP (PySCIPOpt), part by part (parts.py).

Per part: binary z per option and y per loadable (edge, model) pair, theta per resource, and

    maximise   sum_o (value_o - refusal) z_o - sum_r theta_r          (+ refusal x users, added outside)
    subject to sum_{o of u} z_o <= 1                   per user
               sum_{o of u needing p} z_o <= y_p       per (user, pair)
               sum_p memory_p y_p <= memory_e          per edge
               (sum_o sqrt(cost[o, r]) z_o)^2 <= theta_r   per resource (CVXPY makes it a second-order cone)

SCIP runs with limits/gap 0 and limits/absgap 1e-9, one thread, its seed from ``seed``; its status and dual
bound are read as edgeopt/cvxscip.py says (CVXPY reports neither). A part is proven only when SCIP says "optimal" (or
stopped at the 1e-9 absolute gap limit) and the true value of its choice (slot_value) is within 1e-6 of its
bound.

**Time.** The whole part (CVXPY's compilation and SCIP) runs in a forked child process (edgeopt.interrupt.
run_in_child): Ctrl-C kills it at once. The child looks at the clock before compiling (no time left: it
returns nothing) and gives SCIP (``limits/time``) what is left after compiling; the parent kills a child
still running ``0.5 s + 5 %`` of the limit past the deadline. A part left without a bound gets the convex
relaxation's (parts.solve_by_parts).
"""
from __future__ import annotations

import pickle
import time
from dataclasses import dataclass

import numpy as np

from edgeopt import cvxscip
from edgeopt.cvxscip import PROVEN, TRUE_VALUE_RTOL, solve_maximisation
from edgeopt.families.offloading.solvers.parts import (
    FALLBACK_FLOOR,
    Part,
    PartAnswer,
    greedy_choice,
    link_matrix,
    memory_matrix,
    relaxation_bound,
    solve_by_parts,
)
from edgeopt.interrupt import run_in_child
from edgeopt.registry import register_solver
from edgeopt.solver import Options, Solver



def build_problem(part: Part):
    """(problem, z): the part's MIQP in CVXPY (module docstring), without the constant refusal x users."""
    from edgeopt.allocation import import_cvxpy

    cp = import_cvxpy()
    z = cp.Variable(part.num_options, boolean=True)
    constraints = [part.user_rows() @ z <= 1]
    objective = (part.value - part.refusal_value) @ z
    if part.num_pairs:
        y = cp.Variable(part.num_pairs, boolean=True)
        constraints += [link_matrix(part, z, y), memory_matrix(part) @ y <= part.edge_memory]
    if part.num_resources:
        theta = cp.Variable(part.num_resources)
        constraints.append(cp.square(part.roots() @ z) <= theta)
        objective = objective - cp.sum(theta)
    return cp.Problem(cp.Maximize(objective), constraints), z


def solve_in_scip(part: Part, until: float | None, seed: int | None) -> dict:
    """Compile the part with CVXPY and solve it with SCIP, here (in the calling process); a dict of plain
    values: SCIP's status, the z values (None: no solution) and SCIP's bound in the MIQP's own (maximised)
    terms (None: none)."""
    if until is not None and time.perf_counter() >= until:
        return {"status": "not started", "z": None, "bound": None}
    problem, z = build_problem(part)
    out = solve_maximisation(problem, until, seed)
    zv = np.asarray(z.value, dtype=float) if out["solved"] and z.value is not None else None
    return {"status": out["status"], "z": zv, "bound": out["bound"], "nodes": out.get("nodes"),
            "scip_seconds": out.get("scip_seconds")}


def solve_part(part: Part, until: float | None, *, seed: int | None, grace: float) -> PartAnswer:
    """One part in a child process (stoppable by Ctrl-C, killed ``grace`` s past ``until``)."""
    data = run_in_child(lambda: pickle.dumps(solve_in_scip(part, until, seed)), deadline=until, grace=grace)
    if data is None:
        return PartAnswer(greedy_choice(part), None, False, "SCIP killed past the time limit", stopped=True)
    out = pickle.loads(data)
    status = out["status"]
    if out["z"] is None:
        bound = None if out["bound"] is None else out["bound"] + part.refusal_value * part.num_users
        return PartAnswer(greedy_choice(part), bound, False, f"SCIP: {status}, no solution",
                          stopped=status == "timelimit" or status.startswith("not started"))
    chosen = part.chosen(np.round(out["z"]))
    if not part.fits(chosen):  # cannot happen with SCIP's tolerances on 0/1 variables; never return it
        chosen = greedy_choice(part)
    value = part.value_of(chosen)
    fallback = greedy_choice(part)
    if part.value_of(fallback) > value:
        chosen, value = fallback, part.value_of(fallback)
    # The MIQP leaves out the constant refusal x users (every z = 0 refuses everyone).
    bound = None if out["bound"] is None else out["bound"] + part.refusal_value * part.num_users
    proven = status in PROVEN and bound is not None and bound - value <= TRUE_VALUE_RTOL * max(1.0, abs(value))
    raw = f"SCIP: {status}" + ("" if proven or status not in PROVEN else
                               " (but its choice's true value is below its bound beyond 1e-6)")
    return PartAnswer(chosen, bound, proven, raw, stopped=status == "timelimit",
                      stats={"nodes": out.get("nodes"), "scip_seconds": out.get("scip_seconds")})


def relaxation_in_child(parts: list[Part], seconds: float | None) -> list[float] | None:
    """:func:`parts.relaxation_bound` in a forked child killed after ``seconds`` (CVXPY's compilation is not
    bounded by Clarabel's own time limit): None if it did not finish."""
    until = None if seconds is None else time.perf_counter() + seconds
    data = run_in_child(lambda: pickle.dumps(relaxation_bound(parts, seconds)), deadline=until, grace=0.0)
    return None if data is None else pickle.loads(data)


relaxation_in_child.what = relaxation_bound.what


@dataclass(frozen=True)
class MiqpOptions(Options):
    #: Solve a slot's independent parts (users sharing no resource or edge memory) separately.
    split: bool = True


@register_solver
class Miqp(Solver):
    """Exact: the convex MIQP (sum of squares of the summed square roots of the costs per resource) through CVXPY,
    solved by SCIP at gap 0, slot by slot and part by part; killable on Ctrl-C."""

    name, family, Options = "offload-miqp", "offloading", MiqpOptions
    requires = ("pyscipopt",)
    exact = gives_bound = True

    @classmethod
    def probe(cls) -> str | None:
        return cvxscip.probe()

    def run(self, instance, options, *, time_limit, seed, started):
        cvxscip.prepare()  # before the children are forked: each inherits the imports

        grace = 0.5 + 0.05 * (time_limit or 0.0)

        def one(part, until):
            return solve_part(part, until, seed=seed, grace=grace)

        return solve_by_parts(self, instance, one, split=options.split, time_limit=time_limit, started=started,
                              fallback_bound=relaxation_in_child, fallback_seconds=FALLBACK_FLOOR + 0.02 * (time_limit or 0.0))
