"""OR-Library's GAP text format (J.E. Beasley): reading a file of several problems, and writing one.

The format: the number of problems P; per problem the number of agents m and of jobs n, the m x n
profit (or cost) matrix agent by agent, the m x n resource matrix, the m capacities. The file does not
say whether its problems maximise or minimise; OR-Library's names do (gap1-gap12 maximise, gapa-gapd
minimise), and ``sense`` overrides them.
"""
from __future__ import annotations

import bisect
import contextlib
import itertools
import re
from pathlib import Path

import numpy as np

from edgeopt.document import INTEGER_TEXT, NUMBER_TEXT, InstanceError
from edgeopt.families.gap.instance import MAX_VARIABLES, OBJECTIVE_KEY, Instance
from edgeopt.families.gap.schema import KIND, MAX_AGENTS, MAX_JOBS, MAX_VALUE
from edgeopt.io import instance_from_data


def sense_from_name(path: str | Path) -> str | None:
    """OR-Library's naming: gap1..gap12 maximise, gapa..gapd minimise; None when the name does not tell."""
    stem = Path(path).stem.lower()
    if re.fullmatch(r"gap\d+", stem):
        return "max"
    if re.fullmatch(r"gap[a-d]", stem):
        return "min"
    return None


def _shown(token: str) -> str:
    """A token as quoted in a message, cut short: a garbage file may hold one of a million characters."""
    return repr(token) if len(token) <= 40 else repr(token[:37] + "...")


class _Stop(Exception):
    """A problem of the file that makes the rest unreadable (a bad size, the file ending early)."""


#: OR-Library's largest GAP file (gapd) is under 3 MB; the parser holds every token as a Python string, so
#: a larger file is refused before it is split (a 500 MB one took 11.8 GB).
MAX_TEXT_CHARACTERS = 16 * 1024 * 1024
#: The tokens of the format: ASCII decimal numbers. Python's int() and float() also take "1_000", "nan",
#: "inf" and digits of other scripts ("１２"), none of which is OR-Library data.
_CLEAN = re.compile(r"[0-9eE+\-.\s]*", re.ASCII)


class _Tokens:
    """Whitespace-separated tokens of the file, with the line each is on (found only for messages)."""

    def __init__(self, text: str):
        #: Only the characters of numbers: then every token is checked by float() alone (the fast path).
        self.clean = _CLEAN.fullmatch(text) is not None
        lines = text.splitlines()
        split = [line.split() for line in lines]
        self.items = [tok for toks in split for tok in toks]
        self.line_ends = list(itertools.accumulate(len(toks) for toks in split))
        self.pos = 0

    def line_of(self, k: int) -> int:
        return bisect.bisect_right(self.line_ends, k) + 1

    def left(self) -> int:
        return len(self.items) - self.pos


def _size(tokens: _Tokens, what: str, where: str, problems: list, limit: int) -> int:
    """Read one positive integer (a count); a missing, non-integer or non-positive one stops the parse."""
    if tokens.left() == 0:
        problems.append((where, f"expected the number of {what}, file ends"))
        raise _Stop
    k = tokens.pos
    tok = tokens.items[k]
    tokens.pos += 1
    value = int(tok) if INTEGER_TEXT.fullmatch(tok) else None
    if value is None or value < 1:
        problems.append((where, f"line {tokens.line_of(k)}: expected the number of {what} (a positive integer), "
                         f"got {_shown(tok)}"))
        raise _Stop
    if value > limit:
        problems.append((where, f"line {tokens.line_of(k)}: the number of {what} is {value:,}, more than the limit "
                         f"of {limit:,}"))
        raise _Stop
    return value


def _numbers(tokens: _Tokens, count: int, what: str, detail: str, where: str, problems: list, *,
             label, nonnegative: bool) -> np.ndarray | None:
    """Read ``count`` numbers; ``label(k)`` names the k-th (``profit[2][7]``). None if any is bad."""
    chunk = tokens.items[tokens.pos:tokens.pos + count]
    if len(chunk) < count:
        problems.append((where, f"expected {count} {what}{detail}, file ends after {len(chunk)}"))
        raise _Stop
    start = tokens.pos
    tokens.pos += count
    bad = []
    try:
        if not tokens.clean:
            raise ValueError
        values = np.array(chunk, dtype=float)
    except ValueError:  # find the culprits one by one only when the fast path fails
        values = np.zeros(count)
        for k, tok in enumerate(chunk):
            if NUMBER_TEXT.fullmatch(tok):
                values[k] = float(tok)
            else:
                bad.append((k, f"must be a number, got {_shown(tok)}"))
    # float() accepts "nan" and "inf"; data must be finite and within the schema's range.
    for k in np.flatnonzero(~np.isfinite(values) | (np.abs(values) > MAX_VALUE)):
        bad.append((int(k), f"must be a finite number of magnitude at most {MAX_VALUE:g}, got {_shown(chunk[k])}"))
    if nonnegative:
        for k in np.flatnonzero(values < 0):
            bad.append((int(k), f"must be >= 0, got {_shown(chunk[k])}"))
    for k, msg in sorted(bad)[:10]:
        problems.append((where, f"line {tokens.line_of(start + k)}: {label(k)} {msg}"))
    if len(bad) > 10:
        problems.append((where, f"... and {len(bad) - 10} more bad {what}"))
    return None if bad else values


