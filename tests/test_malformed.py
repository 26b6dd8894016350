"""Bad input: a table of malformed deployment files, each with the error it must produce.

Every file is a valid generated instance with one thing broken. Loading it must raise InstanceError
naming the file, the JSON path and what is wrong; the CLI must exit 2 with that same message, print
no traceback and write no output file.
"""
from __future__ import annotations

import copy
import json
from typing import Callable, NamedTuple

import pytest

import edgeopt
from edgeopt.cli import main

BASE = edgeopt.generate("deployment", seed=0).data
MODEL0 = BASE["models"][0]["name"]


class Case(NamedTuple):
    id: str
    content: Callable[[], str | bytes]  # the file's text (or bytes)
    path: str | None  # the JSON path the message must name; None for a file that is not JSON at all
    fragment: str  # what the message must say


def edit(change: Callable[[dict], object]) -> Callable[[], str]:
    """A copy of the base document with ``change`` applied to it, as JSON text."""

    def content() -> str:
        data = copy.deepcopy(BASE)
        change(data)
        return json.dumps(data, indent=1)

    return content


def put(*path_and_value) -> Callable[[], str]:
    *keys, value = path_and_value

    def change(data: dict) -> None:
        for k in keys[:-1]:
            data = data[k]
        data[keys[-1]] = value

    return edit(change)


def text(change: Callable[[str], str | bytes]) -> Callable[[], str | bytes]:
    """The base document's JSON text, edited as text (for what json.dumps cannot write)."""
    return lambda: change(json.dumps(BASE, indent=1))


def literal(key_in_text: str, replacement: str) -> Callable[[], str]:
    """Replace the first ``"key": value`` line's value by a literal such as NaN or Infinity."""

    def change(src: str) -> str:
        lines = src.splitlines()
        i = next(i for i, line in enumerate(lines) if line.strip().startswith(f'"{key_in_text}":'))
        head, _, tail = lines[i].partition(":")
        lines[i] = f"{head}: {replacement}" + ("," if tail.rstrip().endswith(",") else "")
        return "\n".join(lines)

    return text(change)


def _del(keys):
    def change(data: dict) -> None:
        for k in keys[:-1]:
            data = data[k]
        del data[keys[-1]]

    return edit(change)


