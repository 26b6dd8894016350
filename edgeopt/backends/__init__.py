"""Family-agnostic MILP backends. Each solves the matrix form (edgeopt.modeling) of any family that has a
formulation, and registers itself with ``register_backend``; the registry derives which families each
one serves. Backend packages (highspy, ortools, pyomo) are imported only when a backend runs.
"""
from edgeopt.backends import highs, ortools, pyomo  # noqa: F401
from edgeopt.backends import portfolio  # noqa: F401
