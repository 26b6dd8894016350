"""The gap family's own solvers: the regret greedy (MTHG), simulated annealing, tabu search and the HiGHS large-neighbourhood search (docs/gap.md)."""
from edgeopt.families.gap.solvers import anneal, greedy, lns, tabu  # noqa: F401
