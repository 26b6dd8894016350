"""All backend libraries in one process: highspy, OR-Tools (CP-SAT and MathOpt/SCIP), Pyomo's appsi_highs, and
CVXPY with PySCIPOpt's SCIP (offload-miqp's solver; PySCIPOpt brings its own SCIP build beside OR-Tools' one).

Why this test exists: the OR-Tools wheel bundles its own HiGHS. ortools 9.15.6755 bundles HiGHS 1.12,
and with highspy >= 1.13 in the same process one of the two imports fails with an ImportError for an
undefined symbol (the two HiGHS builds clash). The project therefore pins highspy==1.12.0 next to
ortools==9.15.6755 (and pyomo==6.10.1, whose appsi_highs drives highspy, and pyscipopt==6.3.0, whose SCIP
CVXPY drives). Upgrade them together, and only when this test passes.
"""
from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

# max 5x + 4y + 3z  s.t.  2x + 3y + z <= 5,  4x + y + 2z <= 11,  3x + 4y + 2z <= 8,  x, y, z in {0..10}
C = [5.0, 4.0, 3.0]
A = [[2.0, 3.0, 1.0], [4.0, 1.0, 2.0], [3.0, 4.0, 2.0]]
B = [5.0, 11.0, 8.0]
UB = 10


def by_enumeration() -> float:
    best = -np.inf
    for x in itertools.product(range(UB + 1), repeat=3):
        if all(np.dot(row, x) <= b for row, b in zip(A, B)):
            best = max(best, float(np.dot(C, x)))
    return best


def with_highspy() -> float:
    import highspy

    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    csc = np.array(A).T  # column-wise
    starts = np.array([0, 3, 6, 9], dtype=np.int32)
    index = np.tile(np.arange(3, dtype=np.int32), 3)
    h.passModel(3, 3, 9, 1, -1, 0.0, np.array(C), np.zeros(3), np.full(3, UB, dtype=float),
                np.full(3, -highspy.kHighsInf), np.array(B), starts, index, csc.ravel(), np.ones(3, dtype=np.int32))
    h.run()
    assert h.getModelStatus() == highspy.HighsModelStatus.kOptimal
    return float(h.getInfo().objective_function_value)


def with_cpsat() -> float:
    from ortools.sat.python import cp_model

    m = cp_model.CpModel()
    x = [m.new_int_var(0, UB, f"x{j}") for j in range(3)]
    for row, b in zip(A, B):
        m.add(sum(int(a) * v for a, v in zip(row, x)) <= int(b))
    m.maximize(sum(int(c) * v for c, v in zip(C, x)))
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    assert solver.solve(m) == cp_model.OPTIMAL
    return float(solver.objective_value)


def with_mathopt_scip() -> float:
    from ortools.math_opt.python import mathopt

    m = mathopt.Model(name="together")
    x = [m.add_integer_variable(lb=0, ub=UB, name=f"x{j}") for j in range(3)]
    for row, b in zip(A, B):
        m.add_linear_constraint(sum(a * v for a, v in zip(row, x)) <= b)
    m.maximize(sum(c * v for c, v in zip(C, x)))
    result = mathopt.solve(m, mathopt.SolverType.GSCIP)
    assert result.termination.reason == mathopt.TerminationReason.OPTIMAL
    return float(result.objective_value())


def with_cvxpy_scip() -> float:
    """The model through CVXPY, solved by PySCIPOpt's SCIP (as offload-miqp does), with SCIP's own status."""
    from edgeopt.allocation import import_cvxpy

    cp = import_cvxpy()
    x = cp.Variable(3, integer=True)
    problem = cp.Problem(cp.Maximize(np.array(C) @ x), [np.array(A) @ x <= np.array(B), x >= 0, x <= UB])
    problem.solve(solver="SCIP", scip_params={"limits/gap": 0.0, "limits/absgap": 1e-9})
    assert problem.status == cp.OPTIMAL
    assert problem.solver_stats.extra_stats["model"].getStatus() == "optimal"
    return float(problem.value)


