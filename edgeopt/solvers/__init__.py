"""The solver registry. Each module here registers its solvers; ``edgeopt.solvers()`` lists them.

A solver has ``name``, ``families``, ``exact``, ``gives_bound``, ``description``, ``available()`` and
``solve(instance, *, time_limit=None, seed=None, **options) -> Result``.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass

REGISTRY: dict = {}

#: Modules that register solvers, in the order the registry lists them.
_MODULES = ("highs", "ortools", "pyomo", "genetic", "greedy", "baselines", "gap_heuristics", "assign_exact",
            "assign_heuristics")


def register(solver):
    if solver.name in REGISTRY:
        raise ValueError(f"solver {solver.name!r} registered twice")
    REGISTRY[solver.name] = solver
    return solver


def _load_all() -> None:
    for mod in _MODULES:
        try:
            importlib.import_module(f"edgeopt.solvers.{mod}")
        except ModuleNotFoundError as exc:
            if exc.name != f"edgeopt.solvers.{mod}":
                raise


def get(name: str):
    _load_all()
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown solver {name!r}; known: {', '.join(REGISTRY)}") from None


@dataclass(frozen=True)
class SolverInfo:
    name: str
    families: tuple[str, ...]
    exact: bool
    gives_bound: bool
    available: bool
    description: str


def listing() -> list[SolverInfo]:
    """Every registered solver with its properties and whether its backend imports here."""
    _load_all()
    return [SolverInfo(s.name, tuple(s.families), s.exact, s.gives_bound, s.available(), s.description)
            for s in REGISTRY.values()]
