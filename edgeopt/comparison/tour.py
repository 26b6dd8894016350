"""The tour (``edgeopt tour``): every family's exact method against its heuristics and learned solvers, on a
few bundled instances, in a few minutes — the first thing to run.

Each family's leg is one :func:`edgeopt.compare` sweep (its instances, its solvers, its time limit) into
the same output folder, so that a finished run is kept the moment it ends and running the tour again does
only what is missing. A line is printed for each run as it finishes; at the end, per family, a table of
each method's gap to the proven optimum (or best bound) and its time, beside a sentence on what the
family decides, in the terminal, in ``tour.md`` and in the self-contained ``report.html`` (with the
compare report's plots and every run).
"""
from __future__ import annotations

import html
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from edgeopt import registry
from edgeopt.text import table


@dataclass(frozen=True)
class Leg:
    """One family's part of the tour: instance paths relative to the instances folder, the solvers (exact
    first), the time limit of each run, and what the reader should know to read the table."""

    family: str
    instances: tuple[str, ...]
    solvers: tuple[str, ...]
    time_limit: float
    decides: str
    judged: str


#: The tour. Chosen so that each family shows its exact method proving the optimum and its heuristics and
#: learned solvers falling short by different amounts, in about two minutes on two cores (measured:
#: benchmarks/README.md, "The tour").
TOUR: tuple[Leg, ...] = (
    Leg("deployment", ("deployment/small-1.json", "deployment/medium-1.json"),
        ("highs", "lns", "genetic", "greedy", "cloud-only"), 30.0,
        "which generative models each edge server stores and keeps loaded in GPU memory, slot by slot, and where "
        "each request is served (its own edge, a linked edge, the cloud); cost = delay + switching + cloud fees, "
        "minimised",
        "highs proves the MILP optimum; genetic is the paper's method (improved), lns a matheuristic, greedy and "
        "cloud-only the simple baselines"),
    Leg("assignment", ("assignment/assign-medium-1.json", "assignment/assign-mixed-1.json"),
        ("enumerate", "prob-anneal", "equal-alloc", "direct-assign", "optimal-step"), 20.0,
        "which text-to-image model serves each prompt category, how many denoising steps it runs and how the GPU "
        "compute is split; utility = mean CLIP score - weight x mean latency, maximised",
        "enumerate proves the optimum (enumeration of the discrete choices, each priced exactly); prob-anneal is "
        "the paper's probabilistic assignment with simulated annealing, the others its baselines"),
    Leg("gap", ("gap/gap4.txt",),
        ("highs", "lns", "tabu", "anneal", "greedy"), 5.0,
        "OR-Library's generalized assignment problem (gap4: five problems, 5 agents x 30 jobs): each job to one "
        "agent within the agents' capacities; profit maximised",
        "highs proves OR-Library's published optima; tabu, anneal and lns are classic heuristics, greedy the "
        "simple one"),
    Leg("offloading", ("offloading/offload-small-1.json", "offloading/offload-medium-1.json"),
        ("offload-oa", "mappo", "ippo", "offload-ls", "greedy-offload", "equal-share", "all-cloud"), 30.0,
        "each user's text-to-video model, configuration and place (own device, the cell's edge, the cloud), then "
        "the radio and GPU shares; utility = quality - weighted delay - weighted energy, maximised",
        "offload-oa proves the optimum (outer approximation of the convex MIQP); mappo and ippo are the learned "
        "policies (the paper's method), the rest heuristics and baselines"),
    Leg("serving", ("serving/serving-small-1.json", "serving/serving-medium-trace.json"),
        ("hindsight", "mappo", "forward-greedy", "mpc", "myopic", "lru-greedy"), 60.0,
        "the offloading cells over a horizon of slots: which models each edge keeps loaded slot after slot and "
        "each arriving request's model, configuration and place, with GPU work that spills into later slots; "
        "requests arrive as in real Azure traces",
        "hindsight is the optimum with every arrival known in advance (the yardstick); the others decide online, "
        "slot by slot, without seeing the future: mappo is the learned policy"),
)


