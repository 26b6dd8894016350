"""edgeopt compare from the command line: outputs, resuming after a kill, and --update-reference."""
from __future__ import annotations

from edgeopt.cli import main
from edgeopt.comparison.reference import Reference, improve, read_solu

from conftest import INSTANCES


def row(instance, status, objective, bound=None, sense="min", verified=True):
    return {"instance": instance, "status": status, "objective": objective, "bound": bound, "sense": sense,
            "verified": verified}


def test_new_optimum_is_recorded_and_said():
    refs, changes = improve({}, [row("a", "optimal", 10.0, 10.0), row("a", "feasible", 12.0)])
    assert refs["a"].optimum == 10.0
    assert changes == ["a: =opt= 10.0 (was nothing)"]


def test_conflicting_optimum_is_kept_and_reported():
    old = {"a": Reference("a", optimum=9.0)}
    refs, changes = improve(old, [row("a", "optimal", 10.0, 10.0)])
    assert refs["a"].optimum == 9.0
    assert len(changes) == 1 and "CONFLICT" in changes[0]


def test_better_solution_and_tighter_bound_respect_the_sense():
    old = {"mn": Reference("mn", best=20.0, bound=10.0), "mx": Reference("mx", best=20.0, bound=30.0)}
    rows = [row("mn", "time_limit", 18.0, 12.0), row("mn", "feasible", 19.0),
            row("mx", "time_limit", 22.0, 28.0, sense="max"), row("mx", "feasible", 19.0, sense="max")]
    refs, changes = improve(old, rows)
    assert (refs["mn"].best, refs["mn"].bound) == (18.0, 12.0)
    assert (refs["mx"].best, refs["mx"].bound) == (22.0, 28.0)
    assert len(changes) == 2


def test_worse_values_change_nothing():
    old = {"mn": Reference("mn", best=20.0, bound=15.0)}
    refs, changes = improve(old, [row("mn", "time_limit", 25.0, 11.0), row("mn", "feasible", 30.0, verified=False)])
    assert refs == old and changes == []


