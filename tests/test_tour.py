"""`edgeopt tour`, the README's main job: every family's exact method against its heuristics and learned
solvers, one line per run as it finishes, one report; Ctrl-C keeps what finished and a re-run does the rest."""
from __future__ import annotations

import pytest

from edgeopt.cli import main
from edgeopt.comparison import tour as tour_mod
from edgeopt.comparison.reference import read_solu

from conftest import INSTANCES, ROOT


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_every_family_has_a_leg_with_an_exact_method_first_and_bundled_instances():
    import edgeopt

    families = {leg.family for leg in tour_mod.TOUR}
    assert families == {"deployment", "assignment", "gap", "offloading", "serving"}
    exact = {(s.family, s.name) for s in edgeopt.solvers() if s.exact}
    for leg in tour_mod.TOUR:
        assert (leg.family, leg.solvers[0]) in exact, leg.family
        assert all((INSTANCES / p).is_file() for p in leg.instances), leg.family
        known = {s.name for s in edgeopt.solvers(leg.family)}
        assert set(leg.solvers) <= known and len(leg.solvers) >= 4


def test_the_assignment_leg_streams_a_line_per_run_then_the_report(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    code, out, err = _run(capsys, "tour", "--families", "assignment", "--out", tmp_path / "t", "--workers", "1")
    assert code == 0, err
    lines = out.splitlines()
    leg = next(leg for leg in tour_mod.TOUR if leg.family == "assignment")
    runs = [line for line in lines if line.startswith("[")]
    assert len(runs) == len(leg.instances) * len(leg.solvers)
    # the run lines come before the report, and every run is there once
    assert lines.index(runs[-1]) < next(i for i, line in enumerate(lines) if line.startswith("assignment: "))
    fields = [r.split("]", 1)[1].split() for r in runs]
    assert all(f[0] == "assignment" for f in fields)
    assert sorted((f[1], f[2]) for f in fields) == sorted(
        (p.split("/")[-1].removesuffix(".json"), s) for p in leg.instances for s in leg.solvers)
    # the reference values are the bundled proven optima, and enumerate proves them
    refs = read_solu(INSTANCES / "reference.solu")
    for p in leg.instances:
        name = p.split("/")[-1].removesuffix(".json")
        row = next(line for line in lines if line.startswith(name + " "))
        assert f"{refs[name].optimum:.6g} (opt)" in row
        assert row.split()[3] == "0.00%"  # enumerate, the first column after the reference
    for f in ("report.html", "tour.md", "results.csv"):
        assert (tmp_path / "t" / f).is_file()
    md = (tmp_path / "t" / "tour.md").read_text()
    assert "## assignment" in md and leg.decides in md
    assert leg.decides in (tmp_path / "t" / "report.html").read_text()


def test_ctrl_c_keeps_the_finished_runs_and_a_rerun_does_only_the_rest(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    real = tour_mod.run_line
    calls = []

    def interrupted_after_three(row, done, total):
        calls.append(row)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real(row, done, total)

    monkeypatch.setattr(tour_mod, "run_line", interrupted_after_three)
    code, out, err = _run(capsys, "tour", "--families", "assignment", "--out", tmp_path / "t", "--workers", "1")
    assert code == 130 and "finished run(s) are kept" in err and "Traceback" not in err
    kept = len(list((tmp_path / "t" / "results").glob("*.json")))
    assert kept >= 4  # a run is written before its line is printed
    monkeypatch.setattr(tour_mod, "run_line", real)
    code, out, err = _run(capsys, "tour", "--families", "assignment", "--out", tmp_path / "t", "--workers", "1")
    assert code == 0, err
    assert sum("(kept from an earlier run)" in line for line in out.splitlines()) == kept


@pytest.mark.parametrize("argv, words", [
    (["--families", "routing"], "no tour leg for routing"),
    (["--instances", "nowhere"], "nowhere/deployment/small-1.json: not found"),
    (["--time-scale", "0"], "argument --time-scale"),
])
def test_bad_tour_arguments_exit_2_with_one_line(capsys, tmp_path, monkeypatch, argv, words):
    monkeypatch.chdir(ROOT)
    code, out, err = _run(capsys, "tour", "--out", tmp_path / "t", *argv)
    assert code == 2 and words in err and len(err.strip().splitlines()) <= 3, err
    assert not (tmp_path / "t").exists()
