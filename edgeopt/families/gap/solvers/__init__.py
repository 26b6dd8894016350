"""The gap family's own solvers: the regret greedy (MTHG) and simulated annealing (docs/gap.md)."""
from edgeopt.families.gap.solvers import anneal, greedy  # noqa: F401
