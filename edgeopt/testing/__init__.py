"""Conformance checks for families and solvers, run over the registry (the pattern of PettingZoo's
``parallel_api_test`` and CVXPY's shared test problems).

    from edgeopt.testing import check_family, check_solver
    check_family("deployment", instances)
    check_solver("deployment", "my-solver", instances, references, long_case=(large, 2.0))

Each check runs the family or solver through what every one of them promises, collects every broken
promise and raises one :class:`ConformanceError` listing them. A new solver is checked by registering
it: tests/test_conformance.py parametrises these checks over ``edgeopt.solvers()``.
"""
from edgeopt.testing.conformance import ConformanceError, check_family, check_solver

__all__ = ["ConformanceError", "check_family", "check_solver"]
