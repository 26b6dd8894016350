"""The offloading family's solvers: exact methods and the heuristics and baselines."""
from edgeopt.families.offloading.solvers import heuristics  # noqa: F401
from edgeopt.families.offloading.solvers import enumeration  # noqa: F401
from edgeopt.families.offloading.solvers import outer_approximation  # noqa: F401
from edgeopt.families.offloading.solvers import miqp  # noqa: F401
from edgeopt.families.offloading.solvers import mappo  # noqa: F401  (torch is imported only when used)
