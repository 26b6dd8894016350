"""Every value of instances/reference.solu is what its committed script computes (the two runs too long
for the suite, large-1 and large-2, are reproduced by the same script: instances/README.md says how)."""
from __future__ import annotations

import importlib.util

import pytest

from edgeopt.comparison.reference import Reference, read_solu, write_solu

from conftest import INSTANCES, ROOT

LONG_RUNS = {"large-1", "large-2"}


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("solve_reference", INSTANCES / "solve_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_file_holds_exactly_the_bundled_instances_with_their_hashes(script):
    refs = read_solu(INSTANCES / "reference.solu")
    bundled = script.bundled()
    assert set(refs) == set(bundled)
    assert all(refs[name].hash == inst.hash for name, (_, inst) in bundled.items())


def test_the_packaged_copy_is_the_file():
    assert (ROOT / "edgeopt" / "data" / "reference.solu").read_bytes() == (INSTANCES / "reference.solu").read_bytes()


#: Every reference but the long runs, one test each (so that parallel workers share them out); the test above
#: checks that these are exactly the bundled instances.
QUICK = sorted(set(read_solu(INSTANCES / "reference.solu")) - LONG_RUNS)


@pytest.fixture(scope="module")
def bundled(script):
    return script.bundled()


@pytest.mark.parametrize("name", QUICK)
def test_every_quick_reference_is_reproduced(script, bundled, name):
    """The script's run for this instance (reference_of, what `--check NAME` runs) gives the file's line."""
    new, took = script.reference_of(bundled[name][1])
    assert new == read_solu(INSTANCES / "reference.solu")[name], (new, took)


def test_check_says_same_for_each_instance_and_exits_0(script, capsys):
    names = ["tiny-1", "gap1-1", "assign-tiny-1", "offload-tiny-1", "serving-tiny-1"]
    code = script.main(["--check", *names])
    out = capsys.readouterr().out
    assert code == 0, [line for line in out.splitlines() if "DIFFERENT" in line]
    assert out.count(": same:") == len(names)


def test_the_long_runs_have_their_settings_written_down(script):
    refs = read_solu(INSTANCES / "reference.solu")
    assert refs["large-1"].optimum is not None  # proven, without a limit
    assert "large-2" in script.HIGHS_LIMITS and set(script.HIGHS_LIMITS["large-2"]) == {"mip_max_nodes"}
    best, bound = refs["large-2"].best, refs["large-2"].bound
    assert best is not None and bound is not None and bound <= best  # minimisation: the bound lies below
    readme = (INSTANCES / "README.md").read_text()
    assert "python instances/solve_reference.py large-2" in readme and "mip_max_nodes" in readme
    assert script.GROUPS_RUNS == {"large-2": {"rounds": 1}} and "groups" in readme


def test_a_groups_run_keeps_the_better_value_and_the_better_bound(script, monkeypatch):
    """large-2's line: HiGHS's node-limited run, then the groups decomposition; each number written is the better
    of the two (fake runs here: the real ones take half an hour)."""
    import dataclasses

    import edgeopt
    from edgeopt.result import Result, Status

    inst = edgeopt.load(INSTANCES / "deployment" / "tiny-1.json")
    inst = dataclasses.replace(inst, name="large-2")
    plan = edgeopt.solve(inst, "highs").solution  # before edgeopt.solve is replaced below
    evaluation = edgeopt.evaluate(inst, plan)

    def fake(runs):
        def solve(instance, solver, **options):
            status, objective, bound = runs[solver]
            ev = dataclasses.replace(evaluation, objective=objective)
            return Result(status=status, solver=solver, objective=objective, bound=bound, evaluation=ev,
                          raw_status="fake")
        return solve

    monkeypatch.setattr(script.edgeopt, "solve", fake({"highs": (Status.FEASIBLE, 100.0, 80.0),
                                                       "groups": (Status.FEASIBLE, 101.0, 90.0)}))
    ref, _ = script.reference_of(inst)
    assert (ref.best, ref.bound, ref.optimum) == (100.0, 90.0, None)
    monkeypatch.setattr(script.edgeopt, "solve", fake({"highs": (Status.FEASIBLE, 100.0, 80.0),
                                                       "groups": (Status.FEASIBLE, 99.0, 70.0)}))
    ref, _ = script.reference_of(inst)
    assert (ref.best, ref.bound) == (99.0, 80.0)
    monkeypatch.setattr(script.edgeopt, "solve", fake({"highs": (Status.FEASIBLE, 100.0, 80.0),
                                                       "groups": (Status.OPTIMAL, 95.0, 95.0)}))
    ref, _ = script.reference_of(inst)
    assert (ref.optimum, ref.best, ref.bound) == (95.0, None, None)


def test_a_missing_bound_is_not_written_as_none(tmp_path):
    path = tmp_path / "r.solu"
    write_solu(path, {"a": Reference("a", best=3.5), "b": Reference("b", optimum=336.0)})
    assert path.read_text() == "=best= a 3.5\n=opt= b 336\n"
    assert read_solu(path) == {"a": Reference("a", best=3.5), "b": Reference("b", optimum=336)}
