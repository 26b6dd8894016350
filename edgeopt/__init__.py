"""edgeopt: optimization models, exact solvers and published heuristics for generative AI at the edge.

    import edgeopt
    inst = edgeopt.load("instances/deployment/tiny-1.json")
    result = edgeopt.solve(inst, solver="highs", time_limit=60)
    print(result.status, result.objective, result.bound)
"""
# The subpackage edgeopt.solvers is imported first so that the name ``edgeopt.solvers`` stays bound
# to the registry function below (importing a subpackage later would rebind the attribute).
import edgeopt.solvers as _solver_package  # noqa: F401
from edgeopt.api import evaluate, solve, solvers, verify
from edgeopt.compare import compare
from edgeopt.io import InstanceError, load, load_solution, loads, save, save_solution
from edgeopt.models import family, family_of
from edgeopt.result import Evaluation, Result, Status, Violation, relative_gap


def generate(kind: str, **params):
    """A seeded, deterministic instance of the family ``kind`` (see each family's ``generate``)."""
    return family(kind).generate(**params)


__version__ = "0.1.0"
__all__ = ["load", "loads", "save", "save_solution", "load_solution", "solve", "evaluate", "verify", "solvers",
           "generate", "family", "family_of", "Result", "Status", "Evaluation", "Violation", "InstanceError",
           "relative_gap"]
__all__ += ["compare"]
