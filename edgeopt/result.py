"""Status, Result and Evaluation: what every solver returns and what every evaluator says."""
from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field, replace
from typing import Any


class Status(str, enum.Enum):
    """Outcome of a solve. The string values are what files and tables show."""

    OPTIMAL = "optimal"
    FEASIBLE = "feasible"
    INFEASIBLE = "infeasible"
    UNBOUNDED = "unbounded"
    TIME_LIMIT = "time_limit"
    ERROR = "error"

    def __str__(self) -> str:
        return self.value


#: The one tolerance of every proof and every comparison of values (issue 19; docs/solvers.md): two values
#: agree when they differ by at most PROOF_RTOL x max(1, |reference|). An exact method says "optimal" when the
#: evaluator's value of its plan and its proven bound agree so; a solver's own objective must agree so with
#: the evaluator's; a gap within it reads 0.
PROOF_RTOL = 1e-6


def agree(value: float, reference: float) -> bool:
    """Whether ``value`` and ``reference`` agree within :data:`PROOF_RTOL` (relative, at least absolute)."""
    return abs(value - reference) <= PROOF_RTOL * max(1.0, abs(reference))


def relative_gap(value: float | None, reference: float | None, sense: str) -> float | None:
    """Gap of ``value`` to ``reference``, relative to the reference, positive when ``value`` is worse.

    This is the one place where gaps are computed, for every family and every use (a solver's
    incumbent against its own bound, a heuristic against a proven optimum). When the reference is
    zero the denominator is 1e-9, so a gap to a zero optimum is reported as large, not hidden. Values that
    agree within the proof tolerance (:func:`agree`) have gap 0: a proven optimum, or a reference rounded to
    12 digits, reads 0, not -0.00 %.
    """
    if value is None or reference is None:
        return None
    if not (math.isfinite(value) and math.isfinite(reference)):
        return None
    diff = value - reference if sense == "min" else reference - value
    if agree(value, reference):
        return 0.0
    return diff / max(abs(reference), 1e-9)


@dataclass(frozen=True)
class Violation:
    """One violated constraint: which one, where, by how much."""

    constraint: str
    where: str
    amount: float
    message: str

    def __str__(self) -> str:
        return f"{self.constraint} at {self.where}: {self.message}"


@dataclass(frozen=True)
class Evaluation:
    """What a family's evaluator recomputes from the decisions alone."""

    objective: float
    parts: dict[str, float]
    violations: tuple[Violation, ...] = ()
    #: Figures that describe the plan but are not terms of the objective (mean latency in seconds,
    #: a Monte-Carlo estimate, ...). ``parts`` always sum to ``objective``; ``stats`` need not.
    stats: dict[str, float] = field(default_factory=dict)

    @property
    def feasible(self) -> bool:
        return not self.violations


@dataclass(frozen=True)
class Result:
    """The outcome of one solver run on one instance.

    ``objective`` is the solver's own value for ``solution`` until :func:`edgeopt.solve` checks it against
    the family's evaluator; from then on it is the evaluator's value (an integer optimum stays an integer).
    ``bound`` is set only when the solver proved it. ``gap`` is the incumbent's relative gap to that bound
    (see :func:`relative_gap`).
    """

    status: Status
    solver: str
    objective: float | None = None
    bound: float | None = None
    gap: float | None = None
    solution: Any = None
    build_seconds: float = 0.0
    solve_seconds: float = 0.0
    message: str = ""
    raw_status: str = ""
    evaluation: Evaluation | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def with_(self, **changes: Any) -> "Result":
        return replace(self, **changes)

    def summary(self) -> str:
        def fmt(v: float | None) -> str:
            return "-" if v is None else f"{v:.10g}"

        gap = "-" if self.gap is None else f"{100 * self.gap:.4g}%"
        lines = [
            f"status      {self.status.value}",
            f"objective   {fmt(self.objective)}",
            f"bound       {fmt(self.bound)}",
            f"gap         {gap}",
            f"build       {self.build_seconds:.3f} s",
            f"solve       {self.solve_seconds:.3f} s",
            f"solver      {self.solver}" + (f" ({self.raw_status})" if self.raw_status else ""),
        ]
        if "warm_start" in self.extra:
            lines.append(f"warm start  {self.extra['warm_start']}")
        if self.message:
            lines.append(f"message     {self.message}")
        return "\n".join(lines)
