"""Reports of ``edgeopt compare``: terminal table, per-solver summary, plots and one HTML file.

Every function takes the comparison DataFrame (one row per instance x solver x seed, the columns
of :mod:`edgeopt.compare`) and never drops a row: failed runs are counted and shown, not filtered.
"""
from __future__ import annotations

import base64
import html
import math
from pathlib import Path

import matplotlib

# Reports are written by workers and CI runs with no display; Agg renders to files only.
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from edgeopt.io import write_atomic  # noqa: E402

#: Shift in seconds of the shifted geometric mean of times, as in Mittelmann's benchmarks: it keeps
#: runs of a few milliseconds from dominating the mean.
TIME_SHIFT_SECONDS = 1.0

#: Times below this are raised to it before taking ratios, so a run timed at 0 s does not divide by 0.
MIN_TIME_SECONDS = 1e-6

SOLVED_STATUSES = ("optimal", "feasible")

PLOT_FILES = {
    "profile": "performance_profile.png",
    "scatter": "gap_vs_time.png",
    "per_instance": "gap_per_instance.png",
}

_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "*")


# --------------------------------------------------------------------------- run classification

def _float(value) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return math.nan
    return out


def solved_mask(df: pd.DataFrame) -> pd.Series:
    """Runs that returned a solution the family's evaluator confirmed."""
    return df["status"].isin(SOLVED_STATUSES) & df["verified"].fillna(False).astype(bool)


def failure_reasons(df: pd.DataFrame) -> pd.Series:
    """Why each run counts as a failure, or "" when it does not.

    An error; a time limit reached without any solution; an infeasible or unbounded claim on an
    instance that has a reference value (some solution or proof says otherwise); a solution the
    evaluator did not confirm. An infeasible claim on an instance without reference is not a
    failure: it may be the right answer.
    """
    has_reference = df["reference"].map(_float).map(math.isfinite)
    has_solution = df["objective"].map(_float).map(math.isfinite)
    verified = df["verified"].fillna(False).astype(bool)
    status = df["status"]
    reasons = pd.Series("", index=df.index, dtype=object)
    reasons[status == "error"] = "error"
    reasons[(status == "time_limit") & ~has_solution] = "time limit without a solution"
    wrong_claim = status.isin(("infeasible", "unbounded")) & has_reference
    reasons[wrong_claim] = "claimed " + status[wrong_claim] + " but the instance has a reference value"
    reasons[status.isin(SOLVED_STATUSES) & ~verified] = "solution not confirmed by the evaluator"
    return reasons


def failure_mask(df: pd.DataFrame) -> pd.Series:
    """Runs that count as failures (see :func:`failure_reasons`)."""
    return failure_reasons(df) != ""


def run_seconds(df: pd.DataFrame) -> pd.Series:
    """What each run took: its wall time (build, solve, check); where missing, build plus solve."""
    wall = df["wall_seconds"].map(_float)
    parts = df["build_seconds"].map(_float).fillna(0.0) + df["solve_seconds"].map(_float).fillna(0.0)
    return wall.where(wall.map(math.isfinite), parts).astype(float)


def total_seconds(df: pd.DataFrame) -> pd.Series:
    """Time charged to each run for summaries and profiles.

    :func:`run_seconds`, except that a run that did not solve is charged at least its time limit,
    so a solver that fails fast does not look fast.
    """
    seconds = run_seconds(df)
    limit = df["time_limit"].map(_float)
    unsolved = ~solved_mask(df) & limit.map(math.isfinite)
    seconds = seconds.where(~unsolved, np.maximum(seconds, limit))
    return seconds.astype(float)


def shifted_geometric_mean(values, shift: float = TIME_SHIFT_SECONDS) -> float:
    """exp(mean(log(t + shift))) - shift; NaN for no values."""
    arr = np.asarray(list(values), dtype=float)
    if arr.size == 0:
        return math.nan
    return float(np.exp(np.mean(np.log(arr + shift))) - shift)


# --------------------------------------------------------------------------- tables

def _fmt_number(value) -> str:
    v = _float(value)
    if not math.isfinite(v):
        return "-"
    return f"{v:.8g}"


