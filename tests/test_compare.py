"""edgeopt.compare: gaps to reference values, resumable sweeps, time limits, Dask, and the CLI."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest

import edgeopt
from edgeopt.cli import main
from edgeopt.comparison.sweep import COLUMNS, TIME_COLUMNS, compare, parse_seeds

from oracles import deployment_cost, deployment_violations, read_decisions, solu_values

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "instances" / "deployment"
SOLU = ROOT / "instances" / "reference.solu"

# instances/reference.solu, parsed by tests/oracles.py (deployment: proven by HiGHS at mip_rel_gap 0 and
# checked against a separately written Pyomo model in test_bundled.py; gap1: OR-Library's published optima).
REFERENCE = solu_values(SOLU)
TINY1_OPT = REFERENCE["tiny-1"]
SMALL1_OPT = REFERENCE["small-1"]
SMALL2_OPT = REFERENCE["small-2"]
GAP1_OPT = [336, 327, 339, 341, 326]


def _run(instances, solvers, **kw):
    kw.setdefault("progress", False)
    kw.setdefault("workers", 2)
    kw.setdefault("reference", SOLU)
    return compare(instances, solvers, **kw)


def _row(df, instance, solver, seed=0):
    rows = df[(df.instance == instance) & (df.solver == solver) & (df.seed == seed)]
    assert len(rows) == 1
    return rows.iloc[0]


def _without_times(df):
    return df.drop(columns=list(TIME_COLUMNS)).reset_index(drop=True)


def _check_greedy_rows(rows, folder, time_limit):
    """Each greedy row against independent values: its objective is the cost that tests/oracles.py computes,
    from the instance document, of the plan greedy writes for that instance and seed (the same solve the
    sweep ran, saved with edgeopt.save_solution); the plan breaks no constraint; and its gap is
    (objective - reference) / |reference| with the reference.solu optimum."""
    assert len(rows) > 0
    for r in rows.itertuples():
        inst = edgeopt.load(DEPLOY / f"{r.instance}.json")
        path = Path(folder) / f"{r.instance}-greedy-{r.seed}.json"
        edgeopt.save_solution(inst, edgeopt.solve(inst, "greedy", seed=int(r.seed), time_limit=time_limit), path)
        plan = read_decisions(path)
        assert r.verified and deployment_violations(inst, plan) == []
        assert r.objective == pytest.approx(deployment_cost(inst, plan), rel=1e-9)
        optimum = REFERENCE[r.instance]
        assert r.reference == pytest.approx(optimum, rel=1e-12) and r.reference_kind == "opt"
        assert r.gap_to_reference == pytest.approx((r.objective - optimum) / abs(optimum), rel=1e-9, abs=1e-12)
        assert r.gap_to_reference >= -1e-9  # no plan beats a proven optimum


@pytest.fixture
def test_solvers():
    """Register the test-only solvers here; take them out of the registry afterwards for other tests."""
    import sleepy_solver  # noqa: F401 - importing registers them

    yield "sleepy_solver"
    from edgeopt.registry import SOLVERS

    for name in ("sleepy", "crashy"):
        SOLVERS.pop(("deployment", name), None)
    sys.modules.pop("sleepy_solver", None)


# HiGHS runs here only where it proves the optimum far inside the time limit (tiny-1, small-2: well under a
# second), so that its status does not depend on the machine's speed; small-1 takes it 6-20 s.
def test_min_gaps_against_proven_optima(tmp_path):
    df = _run([DEPLOY / "tiny-1.json", DEPLOY / "small-2.json", DEPLOY / "infeasible-gpu.json"],
              ["highs", "greedy"], seeds=[0, 1], time_limit=30)
    assert list(df.columns) == list(COLUMNS)
    assert len(df) == 3 * 2 * 2  # infeasible rows are kept
    for inst, opt in (("tiny-1", TINY1_OPT), ("small-2", SMALL2_OPT)):
        exact = _row(df, inst, "highs")
        assert exact.status == "optimal" and exact.verified
        assert exact.reference == pytest.approx(opt) and exact.reference_kind == "opt"
        assert exact.gap_to_reference == pytest.approx(0.0, abs=1e-9)
        heur = _row(df, inst, "greedy", 1)
        assert heur.verified and heur.reference_kind == "opt"
        assert heur.gap_to_reference == pytest.approx((heur.objective - opt) / opt)
    _check_greedy_rows(df[df.instance.isin(["tiny-1", "small-2"]) & (df.solver == "greedy")], tmp_path, 30)
    inf = df[df.instance == "infeasible-gpu"]
    assert set(inf.status) == {"infeasible"} and not inf.verified.any()
    assert set(inf.reference_kind) == {"inf"} and inf.gap_to_reference.isna().all()  # =inf= in the .solu
    assert inf.message.str.contains("open-sora").all()


def test_max_gaps_on_an_orlibrary_file():
    df = _run([ROOT / "instances" / "gap" / "gap1.txt"], ["highs", "greedy"], time_limit=30)
    assert len(df) == 5 * 2 and set(df.family) == {"gap"} and set(df["sense"]) == {"max"}
    for k, opt in enumerate(GAP1_OPT, start=1):
        exact = _row(df, f"gap1-{k}", "highs")
        assert exact.status == "optimal" and exact.objective == pytest.approx(opt)
        heur = _row(df, f"gap1-{k}", "greedy")
        assert heur.objective <= opt
        # maximising: a smaller profit is worse, so the gap is (opt - value) / opt >= 0
        assert heur.gap_to_reference == pytest.approx((opt - heur.objective) / opt)
    assert (df.gap_to_reference >= 0).all()
    assert (df[df.solver == "greedy"].gap_to_reference > 0).any()


def test_reference_kinds(tmp_path):
    solu = tmp_path / "ref.solu"
    # tiny-1: only a best value and a proven bound; tiny-2: nothing (best in run); small-1: an optimum.
    solu.write_text("=best= tiny-1 27.5\n=bound= tiny-1 27.0\n=opt= small-1 420.26204\n")
    df = _run([DEPLOY / "tiny-1.json", DEPLOY / "tiny-2.json", DEPLOY / "small-1.json"],
              ["greedy", "random", "cloud-only"], reference=solu)
    t1 = df[df.instance == "tiny-1"]
    assert set(t1.reference_kind) == {"bound"} and (t1.reference == 27.0).all()
    for r in t1.itertuples():
        assert r.gap_to_reference == pytest.approx((r.objective - 27.0) / 27.0)
    t2 = df[df.instance == "tiny-2"]
    assert set(t2.reference_kind) == {"best-in-run"}
    assert (t2.reference == t2.objective.min()).all()
    assert t2.gap_to_reference.min() == 0.0 and (t2.gap_to_reference >= 0).all()
    s1 = df[df.instance == "small-1"]
    assert set(s1.reference_kind) == {"opt"} and (s1.reference == SMALL1_OPT).all()

    no_ref = _run([DEPLOY / "tiny-1.json"], ["greedy", "cloud-only"], reference=None)
    assert set(no_ref.reference_kind) == {"best-in-run"}
    assert (no_ref.reference == no_ref.objective.min()).all()


def test_interrupted_sweep_runs_only_the_missing_tasks(tmp_path):
    out = tmp_path / "sweep"
    args = ([DEPLOY / "tiny-1.json", DEPLOY / "tiny-2.json"], ["greedy", "random"])
    first = _run(*args, seeds=[0, 1], out=out, report=False)
    files = sorted((out / "results").glob("*.json"))
    assert len(files) == len(first) == 8
    assert (out / "results.csv").is_file() and (out / "results.json").is_file()
    stamps = {f.name: f.stat().st_mtime_ns for f in files}
    removed = [files[0].name, files[3].name, files[6].name]
    for name in removed:
        (out / "results" / name).unlink()
    # An interrupted write leaves no half file (atomic writes), but a stray one must not be trusted.
    (out / "results" / files[5].name).write_text("{not json")

    second = _run(*args, seeds=[0, 1], out=out, report=False)
    after = {f.name: f.stat().st_mtime_ns for f in (out / "results").glob("*.json")}
    assert set(after) == set(stamps)
    rerun = {name for name in after if after[name] != stamps[name]}
    assert rerun == set(removed) | {files[5].name}
    pd.testing.assert_frame_equal(_without_times(first), _without_times(second))
    # The untouched rows are the stored ones, times included.
    kept = [f for f in stamps if f not in rerun]
    stored = [json.loads((out / "results" / f).read_text()) for f in kept]
    for rec in stored:
        row = _row(second, rec["instance"], rec["solver"], rec["seed"])
        assert row.wall_seconds == rec["wall_seconds"]
    table = json.loads((out / "results.json").read_text())
    assert len(table) == 8 and set(table[0]) == set(COLUMNS)
    assert len(pd.read_csv(out / "results.csv")) == 8


def test_a_hung_or_crashed_solver_does_not_stall_the_sweep(test_solvers, tmp_path):
    df = _run([DEPLOY / "tiny-1.json"], ["sleepy", "crashy", "greedy"], seeds=[0, 1], time_limit=1,
              grace_seconds=1, setup=[test_solvers])
    assert len(df) == 6
    sleepy = df[df.solver == "sleepy"]
    assert set(sleepy.status) == {"time_limit"} and not sleepy.verified.any()
    assert sleepy.message.str.contains("worker was stopped").all()
    crashy = df[df.solver == "crashy"]
    assert set(crashy.status) == {"error"} and crashy.message.str.contains("died").all()
    greedy = df[df.solver == "greedy"]
    assert set(greedy.status) == {"feasible"} and greedy.verified.all() and len(greedy) == 2
    _check_greedy_rows(greedy, tmp_path, 1)


def test_worker_exception_becomes_an_error_row():
    # cloud-only refuses options it does not know: the exception is reported in the row
    df = _run([DEPLOY / "tiny-1.json"], ["cloud-only", "greedy"], options={"no_such_option": 1})
    assert len(df) == 2
    assert (df.status == "error").all() and not df.verified.any()
    assert df.message.str.contains("no_such_option").all()
    assert (json.loads(df.options[0]) == {"no_such_option": 1})


def test_dask_gives_the_same_rows_as_local_workers():
    """Every column but the times is compared, so every run must end the same way on any machine: HiGHS proves
    tiny-1 and small-2 in well under a second, far inside the 30-s limit (small-1, 6 s on a quiet machine,
    hit the limit on a loaded Dask worker), and the heuristics are seeded."""
    distributed = pytest.importorskip("distributed")
    args = ([DEPLOY / "tiny-1.json", DEPLOY / "small-2.json", DEPLOY / "infeasible-gpu.json"],
            ["highs", "greedy", "random"])
    local = _run(*args, seeds=[0, 1], time_limit=30)
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None) as cl:
        with distributed.Client(cl) as client:
            on_dask = _run(*args, seeds=[0, 1], time_limit=30, dask=client)
            by_address = _run([DEPLOY / "tiny-1.json"], ["greedy"], dask=cl.scheduler_address)
    pd.testing.assert_frame_equal(_without_times(local), _without_times(on_dask))
    assert by_address.status[0] == "feasible"


def test_instances_and_inputs():
    inst = edgeopt.load(DEPLOY / "tiny-1.json")
    df = _run([inst], ["greedy"], reference=None)
    assert df.path[0] == "" and df.instance[0] == "tiny-1"
    # solvers run only on the families they handle: genetic solves deployment, not gap; the gap problems
    # stay in the table as skipped rows, one per problem, saying why (nothing is dropped)
    df = _run([inst, ROOT / "instances" / "gap" / "gap1.txt"], ["genetic"], reference=None,
              options={"generations": 2})
    ran, skipped = df[df.family == "deployment"], df[df.family == "gap"]
    assert list(ran.status) == ["feasible"] and len(skipped) == 5
    assert set(skipped.status) == {"skipped"} and set(skipped.solver) == {"-"}
    assert set(skipped.message) == {"none of the solvers genetic solves gap instances"}
    with pytest.raises(ValueError, match="unknown solver"):
        _run([inst], ["nope"])
    with pytest.raises(ValueError, match="no such file"):
        _run([ROOT / "no-such-folder"], ["greedy"])


@pytest.mark.parametrize("spec, seeds", [("3", [3]), ("0-4", [0, 1, 2, 3, 4]), ("0,2,5", [0, 2, 5]),
                                         ("0-1,7", [0, 1, 7])])
def test_parse_seeds(spec, seeds):
    assert parse_seeds(spec) == seeds


@pytest.mark.parametrize("spec", ["", "a", "3-1", "-1", "1,1", "0-"])
def test_parse_seeds_refuses(spec):
    with pytest.raises(ValueError, match="seeds"):
        parse_seeds(spec)


def test_cli_compare(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["compare", str(DEPLOY / "tiny-1.json"), str(DEPLOY / "small-2.json"), "--solvers", "highs,greedy",
                 "--seeds", "0,1", "--time-limit", "30", "--workers", "2", "--out", str(out), "--no-progress"])
    printed = capsys.readouterr().out
    assert code == 0
    assert "small-2" in printed and "greedy" in printed
    df = pd.read_csv(out / "results.csv")
    assert len(df) == 8 and list(df.columns) == list(COLUMNS)
    greedy = df[(df.instance == "small-2") & (df.solver == "greedy")]
    assert sorted(greedy.seed) == [0, 1]
    _check_greedy_rows(greedy, tmp_path, 30)
    assert len(list((out / "results").glob("*.json"))) == 8


@pytest.mark.parametrize("argv, message", [
    (["--solvers", "nope"], "unknown solver"),
    (["--solvers", "greedy", "--seeds", "4-2"], "bad seeds"),
    (["--solvers", "greedy", "--seeds", "x"], "bad seeds"),
])
def test_cli_compare_bad_input(argv, message, capsys):
    assert main(["compare", str(DEPLOY / "tiny-1.json"), *argv, "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_time_limit_is_part_of_the_key():
    from edgeopt.comparison.sweep import task_key

    keys = {task_key("sha256:x", "greedy", 0, None, "{}"), task_key("sha256:x", "greedy", 0, 5.0, "{}"),
            task_key("sha256:x", "greedy", 1, None, "{}"), task_key("sha256:x", "random", 0, None, "{}"),
            task_key("sha256:y", "greedy", 0, None, "{}"), task_key("sha256:x", "greedy", 0, None, '{"a": 1}')}
    assert len(keys) == 6 and all(len(k) == 64 for k in keys)


def test_a_right_infeasible_answer_on_an_inf_reference_counts_as_solved(tmp_path):
    """Issue 19, item 18: with `=inf= infeasible-gpu` in the reference, correct "infeasible" answers counted as
    unsolved, were charged the full time limit in the summary and kept every time profile below 1."""
    from edgeopt.comparison.tables import failure_reasons, profile_solved_mask, solver_summary, total_seconds

    solu = tmp_path / "ref.solu"
    solu.write_text(f"=inf= infeasible-gpu\n=opt= tiny-1 {TINY1_OPT!r}\n")
    paths = [str(DEPLOY / "infeasible-gpu.json"), str(DEPLOY / "tiny-1.json")]
    df = edgeopt.compare(paths, ["highs", "greedy"], time_limit=60, workers=1, progress=False, reference=solu,
                         report=False)
    inf = df["instance"] == "infeasible-gpu"
    assert (df.loc[inf, "status"] == "infeasible").all() and (df.loc[inf, "reference_kind"] == "inf").all()
    assert profile_solved_mask(df)[inf].all()
    assert (failure_reasons(df)[inf] == "").all()
    assert (total_seconds(df)[inf] < 60).all()  # not charged the limit: the answer is right
    summary = solver_summary(df).set_index("solver")
    assert summary.loc["highs", "solved"] == 2 and summary.loc["highs", "failures"] == 0


def test_compare_refuses_a_seed_beyond_the_range_before_running():
    """Issue 20: a seed above 2**31-1 became an error row per run; it is refused before anything runs."""
    import edgeopt

    with pytest.raises(ValueError, match="seeds must be integers between 0 and 2147483647"):
        edgeopt.compare([Path(__file__).resolve().parents[1] / "instances" / "deployment" / "tiny-1.json"], ["greedy"],
                        seeds=[2**31], progress=False)
