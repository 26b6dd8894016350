"""The two registries: problem families (the :class:`Family` contract) and solvers keyed by (family, name).

A family is one :class:`Family` value, registered by its package under ``edgeopt/families/``. A solver
is a class (see :mod:`edgeopt.solver`) registered next to its code, either for one family
(:func:`register_solver`; a solver serving two families is two registrations) or, for a MILP backend
that solves any matrix-form model, for every family that has a formulation (:func:`register_backend`).
Which backends serve which family is derived, never listed by hand.

Listing order is fixed by the keys, not by the order modules were imported in: families by kind;
within a family the exact methods first, then the heuristics, each group by name.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from edgeopt.document import INTEGER_TEXT, parse_integer, parse_number

#: Family kinds, as they appear in files and on the command line.
FAMILIES: dict[str, "Family"] = {}
#: (family kind, solver name) -> solver class, for solvers of one family.
SOLVERS: dict[tuple[str, str], type] = {}
#: name -> solver class, for backends that solve every family with a formulation.
BACKENDS: dict[str, type] = {}


@dataclass(frozen=True)
class GeneratorOption:
    """One parameter of a family's generator, as the command line offers it (``--regions-per-edge N``)."""

    name: str  # the keyword of generate(); the flag is the name with dashes
    parse: Callable[[str], Any]  # text -> value; raises ValueError (or argparse.ArgumentTypeError) when bad
    default: Any
    help: str
    metavar: str = "X"
    flag: bool = False  # a boolean: --name / --no-name


def at_least(low: int) -> Callable[[str], int]:
    """A generator option's parser: an integer >= ``low``."""
    def parse(text: str) -> int:
        value = parse_integer(text)
        if value < low:
            raise ValueError(f"must be an integer >= {low}, got {text!r}")
        return value
    return parse


def number(*, positive: bool) -> Callable[[str], float]:
    """A generator option's parser: a finite number, > 0 (``positive``) or >= 0."""
    def parse(text: str) -> float:
        value = parse_number(text)
        if not (value > 0 if positive else value >= 0):
            raise ValueError(f"must be a {'positive' if positive else 'non-negative'}, finite number, got {text!r}")
        return value
    return parse


def count_or_names(text: str) -> int | list[str]:
    """A generator option's parser: ``4`` (a count drawn from a catalog) or ``a,b`` (catalog names)."""
    text = text.strip()
    if INTEGER_TEXT.fullmatch(text):
        return int(text)
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise ValueError(f"must be a count or comma-separated catalog names, got {text!r}")
    return names


def choice(*values: str) -> Callable[[str], str]:
    """A generator option's parser: one of ``values``."""
    def parse(text: str) -> str:
        if text not in values:
            raise ValueError(f"must be one of {', '.join(values)}, got {text!r}")
        return text
    return parse


@dataclass(frozen=True)
class Reader:
    """A file format other than instance JSON that a family reads (OR-Library text for gap)."""

    name: str
    #: (text, path) -> whether the file is in this format.
    sniff: Callable[[str, str], bool]
    #: (text, source, sense) -> the instances the file holds.
    read: Callable[[str, str, "str | None"], list]


