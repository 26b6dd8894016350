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

from edgeopt.document import InstanceError
from edgeopt.io import write_atomic

#: The reference file of the bundled instances, in a source checkout.
BUNDLED = Path(__file__).resolve().parents[2] / "instances" / "reference.solu"


def default_path() -> Path | None:
    """The reference file used when none is named: ./instances/reference.solu, else the bundled one."""
    for path in (Path("instances") / "reference.solu", BUNDLED):
        if path.is_file():
            return path
    return None


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


def write_solu(path: str | Path, references: dict[str, Reference], comments: list[str] | None = None) -> None:
    """Write references as a .solu file (atomically), one instance after another in name order."""
    lines = list(comments or [])
    for name in sorted(references):
        ref = references[name]
        if ref.infeasible:
            lines.append(f"=inf= {name}")
        for tag, value in (("=opt=", ref.optimum), ("=best=", ref.best), ("=bound=", ref.bound)):
            if value is not None:
                lines.append(f"{tag} {name} {_number(value)}")
    write_atomic(path, "\n".join(lines) + "\n")


def _number(value: float) -> str:
    """An integral value as an integer (336, not 336.0: the published optima are integers), else the
    shortest text that reads back as the same float."""
    v = float(value)
    return str(int(v)) if v.is_integer() and abs(v) < 2 ** 53 else repr(v)


def comment_lines(path: str | Path) -> list[str]:
    """The leading '#' lines of a .solu file (kept when the file is rewritten)."""
    out = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        out.append(line)
    return out


def improve(references: dict[str, Reference], rows) -> tuple[dict[str, Reference], list[str]]:
    """New references from verified comparison rows, and one line per change.

    A verified ``optimal`` row gives a proven optimum (an existing optimum that differs by more than 1e-6
    relative is reported as a conflict and kept, never overwritten); otherwise a verified objective
    better than the recorded best becomes ``=best=``, and a proven bound tighter than the recorded one
    becomes ``=bound=``; an exact solver's ``infeasible`` becomes ``=inf=``. ``rows``: dicts or a
    DataFrame with the columns of :func:`edgeopt.compare`.
    """
    from dataclasses import replace

    records = rows.to_dict("records") if hasattr(rows, "to_dict") else list(rows)
    refs = dict(references)
    changes: list[str] = []

    def finite(v):
        return v is not None and isinstance(v, (int, float)) and math.isfinite(v)

    for name in sorted({r["instance"] for r in records}):
        mine = [r for r in records if r["instance"] == name]
        sense = mine[0]["sense"]
        better = (lambda a, b: a > b) if sense == "max" else (lambda a, b: a < b)
        old = refs.get(name, Reference(name))
        new = old
        verified = [r for r in mine if r["verified"] and finite(r["objective"])]
        proven = [r["objective"] for r in verified if r["status"] == "optimal"]
        if proven:
            value = max(proven) if sense == "max" else min(proven)
            if old.optimum is None:
                new = Reference(name, optimum=value)
                changes.append(f"{name}: =opt= {value!r} (was {_describe(old)})")
            elif abs(value - old.optimum) > 1e-6 * max(1.0, abs(old.optimum)):
                changes.append(f"{name}: CONFLICT: a solver proved {value!r} but the file says =opt= "
                               f"{old.optimum!r}; kept the file's value, check both")
        elif old.optimum is None and not old.infeasible:
            values = [r["objective"] for r in verified]
            if values:
                value = max(values) if sense == "max" else min(values)
                if old.best is None or better(value, old.best):
                    new = replace(new, best=value)
            bounds = [r["bound"] for r in mine if finite(r.get("bound")) and r["status"] != "error"]
            if bounds:
                bound = min(bounds) if sense == "max" else max(bounds)
                if new.bound is None or better(new.bound, bound):
                    new = replace(new, bound=bound)
            if any(r["status"] == "infeasible" for r in mine) and not verified and new.best is None:
                new = replace(new, infeasible=True)
            if new != old:
                changes.append(f"{name}: {_describe(new)} (was {_describe(old)})")
        refs[name] = new
    return refs, changes


def _describe(ref: Reference) -> str:
    parts = []
    if ref.infeasible:
        parts.append("=inf=")
    for tag, value in (("=opt=", ref.optimum), ("=best=", ref.best), ("=bound=", ref.bound)):
        if value is not None:
            parts.append(f"{tag} {value!r}")
    return " ".join(parts) or "nothing"
