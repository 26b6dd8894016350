"""Reference values of instances in MIPLIB's .solu style.

    =opt=   NAME VALUE   proven optimum
    =best=  NAME VALUE   best known value, not proven optimal
    =bound= NAME VALUE   best proven bound (beside a =best=)
    =inf=   NAME         proven infeasible

Lines starting with '#' are comments.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from edgeopt.io import InstanceError


@dataclass(frozen=True)
class Reference:
    name: str
    optimum: float | None = None
    best: float | None = None
    bound: float | None = None
    infeasible: bool = False

    @property
    def value(self) -> float | None:
        """The value to measure gaps against: the optimum if proven, else the best known value."""
        return self.optimum if self.optimum is not None else self.best


def read_solu(path: str | Path) -> dict[str, Reference]:
    """Parse a .solu file; raises InstanceError naming the file and line for a malformed line."""
    fields: dict[str, dict] = {}
    problems = []
    for lineno, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        tag = parts[0]
        where = f"line {lineno}"
        if tag == "=inf=" and len(parts) == 2:
            fields.setdefault(parts[1], {})["infeasible"] = True
            continue
        keys = {"=opt=": "optimum", "=best=": "best", "=bound=": "bound"}
        if tag not in keys or len(parts) != 3:
            problems.append((where, f"expected '=opt=|=best=|=bound= NAME VALUE' or '=inf= NAME', got {line!r}"))
            continue
        try:
            value = float(parts[2])
        except ValueError:
            problems.append((where, f"value must be a number, got {parts[2]!r}"))
            continue
        if not math.isfinite(value):
            problems.append((where, f"value must be finite, got {parts[2]!r}"))
            continue
        fields.setdefault(parts[1], {})[keys[tag]] = value
    if problems:
        raise InstanceError(str(path), problems)
    return {name: Reference(name, **f) for name, f in fields.items()}
