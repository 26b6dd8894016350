"""The leaf of edgeopt: documents, the error that names a file and a JSON path, schema checks, content hashes.

Every family's Instance is a :class:`Document`: the validated JSON object it was read from, its name
and the sha256 of its canonical JSON. :class:`InstanceError` reports every problem of an input file as
(JSON path, message). The building blocks of the families' JSON Schemas (names, bounded numbers, the
document head) and :func:`check_schema`, which turns jsonschema's errors into readable sentences, live
here too, so that no family needs anything above this module to describe its files.
"""
from __future__ import annotations

import copy
import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np

#: The format number of every instance and solution file this edgeopt reads and writes.
FORMAT = 1


def printable(text: str) -> str:
    """``text`` with every control character, lone surrogate and other unprintable character escaped
    (``\\n``, ``\\x1b``, ``\\ud800``): a file name or key put in a message cannot forge a line or an
    escape sequence on the terminal, nor fail to print."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape", "backslashreplace").decode("ascii")
                   for ch in text)


def brief(value: Any, limit: int = 40) -> str:
    """``repr(value)`` for a one-line message, kept printable (:func:`printable`) and cut short with its
    length when longer than ``limit`` characters: a 400-digit argument cannot flood the line."""
    try:
        text = printable(repr(value))
    except ValueError:  # an int beyond Python's digit limit for str()
        return f"an integer of {value.bit_length():,} bits"
    return text if len(text) <= limit else f"{text[:limit - 3]}... ({len(text):,} characters)"


class InstanceError(ValueError):
    """An input file (instance, solution, reference) is not valid. ``problems`` holds (JSON path, message).

    The file name is kept printable (:func:`printable`), so the message can always be shown as it is."""

    def __init__(self, source: str, problems: Iterable[tuple[str, str]]):
        self.source = printable(str(source))
        self.problems = list(problems)
        super().__init__(self._text())

    def _text(self) -> str:
        head = f"{self.source}: "
        if len(self.problems) == 1:
            path, msg = self.problems[0]
            return head + (f"{path}: {msg}" if path else msg)
        lines = [f"{self.source}: {len(self.problems)} problems"]
        lines += [f"  {path}: {msg}" if path else f"  {msg}" for path, msg in self.problems]
        return "\n".join(lines)


@dataclass(frozen=True, eq=False)
class Document:
    """Base of every family's Instance: the document's name, its content and the content's hash.

    ``content`` is the validated document; read it through :attr:`data`, which hands out a copy, so that
    changing what a caller got cannot desynchronise the instance's arrays and hash. Subclasses add their
    arrays as fields and set the class attributes ``kind`` and (unless it is per instance) ``sense``.
    """

    name: str
    content: dict = field(repr=False)
    hash: str

    @property
    def data(self) -> dict:
        """A fresh copy of the instance document."""
        return copy.deepcopy(self.content)

    @classmethod
    def head(cls, data: dict) -> dict:
        """The Document fields of a validated document: name, a private copy of it, its hash."""
        return {"name": data["name"], "content": copy.deepcopy(data), "hash": content_hash(data)}


def frozen(values, dtype=float) -> np.ndarray:
    """A read-only numpy array of ``values`` (a copy): the arrays of an Instance never change."""
    a = np.array(values, dtype=dtype)
    a.setflags(write=False)
    return a


# -- numbers written as text (command lines, OR-Library and .solu files) ------------------------------
#: An ASCII decimal integer. Python's int() also takes "1_000", "+3" with spaces and digits of other
#: scripts ("١٢"), none of which a user means as a number in a file or on a command line.
INTEGER_TEXT = re.compile(r"[+-]?[0-9]+", re.ASCII)
#: An ASCII decimal number (float() also takes "1_0.5", "nan", "inf" and other scripts' digits).
NUMBER_TEXT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?", re.ASCII)


def parse_integer(text: str) -> int:
    """An integer written in ASCII decimal digits; ValueError for anything else."""
    if not INTEGER_TEXT.fullmatch(text.strip()):
        raise ValueError(f"must be an integer, got {brief(text)}")
    return int(text)


def parse_number(text: str) -> float:
    """A finite number written as an ASCII decimal; ValueError for anything else."""
    if not NUMBER_TEXT.fullmatch(text.strip()) or not math.isfinite(float(text)):
        raise ValueError(f"must be a number, got {brief(text)}")
    return float(text)


# -- hashes ------------------------------------------------------------------------------------------
def canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=False)


def content_hash(data: Any) -> str:
    """sha256 of the canonical JSON of an instance's data: same content, same hash, whatever the layout."""
    return "sha256:" + hashlib.sha256(canonical_json(data).encode()).hexdigest()


