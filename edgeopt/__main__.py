"""``python -m edgeopt``: the same command line as the ``edgeopt`` console script."""
from edgeopt.cli import run

run()
