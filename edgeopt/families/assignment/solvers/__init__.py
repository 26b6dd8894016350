"""The assignment family's solvers: the exact ``enumerate``, the paper's ``prob-anneal`` and its baselines."""
from edgeopt.families.assignment.solvers import exact, heuristics  # noqa: F401
