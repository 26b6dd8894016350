"""The deployment family's own solvers: the paper's genetic algorithm, greedy, two baselines, a
large-neighbourhood search on HiGHS (``lns``) and a Lagrangian relaxation of the slot coupling (``lagrange``).

Importing this package registers them; the MILP backends (edgeopt.backends) serve the family through
its formulation. Request routing and capacity repair, shared by them, are in ``routing``.
"""
from edgeopt.families.deployment.solvers import baselines, genetic, greedy, groups, lagrange, lns  # noqa: F401
