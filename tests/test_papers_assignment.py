"""benchmarks/papers/assignment.py --quick: outputs written, every method verified and at or below the
proven optimum, and that optimum checked against oracles independent of the enumeration it comes from."""
from __future__ import annotations

import csv
import itertools
import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "papers" / "assignment.py"
METHODS = ("prob-anneal", "direct-assign", "random-assign", "equal-alloc", "optimal-step")


def brute_force_optimum(path: Path) -> float:
    """Every assignment of the prompts to the models and every step count of each model in use, with the
    compute shares by the square-root rule (the minimum of sum_j a_j / f_j over sum_j f_j = F is
    (sum_j sqrt a_j)^2 / F), straight from the instance file and docs/formulations.md, "Assignment"."""
    d = json.loads(path.read_text())
    assert "gpu_memory_gb" not in d  # the oracle ignores the memory row: only for instances without one
    models, prompts = d["models"], d["prompts"]
    n, budget, weight = len(prompts), d["compute_budget"], d["latency_weight"]

    def mu(m, c, s):
        q0, qmax, k = m["clip_at_zero_steps"], m["quality"][c]["clip_max"], m["steps_scale"]
        return q0 + (qmax - q0) * (1 - math.exp(-s / k))

    best = -math.inf
    for assign in itertools.product(range(len(models)), repeat=n):
        used = sorted(set(assign))
        for steps in itertools.product(*(models[j]["steps"] for j in used)):
            s = dict(zip(used, steps))
            quality = sum(mu(models[j], p["category"], s[j]) for j, p in zip(assign, prompts)) / n
            counts = {j: assign.count(j) for j in used}
            root = sum(math.sqrt(counts[j] * s[j] * models[j]["step_seconds"]) for j in used)
            best = max(best, quality - weight * root ** 2 / budget / n)
    return best


def reference_optimum(name: str) -> float:
    for line in (ROOT / "instances" / "reference.solu").read_text().splitlines():
        parts = line.split()
        if parts[:2] == ["=opt=", name]:
            return float(parts[2])
    raise AssertionError(f"no =opt= for {name} in instances/reference.solu")


def printed_instance_rows(stdout: str) -> dict[str, dict[str, float]]:
    """The per-instance tables printed by the script: instance -> {optimum, method: objective}."""
    out, head = {}, None
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0] == "instance" and "optimum" in cells:
            head = cells
        elif head and len(cells) == len(head) and not set(cells[0]) <= {"-"}:
            row = dict(zip(head, cells))
            out[row["instance"]] = {k: float(row[k]) for k in ("optimum", *METHODS)}
        elif not line.strip():
            head = None
    return out


def test_quick_run(tmp_path):
    proc = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--out", str(tmp_path)], capture_output=True,
                          text=True, timeout=300, cwd=tmp_path, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in ("summary.md", "results.csv", "quality_distributions.png", "quality_vs_steps.png",
                 "quality_per_level.png", "methods.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert (tmp_path / "summary.md").read_text().strip() in proc.stdout

    printed = printed_instance_rows(proc.stdout)
    assert set(printed) >= {"assign-tiny-1", "assign-mixed-1"} and len(printed) == 4
    for name, row in printed.items():
        for m in METHODS:  # printed to 6 decimals
            assert row[m] <= row["optimum"] + 1e-6, (name, m, row[m], row["optimum"])
    # the optimum against oracles: brute force from the file, and the published reference
    assert abs(printed["assign-tiny-1"]["optimum"]
               - brute_force_optimum(ROOT / "instances" / "assignment" / "assign-tiny-1.json")) < 1e-6
    assert abs(printed["assign-mixed-1"]["optimum"] - reference_optimum("assign-mixed-1")) < 1e-6

    with open(tmp_path / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert {r["method"] for r in rows} == {*METHODS, "enumerate"}
    assert len(rows) == 4 * 6
    for r in rows:
        assert r["verified"] == "True", r
        assert float(r["objective"]) <= float(r["optimum"]) * (1 + 1e-9), r
        if r["method"] == "enumerate":
            assert r["status"] == "optimal", r
