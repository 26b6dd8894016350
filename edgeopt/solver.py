"""What every solver is: a class with its properties, a frozen dataclass of options, and ``run``.

    @dataclass(frozen=True)
    class RandomOptions(Options):
        tries: int = option(5, at_least=1)

    @register_solver
    class RandomPlans(Solver):
        '''Seeded random loading orders, routed greedily (this line is its description).'''

        name, family, Options = "random", "deployment", RandomOptions

        def run(self, instance, options, *, time_limit, seed, started):
            ...
            return self.plan_result(instance, solution, ...)

``Solver.solve(instance, time_limit=, seed=, **options)`` validates the options once (an unknown name,
a wrong type or a value out of range is a ValueError naming the option; the command line turns it into
exit code 2) and calls ``run``. Heuristics hand their plan to :meth:`Solver.plan_result`, which prices
it with the family's evaluator (the truth): a feasible plan is ``feasible``, a plan that violates a
constraint is an ``error`` that keeps the plan for inspection. A heuristic that found nothing proves
nothing, so :meth:`Solver.no_plan` is an ``error`` too, never ``infeasible``.
"""
from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
import inspect
import math
import time
import types
import typing
from typing import Any, ClassVar

from edgeopt import registry
from edgeopt.document import brief
from edgeopt.result import Result, Status


def require(condition: bool, option: str, expected: str, value: Any) -> None:
    """Raise the ValueError of a bad option value: ``option <name>: must be <expected>, got <value>``."""
    if not condition:
        raise ValueError(f"option {option}: must be {expected}, got {brief(value)}")


#: The largest seed: HiGHS and CP-SAT take 32-bit seeds; one range for every solver keeps a seed portable across
#: them (``edgeopt.solve`` and the command line refuse a seed outside [0, MAX_SEED]).
MAX_SEED = 2**31 - 1

#: The most threads (or parallel workers) a backend may be asked for: a value far above any machine's cores
#: made HiGHS abort with std::bad_alloc and CP-SAT exit without a reason (issue 19); docs/solvers.md.
MAX_THREADS = 256


def option(default=dataclasses.MISSING, *, factory=dataclasses.MISSING, at_least=None, above=None, at_most=None,
           below=None):
    """A field of a solver's Options with the range its value must lie in (checked by :class:`Options`).

    ``at_least``/``at_most`` are inclusive bounds, ``above``/``below`` exclusive ones; None is always
    allowed where the field's type allows it (it means "the instance-dependent default")."""
    bounds = {"at_least": at_least, "above": above, "at_most": at_most, "below": below}
    return dataclasses.field(default=default, default_factory=factory,
                             metadata={k: v for k, v in bounds.items() if v is not None})


def _range_text(b: dict) -> str:
    lo, lo_open = (b["above"], True) if "above" in b else (b.get("at_least"), False)
    hi, hi_open = (b["below"], True) if "below" in b else (b.get("at_most"), False)
    if lo is not None and hi is not None:
        if lo_open == hi_open:
            return f"between {lo} and {hi}" + (" (exclusive)" if lo_open else "")
        return f"in {'(' if lo_open else '['}{lo}, {hi}{')' if hi_open else ']'}"
    if lo is not None:
        return f"{'>' if lo_open else '>='} {lo}"
    return f"{'<' if hi_open else '<='} {hi}"


def _in_range(value, b: dict) -> bool:
    return ((b.get("at_least") is None or value >= b["at_least"]) and (b.get("above") is None or value > b["above"])
            and (b.get("at_most") is None or value <= b["at_most"]) and (b.get("below") is None or value < b["below"]))


def _accepts(hint, value) -> bool:
    """Whether ``value`` has the annotated type (int, float, bool, str, None, unions and Literal)."""
    if hint is typing.Any:
        return True
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        return any(_accepts(h, value) for h in typing.get_args(hint))
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if origin is dict or hint is dict:
        return isinstance(value, dict)
    return isinstance(value, hint) if isinstance(hint, type) else True


def _describe(hint) -> str:
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        return " or ".join(_describe(h) for h in typing.get_args(hint))
    if origin is typing.Literal:
        return "one of " + ", ".join(map(repr, typing.get_args(hint)))
    words = {int: "an integer", float: "a finite number", bool: "true or false", str: "a string",
             type(None): "None", dict: "a mapping"}
    return words.get(hint, getattr(hint, "__name__", str(hint)))


