"""``python -m edgeopt``: the same command line as the ``edgeopt`` console script, entered the same way
(edgeopt_console: Ctrl-C while the command line is imported ends with one line and exit code 130; Ctrl-C while
the package itself is imported is caught in edgeopt/__init__.py)."""
from edgeopt_console import run

run()
