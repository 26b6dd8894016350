"""Where benchmarks/papers/*.py write by default (issue 20, item 6): `--quick` runs wrote into the current folder
under three naming styles (assignment-paper-results, deployment-paper-results, offloading-mappo-results,
results/offloading-regimes). Now one place inside the repository, whatever the current folder."""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAPERS = ROOT / "benchmarks" / "papers"


def _common():
    spec = importlib.util.spec_from_file_location("papers_common", PAPERS / "common.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_default_folder_is_in_the_repository_whatever_the_current_folder(tmp_path, monkeypatch):
    common = _common()
    assert common.RESULTS == PAPERS / "results"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(common, "RESULTS", tmp_path / "results")  # the quick folder's .gitignore goes here
    assert common.default_out(str(PAPERS / "assignment.py"), False) == tmp_path / "results" / "assignment"
    assert common.default_out(str(PAPERS / "assignment.py"), True) == tmp_path / "results" / "quick" / "assignment"
    assert (tmp_path / "results" / "quick" / ".gitignore").read_text() == "*\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]


def test_every_script_with_an_output_folder_uses_the_shared_default():
    scripts = [p for p in sorted(PAPERS.glob("*.py")) if '"--out"' in p.read_text()]
    assert {p.stem for p in scripts} >= {"assignment", "deployment", "offloading", "offloading_regimes"}
    for path in scripts:
        text = path.read_text()
        out = re.search(r'add_argument\("--out"[^\n]*', text).group(0)
        assert "default=" not in out and "out_help()" in out, (path.name, out)
        assert "args.out = args.out or default_out(__file__, args.quick)" in text, path.name