def _available(names: Sequence[str], family: str) -> tuple[list[str], list[str]]:
    """The solvers that can run here, and a sentence for each that cannot (with the extra to install)."""
    ok, missing = [], []
    for name in names:
        error = registry.import_error(registry.solver_class(family, name))
        (ok if error is None else missing).append(name if error is None else f"{name}: {error}")
    return ok, missing


def run_line(row: dict, done: int, total: int) -> str:
    """The line printed when one run finishes (or is found kept from an earlier tour)."""
    gap = row.get("gap_to_reference")
    kind = row.get("reference_kind") or ""
    if row.get("status") in ("error", "time_limit") and not row.get("verified"):
        said = str(row.get("message") or row.get("status"))[:60]
    elif gap is None or (isinstance(gap, float) and math.isnan(gap)):
        said = ""
    else:
        said = f"{100 * gap:.2f}% {'within the bound' if kind == 'bound' else 'below the optimum' if kind == 'opt' else 'to ' + kind}"
        said = said.replace("below the optimum", "from the optimum")
    obj = row.get("objective")
    obj_text = "-" if obj is None or (isinstance(obj, float) and math.isnan(obj)) else f"{obj:.6g}"
    wall = row.get("wall_seconds") or 0.0
    kept = "  (kept from an earlier run)" if row.get("kept") else ""
    width = len(str(total))
    return (f"[{done:>{width}}/{total}] {row['family']:<10} {str(row['instance'])[:20]:<20} {row['solver']:<14} "
            f"{row['status']:<10} {obj_text:>12}  {said:<28} {wall:6.1f} s{kept}")


def family_table(df, leg: Leg) -> tuple[list[str], list[list[str]]]:
    """Rows: the leg's instances; columns: the reference value, then each solver's gap to it and its time."""
    sub = df[df["family"] == leg.family]
    solvers = [s for s in leg.solvers if s in set(sub["solver"])]
    header = ["instance", "reference"] + solvers
    rows = []
    for instance in dict.fromkeys(sub["instance"]):
        runs = sub[sub["instance"] == instance]
        first = runs.iloc[0]
        kind = first["reference_kind"] or "none"
        ref = first["reference"]
        ref_text = "-" if ref is None or (isinstance(ref, float) and math.isnan(ref)) else f"{ref:.6g} ({kind})"
        cells = [str(instance), ref_text]
        for s in solvers:
            r = runs[runs["solver"] == s]
            if r.empty:
                cells.append("")
                continue
            r = r.iloc[0]
            gap = r["gap_to_reference"]
            if not r["verified"]:
                text = str(r["status"])
            elif gap is None or (isinstance(gap, float) and math.isnan(gap)):
                text = "-"
            else:
                text = ("<=" if kind == "bound" else "") + f"{100 * gap:.2f}%"
            cells.append(f"{text} {r['wall_seconds']:.1f}s")
        rows.append(cells)
    return header, rows


_READING = ("Each cell: the run's gap to the reference (the proven optimum 'opt', or '<=' the gap to a proven "
            "bound), positive when worse, then its wall time. Every plan was re-checked by the family's "
            "evaluator; 'error' means it broke a constraint, 'time_limit' that no plan was found in time.")


def terminal_report(df, legs: Sequence[Leg]) -> str:
    out = []
    for leg in legs:
        if not (df["family"] == leg.family).any():
            continue
        header, rows = family_table(df, leg)
        out += [f"{leg.family}: {leg.decides}.", f"  {leg.judged}.", table(header, rows), ""]
    out.append(_READING)
    return "\n".join(out)


