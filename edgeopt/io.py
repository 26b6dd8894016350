"""Reading and writing instance and solution files, with errors that name the file and the JSON path.

Files are parsed as data only (``json``, or the numbers of an OR-Library GAP text file, read by
:func:`edgeopt.models.gap.parse_orlib`; no pickle, no eval). An instance file is a JSON object
``{"kind": ..., "format": 1, "name": ..., ...}``; its ``kind`` selects the family module in
:mod:`edgeopt.models`, whose JSON Schema is checked first (every problem is reported, not only the
first), and whose own checks (names that must exist, lengths that must agree) run after.
"""
from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import math
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator

import jsonschema

FORMAT = 1
#: Largest instance file read, in bytes; anything larger is refused before parsing.
MAX_FILE_BYTES = 512 * 1024 * 1024


class Document:
    """Base of every family's Instance: ``content`` holds the validated document, ``data`` hands out copies.

    A copy, so that changing what a caller got cannot desynchronise the instance's arrays and hash.
    """

    content: dict

    @property
    def data(self) -> dict:
        """A fresh copy of the instance document."""
        return copy.deepcopy(self.content)


class InstanceError(ValueError):
    """An input file (instance or solution) is not valid. ``problems`` holds (json path, message)."""

    def __init__(self, source: str, problems: Iterable[tuple[str, str]]):
        self.source = str(source)
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


# -- JSON paths and readable schema messages ---------------------------------------------------------
def json_path(parts: Iterable[Any]) -> str:
    """``['edges', 3, 'gpu_memory_gb']`` -> ``edges[3].gpu_memory_gb``; the root is ``(top level)``."""
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += f".{p}" if out else str(p)
    return out or "(top level)"


def _json_type(value: Any) -> str:
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


def _short(value: Any) -> str:
    text = json.dumps(value, allow_nan=True)
    return text if len(text) <= 40 else text[:37] + "..."


_TYPE_WORDS = {"number": "a number", "integer": "an integer", "string": "a string",
               "array": "an array", "object": "an object", "boolean": "true or false", "null": "null"}


def _schema_problems(error: jsonschema.ValidationError) -> list[tuple[str, str]]:
    path = list(error.absolute_path)
    v, val, inst = error.validator, error.validator_value, error.instance
    got = "got null" if inst is None else f"got {_json_type(inst)} {_short(inst)}"
    if v == "type":
        types = [val] if isinstance(val, str) else list(val)
        want = " or ".join(_TYPE_WORDS.get(t, t) for t in types)
        return [(json_path(path), f"must be {want}, {got}")]
    if v == "required":
        missing = [k for k in val if isinstance(inst, dict) and k not in inst]
        return [(json_path(path + [k]), "missing required key") for k in missing]
    if v == "additionalProperties":
        allowed = set(error.schema.get("properties", {}))
        extra = sorted(k for k in inst if k not in allowed)
        hint = ", ".join(sorted(allowed))
        return [(json_path(path + [k]), f"unknown key (allowed here: {hint})") for k in extra]
    words = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}
    if v in words:
        return [(json_path(path), f"must be {words[v]} {val}, got {_short(inst)}")]
    if v == "minItems":
        return [(json_path(path), f"must have at least {val} item(s), got {len(inst)}")]
    if v == "maxItems":
        return [(json_path(path), f"must have at most {val} items, got {len(inst)}")]
    if v == "minLength":
        return [(json_path(path), f"must be a non-empty string, got {_short(inst)}")]
    if v == "maxLength":
        return [(json_path(path), f"must be at most {val} characters long")]
    if v == "pattern":
        return [(json_path(path), f"must match {val}, got {_short(inst)}")]
    if v in ("enum", "const"):
        allowed = val if v == "enum" else [val]
        return [(json_path(path), f"must be one of {', '.join(map(_short, allowed))}, got {_short(inst)}")]
    if v == "uniqueItems":
        return [(json_path(path), "must not repeat an item")]
    return [(json_path(path), error.message)]


def _non_finite(value: Any, path: list) -> list[tuple[str, str]]:
    """Every NaN or infinity in the document: JSON has none, Python's parser accepts them."""
    if isinstance(value, float) and not math.isfinite(value):
        return [(json_path(path), f"must be a finite number, got {value}")]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _non_finite(v, path + [k])]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _non_finite(v, path + [i])]
    return []


