"""The structure the code promises: layers enforced by import-linter, a light `import edgeopt`, a registry
that lists a backend it cannot import instead of dropping it, and every command for every family."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import edgeopt
from edgeopt.cli import main
from edgeopt.registry import BACKENDS, FAMILIES, register_backend
from edgeopt.backends.milp import MILPSolver

from conftest import INSTANCES, ROOT

#: Packages that `import edgeopt` must not import: every backend, plotting, tables, learning.
HEAVY = ("highspy", "ortools", "pyomo", "cvxpy", "pyscipopt", "scipy", "jsonschema", "matplotlib", "pandas", "torch",
         "pebble", "tqdm", "distributed", "linopy", "xarray", "polars")


def _lint(root: Path, config: Path) -> subprocess.CompletedProcess:
    code = "import sys, importlinter.cli as c; sys.exit(c.lint_imports(config_filename=sys.argv[1], no_cache=True))"
    return subprocess.run([sys.executable, "-c", code, str(config)], capture_output=True, text=True, cwd=root,
                          env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}, timeout=300)


def test_import_contracts_hold():
    proc = _lint(ROOT, ROOT / "pyproject.toml")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "3 kept, 0 broken" in proc.stdout


def test_a_back_import_breaks_the_contracts(tmp_path):
    """The contracts are not vacuous: a copy of the package where the leaf imports the CLI fails them."""
    shutil.copytree(ROOT / "edgeopt", tmp_path / "edgeopt", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    leaf = tmp_path / "edgeopt" / "document.py"
    leaf.write_text(leaf.read_text() + "\n\ndef _upward():\n    from edgeopt import cli  # noqa: F401\n")
    family = tmp_path / "edgeopt" / "families" / "gap" / "describe.py"
    family.write_text(family.read_text() + "\n\ndef _sideways():\n    from edgeopt.families.deployment import schema\n")
    proc = _lint(tmp_path, tmp_path / "pyproject.toml")
    assert proc.returncode != 0
    assert "edgeopt.document -> edgeopt.cli" in proc.stdout
    assert "edgeopt.families.gap.describe -> edgeopt.families.deployment.schema" in proc.stdout


def test_import_edgeopt_is_light():
    code = f"import sys, edgeopt; print([m for m in {HEAVY!r} if m in sys.modules])"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_import_edgeopt_leaves_the_matplotlib_backend_alone(tmp_path):
    """Writing a report must not switch the caller's matplotlib backend (no matplotlib.use at import)."""
    code = ("import matplotlib; matplotlib.use('svg'); import edgeopt.comparison.html, edgeopt.comparison.plots; "
            "print(matplotlib.get_backend())")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "svg"


def test_a_backend_that_does_not_import_is_listed_unavailable_with_the_reason():
    @register_backend
    class Missing(MILPSolver):
        """Test only: a backend whose package is not installed."""

        name, requires = "missing-backend", ("edgeopt_no_such_package",)

    try:
        listed = [e for e in edgeopt.solvers() if e.name == "missing-backend"]
        assert {e.family for e in listed} == {k for k, f in FAMILIES.items() if f.has_formulation}
        assert all(not e.available and "edgeopt_no_such_package" in e.import_error for e in listed)
        inst = edgeopt.load(INSTANCES / "deployment" / "tiny-1.json")
        with pytest.raises(ValueError, match="not available here: edgeopt_no_such_package"):
            edgeopt.solve(inst, "missing-backend")
    finally:
        BACKENDS.pop("missing-backend", None)


def test_listing_order_does_not_depend_on_import_order():
    entries = edgeopt.solvers()
    key = [(e.family, not e.exact, e.name) for e in entries]
    assert key == sorted(key)


# -- every command for every family: output or exit 2 with a sentence, never a traceback ------------
ONE_FILE = {"deployment": INSTANCES / "deployment" / "small-1.json",
            "assignment": INSTANCES / "assignment" / "assign-tiny-1.json",
            "gap": INSTANCES / "gap" / "gap1.txt",
            "offloading": INSTANCES / "offloading" / "offload-small-1.json",
            "serving": INSTANCES / "serving" / "serving-small-1.json"}


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def test_every_family_is_covered():
    assert set(ONE_FILE) == set(FAMILIES)


@pytest.mark.parametrize("kind", sorted(ONE_FILE))
def test_show(kind, capsys):
    code, out, err = _run(capsys, "show", ONE_FILE[kind])
    assert code == 0 and err == ""
    assert f"kind        {kind}" in out and "hash        sha256:" in out


@pytest.mark.parametrize("kind", sorted(ONE_FILE))
def test_schema(kind, capsys):
    code, out, _ = _run(capsys, "schema", kind)
    assert code == 0
    assert json.loads(out)["properties"]["kind"] == {"const": kind}


@pytest.mark.parametrize("kind", sorted(ONE_FILE))
def test_generate_writes_a_loadable_instance(kind, capsys, tmp_path):
    path = tmp_path / f"{kind}.json"
    code, out, err = _run(capsys, "generate", kind, "--seed", "5", "-o", path)
    assert code == 0, err
    inst = edgeopt.load(path)
    assert inst.kind == kind and inst.hash == edgeopt.generate(kind, seed=5).hash


@pytest.mark.parametrize("kind", sorted(ONE_FILE))
def test_export(kind, capsys, tmp_path):
    source = ONE_FILE[kind]
    if kind == "gap":  # export takes one instance; an OR-Library file holds several
        source = tmp_path / "gap1-1.json"
        edgeopt.save(edgeopt.load(ONE_FILE[kind])[0], source)
    out_path = tmp_path / "model.mps"
    code, out, err = _run(capsys, "export", source, "-o", out_path)
    if edgeopt.family(kind).has_formulation:
        assert code == 0 and out_path.is_file()
    else:
        assert code == 2 and not out_path.exists() and not list(tmp_path.glob(".model*"))
        assert f"{kind} instances have no MILP formulation to export" in err


def test_generate_options_come_from_the_family(capsys, tmp_path):
    code, out, err = _run(capsys, "generate", "gap", "--agents", "3", "--jobs", "7", "--type", "D", "--sense", "max",
                          "-o", tmp_path / "g.json")
    assert code == 0, err
    inst = edgeopt.load(tmp_path / "g.json")
    assert (inst.agents, inst.jobs, inst.sense) == (3, 7, "max")
    code, out, err = _run(capsys, "generate", "gap", "--type", "Z", "-o", tmp_path / "h.json")
    assert code == 2 and "must be one of A, B, C, D, E, got 'Z'" in err and not (tmp_path / "h.json").exists()
    code, out, err = _run(capsys, "generate", "assignment", "--prompts", "0", "-o", tmp_path / "a.json")
    assert code == 2 and "must be an integer >= 1" in err
