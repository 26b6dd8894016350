"""Compare solvers over instances and seeds: one table row per (instance, solver, seed), gaps to reference values.

    import edgeopt
    df = edgeopt.compare(["instances/deployment"], ["highs", "greedy"], seeds=range(3), time_limit=30,
                         out="runs/deploy")

Every run goes through :func:`edgeopt.solve`, which re-checks the solution with the family's evaluator
(a violated constraint or an objective mismatch becomes an ``error`` row with the reason). A row's
``verified`` is true when the run did not end in error and the evaluator found its solution feasible.

Reference values (``reference_kind``): the proven optimum of the .solu file (``opt``), else its best
proven bound (``bound``: the gap then reads "within x% of the bound"), else the best solution known:
the file's ``=best=`` (``best-known``) or the best objective any verified run of this sweep found for the
instance (``best-in-run``), whichever is better for the sense, else none (``""``). A reference is taken
from the .solu file named, or else from the ``reference.solu`` found beside the instance files and the
copy of the bundled references inside the package (edgeopt.comparison.reference), and only for the
instance content its ``=hash=`` names: ``reference_file`` says which file gave it, ``reference_note``
why a reference of the same name was not used. Infeasible, errored, timed-out and skipped runs (an
instance no listed solver solves: status ``skipped``) stay in the table; nothing is dropped.

Execution: every task runs in a worker process of a ``pebble.ProcessPool`` (``workers`` processes,
default the core count), each stopped after ``time_limit + grace_seconds``; a hung solver becomes a
``time_limit`` row and a crashed worker an ``error`` row, and the sweep goes on. With ``dask=ADDRESS``
(or a ``distributed.Client``) the same task function runs on a Dask cluster; Dask cannot stop a running
task, so there the solvers' own time limits are all that bounds a run. Multi-threaded backends run
with a fixed thread count so results do not depend on the machine or on how many tasks share it:
HiGHS 1 thread, CP-SAT 1 search worker, SCIP 1 thread.

Nothing lost, nothing redone: with ``out`` set, each finished task is written at once to
``out/results/<key>.json``, where key is the sha256 of (instance content hash, solver, seed,
time_limit, options); a later sweep with the same ``out`` loads those and runs only the missing ones.
``out/results.csv`` and ``out/results.json`` hold every row, and :mod:`edgeopt.comparison.html` writes
the Markdown summary, plots and HTML report beside them.

Test-only or third-party solvers register themselves when their module is imported; name such
modules in ``setup`` and every worker (local or Dask) imports them before it solves.
"""
from __future__ import annotations

import concurrent.futures
import hashlib
import importlib
import json
import math
import os
import re
import time
import traceback
from pathlib import Path
from typing import Any, Iterable, Sequence

#: Columns of the table, in order (the tables, plots and report rely on these names).
COLUMNS = ("instance", "family", "sense", "instance_hash", "path", "solver", "seed", "status", "objective",
           "bound", "gap", "reference", "reference_kind", "reference_file", "reference_note", "gap_to_reference",
           "verified", "message",
           "build_seconds", "solve_seconds", "wall_seconds", "time_limit", "options")

#: Columns measured in seconds: the only ones that may differ between two runs of the same sweep.
TIME_COLUMNS = ("build_seconds", "solve_seconds", "wall_seconds")

#: The file suffixes a folder is searched for: JSON instances and OR-Library GAP text files.
INSTANCE_SUFFIXES = (".json", ".txt")

_DEFAULT = object()


# -- inputs ----------------------------------------------------------------------------------------
def expand_instances(items: Iterable[Any], sense: str | None = None) -> list[tuple[str, Any]]:
    """(path, Instance) pairs: files, folders (searched recursively for .json and .txt files, in sorted
    order) and Instance objects (path ""); an OR-Library file gives one pair per problem. ``sense`` ("max"
    or "min") is passed to :func:`edgeopt.io.load` for every file, as ``edgeopt solve --sense`` does: it
    tells an OR-Library file's sense when its name does not, and a JSON file must state the same."""
    from edgeopt.io import load

    if isinstance(items, (str, os.PathLike)) or hasattr(items, "kind"):
        items = [items]
    out: list[tuple[str, Any]] = []
    for item in items:
        if not isinstance(item, (str, os.PathLike)):
            out.append(("", item))
            continue
        p = Path(item)
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in INSTANCE_SUFFIXES)
            if not files:
                raise ValueError(f"{item}: no instance files (.json, .txt) in this folder")
        elif p.exists():
            files = [p]
        else:
            raise ValueError(f"{item}: no such file or folder")
        for f in files:
            loaded = load(f, sense=sense)
            for inst in loaded if isinstance(loaded, list) else [loaded]:
                out.append((str(f), inst))
    return out


