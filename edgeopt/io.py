"""Reading and writing instance and solution files through the family registry, with errors that name
the file and the JSON path, and atomic writes.

Files are parsed as data only (``json``, or a format a family registers a reader for, such as
OR-Library's GAP text; no pickle, no eval). An instance file is a JSON object ``{"kind": ...,
"format": 1, "name": ..., ...}``; its ``kind`` selects the family, whose JSON Schema is checked first
(every problem is reported, not only the first), and whose own checks (names that must exist, lengths
that must agree) run after.
"""
from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Any, Iterator

from edgeopt import registry
from edgeopt.document import FORMAT, InstanceError, check_schema, json_type, record, shown
from edgeopt.result import Status

#: Largest instance or solution file read, in bytes; a larger one is refused before a byte is read. The
#: largest bundled instance is under 1 MB and a 1,000,000-variable deployment instance about 2 MB; parsing
#: a 64 MiB JSON file takes about 3 s and 400 MB here, which bounds what a hostile file can cost.
MAX_FILE_BYTES = 64 * 1024 * 1024
#: Deepest nesting of arrays and objects accepted. Instance and solution files need at most 6; the
#: recursive checks (and jsonschema) would hit Python's recursion limit near 500.
MAX_DEPTH = 64


# -- parsing ---------------------------------------------------------------------------------------
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


_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def read_text(path: str | os.PathLike, limit: int = MAX_FILE_BYTES) -> str:
    """The UTF-8 text of a regular file of at most ``limit`` bytes; anything else is an InstanceError
    naming the file, decided from ``stat`` before the file is opened (a pipe would block, /dev/zero never
    ends)."""
    source = str(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise InstanceError(source, [("", "no such file")]) from None
    except OSError as exc:
        raise InstanceError(source, [("", f"cannot be read: {exc.strerror}")]) from None
    if not stat.S_ISREG(info.st_mode):
        what = next((word for test, word in _KINDS if test(info.st_mode)), "not a regular file")
        raise InstanceError(source, [("", f"is {what}, expected a regular file")])
    if info.st_size > limit:
        raise InstanceError(source, [("", f"file is {info.st_size:,} bytes, more than the limit of {limit:,}")])
    try:
        with open(path, "rb") as fh:
            data = fh.read(limit + 1)  # the file may have grown since stat
    except OSError as exc:
        raise InstanceError(source, [("", f"cannot be read: {exc.strerror}")]) from None
    if len(data) > limit:
        raise InstanceError(source, [("", f"file is more than the limit of {limit:,} bytes")])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InstanceError(source, [("", f"not UTF-8 text ({exc.reason} at byte {exc.start})")]) from None


def _family_of(data: Any, source: str) -> registry.Family:
    known = sorted(registry.FAMILIES)
    if not isinstance(data, dict):
        raise InstanceError(source, [("(top level)", f"must be a JSON object, got {json_type(data)}")])
    problems = []
    kind = data.get("kind")
    if "kind" not in data:
        problems.append(("kind", f"missing required key (one of: {', '.join(known)})"))
    elif not isinstance(kind, str) or kind not in registry.FAMILIES:
        problems.append(("kind", f"must be one of {', '.join(map(repr, known))}, got {shown(kind)}"))
    if "format" not in data:
        problems.append(("format", f"missing required key (this edgeopt reads format {FORMAT})"))
    elif data["format"] != FORMAT or isinstance(data["format"], bool):
        problems.append(("format", f"must be {FORMAT}, got {shown(data['format'])}"))
    if problems:
        raise InstanceError(source, problems)
    return registry.FAMILIES[kind]


def instance_from_data(data: Any, source: str = "<data>"):
    """Validate a parsed JSON document and build its family's immutable Instance."""
    family = _family_of(data, source)
    if family.precheck is not None:
        family.precheck(data, source)
    check_schema(data, family.schema, source)
    return family.from_data(data, source)


def loads(text: str, source: str = "<string>"):
    """Parse and validate instance JSON text."""
    return instance_from_data(parse_json_text(text, source), source)


def load(path: str | os.PathLike, sense: str | None = None):
    """Load and validate an instance file; raises :class:`InstanceError` naming the file and where.

    A JSON file gives one Instance. A file in a format a family registers a reader for gives the list
    of the instances it holds: an OR-Library GAP text file (it starts with a number: its count of
    problems) gives its problems, named ``<file stem>-<k>``; ``sense`` ("max" or "min") says whether
    they maximise or minimise when the file's name does not tell (gap1..gap12 maximise, gapa..gapd
    minimise). For a JSON file, which states its own sense, a ``sense`` given must agree with it.
    """
    if sense not in (None, "max", "min"):
        raise ValueError(f"sense must be 'max' or 'min', got {sense!r}")
    text = read_text(path)
    for family in registry.FAMILIES.values():
        for reader in family.readers:
            if reader.sniff(text, str(path)):
                return reader.read(text, str(path), sense)
    inst = loads(text, str(path))
    if sense is not None and inst.sense != sense:
        raise InstanceError(str(path), [("sense", f"the instance has sense {inst.sense!r}, but sense {sense!r} was "
                                         "asked for (a JSON file states its own sense)")])
    return inst


# -- writing ---------------------------------------------------------------------------------------
@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (same suffix); rename it onto ``path`` if the block succeeds.

    A reader never sees a half-written file, and a failure leaves neither the file nor the temporary.
    For writers that take a path (HiGHS picks the model format from the suffix) as well as text.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix or ".tmp", dir=path.parent)
    except OSError as exc:  # named after the file asked for, not the temporary one
        raise OSError(exc.errno, exc.strerror, str(path)) from None
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a saved file gets the usual permissions
        yield Path(tmp)
        try:
            os.replace(tmp, path)
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, str(path)) from None
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
    family = registry.family_of(instance)
    return {
        "kind": f"{family.kind}-solution",
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


def solution_schema(family: registry.Family) -> dict:
    """The JSON Schema of a whole solution file of ``family`` (what :func:`save_solution` writes)."""
    value = {"type": ["number", "null"], "minimum": -1e300, "maximum": 1e300}
    return record(["kind", "format", "instance", "instance_hash", "solver", "status", "decisions"], {
        "kind": {"const": f"{family.kind}-solution"},
        "format": {"const": FORMAT},
        "instance": {"type": "string", "maxLength": 10_000},
        "instance_hash": {"type": "string", "pattern": "^sha256:[0-9a-f]{64}$"},
        "solver": {"type": "string", "maxLength": 200},
        "status": {"enum": [s.value for s in Status]},
        "objective": value, "bound": value, "gap": value,
        "decisions": family.solution_schema,
    })


def load_solution(path: str | os.PathLike, instance):
    """Read a solution file written by :func:`save_solution` and return the family's solution.

    The file must name this instance's content hash: a plan for another instance (or one that does not
    say which) is refused, as is any field of the wrong type."""
    source = str(path)
    doc = parse_json_text(read_text(path), source)
    family = registry.family_of(instance)
    check_schema(doc, solution_schema(family), source)
    if doc["instance_hash"] != instance.hash:
        raise InstanceError(source, [("instance_hash", f"this solution is for another instance content "
                                      f"({shown(doc['instance'])}, {doc['instance_hash']}); expected {instance.hash}")])
    return family.solution_from_data(instance, doc["decisions"], source)