# -- JSON paths and readable schema messages -----------------------------------------------------------
def json_path(parts: Iterable[Any]) -> str:
    """``['edges', 3, 'gpu_memory_gb']`` -> ``edges[3].gpu_memory_gb``; the root is ``(top level)``."""
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            key = printable(str(p))
            out += f".{key}" if out else key
    return out or "(top level)"


def json_type(value: Any) -> str:
    """The JSON name of a parsed value's type."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def shown(value: Any) -> str:
    """A value as quoted in a message, cut short: a hostile file may hold a million characters in one."""
    try:
        text = json.dumps(value, allow_nan=True)
    except (TypeError, ValueError):  # not a JSON value (a tuple key, an object): its repr, kept printable
        text = printable(repr(value))
    return text if len(text) <= 40 else f"{text[:37]}... ({len(text):,} characters)"


_TYPE_WORDS = {"number": "a number", "integer": "an integer", "string": "a string",
               "array": "an array", "object": "an object", "boolean": "true or false", "null": "null"}
_COMPARISONS = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}


def _schema_problems(error) -> list[tuple[str, str]]:
    path = list(error.absolute_path)
    v, val, inst = error.validator, error.validator_value, error.instance
    got = "got null" if inst is None else f"got {json_type(inst)} {shown(inst)}"
    where = json_path(path)
    if v == "type":
        types = [val] if isinstance(val, str) else list(val)
        return [(where, f"must be {' or '.join(_TYPE_WORDS.get(t, t) for t in types)}, {got}")]
    if v == "required":
        missing = [k for k in val if isinstance(inst, dict) and k not in inst]
        return [(json_path(path + [k]), "missing required key") for k in missing]
    if v == "additionalProperties":
        allowed = set(error.schema.get("properties", {}))
        hint = ", ".join(sorted(allowed))
        return [(json_path(path + [k]), f"unknown key (allowed here: {hint})") for k in sorted(inst)
                if k not in allowed]
    messages = {
        "minItems": lambda: f"must have at least {val} item(s), got {len(inst)}",
        "maxItems": lambda: f"must have at most {val} items, got {len(inst)}",
        "minLength": lambda: f"must be a non-empty string, got {shown(inst)}",
        "maxLength": lambda: f"must be at most {val} characters long",
        "pattern": lambda: f"must match {val}, got {shown(inst)}",
        "enum": lambda: f"must be one of {', '.join(map(shown, val))}, got {shown(inst)}",
        "const": lambda: f"must be {shown(val)}, got {shown(inst)}",
        "uniqueItems": lambda: "must not repeat an item",
        "not": lambda: f"must not contain a control character (newline, tab, escape, ...), got {shown(inst)}",
    }
    if v in _COMPARISONS:
        return [(where, f"must be {_COMPARISONS[v]} {val}, got {shown(inst)}")]
    return [(where, messages[v]() if v in messages else error.message)]


#: At most this many problems are listed for one file (a hostile file can hold millions).
MAX_PROBLEMS = 50


def _is_text(s: str) -> bool:
    """Text that can be written out: no lone surrogate (JSON's "\\ud800" escape parses to one)."""
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _bad_values(data: Any) -> list[tuple[str, str]]:
    """Every NaN or infinity (JSON has none, Python's parser accepts them) and every string or key that is
    not writable text, in the whole document (walked without recursion)."""
    out: list[tuple[str, str]] = []
    stack: list[tuple[Any, list]] = [(data, [])]
    while stack and len(out) <= MAX_PROBLEMS:
        value, path = stack.pop()
        if isinstance(value, float) and not math.isfinite(value):
            out.append((json_path(path), f"must be a finite number, got {value}"))
        elif isinstance(value, str) and not _is_text(value):
            out.append((json_path(path), "must be valid Unicode text (it holds a lone surrogate such as \\ud800)"))
        elif isinstance(value, dict):
            for k, v in value.items():
                if not _is_text(k):
                    out.append((json_path(path), "holds a key that is not valid Unicode text (a lone surrogate)"))
                else:
                    stack.append((v, path + [k]))
        elif isinstance(value, list):
            stack.extend((v, path + [i]) for i, v in enumerate(value))
    return sorted(out)


def _validator(schema: dict):
    """A Draft 2020-12 validator where "integer" means a JSON integer: jsonschema also takes 1.0 as an
    integer, and a count of 1.0 slots is not a count a program can loop over."""
    import jsonschema

    global _Validator
    if _Validator is None:
        checker = jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
            "integer", lambda _, v: isinstance(v, int) and not isinstance(v, bool))
        _Validator = jsonschema.validators.extend(jsonschema.Draft202012Validator, type_checker=checker)
    return _Validator(schema)