#: Most seeds one sweep takes (a typo like 0-99999999 would otherwise allocate a hundred million tasks).
MAX_SEEDS = 10_000
_SEED_PART = re.compile(r"([0-9]{1,10})(?:-([0-9]{1,10}))?", re.ASCII)


def parse_seeds(spec: str) -> list[int]:
    """Seeds from '3', '0-4' (inclusive) or '0,2,5' (ranges may be mixed in: '0-2,7'): ASCII digits only
    (not '+3', '1_0' or other scripts' digits, which int() would take), at most MAX_SEEDS of them."""
    seeds: list[int] = []
    text = spec.strip()
    if not text:
        raise ValueError("empty seeds spec; give e.g. 0-4 or 0,2,5")
    for part in text.split(","):
        part = part.strip()
        m = _SEED_PART.fullmatch(part)
        if m is None or (m.group(2) is not None and int(m.group(1)) > int(m.group(2))):
            raise ValueError(f"bad seeds spec {spec!r}: {part!r} is not a seed (N) or an increasing range "
                             "(A-B) of non-negative integers")
        a = int(m.group(1))
        b = a if m.group(2) is None else int(m.group(2))
        if len(seeds) + (b - a + 1) > MAX_SEEDS:
            raise ValueError(f"bad seeds spec {spec!r}: more than {MAX_SEEDS:,} seeds")
        seeds.extend(range(a, b + 1))
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"bad seeds spec {spec!r}: a seed is repeated")
    return seeds


def task_key(instance_hash: str, solver: str, seed: int | None, time_limit: float | None, options: str) -> str:
    """The name of a task's result file: sha256 of its identity (instance content, solver, seed, limit, options)."""
    ident = json.dumps([instance_hash, solver, seed, time_limit, options], separators=(",", ":"))
    return hashlib.sha256(ident.encode()).hexdigest()


# -- the task (runs in a worker process) ------------------------------------------------------------
def _base_row(spec: dict) -> dict:
    inst = spec["instance"]
    return {"instance": inst.name, "family": inst.kind, "sense": inst.sense, "instance_hash": inst.hash,
            "path": spec["path"], "solver": spec["solver"], "seed": spec["seed"], "status": "error",
            "objective": None, "bound": None, "gap": None, "verified": False, "message": "",
            "build_seconds": 0.0, "solve_seconds": 0.0, "wall_seconds": 0.0,
            "time_limit": spec["time_limit"], "options": spec["options"], "key": spec["key"]}


def _finite(value) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def run_task(spec: dict) -> dict:
    """Solve one (instance, solver, seed) and return its row (without the reference columns).

    Any exception becomes an error row naming it, so one bad run never ends the sweep.
    """
    row = _base_row(spec)
    start = time.perf_counter()
    try:
        for module in spec.get("setup", ()):
            importlib.import_module(module)
        from edgeopt.api import solve

        result = solve(spec["instance"], spec["solver"], time_limit=spec["time_limit"], seed=spec["seed"],
                       **json.loads(spec["options"]))
        ev = result.evaluation
        row.update(status=result.status.value, objective=_finite(result.objective), bound=_finite(result.bound),
                   gap=_finite(result.gap), message=result.message, build_seconds=float(result.build_seconds),
                   solve_seconds=float(result.solve_seconds),
                   verified=bool(result.status.value != "error" and ev is not None and ev.feasible))
    except Exception as exc:  # noqa: BLE001 - the reason goes into the row
        last = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
        where = f" (at {Path(last.filename).name}:{last.lineno})" if last else ""
        row.update(status="error", message=f"{type(exc).__name__}: {exc}{where}")
    row["wall_seconds"] = time.perf_counter() - start
    return row