@dataclasses.dataclass(frozen=True)
class Options:
    """Base of every solver's options: each field's type and range (:func:`option`) are checked, then
    :meth:`check` checks what involves several fields."""

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if not _accepts(hints[f.name], value):
                raise ValueError(f"option {f.name}: must be {_describe(hints[f.name])}, got {brief(value)}")
            if f.metadata and value is not None and not _in_range(value, f.metadata):
                raise ValueError(f"option {f.name}: must be {_range_text(f.metadata)}, got {brief(value)}")
        self.check()

    def check(self) -> None:
        """Checks that involve several fields, through :func:`require`."""

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


class Solver(ABC):
    """Base of every solver. Subclasses set the class attributes and implement :meth:`run`; the first
    paragraph of a solver's own docstring is its description in ``edgeopt solvers``."""

    name: ClassVar[str] = ""
    #: The family the solver is registered for (None for a family-agnostic MILP backend).
    family: ClassVar[str | None] = None
    exact: ClassVar[bool] = False
    gives_bound: ClassVar[bool] = False
    #: Modules that must import for the solver to run (its backend); checked by the registry.
    requires: ClassVar[tuple[str, ...]] = ()
    Options: ClassVar[type] = Options

    @classmethod
    def description(cls) -> str:
        """The first paragraph of the class's own docstring, on one line."""
        doc = cls.__dict__.get("__doc__") or ""
        return " ".join(inspect.cleandoc(doc).split("\n\n")[0].replace("``", "").split())

    @classmethod
    def probe(cls) -> str | None:
        """Why the solver cannot run although its modules import (None: it can). Called once."""
        return None

    @classmethod
    def parse_options(cls, options: dict) -> Options:
        """The validated options; ValueError naming an unknown option and listing the known ones."""
        known = [f.name for f in dataclasses.fields(cls.Options)]
        unknown = sorted(set(options) - set(known))
        if unknown:
            takes = ", ".join(known) if known else "no options"
            raise ValueError(f"{cls.name} does not know option(s) {', '.join(unknown)}; it takes {takes}")
        return cls.Options(**options)

    def solve(self, instance, *, time_limit: float | None = None, seed: int | None = None, **options) -> Result:
        """Solve ``instance``; the clock for ``time_limit`` starts here, before any model is built."""
        started = time.perf_counter()
        opts = self.parse_options(options)
        return self.run(instance, opts, time_limit=time_limit, seed=seed, started=started)

    @abstractmethod
    def run(self, instance, options, *, time_limit: float | None, seed: int | None, started: float) -> Result:
        """Solve with parsed ``options``; every registered solver defines it."""

    # -- what heuristics return ---------------------------------------------------------------------
    def plan_result(self, instance, solution, *, build_seconds: float, solve_seconds: float, raw_status: str,
                    extra: dict | None = None) -> Result:
        """A heuristic's plan, priced and checked by the family's evaluator (the truth)."""
        ev = registry.family_of(instance).evaluate(instance, solution)
        common = dict(solver=self.name, objective=ev.objective, evaluation=ev, solution=solution,
                      build_seconds=build_seconds, solve_seconds=solve_seconds, raw_status=raw_status,
                      extra=extra or {})
        if not ev.feasible:
            # A bug, not a hard instance: keep the plan so that the violation can be inspected.
            return Result(status=Status.ERROR, message=f"{self.name} built a plan that violates "
                          f"{len(ev.violations)} constraint(s), first: {ev.violations[0]}", **common)
        return Result(status=Status.FEASIBLE, **common)

    def no_plan(self, why: str, *, build_seconds: float = 0.0, solve_seconds: float = 0.0,
                extra: dict | None = None) -> Result:
        """A heuristic that found nothing: it proves nothing, so the result is an error, not infeasible."""
        return Result(status=Status.ERROR, solver=self.name, message=f"no feasible plan found: {why}",
                      build_seconds=build_seconds, solve_seconds=solve_seconds, raw_status="no plan",
                      extra=extra or {})


def deadline(started: float, time_limit: float | None) -> float | None:
    """The perf_counter time at which a run that started at ``started`` must stop (None: no limit)."""
    return None if time_limit is None else started + float(time_limit)


def seconds_left(started: float, time_limit: float | None, floor: float = 1e-3) -> float | None:
    """What is left of ``time_limit`` (at least ``floor``, so a backend still returns at once)."""
    return None if time_limit is None else max(floor, float(time_limit) - (time.perf_counter() - started))
