"""The bundled instances against instances/reference.solu, with every exact backend and heuristic."""
from __future__ import annotations

import pytest

import edgeopt
from edgeopt.comparison.reference import read_solu

from conftest import INSTANCES

FILES = sorted((INSTANCES / "deployment").glob("*.json"))
ASSIGNMENT_FILES = sorted((INSTANCES / "assignment").glob("*.json"))
REFERENCE = read_solu(INSTANCES / "reference.solu")
EXACT = [s.name for s in edgeopt.solvers() if s.exact and s.family == "deployment"]
HEURISTICS = [s.name for s in edgeopt.solvers() if not s.exact and s.family == "deployment"]
#: Instances every exact backend must prove within the test's time limit (HiGHS needs under a second).
AGREEMENT_MAX_VARIABLES = 13_000


def _load(path):
    return edgeopt.load(path)


def test_every_bundled_instance_has_a_reference():
    assert len(FILES) >= 12 and len(ASSIGNMENT_FILES) >= 10
    names = {_load(f).name for f in FILES + ASSIGNMENT_FILES}
    assert names <= set(REFERENCE), names - set(REFERENCE)
    assert max(_load(f).num_variables for f in FILES) >= 100_000


def test_bundled_files_are_what_make_py_generates():
    """The bundled files can be rebuilt from their generator parameters, bit for bit (same content hash)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_instances", INSTANCES / "make.py")
    make = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make)
    built = {**make.build_all(), **make.build_assignment()}
    assert {f.stem for f in FILES + ASSIGNMENT_FILES} == set(built)
    for f in FILES + ASSIGNMENT_FILES:
        assert _load(f).hash == built[f.stem].hash, f.stem


def test_references_are_consistent():
    deployment = {_load(f).name for f in FILES}  # minimisation: a bound lies below the best value
    for ref in REFERENCE.values():
        if ref.name in deployment and ref.best is not None:
            assert ref.bound is not None and ref.bound <= ref.best + 1e-9 * max(1.0, abs(ref.best))


SMALL = [f for f in FILES if _load(f).num_variables <= AGREEMENT_MAX_VARIABLES]


@pytest.mark.parametrize("solver", EXACT)
@pytest.mark.parametrize("path", SMALL, ids=lambda p: p.stem)
def test_exact_backends_reproduce_reference(path, solver):
    inst = _load(path)
    ref = REFERENCE[inst.name]
    result = edgeopt.solve(inst, solver, time_limit=60)
    if ref.infeasible:
        assert result.status == edgeopt.Status.INFEASIBLE
        return
    assert result.status == edgeopt.Status.OPTIMAL, (result.status, result.message)
    assert ref.optimum is not None
    assert result.objective == pytest.approx(ref.optimum, rel=1e-6)
    assert result.evaluation.feasible


@pytest.mark.parametrize("solver", HEURISTICS)
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_heuristics_feasible_and_never_beat_a_proof(path, solver):
    inst = _load(path)
    ref = REFERENCE[inst.name]
    result = edgeopt.solve(inst, solver, seed=0, time_limit=20)
    if ref.infeasible:
        assert result.status == edgeopt.Status.INFEASIBLE
        return
    if solver == "cloud-only" and not inst.cloud_enabled:
        # A heuristic cannot prove infeasibility: it says it found no plan, and why.
        assert result.status == edgeopt.Status.ERROR and "cloud disabled" in result.message
        return
    assert result.status == edgeopt.Status.FEASIBLE, (result.status, result.message)
    assert result.evaluation.feasible
    floor = ref.optimum if ref.optimum is not None else ref.bound
    assert result.objective >= floor - 1e-6 * max(1.0, abs(floor))


@pytest.mark.parametrize("path", ASSIGNMENT_FILES, ids=lambda p: p.stem)
def test_enumerate_reproduces_assignment_reference(path):
    inst = _load(path)
    result = edgeopt.solve(inst, "enumerate")
    assert result.status == edgeopt.Status.OPTIMAL
    assert result.objective == pytest.approx(REFERENCE[inst.name].optimum, rel=1e-9)
