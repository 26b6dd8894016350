"""Reference values of instances in MIPLIB's .solu style, with the content hash of each instance.

    =opt=   NAME VALUE   proven optimum
    =best=  NAME VALUE   best known value, not proven optimal
    =bound= NAME VALUE   best proven bound (beside a =best=)
    =inf=   NAME         proven infeasible
    =hash=  NAME sha256:...   the content hash of the instance the values are for (edgeopt's addition)

Lines starting with '#' are comments. A reference is looked up by name and, where the file gives a hash,
used only for an instance with that content: a changed file with the same name gets no reference.

Where references are found (:func:`candidates`): a file named on the command line, or else every
``reference.solu`` in an instance file's folder or the two folders above it, and the copy of the bundled
instances' references that ships inside the package (``edgeopt/data/reference.solu``), so that they work
after a plain ``pip install`` from any folder.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from edgeopt.document import MAX_PROBLEMS, NUMBER_TEXT, InstanceError, cap_problems, shown
from edgeopt.io import read_text, write_atomic

_HASH = re.compile(r"sha256:[0-9a-f]{64}", re.ASCII)

#: The bundled instances' references as shipped inside the package (a copy of instances/reference.solu,
#: which tests/test_reference_script.py keeps equal to it).
PACKAGED = Path(__file__).resolve().parents[1] / "data" / "reference.solu"
#: Largest .solu file read; the bundled one is under 4 kB.
MAX_SOLU_BYTES = 16 * 1024 * 1024
_TAGS = {"=opt=": "optimum", "=best=": "best", "=bound=": "bound"}


def candidates(paths=()) -> list[Path]:
    """The reference files that apply when none is named: ``reference.solu`` in each path's folder or the
    two folders above it, then the packaged copy. Each file once, nearest first."""
    found: list[Path] = []
    for p in paths:
        folder = Path(p).resolve()
        folder = folder if folder.is_dir() else folder.parent
        for d in (folder, folder.parent, folder.parent.parent):
            if (d / "reference.solu").is_file():
                found.append(d / "reference.solu")
                break
    if PACKAGED.is_file():
        found.append(PACKAGED)
    return list(dict.fromkeys(found))


@dataclass(frozen=True)
class Reference:
    name: str
    optimum: float | None = None
    best: float | None = None
    bound: float | None = None
    infeasible: bool = False
    hash: str | None = None  # the content hash of the instance these values are for
    source: str = field(default="", compare=False)  # the file it was read from

    def matches(self, instance_hash: str) -> bool:
        """Whether the reference is for this instance content (a reference without a hash matches any)."""
        return self.hash is None or self.hash == instance_hash

    @property
    def value(self) -> float | None:
        """The value to measure gaps against: the optimum if proven, else the best known value."""
        return self.optimum if self.optimum is not None else self.best


def _line_problem(parts: list[str]) -> tuple[str, object] | str:
    """(field, value) of one line of a .solu file, or what is wrong with it."""
    tag = parts[0]
    if tag == "=inf=" and len(parts) == 2:
        return "infeasible", True
    if tag == "=hash=" and len(parts) == 3:
        return ("hash", parts[2]) if _HASH.fullmatch(parts[2]) else f"hash must be sha256:<64 hex digits>, got {shown(parts[2])}"
    if tag not in _TAGS or len(parts) != 3:
        return f"expected '=opt=|=best=|=bound= NAME VALUE', '=inf= NAME' or '=hash= NAME HASH', got {shown(' '.join(parts))}"
    if not NUMBER_TEXT.fullmatch(parts[2]):
        return f"value must be a finite decimal number, got {shown(parts[2])}"
    value = float(parts[2])
    return (_TAGS[tag], value) if math.isfinite(value) else f"value must be finite, got {shown(parts[2])}"


def read_solu(path: str | Path) -> dict[str, Reference]:
    """Parse a .solu file; raises InstanceError naming the file and line for every malformed line, a tag
    given twice for one name, and a name both infeasible and with a value."""
    source = str(path)
    fields: dict[str, dict] = {}
    problems = []
    for lineno, line in enumerate(read_text(path, limit=MAX_SOLU_BYTES).splitlines(), start=1):
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        got = _line_problem(parts)
        if isinstance(got, str):
            problems.append((f"line {lineno}", got))
        elif got[0] in fields.setdefault(parts[1], {}):
            problems.append((f"line {lineno}", f"{parts[0]} for {shown(parts[1])} is given twice"))
        else:
            fields[parts[1]][got[0]] = got[1]
        if len(problems) > MAX_PROBLEMS:
            break
    for name, f in fields.items():
        if f.get("infeasible") and any(k in f for k in _TAGS.values()):
            problems.append(("", f"{shown(name)} is =inf= and has a value: a reference cannot be both"))
    if problems:
        raise InstanceError(source, cap_problems(problems))
    return {name: Reference(name, source=source, **f) for name, f in fields.items()}


def references_for(files) -> list[dict[str, Reference]]:
    """The references of each file, nearest first (see :func:`lookup`)."""
    return [read_solu(f) for f in files]


def lookup(tables: list[dict[str, Reference]], name: str, instance_hash: str) -> tuple[Reference | None, str]:
    """The first reference for ``name`` whose hash matches, and a note when one was found for other content."""
    note = ""
    for table in tables:
        ref = table.get(name)
        if ref is None:
            continue
        if ref.matches(instance_hash):
            return ref, ""
        note = f"{ref.source} has a reference for {name!r}, but for other content ({ref.hash}); not used"
    return None, note


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
        if ref.hash is not None:
            lines.append(f"=hash= {name} {ref.hash}")
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
        sense, content = mine[0]["sense"], mine[0].get("instance_hash")
        better = (lambda a, b: a > b) if sense == "max" else (lambda a, b: a < b)
        old = refs.get(name, Reference(name, hash=content))
        if content is not None and not old.matches(content):
            changes.append(f"{name}: the file's reference is for other content ({old.hash}); left unchanged")
            continue
        new = old
        verified = [r for r in mine if r["verified"] and finite(r["objective"])]
        proven = [r["objective"] for r in verified if r["status"] == "optimal"]
        if proven:
            value = max(proven) if sense == "max" else min(proven)
            if old.optimum is None:
                new = Reference(name, optimum=value, hash=content)
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
                new = replace(new, hash=content)
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
