"""The serving family's solvers: exact yardsticks (hindsight, myopic, mpc: exact.py, on window.py; the second
exact method hindsight-miqp: miqp.py), online heuristics (heuristics.py, on online.py's driver and its
information rule), learned policies (mappo.py: MAPPO and IPPO on edgeopt/rl.py; torch is imported only when
used)."""
from edgeopt.families.serving.solvers import exact, heuristics, mappo, miqp  # noqa: F401  (registration)
