"""benchmarks/papers/deployment.py --quick: it runs, writes its outputs, and what it prints obeys oracles that do
not come from the script: the proven optimum is never above a heuristic's re-evaluated cost, raising every
model's load time never lowers the optimum, and removing the links between edges never lowers it (both only
take options away or add cost)."""
from __future__ import annotations

import csv
import json
import re
import subprocess
import sys

from conftest import ROOT


def _table(stdout: str, heading: str) -> list[list[str]]:
    """The rows of the first fenced table after ``heading``, cells split on runs of two or more spaces."""
    part = stdout.split(heading, 1)[1].split("```", 2)[1]
    lines = [ln for ln in part.strip().splitlines() if ln.strip()]
    return [re.split(r"\s{2,}", ln.strip()) for ln in lines[2:]]  # header and dashes dropped


def test_the_deployment_papers_comparison_runs_in_quick_mode(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "papers" / "deployment.py"), "--quick",
                           "--out", str(tmp_path), "--workers", "1"],
                          capture_output=True, text=True, timeout=300, cwd=ROOT, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name in ("comparison.png", "switching.png", "sharing.png"):
        assert (tmp_path / name).stat().st_size > 1000
    assert (tmp_path / "summary.md").read_text().strip() in proc.stdout

    # The sweep's rows: every run verified by the evaluator; HiGHS proved every optimum; no heuristic below it.
    with open(tmp_path / "sweep" / "results.csv") as f:
        rows = list(csv.DictReader(f))
    files = sorted((tmp_path / "instances").glob("*.json"))
    # 2 scenarios, 2 more load factors of one, 2 unlinked, 3 load factors of its rotating copy
    assert len(rows) == 6 * len(files) and len(files) == 2 + 2 + 2 + 3
    assert all(r["verified"] == "True" for r in rows)
    optimum = {r["instance"]: float(r["objective"]) for r in rows if r["solver"] == "highs"}
    assert all(r["status"] == "optimal" for r in rows if r["solver"] == "highs")
    for r in rows:
        assert optimum[r["instance"]] <= float(r["objective"]) + 1e-6 * abs(optimum[r["instance"]]), r

    # What it prints: the optimum column is never above any method's cost in the same row.
    printed = _table(proc.stdout, "## Comparison")
    assert len(printed) == 2
    for cells in printed:
        opt = float(cells[2])
        costs = [float(c.split(" (")[0]) for c in cells[4:]]
        assert len(costs) == 5 and all(opt <= c for c in costs), cells

    # The scaled documents: load times are the base's times the factor; the optimum grows with the factor.
    docs = {json.loads(p.read_text())["name"]: json.loads(p.read_text()) for p in files}
    base = next(n for n in docs if "-load-x" not in n and not n.endswith("-nolinks") and f"{n}-load-x4" in docs)
    ladder = [(0.25, f"{base}-load-x0.25"), (1.0, base), (4.0, f"{base}-load-x4")]
    for factor, name in ladder:
        for m, m0 in zip(docs[name]["models"], docs[base]["models"]):
            assert m["load_seconds"] == round(m0["load_seconds"] * factor, 3)
    costs = [optimum[name] for _, name in ladder]
    assert all(a <= b + 1e-6 * abs(b) for a, b in zip(costs, costs[1:])), costs
    printed = {(c[0], c[1]): float(c[2]) for c in _table(proc.stdout, "## Switching delay")}
    assert [printed[(base, f"{f:g}")] for f, _ in ladder] == [round(c, 1) for c in costs]

    # Without links the optimum is never lower; the unlinked documents have no link at all.
    for name, doc in docs.items():
        if name.endswith("-nolinks"):
            assert all(e["links"] == [] for e in doc["edges"])
            linked = name[: -len("-nolinks")]
            assert any(e["links"] for e in docs[linked]["edges"])
            assert optimum[linked] <= optimum[name] + 1e-6 * abs(optimum[name])

    # The rotating copy asks the same number of requests per region and slot, with the models moved.
    rot = next(n for n in docs if n.endswith("-rotating"))
    plain = docs[rot[: -len("-rotating")]]

    def totals(doc):
        out = {}
        for d in doc["demand"]:
            for t, c in enumerate(d["requests"]):
                out[(d["region"], t)] = out.get((d["region"], t), 0) + c
        return out

    assert totals(docs[rot]) == totals(plain) and docs[rot]["demand"] != plain["demand"]