# -- reference values ------------------------------------------------------------------------------
def _read_references(reference, paths) -> list[dict]:
    """The reference tables, nearest first: the named file, or the files found beside the instances and
    the packaged copy (edgeopt.comparison.reference.candidates)."""
    from edgeopt.comparison.reference import candidates, references_for

    if reference is None:
        return []
    return references_for(candidates(paths) if reference is _DEFAULT else [reference])


def add_references(rows: list[dict], tables: list[dict]) -> None:
    """Fill reference, reference_kind, reference_file, reference_note and gap_to_reference in place (see
    the module docstring); a reference is used only for the instance content its file names."""
    from edgeopt.comparison.reference import lookup
    from edgeopt.result import relative_gap

    best: dict[str, float] = {}
    for r in rows:
        obj = r["objective"]
        if r["verified"] and obj is not None:
            h = r["instance_hash"]
            better = max if r["sense"] == "max" else min
            best[h] = obj if h not in best else better(best[h], obj)
    for r in rows:
        ref, note = lookup(tables, r["instance"], r["instance_hash"])
        r["reference_file"] = "" if ref is None else ref.source
        r["reference_note"] = note
        if ref is not None and ref.optimum is not None:
            value, kind = ref.optimum, "opt"
        elif ref is not None and ref.bound is not None:
            value, kind = ref.bound, "bound"
        elif ref is not None and ref.infeasible:
            value, kind = None, "inf"  # proven infeasible: an "infeasible" answer is the right one
        elif r["instance_hash"] in best or (ref is not None and ref.best is not None):
            # The best solution known: this sweep's, or the file's =best= when that is better.
            run_best = best.get(r["instance_hash"])
            file_best = None if ref is None else ref.best
            better = (lambda a, b: a >= b) if r["sense"] == "max" else (lambda a, b: a <= b)
            if file_best is not None and (run_best is None or better(file_best, run_best)):
                value, kind = file_best, "best-known"
            else:
                value, kind = run_best, "best-in-run"
                r["reference_file"] = ""
        else:
            value, kind = None, ""
        r["reference"] = value
        r["reference_kind"] = kind
        r["gap_to_reference"] = relative_gap(r["objective"], value, r["sense"]) if r["verified"] else None


# -- execution -------------------------------------------------------------------------------------
def _skipped_row(path: str, inst, names: list[str], seed: int, time_limit, opts: str) -> dict:
    """The row of an instance none of the listed solvers solves: in the table, not dropped."""
    row = _base_row({"instance": inst, "path": path, "solver": "-", "seed": seed, "time_limit": time_limit,
                     "options": opts, "key": ""})
    row.update(status="skipped", message=f"none of the solvers {', '.join(names)} solves {inst.kind} instances")
    return row


def _timeout_row(spec: dict, limit: float) -> dict:
    row = _base_row(spec)
    row.update(status="time_limit", wall_seconds=limit,
               message=f"no answer within the time limit plus grace ({limit:g} s); the worker was stopped")
    return row


def _run_local(specs: list[dict], workers: int | None, grace: float, on_done) -> None:
    import pebble

    pool = pebble.ProcessPool(max_workers=workers or os.cpu_count() or 1)
    try:
        futures = {}
        for spec in specs:
            limit = None if spec["time_limit"] is None else spec["time_limit"] + grace
            futures[pool.schedule(run_task, args=(spec,), timeout=limit)] = (spec, limit)
        for future in concurrent.futures.as_completed(futures):
            spec, limit = futures[future]
            try:
                row = future.result()
            except concurrent.futures.TimeoutError:
                row = _timeout_row(spec, limit)
            except pebble.ProcessExpired as exc:
                row = _base_row(spec)
                row["message"] = f"the worker process died (exit code {exc.exitcode}) while solving"
            except Exception as exc:  # noqa: BLE001 - e.g. a result that cannot be sent back
                row = _base_row(spec)
                row["message"] = f"{type(exc).__name__}: {exc}"
            on_done(row)
    except KeyboardInterrupt:
        # Ctrl-C: the workers are stopped at once (every finished run is already on disk) and the
        # interrupt goes on up; closing the pool normally would wait for every queued task.
        pool.stop()
        pool.join(timeout=5)
        raise
    pool.close()
    pool.join()