def markdown_report(df, legs: Sequence[Leg]) -> str:
    out = ["# The edgeopt tour", "", _READING, ""]
    for leg in legs:
        if not (df["family"] == leg.family).any():
            continue
        header, rows = family_table(df, leg)
        out += [f"## {leg.family}", "", f"Decides {leg.decides}. {leg.judged[0].upper()}{leg.judged[1:]}.", "",
                "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        out += ["| " + " | ".join(cells) + " |" for cells in rows]
        out.append("")
    return "\n".join(out)


def html_preface(df, legs: Sequence[Leg]) -> str:
    out = ["<h2>The tour: every family</h2>", f'<p class="note">{html.escape(_READING)}</p>']
    for leg in legs:
        if not (df["family"] == leg.family).any():
            continue
        header, rows = family_table(df, leg)
        out.append(f"<h3>{html.escape(leg.family)}</h3>")
        out.append(f"<p>Decides {html.escape(leg.decides)}. {html.escape(leg.judged[0].upper() + leg.judged[1:])}.</p>")
        out.append("<table><thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr></thead><tbody>")
        out += ["<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>" for cells in rows]
        out.append("</tbody></table>")
    return "\n".join(out)


def tour(instances: str | os.PathLike = "instances", out: str | os.PathLike = "edgeopt-tour", *,
         workers: int | None = None, families: Sequence[str] | None = None, time_scale: float = 1.0,
         say: Callable[[str], None] = print):
    """Run the tour; returns the DataFrame of every run. ``instances``: the folder of the bundled instances
    (the repository's ``instances/``). ``families``: a subset of the legs. ``time_scale`` multiplies every
    leg's time limit. ``say`` receives each line as it is ready (a run's line as it finishes, then the
    report). A KeyboardInterrupt propagates after the finished runs were written to ``out``."""
    import pandas as pd

    from edgeopt.comparison.html import write_reports
    from edgeopt.comparison.sweep import compare, write_tables

    root = Path(instances)
    legs = [leg for leg in TOUR if families is None or leg.family in families]
    if families is not None:
        unknown = sorted(set(families) - {leg.family for leg in TOUR})
        if unknown:
            raise ValueError(f"no tour leg for {', '.join(unknown)}; the families are "
                             f"{', '.join(leg.family for leg in TOUR)}")
    if not (isinstance(time_scale, (int, float)) and 0 < time_scale <= 100):
        raise ValueError(f"time_scale must be in (0, 100], got {time_scale!r}")
    paths = {leg.family: [root / p for p in leg.instances] for leg in legs}
    missing = [str(p) for leg in legs for p in paths[leg.family] if not p.is_file()]
    if missing:
        raise ValueError(f"{missing[0]}: not found; the tour reads the repository's bundled instances (run it from "
                         f"the clone's top folder, or name the folder: edgeopt tour --instances DIR)")
    plan = []
    for leg in legs:
        ok, unavailable = _available(leg.solvers, leg.family)
        for text in unavailable:
            say(f"{leg.family}: skipping {text}")
        plan.append((leg, ok))
    total = sum(len(ok) * _problems(paths[leg.family]) for leg, ok in plan)
    done = [0]
    frames = []

    def on_row(row: dict) -> None:
        done[0] += 1
        say(run_line(row, done[0], total))

    say(f"edgeopt tour: {total} runs in {len(legs)} families, results in {out}/ (Ctrl-C keeps what finished)")
    for leg, ok in plan:
        if not ok:
            continue
        frames.append(compare([str(p) for p in paths[leg.family]], ok, seeds=[0],
                              time_limit=leg.time_limit * time_scale, workers=workers, out=out, progress=False,
                              report=False, on_row=on_row))
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if df.empty:
        return df
    write_tables(df, out)
    write_reports(df, out, title="edgeopt tour", preface_html=html_preface(df, legs))
    from edgeopt.io import write_atomic

    write_atomic(Path(out) / "tour.md", markdown_report(df, legs))
    say("")
    say(terminal_report(df, legs))
    return df


def _problems(paths: Sequence[Path]) -> int:
    """How many problems the files hold (an OR-Library file holds several)."""
    from edgeopt.io import load

    n = 0
    for p in paths:
        loaded = load(p)
        n += len(loaded) if isinstance(loaded, list) else 1
    return n
