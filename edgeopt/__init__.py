"""edgeopt: optimization models, exact solvers and published heuristics for generative AI at the edge.

    import edgeopt
    inst = edgeopt.load("instances/deployment/tiny-1.json")
    result = edgeopt.solve(inst, solver="highs", time_limit=60)
    print(result.status, result.objective, result.bound)

Importing edgeopt registers every family (edgeopt.families) and every MILP backend (edgeopt.backends);
no backend package (highspy, ortools, pyomo, cvxpy), no matplotlib and no pandas is imported until used.
"""
import sys as _sys


def _run_by_python_m() -> bool:
    """Whether this import is ``python -m edgeopt`` locating its ``__main__`` (runpy imports the package first,
    with ``sys.argv[0]`` set to "-m"; ``sys.orig_argv`` holds the command as typed)."""
    argv = getattr(_sys, "orig_argv", [])
    return _sys.argv[:1] == ["-m"] and any(a == "-m" and b == "edgeopt" for a, b in zip(argv, argv[1:]))


try:
    from edgeopt import backends, families  # noqa: F401  (registration)
    from edgeopt.api import evaluate, generate, get_solver, solve, solvers, verify
    from edgeopt.comparison.sweep import compare
    from edgeopt.document import InstanceError
    from edgeopt.io import load, load_solution, loads, save, save_solution
    from edgeopt.registry import family, family_of
    from edgeopt.result import Evaluation, Result, Status, Violation, relative_gap
except KeyboardInterrupt:
    # Ctrl-C in the second or two these imports take: `python -m edgeopt` ends as the console script does
    # (edgeopt_console: one line, exit 130) instead of with a traceback; an `import edgeopt` of a program
    # gets its KeyboardInterrupt as usual.
    if not _run_by_python_m():
        raise
    import edgeopt_console

    edgeopt_console.interrupted()


__version__ = "0.1.0"
__all__ = ["load", "loads", "save", "save_solution", "load_solution", "solve", "evaluate", "verify", "solvers",
           "get_solver", "generate", "compare", "family", "family_of", "Result", "Status", "Evaluation", "Violation",
           "InstanceError", "relative_gap"]