@dataclass(frozen=True)
class Family:
    """The contract every problem family fulfils, as one value its package registers.

    Every field but ``formulate`` and ``readers`` is required. Capabilities follow from the fields: a
    family with ``formulate`` is solved by every registered MILP backend and can be exported to MPS/LP;
    one without it is solved by its own exact method. ``sense`` is "min", "max", or None when each
    instance states its own (``Instance.sense``), as in gap.
    """

    kind: str
    title: str  # one line: what the family decides
    sense: str | None
    schema: Mapping
    #: The JSON Schema of the ``decisions`` object of a solution file.
    solution_schema: Mapping
    instance_type: type
    #: (schema-valid data, source) -> Instance; raises InstanceError for what a schema cannot check.
    from_data: Callable[[dict, str], Any]
    solution_to_data: Callable[[Any, Any], dict]
    #: (instance, decisions, source) -> the family's solution; raises InstanceError naming JSON paths.
    solution_from_data: Callable[[Any, dict, str], Any]
    #: (instance, solution) -> Evaluation: the truth every solver's result is checked against.
    evaluate: Callable[[Any, Any], Any]
    #: instance -> a sentence proving that no feasible plan exists, or None when none is found.
    infeasibility_reason: Callable[[Any], "str | None"]
    #: (**parameters, seed=...) -> a seeded, deterministic Instance.
    generate: Callable[..., Any]
    generator_options: tuple[GeneratorOption, ...]
    #: instance -> the text ``edgeopt show`` prints.
    describe: Callable[[Any], str]
    #: instance -> Formulation (``.model``, ``.decode(x)``, ``.encode(solution)``), for MILP families.
    formulate: Callable[[Any], Any] | None = None
    readers: tuple[Reader, ...] = ()
    docs: str = ""  # where the math is written down
    #: The solver ``edgeopt.solve(path)`` and ``edgeopt solve FILE`` use when none is named: the family's exact
    #: method (a MILP backend, or its own).
    default_solver: str = ""
    #: (parsed document, source) -> None; raises InstanceError when the document is plainly too large to read,
    #: counted before the JSON Schema check (which costs time in proportion to the document). It must ignore
    #: anything malformed: the schema reports that.
    precheck: Callable[[Any, str], None] | None = None

    def __post_init__(self) -> None:
        if self.sense not in ("min", "max", None):
            raise ValueError(f"family {self.kind!r}: sense must be 'min', 'max' or None, got {self.sense!r}")
        for name in ("from_data", "solution_to_data", "solution_from_data", "evaluate", "infeasibility_reason",
                     "generate", "describe"):
            if not callable(getattr(self, name)):
                raise TypeError(f"family {self.kind!r}: {name} must be callable")
        if not self.default_solver:
            raise ValueError(f"family {self.kind!r}: name its default_solver (the exact method edgeopt.solve uses)")
        if self.formulate is not None and not callable(self.formulate):
            raise TypeError(f"family {self.kind!r}: formulate must be callable or None")

    @property
    def has_formulation(self) -> bool:
        return self.formulate is not None


def register_family(family: Family) -> Family:
    if family.kind in FAMILIES:
        raise ValueError(f"family {family.kind!r} registered twice")
    FAMILIES[family.kind] = family
    return family


def family(kind: str) -> Family:
    try:
        return FAMILIES[kind]
    except (KeyError, TypeError):
        raise ValueError(f"unknown family {kind!r}; known: {', '.join(sorted(FAMILIES))}") from None


def family_of(instance) -> Family:
    return family(instance.kind)


# -- solvers ------------------------------------------------------------------------------------------
def _check_class(cls: type) -> None:
    if not cls.description():
        raise ValueError(f"{cls.__name__}: a solver's docstring is its description; it has none")


def register_solver(cls: type) -> type:
    """Class decorator: register a solver of one family (``cls.family``) under ``cls.name``."""
    key = (cls.family, cls.name)
    if not cls.name or not cls.family:
        raise ValueError(f"{cls.__name__}: a solver needs a name and a family")
    _check_class(cls)
    if key in SOLVERS or cls.name in BACKENDS:
        raise ValueError(f"solver {cls.name!r} registered twice for family {cls.family!r}")
    SOLVERS[key] = cls
    return cls


def register_backend(cls: type) -> type:
    """Class decorator: register a MILP backend; it serves every family that has a formulation."""
    if not cls.name or cls.name in BACKENDS or any(name == cls.name for _, name in SOLVERS):
        raise ValueError(f"backend {cls.name!r} has no name or is registered twice")
    _check_class(cls)
    BACKENDS[cls.name] = cls
    return cls


def _families_of(cls: type) -> list[str]:
    if cls.name in BACKENDS and BACKENDS[cls.name] is cls:
        return sorted(k for k, f in FAMILIES.items() if f.has_formulation)
    return [cls.family]


def names(kind: str) -> list[str]:
    """The solvers of a family, in listing order."""
    return [e.name for e in entries() if e.family == kind]


