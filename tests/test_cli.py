"""The command line, end to end on small generated instances, run in-process (and once as a real process)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import edgeopt
from edgeopt.cli import main
from edgeopt.families import deployment
from edgeopt.result import Result, Status

PARAMS = dict(edges=2, regions_per_edge=2, models=3, slots=2, seed=5)


@pytest.fixture(scope="module")
def instance():
    return edgeopt.generate("deployment", **PARAMS)


@pytest.fixture
def instance_file(tmp_path, instance):
    path = tmp_path / "inst.json"
    edgeopt.save(instance, path)
    return path


@pytest.fixture(scope="module")
def optimum(instance):
    result = edgeopt.solve(instance, "highs")
    assert result.status == Status.OPTIMAL
    return result


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def field(out: str, name: str) -> str:
    """The value of a ``name   value`` line of the summary."""
    for line in out.splitlines():
        if line.startswith(name + " "):
            return line[len(name):].strip()
    raise AssertionError(f"no {name!r} line in:\n{out}")


# -- solve and check -------------------------------------------------------------------------------
def test_solve_writes_a_solution_that_check_accepts(capsys, tmp_path, instance, instance_file, optimum):
    sol = tmp_path / "sol.json"
    code, out, err = run(capsys, "solve", instance_file, "--solver", "highs", "--time-limit", "30", "--seed", "1",
                         "-o", sol)
    assert code == 0, err
    assert field(out, "status") == "optimal"
    assert float(field(out, "objective")) == pytest.approx(optimum.objective, rel=1e-9)
    assert float(field(out, "bound")) == pytest.approx(optimum.objective, rel=1e-9)
    assert field(out, "gap") == "0%"
    assert field(out, "solver").startswith("highs (")
    for name in ("build", "solve"):
        assert field(out, name).endswith(" s")
    doc = json.loads(sol.read_text())
    assert doc["instance"] == instance.name and doc["instance_hash"] == instance.hash
    assert doc["status"] == "optimal" and doc["solver"] == "highs"

    code, out, err = run(capsys, "check", instance_file, sol)
    assert code == 0, err
    assert field(out, "feasible") == "yes"
    assert float(field(out, "objective")) == pytest.approx(optimum.objective, rel=1e-9)
    for part in optimum.evaluation.parts:
        assert f"  {part} " in out


def test_check_names_the_violated_constraint_of_a_tampered_solution(capsys, tmp_path, instance_file):
    sol = tmp_path / "sol.json"
    assert run(capsys, "solve", instance_file, "--solver", "highs", "-o", sol)[0] == 0
    doc = json.loads(sol.read_text())
    route = doc["decisions"]["routes"][0]
    route["requests"] += 1
    sol.write_text(json.dumps(doc))

    code, out, err = run(capsys, "check", instance_file, sol)
    assert code == 1
    assert field(out, "feasible").startswith("no: ")
    assert (f"demand at region {route['region']!r}, model {route['model']!r}, slot {route['slot']}: "
            f"serves {route['requests']} requests of {route['requests'] - 1} asked") in out


def test_check_refuses_a_solution_of_another_instance(capsys, tmp_path, instance_file):
    other = tmp_path / "other.json"
    edgeopt.save(edgeopt.generate("deployment", **{**PARAMS, "seed": 6}), other)
    sol = tmp_path / "sol.json"
    assert run(capsys, "solve", other, "--solver", "highs", "-o", sol)[0] == 0
    code, out, err = run(capsys, "check", instance_file, sol)
    assert code == 2
    assert f"{sol}: instance_hash: this solution is for another instance content" in err
    assert out == ""


def test_infeasible_instance_reports_the_reason_and_writes_no_solution(capsys, tmp_path):
    data = edgeopt.generate("deployment", **PARAMS, cloud=False).data
    big = data["models"][0]["name"]
    data["models"][0]["gpu_memory_gb"] = 1000.0  # more than any edge type (at most 160 GB)
    data["demand"] = [d for d in data["demand"] if not (d["region"] == "region0_0" and d["model"] == big)]
    data["demand"].append({"region": "region0_0", "model": big, "requests": [1, 1]})
    path = tmp_path / "infeasible.json"
    path.write_text(json.dumps(data))
    sol = tmp_path / "sol.json"

    code, out, err = run(capsys, "solve", path, "--solver", "highs", "-o", sol)
    assert code == 0  # a proof of infeasibility answers the question
    assert field(out, "status") == "infeasible"
    message = field(out, "message")
    assert f"model {big!r}" in message and "GPU memory 1000 GB" in message and "the cloud is disabled" in message
    assert f"no solution file written to {sol}" in err
    assert not sol.exists()


def test_several_files_print_one_line_each(capsys, tmp_path, instance_file, optimum):
    second = tmp_path / "second.json"
    edgeopt.save(edgeopt.generate("deployment", **{**PARAMS, "seed": 7}), second)
    code, out, err = run(capsys, "solve", instance_file, second, "--solver", "highs")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["file", "status", "objective", "bound", "gap", "time"]
    rows = [line.split() for line in lines[2:]]
    assert [r[0] for r in rows] == [str(instance_file), str(second)]
    assert all(r[1] == "optimal" and r[4] == "0%" for r in rows)
    assert float(rows[0][2]) == pytest.approx(optimum.objective, rel=1e-9)


def test_output_file_needs_exactly_one_instance(capsys, tmp_path, instance_file):
    sol = tmp_path / "sol.json"
    code, out, err = run(capsys, "solve", instance_file, instance_file, "--solver", "highs", "-o", sol)
    assert code == 2 and "exactly one instance file" in err
    assert out == "" and not sol.exists()


def test_a_bad_file_among_several_stops_before_solving(capsys, tmp_path, instance_file):
    bad = tmp_path / "bad.json"
    bad.write_text('{"kind": "deployment", "format": 1')
    code, out, err = run(capsys, "solve", instance_file, bad, "--solver", "highs")
    assert code == 2
    assert f"{bad}: not valid JSON" in err
    assert out == ""


@pytest.mark.parametrize("argv, message", [
    (["--time-limit", "0"], "argument --time-limit: must be a positive, finite number of seconds, got '0'"),
    (["--time-limit", "-1"], "argument --time-limit: must be a positive, finite number of seconds, got '-1'"),
    (["--time-limit", "nan"], "argument --time-limit: must be a number of seconds, got 'nan'"),
    (["--time-limit", "soon"], "argument --time-limit: must be a number of seconds, got 'soon'"),
    (["--seed", "-3"], "argument --seed: must be an integer between 0 and 2147483647, got '-3'"),
    (["--solver", "nope"], "unknown solver 'nope'; known: "),
], ids=["zero", "negative", "nan", "word", "negative-seed", "unknown-solver"])
def test_bad_options_exit_2_with_a_message(capsys, tmp_path, instance_file, argv, message):
    sol = tmp_path / "sol.json"
    args = ["solve", instance_file, "--solver", "highs", "-o", sol]
    if argv[0] == "--solver":
        args[3] = argv[1]
    else:
        args += argv
    code, out, err = run(capsys, *args)
    assert code == 2
    assert message in err
    assert out == "" and not sol.exists()


def test_missing_file_and_folder_outputs_exit_2(capsys, tmp_path, instance_file):
    code, out, err = run(capsys, "solve", tmp_path / "nowhere.json", "--solver", "highs")
    assert code == 2 and f"{tmp_path / 'nowhere.json'}: no such file" in err
    code, out, err = run(capsys, "solve", instance_file, "--solver", "highs", "-o", tmp_path)
    assert code == 2 and "is a folder" in err


def test_output_may_not_overwrite_the_instance(capsys, instance_file):
    before = instance_file.read_text()
    code, out, err = run(capsys, "solve", instance_file, "--solver", "highs", "-o", instance_file)
    assert code == 2 and "is also an input file" in err
    assert instance_file.read_text() == before


# -- exit codes of solver outcomes (the solver replaced by a stand-in) ------------------------------
@pytest.mark.parametrize("change, code, written", [
    (dict(status=Status.TIME_LIMIT), 0, True),
    (dict(status=Status.TIME_LIMIT, solution=None, objective=None, gap=None, message="no incumbent"), 1, False),
    (dict(status=Status.ERROR, message="solution from highs violates 1 constraint(s)"), 1, False),
    (dict(status=Status.ERROR, solution=None, objective=None, message="backend crashed"), 1, False),
], ids=["time-limit-with-solution", "time-limit-without", "error-with-solution", "error-without"])
def test_exit_code_follows_the_status(capsys, monkeypatch, tmp_path, instance_file, optimum, change, code, written):
    monkeypatch.setattr(edgeopt, "solve", lambda *a, **k: optimum.with_(**change))
    sol = tmp_path / "sol.json"
    got, out, err = run(capsys, "solve", instance_file, "--solver", "highs", "-o", sol)
    assert got == code
    assert field(out, "status") == change["status"].value
    assert sol.exists() == written
    if not written:
        assert f"no solution file written to {sol}" in err and change["message"] in err


def test_interrupt_exits_130(capsys, monkeypatch, tmp_path, instance_file):
    def interrupted(*args, **kwargs) -> Result:
        raise KeyboardInterrupt

    monkeypatch.setattr(edgeopt, "solve", interrupted)
    sol = tmp_path / "sol.json"
    code, out, err = run(capsys, "solve", instance_file, "--solver", "highs", "-o", sol)
    assert code == 130 and "interrupted" in err
    assert not sol.exists()


# -- show, solvers, generate, export, schema, version ----------------------------------------------
def test_show_summarises_the_instance(capsys, instance_file, instance):
    code, out, err = run(capsys, "show", instance_file)
    assert code == 0, err
    assert (f"{instance.num_edges} edges, {instance.num_models} models, {instance.num_regions} regions, "
            f"{instance.num_pairs} neighbour routes, {instance.slots} slot(s)") in out
    mf = deployment.formulate(instance).model.matrix()
    assert f"{instance.num_variables} variables ({instance.num_variables} integer), {mf.num_rows} rows" in out
    lines = out.splitlines()
    demand = instance.demand.sum(axis=(0, 2))
    for m, name in enumerate(instance.model_names):
        row = next(line.split() for line in lines if line.startswith(name + " "))
        assert int(row[-1]) == demand[m]  # the last column: total requests for the model
    for e, name in enumerate(instance.edge_names):
        row = next(line.split() for line in lines if line.startswith(name + " "))
        assert float(row[2]) == instance.edge_gpu_memory_gb[e]


def test_solvers_lists_every_registered_solver(capsys):
    code, out, err = run(capsys, "solvers", "--long")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:5] == ["family", "name", "exact", "gives_bound", "available"]
    listed, key = {}, None  # --long wraps a description onto lines that start with spaces: joined back here
    for line in lines[2:]:
        if line.startswith(" "):
            listed[key] += " " + line.strip()
        else:
            key = tuple(line.split()[:2])
            listed[key] = line
    for s in edgeopt.solvers():
        assert (s.family, s.name) in listed
        assert s.description in listed[(s.family, s.name)]
    for family in ("deployment", "gap"):
        assert listed[(family, "highs")].split()[2:5] == ["yes", "yes", "yes"]
    assert ("assignment", "highs") not in listed  # no formulation, no MILP backend


def test_generate_writes_the_same_instance_as_the_api(capsys, tmp_path):
    path = tmp_path / "sub" / "gen.json"
    path.parent.mkdir()  # -o makes no folder (issue 20)
    code, out, err = run(capsys, "generate", "deployment", "--edges", "3", "--regions-per-edge", "1", "--models", "2",
                         "--slots", "3", "--links-per-edge", "3", "--slot-seconds", "30", "--load", "0.5",
                         "--no-cloud", "--seed", "11", "--name", "cli-made", "-o", path)
    assert code == 0, err
    expected = edgeopt.generate("deployment", edges=3, regions_per_edge=1, models=2, slots=3, links_per_edge=3,
                                slot_seconds=30, load=0.5, cloud=False, seed=11, name="cli-made")
    loaded = edgeopt.load(path)
    assert loaded.data == expected.data and loaded.hash == expected.hash
    assert loaded.name == "cli-made" and not loaded.cloud_enabled
    assert sorted(p.name for p in path.parent.iterdir()) == ["gen.json"]


def test_generate_refuses_bad_parameters(capsys, tmp_path):
    path = tmp_path / "gen.json"
    code, out, err = run(capsys, "generate", "deployment", "--models", "100000", "-o", path)
    assert code == 2 and "models must be between 1 and" in err
    code, out, err = run(capsys, "generate", "deployment", "--edges", "0", "-o", path)
    assert code == 2 and "argument --edges: must be an integer >= 1, got '0'" in err
    # (4 * 2000 + 2 * 4000) * 4 * 10000 variables at least: refused before drawing any demand.
    code, out, err = run(capsys, "generate", "deployment", "--edges", "2000", "--slots", "10000", "-o", path)
    assert code == 2 and "at least 640,000,000 variables, more than the limit of 20,000,000" in err
    assert not path.exists()


@pytest.mark.parametrize("suffix", [".mps", ".lp"])
def test_export_writes_a_model_highs_reads_back(capsys, tmp_path, instance_file, instance, suffix):
    import highspy

    path = tmp_path / f"model{suffix}"
    code, out, err = run(capsys, "export", instance_file, "-o", path)
    assert code == 0, err
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    assert h.readModel(str(path)) == highspy.HighsStatus.kOk
    mf = deployment.formulate(instance).model.matrix()
    assert h.getNumCol() == instance.num_variables == mf.num_cols
    assert h.getNumRow() == mf.num_rows
    h.run()
    assert h.getInfo().objective_function_value == pytest.approx(edgeopt.solve(instance, "highs").objective, rel=1e-9)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["inst.json", path.name])


def test_export_refuses_other_formats(capsys, tmp_path, instance_file):
    path = tmp_path / "model.txt"
    code, out, err = run(capsys, "export", instance_file, "-o", path)
    assert code == 2 and "export writes .mps or .lp files" in err
    assert not path.exists()


def test_schema_prints_the_family_schema(capsys):
    code, out, err = run(capsys, "schema", "deployment")
    assert code == 0
    assert json.loads(out) == deployment.SCHEMA
    code, out, err = run(capsys, "schema", "knapsack")
    assert code == 2 and "invalid choice: 'knapsack'" in err


def test_version_and_usage(capsys):
    code, out, err = run(capsys, "--version")
    assert code == 0 and out.strip() == f"edgeopt {edgeopt.__version__}"
    code, out, err = run(capsys)
    assert code == 2 and "usage: edgeopt" in err


def test_python_dash_m_runs_the_cli():
    proc = subprocess.run([sys.executable, "-m", "edgeopt", "solvers"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0].startswith("family")
    assert any(line.split()[1] == "highs" for line in proc.stdout.splitlines()[2:])


# -- OR-Library GAP files ----------------------------------------------------------------------------
GAP1 = Path(__file__).resolve().parent.parent / "instances" / "gap" / "gap1.txt"


def test_orlib_file_needs_a_sense_when_its_name_does_not_tell(capsys, tmp_path):
    other = tmp_path / "problems.txt"
    other.write_text(GAP1.read_text())
    code, out, err = run(capsys, "solve", other, "--solver", "highs")
    assert code == 2 and out == ""
    assert f"{other}: cannot tell from the file name whether its problems maximise or minimise" in err

    code, out, err = run(capsys, "solve", other, "--solver", "greedy", "--sense", "min")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["instance", "status", "objective", "bound", "gap", "time"]  # no reference known
    rows = [line.split() for line in lines[2:]]
    assert [r[0] for r in rows] == [f"problems-{k}" for k in range(1, 6)]
    minimised = edgeopt.load(other, sense="min")
    for row, inst in zip(rows, minimised):
        assert row[1] == "feasible" and float(row[2]) == edgeopt.solve(inst, "greedy").objective


def test_orlib_file_with_several_problems_writes_no_single_solution_file(capsys, tmp_path):
    sol = tmp_path / "sol.json"
    code, out, err = run(capsys, "solve", GAP1, "--solver", "highs", "-o", sol)
    assert code == 2 and f"-o/--output writes one solution file; {GAP1} holds 5 problems" in err
    assert not sol.exists()


def test_reference_option_and_a_gap_solution_that_check_accepts(capsys, tmp_path):
    problem = tmp_path / "gap1-2.json"
    edgeopt.save(edgeopt.load(GAP1)[1], problem)
    solu = tmp_path / "mine.solu"
    solu.write_text("=opt= gap1-2 330\n")
    code, out, err = run(capsys, "solve", problem, GAP1, "--solver", "anneal", "--seed", "2", "--reference", solu)
    assert code == 0, err
    rows = {line.split()[0]: line.split() for line in out.splitlines()[2:]}
    assert rows["gap1-2"][5] == "330" and rows["gap1-1"][5] == "-"  # only the given file's values count
    assert float(rows["gap1-2"][2]) <= 327  # never above the published optimum
    # One JSON instance prints the full summary; its solution file passes `check`.
    sol = tmp_path / "sol.json"
    code, out, err = run(capsys, "solve", problem, "--solver", "scip", "-o", sol)
    assert code == 0 and field(out, "status") == "optimal" and float(field(out, "objective")) == 327
    code, out, err = run(capsys, "check", problem, sol)
    assert code == 0 and field(out, "feasible") == "yes" and "  profit " in out


def test_show_prints_every_problem_of_an_orlib_file(capsys):
    code, out, err = run(capsys, "show", GAP1)
    assert code == 0, err
    assert [line.split()[1] for line in out.splitlines() if line.startswith("instance ")] == \
        [f"gap1-{k}" for k in range(1, 6)]
    assert out.count("5 agents, 15 jobs") == 5 and out.count("75 variables (75 integer), 20 rows") == 5
    code, out, err = run(capsys, "check", GAP1, GAP1)
    assert code == 2 and "holds 5 problems (gap1-1 to gap1-5); this command takes one instance" in err


@pytest.mark.parametrize("argv, named", [
    (["train", "offloading", "--steps", "9" * 400, "-o", "policy.pt"], "argument --steps"),
    (["solve", "instances/deployment/tiny-1.json", "--solver", "greedy", "--time-limit", "9" * 400],
     "argument --time-limit"),
    (["solve", "instances/deployment/tiny-1.json", "--solver", "greedy", "--seed", "-" + "7" * 400],
     "argument --seed"),
    (["solve", "instances/deployment/tiny-1.json", "--solver", "random", "--option", "tries=0" + "0" * 400],
     "option tries"),
])
def test_a_400_digit_argument_is_named_not_echoed(capsys, tmp_path, monkeypatch, argv, named):
    """Issue 19 (item 8): the message echoed all 400 digits; it names the argument, starts the value and gives
    its length, in one short line."""
    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    code, out, err = run(capsys, *[a.replace("policy.pt", str(tmp_path / "policy.pt")) for a in argv])
    lines = err.strip().splitlines()
    assert code == 2 and out == "" and named in lines[-1], err
    assert len(lines[-1]) < 200 and "characters)" in lines[-1], lines[-1]
    assert not (tmp_path / "policy.pt").exists()


_WITHOUT_EXTRAS = """
import sys