def _run_dask(specs: list[dict], dask, on_done) -> None:
    from distributed import Client, as_completed

    client = dask if isinstance(dask, Client) else Client(dask)
    try:
        futures = {client.submit(run_task, spec, pure=False): spec for spec in specs}
        for future in as_completed(futures):
            spec = futures[future]
            try:
                row = future.result()
            except Exception as exc:  # noqa: BLE001 - a lost worker or a failed transfer
                row = _base_row(spec)
                row["message"] = f"dask: {type(exc).__name__}: {exc}"
            on_done(row)
    finally:
        if client is not dask:
            client.close()


def _to_json_value(v):
    return None if isinstance(v, float) and not math.isfinite(v) else v


def _load_cached(path: Path, spec: dict) -> dict | None:
    """A stored row for this task, or None when missing or unreadable (then the task runs again)."""
    try:
        row = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(row, dict) or row.get("key") != spec["key"]:
        return None
    # The path and name may differ from the sweep that stored it (same content, another file).
    row.update(instance=spec["instance"].name, path=spec["path"])
    return row


def _serving(names: list[str], kinds: set[str]) -> dict[str, set[str]]:
    """Per solver name, the families among ``kinds`` it solves here; ValueError for an unknown or
    unavailable solver, or one that solves none of them."""
    from edgeopt import registry
    from edgeopt.api import get_solver

    known = set(registry.all_names())
    serves: dict[str, set[str]] = {}
    for n in names:
        if n not in known:
            raise ValueError(f"unknown solver {n!r}; known: {', '.join(sorted(known))}")
        serves[n] = {k for k in kinds if n in registry.names(k)}
        for k in serves[n]:
            get_solver(k, n)  # unavailable here: ValueError with the import error
    return serves