def _fmt_gap(gap, kind: str) -> str:
    g = _float(gap)
    if not math.isfinite(g):
        return "-"
    text = f"{100.0 * g:.2f}%"
    # Against a bound the true gap to the optimum is at most this much.
    return f"<= {text}" if kind == "bound" else text


def _fmt_reference(value, kind: str) -> str:
    if not math.isfinite(_float(value)):
        return "-"
    return f"{_fmt_number(value)} ({kind})" if kind else _fmt_number(value)


def _ordered(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values(["instance", "solver", "seed"], kind="stable")


def display_frame(df: pd.DataFrame, message_width: int | None = None) -> pd.DataFrame:
    """The rows as formatted strings, one per run, in instance, solver, seed order."""
    rows = []
    times = run_seconds(df)
    reasons = failure_reasons(df)
    for index, row in _ordered(df).iterrows():
        kind = row["reference_kind"] if isinstance(row["reference_kind"], str) else ""
        message = "" if pd.isna(row["message"]) else str(row["message"])
        if reasons[index]:
            message = f"FAILURE ({reasons[index]}): {message}" if message else f"FAILURE ({reasons[index]})"
        if message_width is not None and len(message) > message_width:
            message = message[: message_width - 3] + "..."
        rows.append({
            "instance": str(row["instance"]),
            "solver": str(row["solver"]),
            "seed": str(row["seed"]),
            "status": str(row["status"]),
            "objective": _fmt_number(row["objective"]),
            "reference": _fmt_reference(row["reference"], kind),
            "gap": _fmt_gap(row["gap_to_reference"], kind),
            "time (s)": f"{times[index]:.2f}",
            "verified": "yes" if not pd.isna(row["verified"]) and bool(row["verified"]) else "no",
            "note": message,
        })
    columns = ["instance", "solver", "seed", "status", "objective", "reference", "gap", "time (s)",
               "verified", "note"]
    return pd.DataFrame(rows, columns=columns)


def summary_table(df: pd.DataFrame) -> str:
    """The terminal table: one line per run, failures included, with their message as a note."""
    frame = display_frame(df, message_width=100)
    if not frame["note"].astype(bool).any():
        frame = frame.drop(columns="note")
    if frame.empty:
        return "(no runs)"
    right = {"objective", "gap", "time (s)"}
    widths = {c: max(len(c), *(len(v) for v in frame[c])) for c in frame.columns}

    def line(cells):
        return "  ".join(
            (v.rjust if c in right else v.ljust)(widths[c]) for c, v in zip(frame.columns, cells)
        ).rstrip()

    return "\n".join([line(frame.columns), *(line(cells) for cells in frame.itertuples(index=False))])


def solver_summary(df: pd.DataFrame) -> pd.DataFrame:
    """One row per solver: runs, solved, optimal, failures, mean/max gap, shifted geometric mean time.

    Gaps are averaged over the runs that have one (``gap_to_reference`` not NaN); runs without one
    are the failures and are counted in ``failures``, not hidden in the mean.
    """
    solved = solved_mask(df)
    failed = failure_mask(df)
    seconds = total_seconds(df)
    gaps = df["gap_to_reference"].map(_float)
    out = []
    for solver in sorted(df["solver"].unique()):
        mine = df["solver"] == solver
        solver_gaps = gaps[mine & gaps.map(math.isfinite)]
        out.append({
            "solver": solver,
            "runs": int(mine.sum()),
            "solved": int((mine & solved).sum()),
            "optimal": int((mine & solved & (df["status"] == "optimal")).sum()),
            "failures": int((mine & failed).sum()),
            "mean_gap": float(solver_gaps.mean()) if len(solver_gaps) else math.nan,
            "max_gap": float(solver_gaps.max()) if len(solver_gaps) else math.nan,
            "sgm_seconds": shifted_geometric_mean(seconds[mine]),
        })
    columns = ["solver", "runs", "solved", "optimal", "failures", "mean_gap", "max_gap", "sgm_seconds"]
    return pd.DataFrame(out, columns=columns)


def _summary_strings(df: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    summary = solver_summary(df)
    header = ["solver", "runs", "solved", "optimal", "failures", "mean gap", "max gap",
              f"time sgm (s, shift {TIME_SHIFT_SECONDS:g})"]
    body = []
    for _, row in summary.iterrows():
        body.append([
            str(row["solver"]), str(row["runs"]), str(row["solved"]), str(row["optimal"]),
            str(row["failures"]), _fmt_gap(row["mean_gap"], ""), _fmt_gap(row["max_gap"], ""),
            f"{row['sgm_seconds']:.3f}",
        ])
    return header, body


_SUMMARY_NOTES = (
    "solved: status optimal or feasible and confirmed by the family's evaluator. "
    "failures: errors, time limits without a solution, infeasible or unbounded claims on instances "
    "with a reference value, and unconfirmed solutions. "
    "Gaps are relative to the reference (positive = worse), averaged over runs that have one. "
    f"Time: shifted geometric mean of wall seconds per run, shift {TIME_SHIFT_SECONDS:g} s; "
    "a run that did not solve is charged at least its time limit."
)


def summary_markdown(df: pd.DataFrame) -> str:
    """The per-solver summary as a Markdown document."""
    header, body = _summary_strings(df)

    def line(cells):
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    lines = ["# edgeopt compare: summary per solver", ""]
    lines.append(f"{df['instance'].nunique()} instances, {df['solver'].nunique()} solvers, "
                 f"{len(df)} runs.")
    lines += ["", line(header), "| " + " | ".join(["---"] * len(header)) + " |"]
    lines += [line(cells) for cells in body]
    lines += ["", _SUMMARY_NOTES, ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------- performance profile

def _problem_keys(df: pd.DataFrame) -> list[str]:
    return [c for c in ("instance", "instance_hash", "seed") if c in df.columns]


def performance_profile(df: pd.DataFrame) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Dolan–Moré performance profile over time.

    A problem is one (instance, seed). For each problem, a solver's ratio is its time over the best
    time among the solvers that solved it; unsolved (or missing) runs have ratio inf. Returns, per
    solver, ``(taus, fractions)`` on one grid shared by all solvers: the sorted distinct finite
    ratios, and the fraction of all problems (those no solver solved included) with ratio <= tau.
    """
    keys = _problem_keys(df)
    solvers = sorted(df["solver"].unique())
    frame = df[keys + ["solver"]].copy()
    frame["seconds"] = np.maximum(total_seconds(df), MIN_TIME_SECONDS)
    frame.loc[~solved_mask(df), "seconds"] = math.inf
    # Several rows for the same problem and solver would be a bug upstream; keep the best one.
    times = frame.groupby(keys + ["solver"], dropna=False)["seconds"].min().unstack("solver")
    times = times.reindex(columns=solvers).fillna(math.inf)
    seconds = times.to_numpy(dtype=float)
    best = seconds.min(axis=1, initial=math.inf, keepdims=True)
    with np.errstate(invalid="ignore"):
        # inf / inf for a problem nobody solved: every solver's ratio there is inf, not NaN.
        ratios = np.where(np.isfinite(best), seconds / best, math.inf)
    taus = np.unique(ratios[np.isfinite(ratios)])
    n_problems = len(ratios)
    profile = {}
    for column, solver in enumerate(solvers):
        r = ratios[:, column]
        fractions = np.array([(r <= tau).sum() / n_problems for tau in taus], dtype=float)
        profile[solver] = (taus.copy(), fractions)
    return profile


# --------------------------------------------------------------------------- plots

def solver_styles(solvers) -> dict[str, tuple[str, str]]:
    """(colour, marker) per solver, from the sorted solver names, so every plot agrees."""
    palette = plt.get_cmap("tab10").colors
    return {
        solver: (matplotlib.colors.to_hex(palette[i % len(palette)]), _MARKERS[i % len(_MARKERS)])
        for i, solver in enumerate(sorted(solvers))
    }


def _plain(name) -> str:
    """A name as literal plot text: '$' would start mathtext, a leading '_' hides a legend entry."""
    text = str(name).replace("$", r"\$")
    return " " + text if text.startswith("_") else text


def _legend_outside(ax) -> None:
    # Outside the axes, so the legend never hides a point or a profile step.
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, fontsize="small")


def _save(fig, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # No date in the metadata, so the same DataFrame gives byte-identical PNGs.
    fig.savefig(path, dpi=100, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return path


def plot_performance_profile(df: pd.DataFrame, path) -> Path:
    """Write the Dolan–Moré time profile (log x) as a PNG."""
    profile = performance_profile(df)
    styles = solver_styles(profile)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    all_taus = np.concatenate([t for t, _ in profile.values()]) if profile else np.array([])
    right = float(all_taus.max()) * 1.5 if all_taus.size else 10.0
    right = max(right, 2.0)
    for solver, (taus, fractions) in profile.items():
        colour, _ = styles[solver]
        xs = np.concatenate([[1.0], taus, [right]])
        ys = np.concatenate([[0.0], fractions, [fractions[-1] if fractions.size else 0.0]])
        ax.step(xs, ys, where="post", color=colour, label=_plain(solver), linewidth=2)
    if not all_taus.size:
        ax.text(0.5, 0.5, "no run was solved", transform=ax.transAxes, ha="center")
    ax.set_xscale("log")
    ax.set_xlim(1.0, right)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("time ratio to the fastest solver that solved the problem (log scale)")
    ax.set_ylabel("fraction of problems (instance, seed) solved")
    ax.set_title("Performance profile over time (Dolan–Moré)")
    ax.grid(True, which="both", alpha=0.3)
    if profile:
        _legend_outside(ax)
    return _save(fig, path)


def plot_gap_vs_time(df: pd.DataFrame, path) -> Path:
    """Write a scatter of gap to reference (%) against time per run, one colour per solver."""
    styles = solver_styles(df["solver"].unique())
    seconds = np.maximum(total_seconds(df), MIN_TIME_SECONDS)
    gaps = df["gap_to_reference"].map(_float)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for solver, (colour, marker) in styles.items():
        mine = (df["solver"] == solver) & gaps.map(math.isfinite)
        ax.scatter(seconds[mine], 100.0 * gaps[mine], color=colour, marker=marker, label=_plain(solver),
                   alpha=0.8, edgecolors="black", linewidths=0.4)
    missing = int((~gaps.map(math.isfinite)).sum())
    title = "Gap to reference versus time"
    if missing:
        title += f"\n({missing} of {len(df)} runs have no gap and are not shown; see the table)"
    if missing == len(df):
        # Nothing to draw: a log axis with no positive data cannot be laid out, so say it instead.
        ax.text(0.5, 0.5, "no run has a gap to a reference", transform=ax.transAxes, ha="center")
    else:
        ax.set_xscale("log")
    ax.set_xlabel("time per run (s, log scale)")
    ax.set_ylabel("gap to reference (%)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    _legend_outside(ax)
    return _save(fig, path)


def plot_gap_per_instance(df: pd.DataFrame, path) -> Path:
    """Write the gap per instance: one dot per solver (mean over seeds, bar = min..max).

    An instance where a solver has no gap at all gets an 'x' on the top edge, so failures show.
    """
    styles = solver_styles(df["solver"].unique())
    instances = sorted(df["instance"].astype(str).unique())
    gaps = df.assign(gap_pct=100.0 * df["gap_to_reference"].map(_float), instance=df["instance"].astype(str))
    n = len(styles)
    width = 0.8 / max(n, 1)
    fig, ax = plt.subplots(figsize=(max(7.0, 0.6 * len(instances) * max(n, 1) / 2 + 3), 4.8))
    finite = gaps["gap_pct"][gaps["gap_pct"].map(math.isfinite)]
    top = float(finite.max()) if len(finite) else 1.0
    top = top * 1.15 if top > 0 else 1.0
    for k, (solver, (colour, marker)) in enumerate(styles.items()):
        xs, means, lows, highs, missing = [], [], [], [], []
        for i, instance in enumerate(instances):
            x = i - 0.4 + width * (k + 0.5)
            values = gaps.loc[(gaps["solver"] == solver) & (gaps["instance"] == instance), "gap_pct"]
            values = values[values.map(math.isfinite)]
            if len(values):
                xs.append(x)
                means.append(values.mean())
                lows.append(values.mean() - values.min())
                highs.append(values.max() - values.mean())
            elif ((gaps["solver"] == solver) & (gaps["instance"] == instance)).any():
                missing.append(x)
        if xs:
            ax.errorbar(xs, means, yerr=[lows, highs], fmt=marker, color=colour, label=_plain(solver),
                        capsize=3, markeredgecolor="black", markeredgewidth=0.4)
        if missing:
            ax.scatter(missing, [top] * len(missing), marker="x", color=colour,
                       label=f"{_plain(solver)}: no gap" if not xs else None, clip_on=False)
    ax.set_xticks(range(len(instances)))
    ax.set_xticklabels([_plain(i) for i in instances], rotation=30, ha="right")
    # A little room below 0 so markers at a zero gap are not cut in half by the axis.
    bottom = min(0.0, float(finite.min()) * 1.15 if len(finite) else 0.0) - 0.04 * top
    ax.set_ylim(bottom, top * 1.05)
    ax.set_xlabel("instance")
    ax.set_ylabel("gap to reference (%)")
    ax.set_title("Gap per instance (mean over seeds, bar = min..max; x = no gap)")
    ax.grid(True, axis="y", alpha=0.3)
    _legend_outside(ax)
    return _save(fig, path)


# --------------------------------------------------------------------------- files

_CSS = """
body { font-family: sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.6em; text-align: left; }
th { background: #eee; }
tr.failure td { background: #fde2e2; }
tr.unsolved td { background: #fff4d6; }
img { max-width: 100%; display: block; margin: 1em 0; }
p.note { max-width: 60em; font-size: 0.9em; }
"""


def _html_table(header, rows, row_classes=None) -> str:
    out = ["<table>", "<thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr></thead>",
           "<tbody>"]
    for i, cells in enumerate(rows):
        cls = row_classes[i] if row_classes else ""
        attr = f' class="{cls}"' if cls else ""
        out.append(f"<tr{attr}>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    out += ["</tbody>", "</table>"]
    return "\n".join(out)


def report_html(df: pd.DataFrame, images: dict[str, Path]) -> str:
    """One self-contained HTML page: summary, plots as data URIs, and every run."""
    header, body = _summary_strings(df)
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             "<title>edgeopt compare report</title>", f"<style>{_CSS}</style>", "</head><body>",
             "<h1>edgeopt compare report</h1>",
             f"<p>{df['instance'].nunique()} instances, {df['solver'].nunique()} solvers, {len(df)} runs.</p>",
             "<h2>Summary per solver</h2>", _html_table(header, body),
             f'<p class="note">{html.escape(_SUMMARY_NOTES)}</p>', "<h2>Plots</h2>"]
    titles = {"profile": "Performance profile over time", "scatter": "Gap versus time",
              "per_instance": "Gap per instance"}
    for key, path in images.items():
        data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
        parts.append(f"<h3>{html.escape(titles.get(key, key))}</h3>")
        parts.append(f'<img alt="{html.escape(titles.get(key, key))}" src="data:image/png;base64,{data}">')
    frame = display_frame(df)
    ordered = _ordered(df)
    failed = failure_mask(ordered).to_numpy()
    solved = solved_mask(ordered).to_numpy()
    classes = ["failure" if f else ("" if s else "unsolved") for f, s in zip(failed, solved)]
    parts += ["<h2>All runs</h2>",
              '<p class="note">Red rows are failures; yellow rows returned no confirmed solution without '
              'being a failure (for example infeasible with no reference). A gap written "&lt;= x%" is '
              "measured against a proven bound: the solution is within x% of the optimum.</p>",
              _html_table(list(frame.columns), frame.itertuples(index=False), classes),
              "</body></html>", ""]
    return "\n".join(parts)


def write_reports(df: pd.DataFrame, out_dir) -> list[Path]:
    """Write summary.md, the three PNG plots and report.html into ``out_dir``; return their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = out / "summary.md"
    write_atomic(summary, summary_markdown(df))
    images = {
        "profile": plot_performance_profile(df, out / PLOT_FILES["profile"]),
        "scatter": plot_gap_vs_time(df, out / PLOT_FILES["scatter"]),
        "per_instance": plot_gap_per_instance(df, out / PLOT_FILES["per_instance"]),
    }
    report = out / "report.html"
    write_atomic(report, report_html(df, images))
    return [summary, *images.values(), report]
