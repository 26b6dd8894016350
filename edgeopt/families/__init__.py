"""The problem families. Importing this package registers every family and its own solvers.

One folder per family, each the same shape: ``schema``, ``instance``, ``evaluate``, ``formulate`` (if
the family is a MILP), ``generate``, ``describe`` and ``solvers/``; its ``__init__`` registers one
:class:`edgeopt.registry.Family`. A new family is a new folder plus one line here.
"""
from edgeopt.families import assignment, deployment, gap, offloading, serving  # noqa: F401