def solver_class(kind: str, name: str) -> type:
    """The class registered for (family, name); ValueError naming what the family has otherwise."""
    fam = family(kind)
    cls = SOLVERS.get((kind, name))
    if cls is None and name in BACKENDS and fam.has_formulation:
        cls = BACKENDS[name]
    if cls is None:
        elsewhere = sorted({k for k, n in SOLVERS if n == name}
                           | ({k for k, f in FAMILIES.items() if f.has_formulation} if name in BACKENDS else set()))
        if elsewhere:
            raise ValueError(f"solver {name!r} does not solve {kind!r} instances (it solves: {', '.join(elsewhere)}); "
                             f"solvers of {kind!r}: {', '.join(names(kind))}")
        raise ValueError(f"unknown solver {name!r}; known: {', '.join(all_names())}")
    return cls


def all_names() -> list[str]:
    return list(dict.fromkeys(e.name for e in entries()))


_IMPORT_ERRORS: dict[type, str | None] = {}

#: The optional packages and the extra of edgeopt that installs each (pyproject.toml).
EXTRAS = {"torch": "rl", "pettingzoo": "rl", "gymnasium": "rl", "dask": "dask", "distributed": "dask"}


def missing_extra(exc: BaseException) -> str | None:
    """When ``exc`` says an optional package is not installed: the sentence that names the extra to install
    (``torch is not installed: pip install "edgeopt[rl]"``); None otherwise."""
    name = getattr(exc, "name", None) if isinstance(exc, ModuleNotFoundError) else None
    top = (name or "").split(".")[0]
    if top not in EXTRAS:
        return None
    return f'{top} is not installed; it comes with pip install "edgeopt[{EXTRAS[top]}]"'


def import_error(cls: type) -> str | None:
    """Why the solver cannot run here (its backend package does not import), or None. Checked once."""
    if cls not in _IMPORT_ERRORS:
        error = None
        for module in getattr(cls, "requires", ()):
            try:
                importlib.import_module(module)
            except Exception as exc:  # an import can fail with ImportError or a broken shared library
                error = missing_extra(exc) or f"{module}: {type(exc).__name__}: {exc}"
                break
        if error is None:
            error = cls.probe()
        _IMPORT_ERRORS[cls] = error
    return _IMPORT_ERRORS[cls]


def installed_error(cls: type) -> str | None:
    """Why the solver cannot run here as far as a listing can tell without importing anything: a package it
    requires is not installed (``importlib.util.find_spec`` of its top-level package), or None. Cheaper than
    :func:`import_error` (which imports them, torch included, and runs the solver's probe) and weaker: an
    installed package may still fail to import; a solve checks that with :func:`import_error`."""
    for module in getattr(cls, "requires", ()):
        top = module.split(".")[0]
        try:
            found = importlib.util.find_spec(top) is not None
        except (ImportError, ValueError):  # a finder that refuses the name, or a module without a spec
            found = top in sys.modules
        if not found:
            extra = EXTRAS.get(top)
            return f'{top} is not installed' + (f'; it comes with pip install "edgeopt[{extra}]"' if extra else "")
    return None


@dataclass(frozen=True)
class SolverEntry:
    """One registered (family, solver) pair, as ``edgeopt.solvers()`` lists it."""

    family: str
    name: str
    exact: bool
    gives_bound: bool
    description: str
    requires: tuple[str, ...] = ()
    backend: bool = False  # a family-agnostic MILP backend
    available: bool = field(default=True, compare=False)
    import_error: str | None = field(default=None, compare=False)


def entries(check: bool = False, *, installed_only: bool = False) -> list[SolverEntry]:
    """Every (family, solver) pair in listing order; with ``check``, whether each imports here (with
    ``installed_only`` too, only whether the packages it requires are installed: :func:`installed_error`,
    which imports nothing)."""
    pairs = [(k, cls) for (k, _), cls in SOLVERS.items()]
    pairs += [(k, cls) for cls in BACKENDS.values() for k in _families_of(cls)]
    out = []
    for k, cls in sorted(pairs, key=lambda p: (p[0], not p[1].exact, p[1].name)):
        error = None if not check else installed_error(cls) if installed_only else import_error(cls)
        out.append(SolverEntry(k, cls.name, cls.exact, cls.gives_bound, cls.description(), tuple(cls.requires),
                               cls.name in BACKENDS, error is None, error))
    return out
