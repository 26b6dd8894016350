"""edgeopt: optimization models, exact solvers and published heuristics for generative AI at the edge.

    import edgeopt
    inst = edgeopt.load("instances/deployment/tiny-1.json")
    result = edgeopt.solve(inst, solver="highs", time_limit=60)
    print(result.status, result.objective, result.bound)

Importing edgeopt registers every family (edgeopt.families) and every MILP backend (edgeopt.backends);
no backend package (highspy, ortools, pyomo, cvxpy), no matplotlib and no pandas is imported until used.
"""
from edgeopt import backends, families  # noqa: F401  (registration)
from edgeopt.api import evaluate, generate, get_solver, solve, solvers, verify
from edgeopt.comparison.sweep import compare
from edgeopt.document import InstanceError
from edgeopt.io import load, load_solution, loads, save, save_solution
from edgeopt.registry import family, family_of
from edgeopt.result import Evaluation, Result, Status, Violation, relative_gap


__version__ = "0.1.0"
__all__ = ["load", "loads", "save", "save_solution", "load_solution", "solve", "evaluate", "verify", "solvers",
           "get_solver", "generate", "compare", "family", "family_of", "Result", "Status", "Evaluation", "Violation",
           "InstanceError", "relative_gap"]
