"""How long `import edgeopt` takes, and what it loads.

    python benchmarks/import_time.py [--runs 5]

Runs `python -X importtime -c "import edgeopt"` in fresh processes (the median of the runs is printed),
beside `import numpy` (the one package edgeopt needs at import) for scale, and lists the heavy packages
(backends, scipy, jsonschema, pandas, matplotlib, torch, linopy, xarray) found in sys.modules afterwards: there must be
none.
Target: under 0.5 s.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

HEAVY = ("highspy", "ortools", "pyomo", "cvxpy", "pyscipopt", "scipy", "jsonschema", "matplotlib", "pandas", "torch",
         "pebble", "tqdm", "linopy", "xarray", "polars")
TARGET_SECONDS = 0.5


def cumulative_seconds(statement: str) -> float:
    """The cumulative import time of the statement's top-level imports, from -X importtime (stderr)."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", statement], capture_output=True, text=True,
                          check=True)
    total = 0
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            _, cumulative, name = (part.strip() for part in line.split(":", 1)[1].split("|"))
            if cumulative.isdigit() and not name.startswith(" ") and name.split(".")[0] == name and \
                    not line.split("|")[2].startswith("  "):
                total += int(cumulative)
    return total / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    base = statistics.median(cumulative_seconds("import numpy") for _ in range(args.runs))
    ours = statistics.median(cumulative_seconds("import edgeopt") for _ in range(args.runs))
    loaded = subprocess.run([sys.executable, "-c", f"import sys, edgeopt; print([m for m in {HEAVY!r} "
                             "if m in sys.modules])"], capture_output=True, text=True, check=True).stdout.strip()
    print(f"{'import':42} {'seconds':>8} {'vs numpy':>16}")
    print(f"{'numpy':42} {base:8.3f} {1.0:15.2f}x")
    print(f"{'edgeopt':42} {ours:8.3f} {ours / base:15.2f}x")
    print(f"target: under {TARGET_SECONDS} s: {'MET' if ours < TARGET_SECONDS else 'NOT MET'}")
    print(f"heavy packages loaded by `import edgeopt`: {loaded}")


if __name__ == "__main__":
    main()
