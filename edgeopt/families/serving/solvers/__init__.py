"""The serving family's solvers: exact yardsticks (hindsight, myopic, mpc: exact.py, on window.py), online
heuristics (heuristics.py, on online.py's driver and its information rule)."""
from edgeopt.families.serving.solvers import exact, heuristics  # noqa: F401  (registration)
