"""What the comparison and training scripts share: writing their rows as CSV, reporting the runs that did not
end in a plan, and the command line of the scripts that train the shipped policies (imported by the scripts
beside it, which run with this folder on their path, and by benchmarks/serving.py)."""
from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
import resource
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "edgeopt" / "data" / "policies"
#: Where the comparison scripts write unless told otherwise (``--out``), whatever the current folder.
RESULTS = ROOT / "benchmarks" / "papers" / "results"


def default_out(script: str, quick: bool) -> Path:
    """The default output folder of the comparison script ``script`` (its ``__file__``): results/<name>/ beside
    this file, or results/quick/<name>/ with ``--quick`` (a folder git ignores: a .gitignore of ``*`` is put
    there, as quick runs are checks, not results)."""
    name = Path(script).stem
    if not quick:
        return RESULTS / name
    quick_dir = RESULTS / "quick"
    quick_dir.mkdir(parents=True, exist_ok=True)
    ignore = quick_dir / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n")
    return quick_dir / name


def out_help() -> str:
    """The ``--out`` option's help, the same in every comparison script."""
    return ("output directory (default: benchmarks/papers/results/<script>/, with --quick "
            "results/quick/<script>/)")


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


def training_main(argv, doc: str, *, steps: int, train_one: Callable, describe: Callable[[dict], str]) -> int:
    """The command line of a script that trains a family's shipped policies: MAPPO and IPPO at the same time in
    two processes (``train_one(algorithm, steps, seed, work, overrides)`` -> a report dict with algorithm, wall,
    cpu, updates, decisions, policy, size), then copied into edgeopt/data/policies unless ``--no-install`` or an
    ablation (``--set``). ``describe(report)``: the report's validation figure, for the printed line."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=steps, help=f"decisions per policy ({steps:,})")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--only", choices=("mappo", "ippo"), help="train one policy only")
    ap.add_argument("--work", type=Path, default=ROOT / "benchmarks" / "papers" / "training",
                    help="where the policies and their learning curves are written")
    ap.add_argument("--no-install", action="store_true", help="do not copy the policies into edgeopt/data/policies")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="override a hyperparameter (a JSON value or text), for ablations; implies --no-install")
    args = ap.parse_args(argv)
    overrides = {}
    for pair in args.set:
        key, sep, text = pair.partition("=")
        if not sep:
            ap.error(f"--set {pair!r}: expected NAME=VALUE")
        try:
            overrides[key.strip()] = json.loads(text)
        except ValueError:
            overrides[key.strip()] = text
    if overrides:
        args.no_install = True  # an ablation never replaces the shipped policies
    args.work.mkdir(parents=True, exist_ok=True)
    algorithms = [args.only] if args.only else ["mappo", "ippo"]
    started = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(len(algorithms)) as pool:
        reports = pool.starmap(train_one, [(a, args.steps, args.seed, args.work, overrides) for a in algorithms])
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    for r in reports:
        print(f"{r['algorithm']}: {r['decisions']:,} decisions in {r['updates']} updates, {r['wall'] / 60:.1f} min wall, "
              f"{r['cpu'] / 60:.1f} min CPU; {describe(r)}; {r['size'] / 1e6:.2f} MB")
        if not args.no_install:
            POLICIES.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(r["policy"], POLICIES / Path(r["policy"]).name)
            print(f"  installed {POLICIES / Path(r['policy']).name}")
    print(f"all: {(time.perf_counter() - started) / 60:.1f} min wall on {len(algorithms)} process(es), "
          f"{(children.ru_utime + children.ru_stime) / 60:.1f} min CPU")
    return 0
