"""Hostile inputs for tests/test_properties.py: hostile values, random mutations of JSON documents (as
Hypothesis strategies), raw hostile file texts, and an in-process runner of the command line that checks
the promises every run must keep (an exit code of the contract, no traceback, no stray file)."""
from __future__ import annotations

import contextlib
import copy
import io
import json
import time
import warnings
from pathlib import Path
from typing import Any, NamedTuple

from hypothesis import strategies as st

from edgeopt.cli import main

#: The exit codes of the contract (README "Exit codes").
EXIT_CODES = {0, 1, 2, 130}
#: Longest any single run of the command line may take in these tests (they use tiny instances and time
#: limits of at most 5 s): a run beyond it is a hang.
MAX_RUN_SECONDS = 30.0

LONG = "x" * 100_000

#: Values a hostile file puts where a valid one has a number, a string, a list or an object.
HOSTILE_VALUES: list[Any] = [
    None, "", 10**400, -(10**400), -1, 0, 1, 5e-324, -5e-324, 1e308, -1e308, True, False, [], {}, -0.0, 0.5,
    1e-7, 2**63, -(2**63) - 1, 2**64 + 1, 1e300, 1e12 + 1, float("nan"), float("inf"), float("-inf"),
    "a\nb", "\x1b[31mred\x1b[0m", "tab\there", "\ud800", "\udcff", "\u202eevil", "nan", "1e999", "٣", "１２",
    "1_000", " 7 ", LONG, [None], [[[]]], {"": None}, [1, 2, 3], {"a": 1}, ["\ud800"],
    "edge0", "cloud", "sdxl-base-1.0", "basic", "max", "min",
]

KINDS = ["deployment", "assignment", "gap", "deployment-solution", "assignment-solution", "gap-solution",
         "", "Deployment", "gap ", None, 1, ["gap"], "\ud800"]
FORMATS = [0, 2, 1.0, 1.5, True, "1", None, -1, 10**400, [1]]


# -- paths in a JSON document ----------------------------------------------------------------------
def paths(doc: Any, limit: int = 2000) -> list[tuple]:
    """Every path (a tuple of keys and indices) in ``doc``, the root () included, breadth first."""
    out: list[tuple] = []
    todo = [((), doc)]
    while todo and len(out) < limit:
        path, value = todo.pop(0)
        out.append(path)
        if isinstance(value, dict):
            todo += [(path + (k,), v) for k, v in value.items()]
        elif isinstance(value, list):
            todo += [(path + (i,), v) for i, v in enumerate(value)]
    return out


def get(doc: Any, path: tuple) -> Any:
    for k in path:
        doc = doc[k]
    return doc


def put(doc: Any, path: tuple, value: Any) -> Any:
    """``doc`` with the value at ``path`` replaced (the root when ``path`` is empty)."""
    if not path:
        return value
    get(doc, path[:-1])[path[-1]] = value
    return doc


# -- mutations ---------------------------------------------------------------------------------------
@st.composite
def hostile_values(draw) -> Any:
    return copy.deepcopy(draw(st.one_of(
        st.sampled_from(HOSTILE_VALUES),
        st.integers(min_value=-(10**30), max_value=10**30),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=20),
        st.lists(st.integers(-3, 3), max_size=3),
    )))


@st.composite
def mutated(draw, base: dict, *, most: int = 3) -> dict:
    """``base`` (not changed) with 1 to ``most`` random hostile mutations applied."""
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, most))):
        everywhere = paths(doc)
        path = draw(st.sampled_from(everywhere))
        op = draw(st.sampled_from(["replace", "replace", "replace", "delete", "unknown key", "kind", "format",
                                   "duplicate", "truncate", "transplant", "shuffle"]))
        target = get(doc, path)
        if op == "replace":
            doc = put(doc, path, draw(hostile_values()))
        elif op == "delete" and path:
            parent = get(doc, path[:-1])
            del parent[path[-1]]
        elif op == "unknown key" and isinstance(target, dict):
            target[draw(st.sampled_from(["extra", "", "\ud800", "kind ", "Name", "__proto__", LONG]))] = \
                draw(hostile_values())
        elif op == "kind" and isinstance(doc, dict):  # copies: a later mutation must not change the pools
            doc["kind"] = copy.deepcopy(draw(st.sampled_from(KINDS)))
        elif op == "format" and isinstance(doc, dict):
            doc["format"] = copy.deepcopy(draw(st.sampled_from(FORMATS)))
        elif op == "duplicate" and isinstance(target, list) and target:
            k = draw(st.integers(0, len(target) - 1))
            target.insert(draw(st.integers(0, len(target))), copy.deepcopy(target[k]))
        elif op == "truncate" and isinstance(target, list):
            del target[draw(st.integers(0, len(target))):]
        elif op == "transplant":  # a valid value of the document, at a place where it does not belong
            source = draw(st.sampled_from(everywhere))
            doc = put(doc, path, copy.deepcopy(get(doc, source)))
        elif op == "shuffle" and isinstance(target, list) and len(target) > 1:
            target.reverse()
    return doc