def compare(instances, solvers: Sequence[str] | str, seeds: Iterable[int] = (0,), time_limit: float | None = None,
            workers: int | None = None, dask=None, out: str | os.PathLike | None = None, reference=_DEFAULT,
            progress: bool = True, grace_seconds: float = 10.0, options: dict | None = None,
            setup: Sequence[str] = (), report: bool = True, on_row=None, sense: str | None = None):
    """Run every solver on every instance with every seed; a pandas DataFrame, one row per run.

    ``instances``: paths (files or folders; an OR-Library file gives one instance per problem) or
    Instance objects. ``solvers``: names (a list or "a,b,c"); a solver runs only on the families it
    handles. ``reference``: a .solu file, None for none, default the bundled instances/reference.solu.
    ``options``: keyword options passed to every solver. ``setup``: modules every worker imports first
    (solvers outside edgeopt register themselves that way). ``report``: with ``out``, also write the
    Markdown summary, plots and HTML report (edgeopt.comparison.html). ``on_row``: called with a copy of
    each row as soon as it is known (a row kept from an earlier sweep first, with ``kept=True``; then each
    run as it finishes), its reference columns filled from the .solu files (the reference of the best run
    is known only at the end: such rows show none). ``sense``: see :func:`expand_instances`. See the module
    docstring for the rest.
    Unknown solvers, solvers whose backend is missing, and bad paths raise ValueError before anything runs.
    """
    import pandas as pd
    from tqdm import tqdm

    from edgeopt.io import dump_json, write_atomic

    for module in setup:
        importlib.import_module(module)
    names = [s.strip() for s in solvers.split(",")] if isinstance(solvers, str) else list(solvers)
    if not names or any(not n for n in names):
        raise ValueError("give at least one solver name")
    if len(set(names)) != len(names):
        raise ValueError(f"a solver is named twice in {names}")
    seeds = list(seeds)
    from edgeopt.solver import MAX_SEED

    if not seeds or any(isinstance(s, bool) or not isinstance(s, int) or not 0 <= s <= MAX_SEED for s in seeds):
        raise ValueError(f"seeds must be integers between 0 and {MAX_SEED}, got {seeds[:5]!r}"
                         + (f" ({len(seeds)} in all)" if len(seeds) > 5 else ""))
    if time_limit is not None and not (math.isfinite(time_limit) and time_limit > 0):
        raise ValueError(f"time_limit must be a positive number of seconds, got {time_limit!r}")
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers!r}")
    opts = json.dumps(options or {}, sort_keys=True)
    references = _read_references(reference, [p for p in ([instances] if isinstance(instances, (str, os.PathLike))
                                                          else instances) if isinstance(p, (str, os.PathLike))])
    pairs = expand_instances(instances, sense=sense)
    if not pairs:
        raise ValueError("no instances given")

    specs, skipped = [], []
    serves = _serving(names, {inst.kind for _, inst in pairs})
    for path, inst in pairs:
        if not any(inst.kind in serves[n] for n in names):
            skipped.append(_skipped_row(path, inst, names, seeds[0], time_limit, opts))
        for n in names:
            if inst.kind not in serves[n]:
                continue
            for seed in seeds:
                specs.append({"instance": inst, "path": path, "solver": n, "seed": seed, "time_limit": time_limit,
                              "options": opts, "setup": list(setup),
                              "key": task_key(inst.hash, n, seed, time_limit, opts)})
    if not specs:
        raise ValueError(f"none of the solvers {names} handles the families of these instances")

    results_dir = Path(out) / "results" if out is not None else None
    rows: dict[str, dict] = {}
    pending = []
    for spec in specs:
        cached = _load_cached(results_dir / f"{spec['key']}.json", spec) if results_dir else None
        if cached is not None:
            rows[spec["key"]] = cached
        else:
            pending.append(spec)
    if results_dir is not None:
        results_dir.mkdir(parents=True, exist_ok=True)
        # A sweep killed while writing leaves its temporary file (".<key>.json.<random>.json", see
        # io.atomic_output); the finished files are complete, the temporaries are dropped.
        for stale in results_dir.glob(".*.json"):
            stale.unlink(missing_ok=True)

    bar = tqdm(total=len(specs), initial=len(specs) - len(pending), disable=not progress, unit="run",
               desc="compare", dynamic_ncols=True)

    def tell(row: dict, kept: bool) -> None:
        if on_row is not None:
            shown = dict(row, kept=kept)
            add_references([shown], [t for t in references])
            if shown["reference_kind"] == "best-in-run":  # known only when the sweep ends
                shown.update(reference=None, reference_kind="", gap_to_reference=None)
            on_row(shown)

    for spec in specs:
        if spec["key"] in rows:
            tell(rows[spec["key"]], True)

    def on_done(row: dict) -> None:
        rows[row["key"]] = row
        if results_dir is not None:
            write_atomic(results_dir / f"{row['key']}.json",
                         dump_json({k: _to_json_value(v) for k, v in row.items()}))
        bar.update(1)
        tell(row, False)

    try:
        if pending:
            if dask is not None:
                _run_dask(pending, dask, on_done)
            else:
                _run_local(pending, workers, grace_seconds, on_done)
    finally:
        bar.close()

    ordered = [dict(rows[spec["key"]]) for spec in specs] + skipped
    add_references(ordered, references)
    df = pd.DataFrame(ordered, columns=list(COLUMNS))
    for col in ("objective", "bound", "gap", "reference", "gap_to_reference", "time_limit"):
        df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
    df["verified"] = df["verified"].astype(bool)
    df["seed"] = df["seed"].astype(int)

    if out is not None:
        write_tables(df, out)
        if report:
            from edgeopt.comparison.html import write_reports

            write_reports(df, Path(out))
    return df


def write_tables(df, out: str | os.PathLike) -> list[Path]:
    """OUT/results.csv and OUT/results.json (a list of row objects; missing values are null)."""
    from edgeopt.io import write_atomic

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    csv_path, json_path = out / "results.csv", out / "results.json"
    write_atomic(csv_path, df.to_csv(index=False))
    records = [{k: _to_json_value(v.item() if hasattr(v, "item") else v) for k, v in rec.items()}
               for rec in df.to_dict(orient="records")]
    write_atomic(json_path, json.dumps(records, indent=1, allow_nan=False) + "\n")
    return [csv_path, json_path]