def test_cli_writes_back_and_says_so(tmp_path, capsys):
    solu = tmp_path / "ref.solu"
    solu.write_text("# my references\n=opt= tiny-2 47.22454\n")
    tiny = str(INSTANCES / "deployment" / "tiny-1.json")
    args = ["compare", tiny, str(INSTANCES / "deployment" / "tiny-2.json"), "--solvers", "highs", "--workers", "1",
            "--no-progress", "--reference", str(solu), "--update-reference"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "tiny-1: =opt= 27.099 (was nothing)" in out
    refs = read_solu(solu)
    assert refs["tiny-1"].optimum == 27.099 and refs["tiny-2"].optimum == 47.22454
    assert solu.read_text().startswith("# my references\n")
    assert main(args) == 0
    assert "nothing to change" in capsys.readouterr().out


def test_cli_compare_writes_every_output_with_hand_checked_gaps(tmp_path, capsys):
    import pandas as pd

    out = tmp_path / "sweep"
    files = [str(INSTANCES / "deployment" / f"{n}.json") for n in ("tiny-2", "small-2")]
    assert main(["compare", *files, "--solvers", "highs,cpsat,genetic,greedy", "--workers", "2", "--no-progress",
                 "--out", str(out)]) == 0
    said = capsys.readouterr().out.splitlines()[-1]
    for name in ("results.csv", "results.json", "summary.md", "report.html", "performance_profile.png",
                 "gap_vs_time.png", "gap_per_instance.png"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
        assert str(out / name) in said, f"the 'wrote' line does not name {name}: {said}"
    df = pd.read_csv(out / "results.csv")
    assert len(df) == 8 and set(df["reference_kind"]) == {"opt"}
    optimum = {"tiny-2": 47.22454, "small-2": 536.041978}  # instances/reference.solu
    for r in df.itertuples():
        expected = (r.objective - optimum[r.instance]) / optimum[r.instance]  # minimisation: worse is positive
        assert abs(r.gap_to_reference - expected) < 1e-12
    assert "data:image/png;base64" in (out / "report.html").read_text()


def test_a_files_best_value_is_the_reference_when_it_beats_the_run(tmp_path):
    import edgeopt

    solu = tmp_path / "ref.solu"
    solu.write_text("=best= small-2 500.0\n")  # better than anything feasible: the file knows best
    df = edgeopt.compare([INSTANCES / "deployment" / "small-2.json"], ["greedy"], reference=solu, progress=False,
                         workers=1, report=False)
    row = df.iloc[0]
    assert row["reference_kind"] == "best-known" and row["reference"] == 500.0
    assert abs(row["gap_to_reference"] - (row["objective"] - 500.0) / 500.0) < 1e-12
    solu.write_text("=best= small-2 900.0\n")  # worse than the run's: the run's best is the reference
    df = edgeopt.compare([INSTANCES / "deployment" / "small-2.json"], ["greedy"], reference=solu, progress=False,
                         workers=1, report=False)
    assert df.iloc[0]["reference_kind"] == "best-in-run" and df.iloc[0]["gap_to_reference"] == 0.0


def test_a_killed_sweep_resumes_with_only_the_missing_runs(tmp_path):
    """A real interrupt: the sweep's process group is killed part-way, then the same command is re-run."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import edgeopt

    out = tmp_path / "sweep"
    files = [str(INSTANCES / "deployment" / f"{n}.json") for n in ("medium-1", "medium-warm", "small-2")]
    argv = [*files, "--solvers", "genetic", "--seeds", "0-5", "--workers", "1", "--out", str(out), "--no-progress"]
    proc = subprocess.Popen([sys.executable, "-m", "edgeopt", "compare", *argv], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = out / "results"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if results.is_dir() and len(list(results.glob("[!.]*.json"))) >= 2:
            break
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = {p.name: p.stat().st_mtime_ns for p in results.glob("[!.]*.json")}
    assert 2 <= len(before) < 18, f"the kill must land part-way ({len(before)} of 18 done)"

    df = edgeopt.compare(files, ["genetic"], seeds=range(6), workers=1, out=out, progress=False, report=False)
    assert len(df) == 18 and set(df["status"]) == {"feasible"}
    after = {p.name: p.stat().st_mtime_ns for p in results.glob("[!.]*.json")}
    assert len(after) == 18 and not list(results.glob(".*"))  # no temporary file left behind
    assert all(after[name] == mtime for name, mtime in before.items()), "a finished run was run again"


def test_report_colours_a_time_limit_with_a_verified_incumbent_as_an_answer():
    """Yellow means no verified solution; a verified incumbent under a time limit is an answer."""
    import pandas as pd

    from edgeopt.comparison.html import report_html
    from edgeopt.comparison.sweep import COLUMNS

    def row(status, objective, verified):
        return {**{c: None for c in COLUMNS}, "instance": "i", "family": "deployment", "sense": "min",
                "instance_hash": "h", "solver": status, "seed": 0, "status": status, "objective": objective,
                "reference": 10.0, "reference_kind": "opt", "gap_to_reference": 0.5 if verified else None,
                "verified": verified, "message": "", "build_seconds": 0.0, "solve_seconds": 1.0,
                "wall_seconds": 1.0, "time_limit": 5.0}

    df = pd.DataFrame([row("time_limit", 15.0, True), row("infeasible", None, False)], columns=list(COLUMNS))
    page = report_html(df, {})
    body = page[page.index("<h2>All runs</h2>"):]
    assert body.count('<tr class="unsolved">') == 0 and body.count('<tr class="failure">') == 1
    assert "no confirmed solution" not in page and "ended without a verified solution" in page



# -- issue 20: smaller items met by a new user (the command-line ones) ------------------------------------
def test_compare_takes_sense_as_its_message_advises(tmp_path, capsys):
    """Item 2: an OR-Library file whose name does not tell the sense was refused with the advice '--sense on
    the command line', which compare did not take. Its rows are those of the same file named gap1.txt."""
    import shutil

    import edgeopt

    gap1 = INSTANCES / "gap" / "gap1.txt"
    x = tmp_path / "x.txt"
    shutil.copy(gap1, x)
    argv = ["compare", str(x), "--solvers", "greedy", "--workers", "1", "--no-progress"]
    assert main(argv) == 2
    assert "--sense on the command line" in capsys.readouterr().err
    assert main([*argv, "--sense", "max"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [line.split() for line in lines[1:]]  # a header, then one line per run
    named = edgeopt.load(gap1)  # gap1..gap12 maximise: the sense the file name tells
    assert [r[0] for r in rows] == [f"x-{k}" for k in range(1, 6)]
    assert [float(r[4]) for r in rows] == [edgeopt.solve(inst, "greedy").objective for inst in named]
    assert main([*argv, "--sense", "min"]) == 0  # the option is used: minimising gives other plans
    lines = capsys.readouterr().out.splitlines()
    assert [float(line.split()[4]) for line in lines[1:]] != [float(r[4]) for r in rows]


def test_an_interrupted_compare_says_its_finished_runs_are_kept(tmp_path, capsys, monkeypatch):
    """Item 5: Ctrl-C during `compare --out` said only 'interrupted'; now how many finished runs are kept
    and that the same command does only the rest. Ctrl-C arrives right after the first run is stored."""
    import edgeopt.io
    from edgeopt.comparison import sweep

    real_write, real_run = edgeopt.io.write_atomic, sweep._run_local
    stored, pending = [], []

    def write_then_interrupt(path, text):
        real_write(path, text)
        if path.parent.name == "results":
            stored.append(path)
            raise KeyboardInterrupt

    monkeypatch.setattr(edgeopt.io, "write_atomic", write_then_interrupt)
    monkeypatch.setattr(sweep, "_run_local", lambda specs, *a: pending.append(len(specs)) or real_run(specs, *a))
    out = tmp_path / "sweep"
    files = [str(INSTANCES / "deployment" / f"{n}.json") for n in ("tiny-1", "tiny-2", "tiny-3")]
    argv = ["compare", *files, "--solvers", "greedy", "--workers", "1", "--no-progress", "--out", str(out)]
    assert main(argv) == 130
    err = capsys.readouterr().err
    on_disk = [p for p in (out / "results").iterdir() if not p.name.startswith(".")]
    assert len(stored) == len(on_disk) == 1
    assert err.strip().splitlines()[-1] == (f"edgeopt: interrupted; 1 finished run(s) are kept in {out}/results: "
                                            "run the same command again to do only the rest"), err
    monkeypatch.setattr(edgeopt.io, "write_atomic", real_write)
    assert main(argv) == 0, capsys.readouterr().err
    assert pending == [3, 2]  # the re-run ran only the two missing runs
    assert len(list((out / "results").glob("[!.]*.json"))) == 3