def with_pyomo_appsi_highs() -> float:
    import pyomo.environ as pe

    m = pe.ConcreteModel()
    m.x = pe.Var(range(3), domain=pe.Integers, bounds=(0, UB))
    m.rows = pe.Constraint(range(3), rule=lambda m, i: sum(A[i][j] * m.x[j] for j in range(3)) <= B[i])
    m.obj = pe.Objective(expr=sum(C[j] * m.x[j] for j in range(3)), sense=pe.maximize)
    solver = pe.SolverFactory("appsi_highs")
    results = solver.solve(m)
    assert str(results.solver.termination_condition) == "optimal"
    return float(pe.value(m.obj))


def test_every_backend_library_in_one_process_finds_the_same_optimum():
    expected = by_enumeration()
    values = {
        "highspy": with_highspy(),
        "cp-sat": with_cpsat(),
        "mathopt-scip": with_mathopt_scip(),
        "pyomo-appsi_highs": with_pyomo_appsi_highs(),
        "cvxpy-scip": with_cvxpy_scip(),
    }
    for name, value in values.items():
        assert value == pytest.approx(expected, abs=1e-9), name


@pytest.mark.parametrize("order", [
    ("highspy", "ortools.sat.python.cp_model", "ortools.math_opt.python.mathopt", "pyomo.contrib.appsi.solvers",
     "pyscipopt", "cvxpy"),
    ("ortools.math_opt.python.mathopt", "ortools.sat.python.cp_model", "pyomo.contrib.appsi.solvers", "highspy",
     "pyscipopt", "cvxpy"),
    ("pyscipopt", "cvxpy", "ortools.math_opt.python.mathopt", "ortools.sat.python.cp_model",
     "pyomo.contrib.appsi.solvers", "highspy"),
], ids=["highspy-first", "ortools-first", "scip-first"])
def test_imports_coexist_in_either_order(order):
    """A clash of the two HiGHS builds (or of PySCIPOpt's SCIP with OR-Tools' one) shows as an ImportError or a
    crash that depends on which library loads first; then each solves: HiGHS, MathOpt's SCIP and CVXPY's SCIP."""
    here = str(Path(__file__).resolve().parent)
    solves = (f"import sys; sys.path.insert(0, {here!r}); import test_backends_together as t; "
              "assert t.with_highspy() == t.with_mathopt_scip() == t.with_cvxpy_scip() == t.by_enumeration()")
    code = "; ".join(f"import {name}" for name in order) + "; " + solves
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_cvxpy_solves_with_clarabel_and_highs_beside_the_other_backends():
    """CVXPY (pinned 1.8.2: 1.9 needs highspy >= 1.14) in the process that already holds highspy, OR-Tools and
    Pyomo; its HIGHS interface drives the same highspy 1.12 as edgeopt's own backend."""
    import highspy  # noqa: F401
    import pyomo.contrib.appsi.solvers  # noqa: F401
    from ortools.math_opt.python import mathopt  # noqa: F401
    from ortools.sat.python import cp_model  # noqa: F401

    from edgeopt.allocation import import_cvxpy

    cp = import_cvxpy()
    assert {"CLARABEL", "HIGHS"} <= set(cp.installed_solvers())

    x = cp.Variable(3, integer=True)
    milp = cp.Problem(cp.Maximize(np.array(C) @ x), [np.array(A) @ x <= np.array(B), x >= 0, x <= UB])
    milp.solve(solver="HIGHS")
    assert milp.status == cp.OPTIMAL
    assert milp.value == pytest.approx(by_enumeration(), abs=1e-9)

    # min 1/f0 + 4/f1 s.t. f0 + f1 <= 3: the square-root rule gives f = (1, 2), objective 3
    f = cp.Variable(2)
    conic = cp.Problem(cp.Minimize(cp.sum(cp.multiply(np.array([1.0, 4.0]), cp.inv_pos(f)))), [cp.sum(f) <= 3])
    conic.solve(solver="CLARABEL")
    assert conic.status == cp.OPTIMAL
    assert conic.value == pytest.approx(3.0, rel=1e-6)
    np.testing.assert_allclose(f.value, [1.0, 2.0], rtol=1e-3)

    assert with_highspy() == pytest.approx(by_enumeration(), abs=1e-9)
