"""One regression test per input that once escaped (a traceback, a hang, unbounded memory or a wrong
answer): each is now exit code 2 with the file and the JSON path, before anything is read or solved that
should not be. The interrupts and time limits are in test_interrupts.py and test_conformance.py."""
from __future__ import annotations

import copy
import json
import os
import time

import pytest

import edgeopt
from edgeopt.cli import main
from edgeopt.comparison.reference import read_solu

from conftest import INSTANCES

TINY = INSTANCES / "deployment" / "tiny-1.json"
GAP1 = INSTANCES / "gap" / "gap1.txt"


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def write(tmp_path, name: str, data) -> str:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return str(path)


def changed(path, *keys_and_value) -> dict:
    data = copy.deepcopy(edgeopt.load(path).data)
    *keys, value = keys_and_value
    target = data
    for k in keys[:-1]:
        target = target[k]
    target[keys[-1]] = value
    return data


# -- numbers of the wrong kind and values no computation survives -------------------------------------
@pytest.mark.parametrize("source, keys, value, where, message", [
    (TINY, ("slots", 1.0), None, "slots", "must be an integer, got number 1.0"),
    (TINY, ("kind", []), None, "kind", "must be one of 'assignment', 'deployment', 'gap', 'offloading', 'serving', got []"),
    (TINY, ("edges", 0, "backhaul_gbps", 5e-324), None, "edges[0].backhaul_gbps", "must be >= 1e-06, got 5e-324"),
    (TINY, ("models", 0, "edge_inference_seconds", 1e-300), None, "models[0].edge_inference_seconds",
     "must be >= 1e-06, got 1e-300"),
    (INSTANCES / "assignment" / "assign-tiny-1.json", ("compute_budget", 5e-324), None, "compute_budget",
     "must be >= 1e-06, got 5e-324"),
    (TINY, ("name", "\ud800"), None, "name", "must be valid Unicode text"),
    (TINY, ("name", "edge\u001b[2Jwiped"), None, "name", "must not contain a control character"),
    (TINY, ("regions", 0, "name", "north\nsouth"), None, "regions[0].name", "must not contain a control character"),
])
def test_values_that_once_escaped_exit_2(tmp_path, capsys, source, keys, value, where, message):
    path = write(tmp_path, "bad.json", changed(source, *keys))
    for argv in (["solve", path, "--solver", "greedy" if "deployment" in str(source) else "enumerate", "-o",
                  tmp_path / "out.json"], ["show", path]):
        code, out, err = run(capsys, *argv)
        assert code == 2 and f"{path}: {where}: {message}" in err, err
    assert not (tmp_path / "out.json").exists()


def test_gap_agents_as_a_float_exits_2(tmp_path, capsys):
    doc = edgeopt.generate("gap", agents=3, jobs=5, seed=1).data
    doc["agents"] = 3.0
    code, _, err = run(capsys, "show", write(tmp_path, "g.json", doc))
    assert code == 2 and "agents: must be an integer, got number 3.0" in err


def test_a_surrogate_name_is_refused_before_a_sweep_runs(tmp_path):
    path = write(tmp_path, "bad.json", changed(TINY, "name", "\ud800"))
    with pytest.raises(edgeopt.InstanceError, match="name: must be valid Unicode text"):
        edgeopt.compare([path], ["greedy"], workers=1, progress=False, out=tmp_path / "sweep")
    assert not (tmp_path / "sweep").exists()


def test_a_400_digit_objective_in_a_solution_file_exits_2(tmp_path, capsys):
    inst = edgeopt.load(TINY)
    sol = tmp_path / "plan.json"
    edgeopt.save_solution(inst, edgeopt.solve(inst, "greedy"), sol)
    doc = json.loads(sol.read_text())
    doc["objective"] = 10 ** 400
    sol.write_text(json.dumps(doc))
    code, _, err = run(capsys, "check", TINY, sol)
    assert code == 2 and "objective: must be <= 1e+300" in err


def test_a_json_file_starting_with_a_digit_is_read_as_json(tmp_path, capsys):
    path = write(tmp_path, "numbers.json", "3 4 5")
    code, _, err = run(capsys, "show", path)
    assert code == 2 and "not valid JSON" in err and "OR-Library" not in err