_Validator = None


def cap_problems(problems: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The first MAX_PROBLEMS problems, and a line saying how many more there are."""
    if len(problems) <= MAX_PROBLEMS:
        return problems
    return problems[:MAX_PROBLEMS] + [("", f"... and {len(problems) - MAX_PROBLEMS} more problems")]


def check_schema(data: Any, schema: dict, source: str) -> None:
    """Raise :class:`InstanceError` listing every schema problem, non-finite number and invalid text."""
    problems = _bad_values(data)
    if not problems:  # a lone surrogate would break the validator's own messages
        errors = sorted(_validator(schema).iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
        for error in errors[:MAX_PROBLEMS + 1]:
            problems += _schema_problems(error)
    if problems:
        # One value can break two rules (NaN fails "> 0" and "finite"); say each thing once.
        raise InstanceError(source, cap_problems(list(dict.fromkeys(problems))))


def check_unique(names: list[str], what: str, path: str, problems: list) -> dict[str, int]:
    """Index of each name; every repeated name is added to ``problems`` as (``path[i].name``, message)."""
    seen: dict[str, int] = {}
    for i, n in enumerate(names):
        if n in seen:
            problems.append((f"{path}[{i}].name", f"duplicate {what} name {n!r} (also {path}[{seen[n]}])"))
        else:
            seen[n] = i
    return seen


def listing(names: Iterable[str], most: int = 8) -> str:
    """Names for a message: the first ``most``, then how many in all."""
    names = list(names)
    return ", ".join(map(repr, names[:most])) + (f", ... ({len(names)} in all)" if len(names) > most else "")


# -- building blocks of the families' JSON Schemas -----------------------------------------------------
#: A name: a non-empty string of reasonable length (model, edge, category, ...), with no control character
#: (a name is printed in tables and messages: a newline or an escape sequence would forge or garble them).
NAME = {"type": "string", "minLength": 1, "maxLength": 200,
        "not": {"type": "string", "pattern": "[\\x00-\\x1f\\x7f-\\x9f]"}}
#: A name, or null for none.
NAME_OR_NULL = {**NAME, "type": ["string", "null"]}
#: Free text (description, source).
TEXT = {"type": "string", "maxLength": 10_000}
#: A list of names.
NAMES = {"type": "array", "items": NAME}
#: Where each figure of an entry comes from (field -> citation).
SOURCES = {"type": "object", "additionalProperties": {"type": "string"}}


#: The smallest value of a positive quantity (seconds, GB, Gbit/s, compute units): below it divisions by
#: the value overflow or lose every digit (5e-324 s per request is no request time at all).
LEAST_POSITIVE = 1e-6


def positive(maximum: float) -> dict:
    """A number >= LEAST_POSITIVE and <= maximum: both ends turn absurd values into errors."""
    return {"type": "number", "minimum": LEAST_POSITIVE, "maximum": maximum}


def nonnegative(maximum: float) -> dict:
    """A number >= 0 and <= maximum."""
    return {"type": "number", "minimum": 0, "maximum": maximum}


def record(required: list[str], properties: dict) -> dict:
    """A JSON object with these properties, these of them required, and no other key."""
    return {"type": "object", "additionalProperties": False, "required": list(required), "properties": properties}


def array_of(items: dict, *, least: int = 0, most: int | None = None) -> dict:
    """A JSON array of ``items``, with at least ``least`` and at most ``most`` of them."""
    out: dict = {"type": "array", "items": items}
    if least:
        out["minItems"] = least
    if most is not None:
        out["maxItems"] = most
    return out


def generated_head(kind: str, name: str, description: str, source: str) -> dict:
    """The head of a generated instance document: kind, format, name, how it was made, where data came from."""
    return {"kind": kind, "format": FORMAT, "name": name, "description": description, "source": source}


def document_schema(kind: str, title: str, required: list[str], properties: dict, **extra) -> dict:
    """The schema of an instance file: ``kind``, ``format`` 1, ``name``, optional ``description`` and
    ``source``, the family's own ``properties``; unknown keys are errors."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": title,
        **extra,
        **record(["kind", "format", "name", *required],
                 {"kind": {"const": kind}, "format": {"const": FORMAT}, "name": NAME, "description": TEXT,
                  "source": TEXT, **properties}),
    }
