"""The serving family's solvers: exact yardsticks (hindsight, myopic, mpc: exact.py, on window.py; the second
exact method hindsight-miqp: miqp.py), online heuristics (heuristics.py, on online.py's driver and its
information rule)."""
from edgeopt.families.serving.solvers import exact, heuristics, miqp  # noqa: F401  (registration)