# -- what is read, and how much ----------------------------------------------------------------------
def test_special_files_are_refused_without_being_read(tmp_path, capsys):
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    for path, what in (("/dev/zero", "a character device"), (fifo, "a named pipe"), (tmp_path, "a folder")):
        code, _, err = run(capsys, "solve", path, "--solver", "greedy")  # a pipe would block a reader forever
        assert code == 2 and f"{path}: is {what}, expected a regular file" in err


@pytest.mark.parametrize("name, size", [("huge.json", 500 * 2 ** 20), ("gaphuge.txt", 500 * 2 ** 20),
                                        ("gapbig.txt", 20 * 2 ** 20)])
def test_huge_files_are_refused_before_they_are_read(tmp_path, capsys, name, size):
    path = tmp_path / name
    with open(path, "wb") as fh:  # sparse: costs no disk, and reading it all would cost gigabytes
        if name == "gapbig.txt":
            fh.write(b"1\n" + b"7 " * (size // 2))
        else:
            fh.truncate(size)
    started = time.perf_counter()
    code, _, err = run(capsys, "show", path, "--sense", "max")
    assert code == 2 and str(path) in err and "more than the limit of" in err
    assert time.perf_counter() - started < 60  # generous: a refusal reads (almost) nothing


def test_a_reference_that_is_a_device_or_garbage_exits_2_with_a_short_message(tmp_path, capsys):
    code, _, err = run(capsys, "solve", GAP1, "--solver", "greedy", "--reference", "/dev/zero")
    assert code == 2 and "/dev/zero: is a character device" in err
    garbage = tmp_path / "garbage.solu"
    garbage.write_text("=opt= x " + "9" * 10_000_000 + "\n")
    code, _, err = run(capsys, "solve", GAP1, "--solver", "greedy", "--reference", garbage)
    assert code == 2 and "line 1: value must be finite" in err and len(err) < 2_000


def test_non_utf8_reference_names_the_file(tmp_path, capsys):
    bad = tmp_path / "latin.solu"
    bad.write_bytes("=opt= caf\xe9 3\n".encode("latin-1"))
    code, _, err = run(capsys, "solve", GAP1, "--solver", "greedy", "--reference", bad)
    assert code == 2 and f"{bad}: not UTF-8 text" in err


@pytest.mark.parametrize("lines, message", [
    (["=opt= gap1-1 336", "=opt= gap1-1 337"], "line 2: =opt= for \"gap1-1\" is given twice"),
    (["=opt= gap1-1 336", "=inf= gap1-1"], "\"gap1-1\" is =inf= and has a value"),
    (["=best= gap1-1 1_000"], "line 1: value must be a finite decimal number, got \"1_000\""),
    (["=hash= gap1-1 md5:abc"], "line 1: hash must be sha256:<64 hex digits>"),
])
def test_contradictory_or_malformed_references_exit_2(tmp_path, capsys, lines, message):
    solu = tmp_path / "r.solu"
    solu.write_text("\n".join(lines) + "\n")
    code, _, err = run(capsys, "solve", GAP1, "--solver", "greedy", "--reference", solu)
    assert code == 2 and message in err, err


@pytest.mark.parametrize("seeds, message", [("0-99999999", "more than 10,000 seeds"),
                                            ("1_0", "'1_0' is not a seed"), ("+3", "'+3' is not a seed"),
                                            ("٣", "'٣' is not a seed")])
def test_seed_specs_that_were_accepted_or_exhausted_memory(capsys, seeds, message):
    code, _, err = run(capsys, "compare", TINY, "--solvers", "greedy", "--seeds", seeds, "--no-progress")
    assert code == 2 and message in err


@pytest.mark.parametrize("token", ["1_000", "１２", "nan", "0x1F"])
def test_orlib_tokens_other_than_ascii_decimals_are_refused(tmp_path, capsys, token):
    path = tmp_path / "gapx.txt"
    path.write_text(f"1\n1 2\n{token} 2\n1 1\n5\n")
    code, _, err = run(capsys, "show", path, "--sense", "max")
    assert code == 2 and f"profit[0][0] must be a number, got '{token}'" in err


# -- outputs: checked before solving, never a device, never a half-written file -----------------------
def test_output_onto_a_device_is_refused_and_the_device_untouched(capsys):
    before = os.stat("/dev/null")
    code, _, err = run(capsys, "solve", TINY, "--solver", "greedy", "-o", "/dev/null")
    assert code == 2 and "/dev/null: is not a regular file" in err
    after = os.stat("/dev/null")
    assert (after.st_mode, after.st_rdev) == (before.st_mode, before.st_rdev)


def test_an_unwritable_output_is_refused_before_solving(tmp_path, capsys, monkeypatch):
    solved = []
    monkeypatch.setattr(edgeopt, "solve", lambda *a, **k: solved.append(a))
    monkeypatch.setattr(os, "access", lambda path, mode: False)  # as for a read-only folder (root ignores it)
    code, _, err = run(capsys, "solve", TINY, "--solver", "greedy", "-o", tmp_path / "sub" / "out.json")
    assert code == 2 and not solved
    assert f"{tmp_path / 'sub' / 'out.json'}: cannot be written (no permission to write in {tmp_path})" in err


def test_a_failed_write_names_the_file_not_its_temporary(tmp_path, monkeypatch):
    import tempfile

    def refuse(**kwargs):
        raise PermissionError(13, "Permission denied", os.path.join(kwargs["dir"], ".out.json.x1y2.json"))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(PermissionError) as info:
        edgeopt.io.write_atomic(tmp_path / "out.json", "{}")
    assert info.value.filename == str(tmp_path / "out.json") and ".x1y2" not in str(info.value)


def test_control_characters_in_a_path_are_printed_escaped(tmp_path, capsys):
    path = tmp_path / "evil\u001b[31mname\n.json"
    code, _, err = run(capsys, "show", path)
    assert code == 2 and "\u001b" not in err and "\\x1b[31mname\\n.json: no such file" in err


# -- references: by name and content, from any folder ---------------------------------------------------
def test_a_changed_instance_does_not_get_the_stored_reference(tmp_path):
    """gap4-1 edited: the stored optimum 656 is for the original content, so it must not be used."""
    problem = edgeopt.load(INSTANCES / "gap" / "gap4.txt")[0]
    data = problem.data
    data["capacity"] = [c + 50 for c in data["capacity"]]
    edited = tmp_path / "gap4-1.json"
    edited.write_text(json.dumps(data))
    df = edgeopt.compare([str(edited)], ["highs"], workers=1, progress=False, reference=INSTANCES / "reference.solu")
    row = df.iloc[0]
    assert row.status == "optimal" and row.reference_kind == "best-in-run" and row.gap_to_reference == 0.0
    assert "has a reference for 'gap4-1', but for other content" in row.reference_note
    same = edgeopt.compare([problem], ["greedy"], workers=1, progress=False, reference=INSTANCES / "reference.solu")
    assert same.reference_kind[0] == "opt" and same.reference[0] == 656
    assert same.reference_file[0] == str(INSTANCES / "reference.solu")


def test_compare_from_another_folder_finds_the_references_beside_the_instances(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    df = edgeopt.compare([str(TINY)], ["greedy"], workers=1, progress=False, report=False)
    assert df.reference_kind[0] == "opt" and df.reference_file[0] == str(INSTANCES / "reference.solu")


def test_update_reference_leaves_integer_optima_as_written(tmp_path, capsys):
    solu = tmp_path / "reference.solu"
    solu.write_text((INSTANCES / "reference.solu").read_text())
    before = solu.read_bytes()
    code, out, err = run(capsys, "compare", GAP1, "--solvers", "highs", "--reference", solu, "--update-reference",
                         "--workers", "1", "--no-progress")
    assert code == 0, err
    assert "nothing to change" in out and solu.read_bytes() == before  # 336 stays 336, not 336.0
    assert read_solu(solu)["gap1-1"].optimum == 336


@pytest.mark.parametrize(("solver", "option", "value"), [("highs", "threads", 100_000), ("cpsat", "workers", 100_000),
                                                         ("highs", "threads", 257)])
def test_thread_counts_far_above_any_machine_are_refused_before_the_backend_runs(capsys, solver, option, value):
    """Issue 19, item 9: HiGHS aborted with std::bad_alloc at threads=100000 and CP-SAT exited 1 with an empty
    reason at num_workers=100000; now exit 2 naming the option and its bound (edgeopt.solver.MAX_THREADS)."""
    code, _, err = run(capsys, "solve", TINY, "--solver", solver, "--option", f"{option}={value}")
    assert code == 2 and f"option {option}: must be between 1 and 256, got {value}" in err


@pytest.mark.parametrize(("solver", "options", "message"), [
    ("highs", {"highs": {"threads": 100_000}}, "option highs: threads=100000: at most 256"),
    ("cpsat", {"parameters": {"num_workers": 100_000}}, "option parameters: num_workers=100000: at most 256")])
def test_thread_counts_passed_through_to_the_backend_are_bounded_too(solver, options, message):
    with pytest.raises(ValueError, match=message):
        edgeopt.solve(edgeopt.load(TINY), solver, **options)


def test_the_most_threads_allowed_still_solve():
    for solver, options in (("highs", {"threads": 256}), ("cpsat", {"workers": 256})):
        assert edgeopt.solve(edgeopt.load(TINY), solver, **options).status == edgeopt.Status.OPTIMAL


def _policy_paths(tmp_path):
    tmp_path.mkdir()
    loop_a, loop_b = tmp_path / "loop-a.pt", tmp_path / "loop-b.pt"
    loop_a.symlink_to(loop_b)
    loop_b.symlink_to(loop_a)
    fifo = tmp_path / "fifo.pt"
    os.mkfifo(fifo)
    folder = tmp_path / "policies"
    folder.mkdir()
    return [(loop_a, "a loop of symbolic links, not a file"), (folder, "is a folder; give the policy file"),
            (fifo, "is not a regular file"), ("/dev/zero", "is not a regular file"),
            (tmp_path / "missing.pt", "no such file")]


@pytest.mark.parametrize("family", ["offloading", "serving"])
def test_a_policy_path_that_is_not_a_regular_file_is_named_for_what_it_is(capsys, tmp_path, family):
    """Issue 19, item 5: policy= a symbolic-link loop was a RuntimeError traceback; a folder, /dev/zero or a
    FIFO were refused as "no such file". Now each is exit 2 saying what the path is, for both families'
    learned solvers, before anything is read (a FIFO would block a reader)."""
    instance = {"offloading": INSTANCES / "offloading" / "offload-medium-1.json",
                "serving": INSTANCES / "serving" / "serving-tiny-1.json"}[family]
    for path, message in _policy_paths(tmp_path / family):
        code, _, err = run(capsys, "solve", instance, "--solver", "mappo", "--option", f"policy={path}")
        assert code == 2 and message in err, (path, err)


def test_a_repeated_model_name_with_an_initial_state_is_named_not_an_index_error(capsys, tmp_path):
    """Issue 19, item 1: a deployment file whose models repeat a name while its edges hold models initially
    was an IndexError traceback (the name-to-index map is shorter than the model list); now exit 2 naming the
    repeated name's JSON path."""
    data = copy.deepcopy(edgeopt.load(INSTANCES / "deployment" / "medium-warm.json").data)
    first, second = data["models"][0]["name"], data["models"][1]["name"]
    data["models"][1]["name"] = first
    for r in data["demand"]:
        r["model"] = first if r["model"] == second else r["model"]
    for e in data["edges"]:
        for key in ("initial_stored", "initial_loaded"):
            e[key] = [first if m == second else m for m in e.get(key, [])]
    assert any(e.get("initial_loaded") for e in data["edges"])
    path = write(tmp_path, "dup.json", data)
    for verb in (("show", path), ("solve", path, "--solver", "greedy")):
        code, _, err = run(capsys, *verb)
        assert code == 2 and f"models[1].name: duplicate model name {first!r} (also models[0])" in err


def test_a_corrupted_reference_to_update_is_refused_before_the_sweep(capsys, tmp_path):
    """Issue 19, item 10: `compare --update-reference BAD.solu` ran the whole sweep (and wrote its reports)
    before refusing the file; now exit 2 naming the file's bad lines, and nothing is written."""
    bad = tmp_path / "bad.solu"
    bad.write_text("=opt= tiny-1 abc\nthis is junk\n")
    out = tmp_path / "sweep"
    code, _, err = run(capsys, "compare", TINY, "--solvers", "greedy", "--out", out, "--update-reference", bad,
                       "--no-progress")
    assert code == 2 and "bad.solu" in err and 'line 2: expected' in err
    assert not out.exists()
    assert bad.read_text() == "=opt= tiny-1 abc\nthis is junk\n"


@pytest.mark.parametrize("family", ["offloading", "serving"])
def test_a_slash_in_a_model_or_configuration_name_is_refused(capsys, tmp_path, family):
    """Issue 19, item 12: model "a/b" with configuration "c" and model "a" with configuration "b/c" both became
    "a/b/c", and solution files split names at the first "/"; now either name is refused, with its path."""
    path = {"offloading": INSTANCES / "offloading" / "offload-medium-1.json",
            "serving": INSTANCES / "serving" / "serving-small-1.json"}[family]
    data = copy.deepcopy(edgeopt.load(path).data)
    old_model = data["models"][0]["name"]
    data["models"][0]["name"] = "a/b"
    data["models"][1]["configs"][0]["name"] = "b/c"
    for key in ("users", "devices", "edges"):
        for item in data.get(key, []):
            for field in ("local_models", "initial_loaded"):
                if field in item:
                    item[field] = ["a/b" if m == old_model else m for m in item[field]]
    code, _, err = run(capsys, "show", write(tmp_path, "slash.json", data))
    assert code == 2
    assert "models[0].name: 'a/b': '/' joins a model's name" in err
    assert "models[1].configs[0].name: 'b/c': '/' joins a model's name" in err


@pytest.mark.parametrize(("family", "args", "message"), [
    ("offloading", ["--users", "100001"], "users must be at most 100,000, got 100,001"),
    ("offloading", ["--users", "100000000"], "users must be at most 100,000, got 100,000,000"),
    ("serving", ["--users", "50000", "--slots", "30"], "users x slots must be at most 1,000,000, got 50,000 x 30"),
    ("offloading", ["--slots", "10001"], "slots must be at most 10,000, got 10,001")])
def test_generator_sizes_beyond_the_limits_are_refused_before_any_work(capsys, tmp_path, family, args, message):
    """Issue 19, item 7: `generate offloading --users 100001` spent a minute generating before the schema refused
    the result (and 10^8 users grew without bound); the sizes are now checked first (edgeopt.mec.MAX_GENERATED),
    with a message only that check gives."""
    out = tmp_path / "big.json"
    code, _, err = run(capsys, "generate", family, *args, "-o", out)
    assert code == 2 and message in err and not out.exists()


@pytest.mark.parametrize(("solver", "source", "option", "message"), [
    ("offload-oa", INSTANCES / "offloading" / "offload-tiny-1.json", "start_points=1001",
     "option start_points: must be between 1 and 1000, got 1001"),
    ("tabu", GAP1, "tenure=10000000000000000000", "option tenure: must be between 1 and 1000000000, got 10000000000000000000")])
def test_option_sizes_beyond_their_bounds_exit_2(capsys, solver, source, option, message):
    """Issue 19, item 9: offload-oa added start_points x resources cuts before it looked at the clock (100,000 ran
    10 s and 675 MB past a 2-s limit on offload-medium-1); tabu's tenure=10**19 overflowed its int64 tabu list
    (an OverflowError traceback)."""
    code, _, err = run(capsys, "solve", source, "--solver", solver, "--option", option, "--time-limit", "1")
    assert code == 2 and err.strip().splitlines() == [f"edgeopt: error: {message}"]


def test_enumeration_of_a_slot_with_many_unservable_users_stays_in_bounded_memory(tmp_path):
    """Issue 19, item 9: users that can be served nowhere add nothing to offload-enumerate's count but a column
    each to its blocks of 65,536 combinations; with split=False, 3,009 users took 4.7 GB and ran 34 s past a 3-s
    limit. Blocks now hold at most 2^21 (combination, user) cells. Here 609 users: the old blocks took about
    2.5 GB; numpy's allocations are measured by tracemalloc."""
    import tracemalloc
    data = edgeopt.load(INSTANCES / "offloading" / "offload-tiny-1.json").data
    data = copy.deepcopy(data)
    data["cloud"]["enabled"] = False
    data["edges"].append({**data["edges"][0], "name": "small", "gpu_memory_gb": 1.0})  # fits no model
    user = data["users"][0]
    data["users"] = ([{**user, "name": f"s{i}"} for i in range(9)]  # 5 choices each: 5^9 = 1,953,125 in all
                     + [{**user, "name": f"x{i}", "edge": "small"} for i in range(600)])
    inst = edgeopt.load(write(tmp_path, "unservable.json", data))
    tracemalloc.start()
    try:
        result = edgeopt.solve(inst, "offload-enumerate", split=False, time_limit=0.5)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.status == edgeopt.Status.TIME_LIMIT and peak < 500 * 2 ** 20