def dumps(doc: Any) -> str:
    """JSON text of ``doc``: lone surrogates written as escapes, NaN and infinities as Python writes them."""
    return json.dumps(doc, ensure_ascii=True, allow_nan=True)


# -- raw hostile texts ---------------------------------------------------------------------------------
def raw_texts(valid_json: str) -> list[tuple[str, bytes]]:
    """(file name, content) of files that are not JSON documents, or barely: every one must be refused
    with exit code 2 (or read as what it is) without a traceback."""
    deep = "[" * 100_000 + "]" * 100_000
    return [
        ("empty.json", b""),
        ("blank.json", b" \n\t\n"),
        ("garbage.json", bytes(range(256)) * 4),
        ("latin1.json", '{"kind": "gap", "name": "caf\xe9"}'.encode("latin-1")),
        ("truncated.json", valid_json[: len(valid_json) // 2].encode()),
        ("bom.json", b"\xef\xbb\xbf" + valid_json.encode()),
        ("utf16.json", valid_json.encode("utf-16")),
        ("nul.json", valid_json.encode().replace(b":", b":\x00", 1)),
        ("deep.json", deep.encode()),
        ("deep-object.json", ('{"a":' * 5000 + "1" + "}" * 5000).encode()),
        ("nan.json", valid_json.replace(": 1,", ": NaN,", 1).encode()),
        ("infinity.json", valid_json.replace(": 1,", ": Infinity,", 1).encode()),
        ("minus-infinity.json", valid_json.replace(": 1,", ": -Infinity,", 1).encode()),
        ("bignum.json", valid_json.replace(": 1,", ": " + "9" * 5000 + ",", 1).encode()),
        ("bigexp.json", valid_json.replace(": 1,", ": 1e99999,", 1).encode()),
        ("dupkey.json", valid_json.replace("{", '{"format": 1, ', 1).encode()),
        ("digit.json", b"5 is not json"),
        ("digits.json", b"1 2 3\n4 5 6\n"),
        ("number.json", b"3"),
        ("string.json", b'"deployment"'),
        ("array.json", b"[]"),
        ("null.json", b"null"),
        ("two-docs.json", (valid_json + valid_json).encode()),
        ("trailing-comma.json", valid_json.replace("}", ",}", 1).encode()),
        ("single-quotes.json", valid_json.replace('"', "'").encode()),
        ("comment.json", ("// c\n" + valid_json).encode()),
        ("surrogate-escape.json", valid_json.replace('"name": "', '"name": "\\ud800', 1).encode()),
        ("bad-escape.json", valid_json.replace('"name": "', '"name": "\\x41', 1).encode()),
        ("surrogate-key.json", valid_json.replace("{", '{"\\udfff": 1, ', 1).encode()),
        ("control-key.json", valid_json.replace("{", '{"a\\u001b[2Jb": 1, ', 1).encode()),
        ("gap1.txt", b"1\n2 2\n1_000 2 3 4\n1 1 1 1\n5 5\n"),
        ("gap2.txt", "1\n2 2\n\uff11 2 3 4\n1 1 1 1\n5 5\n".encode()),
        ("gap3.txt", b"1\n2 2\nnan 2 3 4\n1 1 1 1\n5 5\n"),
        ("gap4.txt", b"1\n2 2\ninf 2 3 4\n1 1 1 1\n5 5\n"),
        ("gap5.txt", b"1\n2 2\n1 2 3 4\n-1 1 1 1\n5 5\n"),
        ("gap6.txt", b"1\n2 2\n1 2 3 4\n1 1 1 1\n5\n"),
        ("gap7.txt", b"2\n1 1\n1\n1\n1\n"),
        ("gap8.txt", b"1\n0 2\n"),
        ("gap9.txt", b"1\n99999999 99999999\n"),
        ("gap10.txt", b"1\n2 2\n1e999 2 3 4\n1 1 1 1\n5 5\n"),
        ("gap11.txt", b"1\n2 2\n1 2 3 4\n1 1 1 1\n5 5\n7\n"),
        ("gap12.txt", b"1\n2 2\n0x10 2 3 4\n1 1 1 1\n5 5\n"),
        ("gapa.txt", b"1\n2 2\n1 2 3 4\n1 1 1 1\n1e13 5\n"),
        ("gapb.txt", b"\xff1\n2 2\n1 2 3 4\n1 1 1 1\n5 5\n"),
        ("gapc.txt", b"1\n2 2\n1.5 2 3 4\n1 1 1 1\n5 5.25\n"),
        ("gapd.txt", b"+1\n+2 +2\n-1 -2 -3 -4\n1 1 1 1\n5 5\n"),
        ("noname.txt", b"1\n2 2\n1 2 3 4\n1 1 1 1\n5 5\n"),
        ("gap1-long.txt", b"1\n2 2\n" + b"9" * 100_000 + b" 2 3 4\n1 1 1 1\n5 5\n"),
        ("gap1-many.txt", b"10000\n" + b"1 1\n1\n1\n1\n" * 3),
    ]


# -- the command line, in process ------------------------------------------------------------------
class Run(NamedTuple):
    code: int
    out: str
    err: str
    seconds: float


def stray_temporaries(folder: Path, name: str) -> list[Path]:
    """Temporary files an atomic write of ``name`` left in ``folder`` (``.name.*``)."""
    return sorted(folder.glob(f".{name}.*")) if folder.is_dir() else []


def run_cli(argv: list, *, strict_warnings: bool = True) -> Run:
    """``edgeopt argv`` in this process, its stdout and stderr captured; fails the test on an exit code
    outside the contract, a traceback, an escaped exception, a numpy RuntimeWarning or a hang."""
    argv = [str(a) for a in argv]
    out, err = io.StringIO(), io.StringIO()
    started = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(out), \
            contextlib.redirect_stderr(err):
        warnings.simplefilter("always")
        try:
            code = main(argv)
        except BaseException as exc:  # noqa: BLE001 - SystemExit and KeyboardInterrupt escaping are defects too
            raise AssertionError(f"edgeopt {argv!r} raised {exc!r}\nstdout: {out.getvalue()[-2000:]}\n"
                                 f"stderr: {err.getvalue()[-2000:]}") from exc
    seconds = time.perf_counter() - started
    run = Run(code, out.getvalue(), err.getvalue(), seconds)
    shown = f"edgeopt {[a[:200] for a in argv]!r} -> {code}\nstdout: {run.out[-3000:]}\nstderr: {run.err[-3000:]}"
    assert code in EXIT_CODES, shown
    assert "Traceback" not in run.out + run.err, shown
    if strict_warnings:
        numeric = [w for w in caught if issubclass(w.category, RuntimeWarning)]
        assert not numeric, f"{shown}\nwarnings: {[str(w.message) for w in numeric]}"
    assert seconds < MAX_RUN_SECONDS, f"{shown}\ntook {seconds:.1f} s"
    return run


# -- extreme but valid instances, from scratch ------------------------------------------------------------
#: The smallest positive value a schema allows (edgeopt.document.LEAST_POSITIVE).
LEAST = 1e-6
#: Names a file may use: odd but valid (no control character, at most 200 characters). "cloud" is the word
#: solution files route requests to the cloud with: a model or a region may have it, an edge may not.
NAMES = ["a", "b", "c", "cloud", "é", "名前", "x" * 200, "0", "edge 1", "\u202e"]
EDGE_NAMES = [n for n in NAMES if n != "cloud"]


#: Ordinary values, drawn as often as the extremes, so that most instances have something to decide.
ORDINARY = st.floats(0.1, 100)


def positive(top: float) -> st.SearchStrategy:
    """A number of a ``positive(top)`` field: its ends and their neighbours, or an ordinary value."""
    return st.one_of(st.sampled_from([LEAST, LEAST * (1 + 2**-52), 1, top, top * (1 - 2**-52), 2 * LEAST]),
                     ORDINARY, st.floats(LEAST, top), st.integers(1, int(top)))


def nonnegative(top: float) -> st.SearchStrategy:
    """A number of a ``nonnegative(top)`` field: 0, subnormals, the smallest positive, the top, or an
    ordinary value."""
    return st.one_of(st.sampled_from([0, 0.0, 5e-324, 1e-300, LEAST, 1, top]), ORDINARY, st.floats(0, top),
                     st.integers(0, int(top)))


def subset(items: list) -> st.SearchStrategy:
    return st.lists(st.sampled_from(items), unique=True) if items else st.just([])


def distinct_names(n: int, pool: list = NAMES) -> st.SearchStrategy:
    return st.lists(st.sampled_from(pool), min_size=n, max_size=n, unique=True)


@st.composite
def deployment_documents(draw) -> dict:
    slots = draw(st.integers(1, 3))
    models = [{"name": name, "storage_gb": draw(positive(1e6)), "gpu_memory_gb": draw(positive(1e5)),
               "load_seconds": draw(nonnegative(1e6)), "edge_inference_seconds": draw(positive(1e6)),
               "cloud_inference_seconds": draw(positive(1e6))}
              for name in draw(distinct_names(draw(st.integers(1, 3))))]
    edge_names = draw(distinct_names(draw(st.integers(1, 3)), EDGE_NAMES))
    mnames = [m["name"] for m in models]
    edges = []
    for name in edge_names:
        stored = draw(subset(mnames))
        edges.append({
            "name": name, "storage_gb": draw(positive(1e7)), "gpu_memory_gb": draw(positive(1e6)),
            "compute_seconds": draw(positive(1e9)), "access_delay_seconds": draw(nonnegative(1e6)),
            "backhaul_gbps": draw(positive(1e6)),
            "links": [{"to": other, "delay_seconds": draw(nonnegative(1e6))}
                      for other in draw(subset([e for e in edge_names if e != name]))],
            "initial_stored": stored, "initial_loaded": draw(subset(stored)),
        })
    regions = [{"name": name, "edge": draw(st.sampled_from(edge_names))}
               for name in draw(distinct_names(draw(st.integers(1, 3))))]
    pairs = draw(subset([(r["name"], m) for r in regions for m in mnames]))
    requests = st.one_of(st.sampled_from([0, 1, 10**9]), st.integers(0, 10**9))
    demand = [{"region": r, "model": m, "requests": draw(st.lists(requests, min_size=slots, max_size=slots))}
              for r, m in pairs]
    return {
        "kind": "deployment", "format": 1, "name": draw(st.sampled_from(NAMES)), "slots": slots,
        "slot_seconds": draw(positive(1e7)),
        "weights": {k: draw(nonnegative(1e9)) for k in
                    ("delay_per_second", "storage_per_gb", "gpu_memory_per_gb", "backhaul_per_gb")},
        "cloud": {"enabled": draw(st.booleans()), "wan_delay_seconds": draw(nonnegative(1e6)),
                  "cost_per_request": draw(nonnegative(1e9))},
        "models": models, "edges": edges, "regions": regions, "demand": demand,
    }


@st.composite
def assignment_documents(draw) -> dict:
    categories = draw(distinct_names(draw(st.integers(1, 3))))
    steps = st.one_of(st.sampled_from([1, 2, 100_000, 99_999]), st.integers(1, 100_000))
    models = [{"name": name, "step_seconds": draw(positive(1e4)), "gpu_memory_gb": draw(positive(1e5)),
               "steps": draw(st.lists(steps, min_size=1, max_size=4, unique=True)),
               "clip_at_zero_steps": draw(nonnegative(1e3)), "steps_scale": draw(positive(1e5)),
               "quality": {c: {"clip_max": draw(nonnegative(1e3)), "clip_std": draw(nonnegative(1e3))}
                           for c in categories}}
              for name in draw(distinct_names(draw(st.integers(1, 3))))]
    doc = {
        "kind": "assignment", "format": 1, "name": draw(st.sampled_from(NAMES)), "categories": categories,
        "compute_budget": draw(positive(1e6)), "latency_weight": draw(nonnegative(1e6)), "models": models,
        "prompts": [{"category": draw(st.sampled_from(categories))} for _ in range(draw(st.integers(1, 6)))],
    }
    if draw(st.booleans()):
        doc["gpu_memory_gb"] = draw(positive(1e6))
    return doc


@st.composite
def gap_documents(draw) -> dict:
    agents, jobs, sense = draw(st.integers(1, 3)), draw(st.integers(1, 5)), draw(st.sampled_from(["max", "min"]))
    big = 1e12
    value = st.one_of(st.sampled_from([-big, big, 0, 5e-324, -5e-324, LEAST, 1, -1, 0.5, big - 1]),
                      st.floats(-big, big), st.integers(-10**12, 10**12))
    amount = st.one_of(st.sampled_from([0, big, 5e-324, LEAST, 1, 0.1, 0.2, 0.3]), st.floats(0, big),
                       st.integers(0, 10**12))
    matrix = lambda item: st.lists(st.lists(item, min_size=jobs, max_size=jobs),  # noqa: E731
                                   min_size=agents, max_size=agents)
    return {"kind": "gap", "format": 1, "name": draw(st.sampled_from(NAMES)), "sense": sense, "agents": agents,
            "jobs": jobs, ("profit" if sense == "max" else "cost"): draw(matrix(value)),
            "resource": draw(matrix(amount)),
            "capacity": draw(st.lists(amount, min_size=agents, max_size=agents))}


VALID_DOCUMENTS = {"deployment": deployment_documents, "assignment": assignment_documents, "gap": gap_documents}