def check_schema(data: Any, schema: dict, source: str) -> None:
    """Raise :class:`InstanceError` listing every schema problem and every non-finite number."""
    validator = jsonschema.Draft202012Validator(schema)
    problems: list[tuple[str, str]] = []
    for error in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path))):
        problems += _schema_problems(error)
    problems += _non_finite(data, [])
    if problems:
        # One value can break two rules (NaN fails "> 0" and "finite"); say each thing once.
        raise InstanceError(source, list(dict.fromkeys(problems)))


# -- parsing ---------------------------------------------------------------------------------------
#: Deepest nesting of arrays and objects accepted. Instance and solution files need at most 6; the
#: recursive checks below (and jsonschema) would hit Python's recursion limit near 500.
MAX_DEPTH = 64


class _DuplicateKey(ValueError):
    """A key repeated in one JSON object (raised by the parser hook, reported as invalid JSON)."""


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    obj: dict = {}
    for key, value in pairs:
        if key in obj:
            raise _DuplicateKey(key)
        obj[key] = value
    return obj


def _depth_exceeds(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        v, depth = stack.pop()
        if isinstance(v, (dict, list)):
            if depth > limit:
                return True
            stack.extend((c, depth + 1) for c in (v.values() if isinstance(v, dict) else v))
    return False


def parse_json_text(text: str, source: str) -> Any:
    def bad(msg: str):
        return InstanceError(source, [("", f"not valid JSON: {msg}")])

    try:
        data = json.loads(text, object_pairs_hook=_object_without_duplicates)
    except json.JSONDecodeError as exc:
        raise bad(f"{exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except _DuplicateKey as exc:
        raise bad(f"duplicate key {exc.args[0]!r} in one object (JSON readers disagree on which one wins)") from None
    except ValueError:  # int() refuses numbers of more than 4300 digits
        raise bad("a number has too many digits") from None
    except RecursionError:
        raise bad("nested too deeply") from None
    if _depth_exceeds(data, MAX_DEPTH):
        raise bad(f"nested too deeply (more than {MAX_DEPTH} levels of arrays and objects)")
    return data


def read_text(path: str | os.PathLike) -> str:
    p = Path(path)
    if not p.exists():
        raise InstanceError(str(path), [("", "no such file")])
    if p.is_dir():
        raise InstanceError(str(path), [("", "is a folder, expected a file")])
    size = p.stat().st_size
    if size > MAX_FILE_BYTES:
        raise InstanceError(str(path), [("", f"file is {size} bytes, more than the limit of {MAX_FILE_BYTES}")])
    try:
        return p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InstanceError(str(path), [("", f"not UTF-8 text ({exc.reason} at byte {exc.start})")]) from None


def _family_of(data: Any, source: str):
    from edgeopt.models import FAMILIES

    if not isinstance(data, dict):
        raise InstanceError(source, [("(top level)", f"must be a JSON object, got {_json_type(data)}")])
    problems = []
    kind = data.get("kind")
    if "kind" not in data:
        problems.append(("kind", f"missing required key (one of: {', '.join(sorted(FAMILIES))})"))
    elif kind not in FAMILIES:
        problems.append(("kind", f"must be one of {', '.join(map(repr, sorted(FAMILIES)))}, got {_short(kind)}"))
    if "format" not in data:
        problems.append(("format", f"missing required key (this edgeopt reads format {FORMAT})"))
    elif data["format"] != FORMAT or isinstance(data["format"], bool):
        problems.append(("format", f"must be {FORMAT}, got {_short(data['format'])}"))
    if problems:
        raise InstanceError(source, problems)
    return FAMILIES[kind]


def instance_from_data(data: Any, source: str = "<data>"):
    """Validate a parsed JSON document and build its family's immutable Instance."""
    family = _family_of(data, source)
    check_schema(data, family.SCHEMA, source)
    return family.from_data(data, source)


def loads(text: str, source: str = "<string>"):
    """Parse and validate instance JSON text."""
    return instance_from_data(parse_json_text(text, source), source)


#: An OR-Library text file starts with a number (its count of problems); anything else is read as JSON.
_ORLIB_START = re.compile(r"\s*[+-]?\d")


def is_orlib_text(text: str) -> bool:
    return _ORLIB_START.match(text) is not None


def load(path: str | os.PathLike, sense: str | None = None):
    """Load and validate an instance file; raises :class:`InstanceError` naming the file and where.

    A JSON file gives one Instance. An OR-Library GAP text file (it starts with a number: its count of
    problems) gives the list of its problems' Instances, named ``<file stem>-<k>``; ``sense`` ("max" or
    "min") says whether they maximise or minimise when the file's name does not tell (gap1..gap12
    maximise, gapa..gapd minimise), and overrides the name when given. For a JSON file, which states
    its own sense, a ``sense`` given must agree with it.
    """
    if sense not in (None, "max", "min"):
        raise ValueError(f"sense must be 'max' or 'min', got {sense!r}")
    text = read_text(path)
    if is_orlib_text(text):
        from edgeopt.models import gap

        return gap.parse_orlib(text, str(path), sense=sense)
    inst = loads(text, str(path))
    if sense is not None and inst.sense != sense:
        raise InstanceError(str(path), [("sense", f"the instance has sense {inst.sense!r}, but sense {sense!r} was "
                                         "asked for (a JSON file states its own sense)")])
    return inst


# -- writing ---------------------------------------------------------------------------------------
def canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=False)


def content_hash(data: Any) -> str:
    """sha256 of the canonical JSON of an instance's data: same content, same hash, whatever the layout."""
    return "sha256:" + hashlib.sha256(canonical_json(data).encode()).hexdigest()


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (same suffix); rename it onto ``path`` if the block succeeds.

    A reader never sees a half-written file, and a failure leaves neither the file nor the temporary.
    For writers that take a path (HiGHS picks the model format from the suffix) as well as text.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix or ".tmp", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a saved file gets the usual permissions
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename."""
    with atomic_output(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())


def dump_json(data: Any) -> str:
    return json.dumps(data, indent=1, allow_nan=False) + "\n"


def save(instance, path: str | os.PathLike) -> None:
    """Write an instance file (atomically)."""
    write_atomic(path, dump_json(instance.data))


def solution_document(instance, result) -> dict:
    """The JSON document of a solution file for ``result`` on ``instance``."""
    from edgeopt.models import family_of

    family = family_of(instance)
    return {
        "kind": f"{family.KIND}-solution",
        "format": FORMAT,
        "instance": instance.name,
        "instance_hash": instance.hash,
        "solver": result.solver,
        "status": result.status.value,
        "objective": result.objective,
        "bound": result.bound,
        "gap": result.gap,
        "decisions": None if result.solution is None else family.solution_to_data(instance, result.solution),
    }


def save_solution(instance, result, path: str | os.PathLike) -> None:
    """Write a solution file (atomically) carrying the instance's name and content hash."""
    write_atomic(path, dump_json(solution_document(instance, result)))


def load_solution(path: str | os.PathLike, instance):
    """Read a solution file written by :func:`save_solution` and return the family's Solution."""
    from edgeopt.models import family_of

    source = str(path)
    doc = parse_json_text(read_text(path), source)
    family = family_of(instance)
    problems: list[tuple[str, str]] = []
    if not isinstance(doc, dict):
        raise InstanceError(source, [("(top level)", f"must be a JSON object, got {_json_type(doc)}")])
    if doc.get("kind") != f"{family.KIND}-solution":
        problems.append(("kind", f"must be '{family.KIND}-solution', got {_short(doc.get('kind'))}"))
    if doc.get("instance_hash") not in (None, instance.hash):
        problems.append(("instance_hash", f"this solution is for another instance content ({doc.get('instance')!r}); "
                         f"expected {instance.hash}"))
    if not isinstance(doc.get("decisions"), dict):
        problems.append(("decisions", "missing required key, or not an object"))
    if problems:
        raise InstanceError(source, problems)
    check_schema({"decisions": doc["decisions"]},
                 {"type": "object", "properties": {"decisions": family.SOLUTION_SCHEMA}}, source)
    return family.solution_from_data(instance, doc["decisions"], source)