class NotInstalled:  # torch, pettingzoo, dask and distributed as if their extras were not installed
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "pettingzoo", "gymnasium", "dask", "distributed"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NotInstalled())
from edgeopt.cli import run
sys.argv = ["edgeopt", *sys.argv[1:]]
run()
"""


@pytest.mark.parametrize("argv, extra", [
    (["solve", "instances/offloading/offload-tiny-1.json", "--solver", "mappo"], "rl"),
    (["train", "offloading", "--steps", "10", "-o", "{tmp}/p.pt"], "rl"),
    (["compare", "instances/deployment/tiny-1.json", "--solvers", "greedy", "--dask", "127.0.0.1:1", "--no-progress"],
     "dask"),
], ids=["solve-mappo", "train", "compare-dask"])
def test_a_missing_optional_package_names_the_extra(tmp_path, argv, extra):
    """Issue 19: without torch (or dask) the learned solvers, training and a Dask sweep end with exit 2 and one
    line naming the extra to install; `train` printed a ModuleNotFoundError traceback."""
    root = Path(__file__).resolve().parents[1]
    args = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    proc = subprocess.run([sys.executable, "-c", _WITHOUT_EXTRAS, *args], cwd=root, capture_output=True, text=True,
                          timeout=120)
    last = proc.stderr.strip().splitlines()[-1]
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert last.startswith("edgeopt: error:") and f'pip install "edgeopt[{extra}]"' in last, last
    assert not (tmp_path / "p.pt").exists()


# -- issue 20: smaller items met by a new user (the command-line ones) ------------------------------------
from edgeopt import registry

ROOT = Path(__file__).resolve().parents[1]
TINY_DEPLOYMENT = ROOT / "instances" / "deployment" / "tiny-1.json"


def test_the_time_limit_is_said_to_be_per_problem_and_is(capsys, monkeypatch):
    """Item 1: the help said 'per file' while each problem of an OR-Library file gets the whole limit."""
    assert main(["solve", "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "time limit per file" not in help_text
    assert "per problem of an OR-Library file" in help_text
    limits = []
    real = edgeopt.solve
    monkeypatch.setattr(edgeopt, "solve", lambda inst, name, **kw: limits.append(kw["time_limit"]) or
                        real(inst, name, **kw))
    code, _, err = run(capsys, "solve", GAP1, "--solver", "greedy", "--time-limit", "7")
    assert code == 0, err
    assert limits == [7.0] * 5  # gap1.txt holds 5 problems: 5 solves of 7 s each


def _rows(out: str) -> list[str]:
    return out.splitlines()


@pytest.mark.parametrize("columns", ["60", "100", "140"])
def test_solvers_rows_fit_the_terminal_and_show_first_sentences(capsys, monkeypatch, columns):
    """Item 3: rows were up to 447 characters (every description in full); now within the terminal's width
    (at least 100), each description cut to its first sentence and, if still too long, ended by '...'."""
    monkeypatch.setenv("COLUMNS", columns)
    width = max(100, int(columns))
    code, out, err = run(capsys, "solvers")
    assert code == 0, err
    lines = _rows(out)
    assert max(map(len, lines)) <= width
    start = lines[0].index("description")
    cells = {tuple(line.split()[:2]): line[start:] for line in lines[2:] if not line.startswith(" ")}
    for s in registry.entries():  # without check: edgeopt.solvers() imports torch (seconds)
        cell = cells[(s.family, s.name)]
        first = s.description.split(". ")[0]  # no description has '. ' inside a word (e.g. 'e.g. ')
        first = first if first.endswith(".") else first + ("." if s.description.startswith(first + ".") else "")
        if cell.endswith("..."):
            assert first.startswith(cell[:-3].rstrip()) and len(cell[:-3].rstrip()) >= 20, (cell, first)
        else:
            assert cell == first, (cell, first)


def test_solvers_without_torch_installed_says_which_extra(capsys, monkeypatch):
    """Item 3: availability in the listing is 'installed' (importlib.util.find_spec), not an import."""
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a))
    code, out, err = run(capsys, "solvers")
    assert code == 0, err
    rows = {tuple(line.split()[:2]): line.split()[2:5] for line in _rows(out)[2:] if not line.startswith(" ")}
    assert rows[("offloading", "mappo")][2] == "no" and rows[("serving", "ippo")][2] == "no"
    assert rows[("offloading", "greedy-offload")][2] == "yes"
    assert 'mappo: not available: torch is not installed; it comes with pip install "edgeopt[rl]"' in out


_SOLVERS_THEN_MODULES = """
import sys
from edgeopt.cli import main
code = main(["solvers"])
print("TORCH" if "torch" in sys.modules else "NO-TORCH", "CVXPY" if "cvxpy" in sys.modules else "NO-CVXPY", code)
"""


def test_solvers_imports_neither_torch_nor_the_backends():
    """Item 3: `edgeopt solvers` imported torch and every backend to tell availability (4.3 s idle)."""
    proc = subprocess.run([sys.executable, "-c", _SOLVERS_THEN_MODULES], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={**__import__("os").environ, "COLUMNS": "100"}, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "NO-TORCH NO-CVXPY 0", proc.stdout[-300:]


@pytest.mark.parametrize("argv", [
    ["solve", TINY_DEPLOYMENT, "--solver", "greedy", "-o", "{out}/x.json"],
    ["generate", "gap", "--agents", "2", "--jobs", "3", "-o", "{out}/x.json"],
    ["export", TINY_DEPLOYMENT, "-o", "{out}/x.lp"],
    ["train", "serving", "--steps", "10", "-o", "{out}/p.pt"],
], ids=["solve", "generate", "export", "train"])
def test_an_output_in_a_missing_folder_is_refused(capsys, tmp_path, argv):
    """Item 4: `-o missing/dir/x.json` made the folders silently (a typo in a folder name went unnoticed)."""
    out = tmp_path / "missing" / "dir"
    code, _, err = run(capsys, *[str(a).replace("{out}", str(out)) for a in argv])
    assert code == 2 and err.strip().splitlines() == [f"edgeopt: error: {out}: no such folder; create it first"], err
    assert not (tmp_path / "missing").exists()


def test_check_with_its_files_swapped_says_the_order(capsys, tmp_path):
    """Item 6: `check SOLUTION INSTANCE` printed the loader's complaint about the solution's kind."""
    sol = tmp_path / "sol.json"
    assert run(capsys, "solve", TINY_DEPLOYMENT, "--solver", "greedy", "-o", sol)[0] == 0
    order = "the order is: edgeopt check INSTANCE SOLUTION"
    code, out, err = run(capsys, "check", sol, TINY_DEPLOYMENT)
    assert code == 2 and err.strip() == f"edgeopt: error: {sol} looks like a solution file; {order}", err
    code, out, err = run(capsys, "check", sol, GAP1)
    assert code == 2 and f"{sol} looks like a solution file; {order}" in err
    code, out, err = run(capsys, "check", TINY_DEPLOYMENT, TINY_DEPLOYMENT)
    assert code == 2 and err.strip() == f"edgeopt: error: {TINY_DEPLOYMENT} looks like an instance file; {order}"
    code, out, err = run(capsys, "check", TINY_DEPLOYMENT, sol)
    assert code == 0 and field(out, "feasible") == "yes"


def test_problem_picks_one_problem_of_an_orlibrary_file(capsys, tmp_path):
    """Item 7: no command-line way to pick one problem of an OR-Library file (`solve -o` refused gap1.txt)."""
    third = edgeopt.load(GAP1)[2]
    expected = f"instance    gap1-3 ({GAP1})\n" + edgeopt.family_of(third).describe(third) + "\n"
    for pick in ("gap1-3", "3"):
        code, out, err = run(capsys, "show", GAP1, "--problem", pick)
        assert code == 0 and out == expected, err
    sol = tmp_path / "sol.json"
    code, out, err = run(capsys, "solve", GAP1, "--problem", "2", "--solver", "greedy", "-o", sol)
    assert code == 0 and field(out, "instance").startswith("gap1-2 "), err
    second = edgeopt.load(GAP1)[1]
    doc = json.loads(sol.read_text())
    assert (doc["instance"], doc["instance_hash"]) == ("gap1-2", second.hash)
    assert edgeopt.evaluate(second, edgeopt.load_solution(sol, second)).feasible
    for bad in ("gap1-6", "6", "0", "gap2-1"):
        code, out, err = run(capsys, "solve", GAP1, "--problem", bad, "--solver", "greedy")
        assert code == 2 and "its problems: gap1-1, gap1-2, gap1-3, gap1-4, gap1-5 (or their numbers, 1 to 5)" in err
        assert len(err.strip().splitlines()) == 1


def test_a_stop_at_edgeopts_deadline_is_not_called_a_user_interrupt(capsys, monkeypatch):
    """Item 8: when HiGHS overran its own limit, edgeopt's deadline stopped it through HiGHS's user interrupt
    and the result showed HiGHS's words for it, 'Interrupted by user'. The deadline is made to pass at once
    here (HiGHS is asked to stop before it starts, and again at the first look at the clock)."""
    import time

    import edgeopt.highs as highs_driver

    real = highs_driver.run_stoppable

    def past_deadline(work, stop, *, deadline=None):
        stop()
        return real(work, stop, deadline=time.perf_counter() - 60)

    monkeypatch.setattr(highs_driver, "run_stoppable", past_deadline)
    code, out, err = run(capsys, "solve", ROOT / "instances" / "deployment" / "medium-3.json", "--solver", "highs",
                         "--time-limit", "30")
    assert code in (0, 1) and field(out, "status") == "time_limit", out
    assert field(out, "solver") == "highs (time limit (stopped at edgeopt's deadline))"
    assert "Interrupted by user" not in out + err
