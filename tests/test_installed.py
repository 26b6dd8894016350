"""After the README's own `pip install .` (not editable), from any folder: the bundled references are found
(the copy inside the package, matched by content hash), and nothing reads the source checkout."""
from __future__ import annotations

import shutil
import subprocess
import venv

import pytest

from conftest import INSTANCES, ROOT


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A virtual environment (seeing this one's packages, so nothing is downloaded) with edgeopt installed
    from a wheel of this checkout."""
    where = tmp_path_factory.mktemp("installed")
    venv.create(where / "env", system_site_packages=True, with_pip=False)
    python = where / "env" / "bin" / "python"
    src = where / "src"  # a copy, so the wheel cannot pick up anything but the committed layout
    # Without the folders that tests running beside this one (pytest-xdist) write to while it copies.
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".git", "__pycache__", "*.egg-info", "build", ".*cache",
                                                             ".hypothesis"))
    # The environment's own python runs pip, so pip installs there and leaves this environment's edgeopt
    # alone ("outside environment"); pip with --prefix would first uninstall that one.
    subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--quiet", str(src)], check=True,
                   capture_output=True, timeout=600)
    shutil.rmtree(src)
    return python, where


def test_references_work_from_any_folder_after_install(installed, tmp_path):
    python, where = installed
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(INSTANCES / "gap" / "gap1.txt", elsewhere / "gap1.txt")  # no reference.solu beside it
    proc = subprocess.run([str(python), "-m", "edgeopt", "solve", "gap1.txt", "--solver", "greedy"], cwd=elsewhere,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    where_from = subprocess.run([str(python), "-c", "import edgeopt; print(edgeopt.__file__)"], cwd=elsewhere,
                                capture_output=True, text=True, check=True).stdout.strip()
    assert where_from.startswith(str(where)), where_from  # the installed copy, not this checkout
    lines = proc.stdout.splitlines()
    assert lines[0].split()[:7] == ["instance", "status", "objective", "bound", "gap", "reference", "ref_gap"]
    assert lines[2].split()[5] == "336"  # gap1-1's published optimum
    assert lines[-1].startswith("references: ") and "edgeopt/data/reference.solu" in lines[-1]