def _plain(values: np.ndarray) -> list:
    """JSON numbers: integers where every value is integral (OR-Library's data are), floats otherwise."""
    if np.all(values == np.round(values)):
        return values.astype(np.int64).tolist()
    return values.tolist()


def parse_orlib(text: str, source: str, sense: str | None = None) -> list[Instance]:
    """Every problem of an OR-Library GAP file, as Instances named ``<file stem>-<problem number>``.

    The format: the number of problems P; per problem the number of agents m and of jobs n, the m x n
    profit (or cost) matrix agent by agent, the m x n resource matrix, the m capacities. ``sense``
    ("max" or "min") overrides the file name's convention (:func:`sense_from_name`); one of them must
    tell. Every problem found is reported as (``problem k``, ``line L: ...``), with the file's name.
    """
    if sense is None:
        sense = sense_from_name(source)
    if sense not in ("max", "min"):
        if sense is None:
            msg = ("cannot tell from the file name whether its problems maximise or minimise (OR-Library: gap1 "
                   "to gap12 maximise, gapa to gapd minimise); pass sense 'max' or 'min' (--sense on the "
                   "command line)")
        else:
            msg = f"sense must be 'max' or 'min', got {sense!r}"
        raise InstanceError(source, [("", msg)])
    if len(text) > MAX_TEXT_CHARACTERS:
        raise InstanceError(source, [("", f"an OR-Library file of {len(text):,} characters is more than the limit "
                                          f"of {MAX_TEXT_CHARACTERS:,}")])
    key = OBJECTIVE_KEY[sense]
    stem = Path(source).stem
    tokens = _Tokens(text)
    problems: list[tuple[str, str]] = []
    out: list[Instance] = []
    with contextlib.suppress(_Stop):  # _Stop ends the reading; its problem is already recorded
        if tokens.left() == 0:
            problems.append(("", "expected the number of problems, the file is empty"))
            raise _Stop
        count = _size(tokens, "problems", "", problems, 10_000)
        for p in range(1, count + 1):
            where = f"problem {p}"
            m = _size(tokens, "agents", where, problems, MAX_AGENTS)
            n = _size(tokens, "jobs", where, problems, MAX_JOBS)
            if m * n > MAX_VARIABLES:
                problems.append((where, f"{m} agents x {n} jobs is a model of {m * n:,} variables, more than the "
                                 f"limit of {MAX_VARIABLES:,}"))
                raise _Stop
            shape = f" ({m} agents x {n} jobs)"
            cell = lambda name: (lambda k: f"{name}[{k // n}][{k % n}]")  # noqa: E731
            before = len(problems)
            weight = _numbers(tokens, m * n, f"{key}s", shape,
                              where, problems, label=cell(key), nonnegative=False)
            resource = _numbers(tokens, m * n, "resource amounts", shape, where, problems, label=cell("resource"),
                                nonnegative=True)
            capacity = _numbers(tokens, m, "capacities", "", where, problems, label=lambda k: f"capacity[{k}]",
                                nonnegative=True)
            if len(problems) > before:
                continue
            doc = {"kind": KIND, "format": 1, "name": f"{stem}-{p}",
                   "description": f"problem {p} of {Path(source).name} (OR-Library generalized assignment format)",
                   "sense": sense, "agents": m, "jobs": n,
                   key: _plain(weight.reshape(m, n)), "resource": _plain(resource.reshape(m, n)),
                   "capacity": _plain(capacity)}
            try:
                out.append(instance_from_data(doc, source))
            except InstanceError as exc:
                problems += [(where, f"{path}: {msg}" if path else msg) for path, msg in exc.problems]
        if tokens.left() and not problems:
            k = tokens.pos
            problems.append((f"line {tokens.line_of(k)}", f"the file declares {count} problem(s) but has more data "
                             f"after the last one, starting with {_shown(tokens.items[k])}"))
    if problems:
        raise InstanceError(source, problems)
    return out


def to_orlib(instances: list[Instance]) -> str:
    """The OR-Library text of ``instances`` (one file; one sense is implied by the file's name)."""
    out = [f" {len(instances)}"]
    for inst in instances:
        out.append(f" {inst.agents} {inst.jobs}")
        d = inst.content
        for rows in (d[inst.objective_key], d["resource"]):
            out += [" " + " ".join(str(v) for v in row) for row in rows]
        out.append(" " + " ".join(str(v) for v in d["capacity"]))
    return "\n".join(out) + "\n"
