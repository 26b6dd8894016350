"""The deployment family's own solvers: the paper's genetic algorithm, greedy, two baselines and a
large-neighbourhood search on HiGHS (``lns``).

Importing this package registers them; the MILP backends (edgeopt.backends) serve the family through
its formulation. Request routing and capacity repair, shared by all four, are in ``routing``.
"""
from edgeopt.families.deployment.solvers import baselines, genetic, greedy, lns  # noqa: F401