CASES = [
    Case("string capacity", put("edges", 0, "gpu_memory_gb", "24"),
         "edges[0].gpu_memory_gb", 'must be a number, got string "24"'),
    Case("negative capacity", put("edges", 1, "storage_gb", -4), "edges[1].storage_gb", "must be >= 1e-06, got -4"),
    # literal() edits the first line with the key: "compute_seconds" first appears in edges[0],
    # "storage_gb" in models[0].
    Case("NaN capacity", literal("compute_seconds", "NaN"), "edges[0].compute_seconds",
         "must be a finite number, got nan"),
    Case("Infinity", literal("storage_gb", "Infinity"), "models[0].storage_gb", "must be a finite number, got inf"),
    Case("unknown model in demand", put("demand", 0, "model", "gpt-17"), "demand[0].model",
         "no model named 'gpt-17'"),
    Case("unknown edge in region", put("regions", 0, "edge", "edge99"), "regions[0].edge", "no edge named 'edge99'"),
    Case("link to unknown edge", put("edges", 0, "links", 0, "to", "nowhere"), "edges[0].links[0].to",
         "no edge named 'nowhere'"),
    Case("link to itself", put("edges", 0, "links", 0, "to", "edge0"), "edges[0].links[0].to",
         "an edge cannot link to itself ('edge0')"),
    Case("missing nested key", _del(["edges", 0, "backhaul_gbps"]), "edges[0].backhaul_gbps", "missing required key"),
    Case("missing top-level key", _del(["demand"]), "demand", "missing required key"),
    Case("unknown top-level key", put("colour", "blue"), "colour", "unknown key (allowed here: cloud, demand"),
    Case("unknown nested key", put("models", 1, "vram", 8), "models[1].vram", "unknown key"),
    Case("unknown key in a link", put("edges", 0, "links", 0, "latency", 0.1), "edges[0].links[0].latency",
         "unknown key (allowed here: delay_seconds, to)"),
    Case("duplicate model names", put("models", 1, "name", MODEL0), "models[1].name",
         f"duplicate model name {MODEL0!r} (also models[0])"),
    Case("duplicate edge names", put("edges", 1, "name", "edge0"), "edges[1].name",
         "duplicate edge name 'edge0' (also edges[0])"),
    Case("duplicate region names", put("regions", 1, "name", "region0_0"), "regions[1].name",
         "duplicate region name 'region0_0'"),
    Case("duplicate demand entry", edit(lambda d: d["demand"].append(copy.deepcopy(d["demand"][0]))), "demand[19]",
         "duplicate entry for region"),
    Case("truncated JSON", text(lambda s: s[: len(s) // 2]), None, "not valid JSON"),
    Case("empty file", lambda: "", None, "not valid JSON: Expecting value"),
    Case("not UTF-8", lambda: b'{"kind": "deployment", "name": "\xff"}', None, "not UTF-8 text"),
    Case("top level not an object", lambda: "[1, 2]", "(top level)", "must be a JSON object, got array"),
    Case("wrong kind", put("kind", "deploy"), "kind",
         "must be one of 'assignment', 'deployment', 'gap', 'offloading', 'serving', got \"deploy\""),
    Case("missing kind", _del(["kind"]), "kind",
         "missing required key (one of: assignment, deployment, gap, offloading, serving)"),
    Case("wrong format", put("format", 2), "format", "must be 1, got 2"),
    Case("format as a string", put("format", "1"), "format", 'must be 1, got "1"'),
    Case("absurd slots", put("slots", 10**6), "slots", "must be <= 10000, got 1000000"),
    Case("absurd GPU memory", put("models", 0, "gpu_memory_gb", 1e12), "models[0].gpu_memory_gb",
         "must be <= 100000.0, got 1000000000000.0"),
    Case("absurd request count", put("demand", 0, "requests", [10**12, 1]), "demand[0].requests[0]",
         "must be <= 1000000000"),
    # 36 variables per (model, slot) on the base network: 60 models x 10,000 slots is 21.6 million.
    Case("absurd model size in variables",
         edit(lambda d: d.update(slots=10_000, demand=[],
                                 models=[dict(BASE["models"][0], name=f"copy-{i}") for i in range(60)])),
         "(top level)", "the instance describes a model of 21,600,000 variables, more than the limit"),
    Case("requests length != slots", edit(lambda d: d["demand"][0]["requests"].append(3)), "demand[0].requests",
         "must have one count per slot (2), got 3"),
    Case("negative requests", put("demand", 0, "requests", [-1, 2]), "demand[0].requests[0]", "must be >= 0, got -1"),
    Case("fractional requests", put("demand", 0, "requests", [1.5, 2]), "demand[0].requests[0]",
         "must be an integer, got number 1.5"),
    Case("empty models list", put("models", []), "models", "must have at least 1 item(s), got 0"),
    Case("empty regions list", put("regions", []), "regions", "must have at least 1 item(s), got 0"),
    Case("edges not a list", put("edges", {"edge0": {}}), "edges", "must be an array, got object"),
    Case("initial_loaded not stored", put("edges", 0, "initial_loaded", [MODEL0]), "edges[0].initial_loaded",
         f"model {MODEL0!r} is loaded but not stored"),
    Case("initial_stored unknown model", put("edges", 0, "initial_stored", ["nope"]), "edges[0].initial_stored[0]",
         "no model named 'nope'"),
    Case("boolean for a number", put("edges", 0, "compute_seconds", True), "edges[0].compute_seconds",
         "must be a number, got boolean true"),
    Case("string for a boolean", put("cloud", "enabled", "yes"), "cloud.enabled", 'must be true or false, got string "yes"'),
    Case("null name", put("name", None), "name", "must be a string, got null"),
    Case("empty name", put("name", ""), "name", "must be a non-empty string"),
]

# Rows about the JSON text itself and sizes a small file can claim.
PARSING_CASES = [
    (Case("duplicate JSON key", text(lambda s: s.replace('"slots": 2,', '"slots": 2, "slots": 3,', 1)),
          None, "duplicate key 'slots'"),
     "io.parse_json_text lets the last of two equal keys win silently"),
    (Case("number with 5000 digits", text(lambda s: s.replace('"slots": 2,', '"slots": ' + "9" * 5000 + ",", 1)),
          None, "not valid JSON"),
     "io.parse_json_text lets int()'s ValueError (4300-digit limit) through"),
    (Case("nested 500 deep", lambda: '{"kind": "deployment", "format": 1, "x": ' + "[" * 500 + "]" * 500 + "}",
          None, "nested too deeply"),
     "io.check_schema recurses (_non_finite, _short) and raises RecursionError"),
    # 10,000 regions x 1,000 models x 10,000 slots: from_data allocates the (R, M, T) demand array
    # (745 GiB) before its variable-count check, so this small file ends in MemoryError.
    (Case("absurd sizes allocated before the size check",
          edit(lambda d: d.update(slots=10_000, demand=[],
                                  regions=[{"name": f"r{i}", "edge": "edge0"} for i in range(10_000)],
                                  models=[{k: v for k, v in BASE["models"][0].items() if k != "sources"}
                                          | {"name": f"m{i}"} for i in range(1_000)])),
          "(top level)", "the instance describes a model of 400,120,000,000 variables, more than the limit"),
     "deployment.from_data allocates demand (R, M, T) before checking MAX_VARIABLES"),
]

ALL = [pytest.param(c, id=c.id) for c in CASES] + [pytest.param(c, id=c.id) for c, _why in PARSING_CASES]


def test_table_is_large_and_rows_are_distinct():
    assert len(CASES) >= 18
    contents = [c.content() for c in CASES]
    assert len(set(contents)) == len(contents)
    assert all(c != json.dumps(BASE, indent=1) for c in contents)


def test_base_document_is_valid(tmp_path):
    f = tmp_path / "base.json"
    f.write_text(json.dumps(BASE, indent=1))
    assert edgeopt.load(f).name == BASE["name"]


def _write(tmp_path, case: Case):
    f = tmp_path / (case.id.replace(" ", "_").replace("/", "_") + ".json")
    content = case.content()
    if isinstance(content, bytes):
        f.write_bytes(content)
    else:
        f.write_text(content, encoding="utf-8")
    return f


def _load_error(f) -> edgeopt.InstanceError:
    """The InstanceError that loading ``f`` raises; anything else fails the test in one line (a
    RecursionError's thousand-frame traceback would otherwise dominate the report)."""
    try:
        edgeopt.load(f)
    except edgeopt.InstanceError as exc:
        return exc
    except Exception as exc:  # noqa: BLE001 - the point is to name what escaped
        pytest.fail(f"edgeopt.load raised {type(exc).__name__}, not InstanceError: {str(exc)[:200]}", pytrace=False)
    pytest.fail(f"edgeopt.load accepted {f.name}", pytrace=False)


def _run_cli(argv: list[str]) -> int:
    try:
        return main(argv)
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"the CLI raised {type(exc).__name__}: {str(exc)[:200]}", pytrace=False)


@pytest.mark.parametrize("case", ALL)
def test_load_names_file_path_and_problem(tmp_path, case: Case):
    f = _write(tmp_path, case)
    error = _load_error(f)
    message = str(error)
    assert str(f) in message
    if case.path is not None:
        assert f"{case.path}: {case.fragment}" in message
        assert any(path == case.path for path, _ in error.problems)
    else:
        assert case.fragment in message


@pytest.mark.parametrize("case", ALL)
def test_cli_exits_2_with_the_message_and_writes_nothing(tmp_path, capsys, case: Case):
    f = _write(tmp_path, case)
    out = tmp_path / "solution.json"
    error = _load_error(f)
    code = _run_cli(["solve", str(f), "--solver", "highs", "-o", str(out)])
    captured = capsys.readouterr()
    assert code == 2
    assert str(error) in captured.err
    assert str(f) in captured.err and case.fragment in captured.err
    assert "Traceback" not in captured.err
    assert captured.out == ""
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == [f.name]  # no temporary file left behind either


# -- solution files --------------------------------------------------------------------------------
# A valid solution of the base instance, broken one thing at a time; `edgeopt check` must exit 2 with
# a message naming the file and the JSON path, and never run the evaluator on a half-read plan.
@pytest.fixture(scope="module")
def base_solution(tmp_path_factory):
    folder = tmp_path_factory.mktemp("solution")
    instance_file, solution_file = folder / "base.json", folder / "base-solution.json"
    instance_file.write_text(json.dumps(BASE, indent=1))
    instance = edgeopt.load(instance_file)
    result = edgeopt.solve(instance, "highs")
    edgeopt.save_solution(instance, result, solution_file)
    doc = json.loads(solution_file.read_text())
    # The rows below edit the first route and slot 0 of edge0: make sure they exist.
    assert doc["decisions"]["routes"] and "edge0" in doc["decisions"]["slots"][0]["stored"]
    return instance_file, doc


def sol_put(*path_and_value) -> Callable[[dict], None]:
    *keys, value = path_and_value

    def change(doc: dict) -> None:
        for k in keys[:-1]:
            doc = doc[k]
        doc[keys[-1]] = value

    return change


FIRST_ROUTE = ("decisions", "routes", 0)
SOLUTION_CASES = [
    ("wrong kind", sol_put("kind", "deployment"), "kind", 'must be "deployment-solution", got "deployment"'),
    ("other instance", sol_put("instance_hash", "sha256:" + "0" * 64), "instance_hash",
     "this solution is for another instance content"),
    ("no instance hash", sol_put("instance_hash", None), "instance_hash", "must be a string, got null"),
    ("malformed hash", sol_put("instance_hash", "sha256:0"), "instance_hash", "must match ^sha256:[0-9a-f]{64}$"),
    ("decisions null", sol_put("decisions", None), "decisions", "must be an object, got null"),
    ("format a string", sol_put("format", "1"), "format", 'must be 1, got "1"'),
    ("unknown status", sol_put("status", "done"), "status", "must be one of"),
    ("solver a number", sol_put("solver", 3), "solver", "must be a string, got integer 3"),
    ("objective of 400 digits", sol_put("objective", 10 ** 400), "objective", "must be <= 1e+300"),
    ("slots of the wrong length", sol_put("decisions", "slots", []), "decisions.slots", "must be an array of 2 slot(s)"),
    ("unknown edge", sol_put("decisions", "slots", 0, "stored", "edge9", []), "decisions.slots[0].stored.edge9",
     "no such edge"),
    ("unknown model", sol_put("decisions", "slots", 0, "loaded", "edge0", ["gpt-17"]),
     "decisions.slots[0].loaded.edge0[0]", "no model named 'gpt-17'"),
    ("route from an unknown region", sol_put(*FIRST_ROUTE, "region", "nowhere"), "decisions.routes[0]",
     "needs region, model, slot, at and requests that exist in the instance"),
    ("route to an edge that cannot serve it", sol_put(*FIRST_ROUTE, "at", "edge9"), "decisions.routes[0].at",
     "'edge9' cannot serve region"),
]
# Type and range errors caught by deployment.SOLUTION_SCHEMA (checked by io.load_solution) before any
# reference is resolved; the last item of each row says what went wrong without that check.
SOLUTION_TYPE_CASES = [
    ("model name not a string", sol_put("decisions", "slots", 0, "stored", "edge0", [[1]]),
     "decisions.slots[0].stored.edge0[0]", "must be a string, got array [1]", "TypeError: unhashable type"),
    ("model names not a list", sol_put("decisions", "slots", 0, "stored", "edge0", "sdxl-base-1.0"),
     "decisions.slots[0].stored.edge0", 'must be an array, got string "sdxl-base-1.0"', "silently read as no model"),
    ("routes not a list", sol_put("decisions", "routes", 5), "decisions.routes", "must be an array, got integer 5",
     "silently read as no route"),
    ("fractional slot", sol_put(*FIRST_ROUTE, "slot", 0.7), "decisions.routes[0].slot",
     "must be an integer, got number 0.7", "int(0.7) silently makes it slot 0"),
    ("boolean slot", sol_put(*FIRST_ROUTE, "slot", True), "decisions.routes[0].slot",
     "must be an integer, got boolean true", "int(True) silently makes it slot 1"),
    ("absurd request count", sol_put(*FIRST_ROUTE, "requests", 10**30), "decisions.routes[0].requests",
     "must be <= 1000000000", "OverflowError in the int64 array"),
    ("route target not a string", sol_put(*FIRST_ROUTE, "at", ["cloud"]), "decisions.routes[0].at",
     'must be a string, got array ["cloud"]', "TypeError: unhashable type"),
]
SOLUTION_ALL = [pytest.param(*row, id=row[0]) for row in SOLUTION_CASES] + [
    pytest.param(*row[:4], id=row[0]) for row in SOLUTION_TYPE_CASES]


@pytest.mark.parametrize("name, change, path, fragment", SOLUTION_ALL)
def test_bad_solution_file_exits_2_naming_path(tmp_path, capsys, base_solution, name, change, path, fragment):
    instance_file, doc = base_solution
    doc = copy.deepcopy(doc)
    change(doc)
    f = tmp_path / "solution.json"
    f.write_text(json.dumps(doc))
    instance = edgeopt.load(instance_file)
    try:
        edgeopt.load_solution(f, instance)
    except edgeopt.InstanceError as exc:
        assert f"{f}: " in str(exc) and f"{path}: {fragment}" in str(exc)
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"load_solution raised {type(exc).__name__}, not InstanceError: {exc}", pytrace=False)
    else:
        pytest.fail("load_solution accepted the file", pytrace=False)
    code = _run_cli(["check", str(instance_file), str(f)])
    captured = capsys.readouterr()
    assert code == 2
    assert f"{path}: {fragment}" in captured.err and "Traceback" not in captured.err
    assert captured.out == ""
