"""What the offloading comparison scripts share: writing their rows as CSV and reporting the runs that did not
end in a plan (imported by the scripts beside it, which run with this folder on their path)."""
from __future__ import annotations

import csv
import sys
from pathlib import Path


def write_rows(path: Path, rows: list[dict]) -> None:
    """One CSV row per dict, the columns every key that occurs, sorted."""
    keys = sorted({k for r in rows for k in r})
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)


def failed_runs(rows: list[dict]) -> int:
    """Print every run whose status is neither optimal nor feasible; how many there were."""
    errors = [r for r in rows if r["status"] not in ("optimal", "feasible")]
    for r in errors:
        print(f"ERROR {r['method']} on {r['instance']}: {r['status']} {r['message']}", file=sys.stderr)
    return len(errors)
