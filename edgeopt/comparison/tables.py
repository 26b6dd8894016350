"""The tables of ``edgeopt compare``: which runs solved or failed, the terminal table, the per-solver summary.

Every function takes the comparison DataFrame (one row per instance x solver x seed, the columns of
:mod:`edgeopt.comparison.sweep`) and never drops a row: failed runs are counted and shown, not filtered.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from edgeopt.text import table

#: Shift in seconds of the shifted geometric mean of times, as in Mittelmann's benchmarks: it keeps
#: runs of a few milliseconds from dominating the mean.
TIME_SHIFT_SECONDS = 1.0

#: Times below this are raised to it before taking ratios, so a run timed at 0 s does not divide by 0.
MIN_TIME_SECONDS = 1e-6

SOLVED_STATUSES = ("optimal", "feasible")


# --------------------------------------------------------------------------- run classification

def as_float(value) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return math.nan
    return out


def proven_infeasible_mask(df: pd.DataFrame) -> pd.Series:
    """Runs that answered "infeasible" on an instance the reference proves infeasible (``=inf=``): right."""
    kind = df["reference_kind"] if "reference_kind" in df else pd.Series("", index=df.index)
    return (df["status"] == "infeasible") & (kind == "inf")


def solved_mask(df: pd.DataFrame) -> pd.Series:
    """Runs that returned a solution the family's evaluator confirmed, or the right "infeasible"."""
    return (df["status"].isin(SOLVED_STATUSES) & df["verified"].fillna(False).astype(bool)) | proven_infeasible_mask(df)


def failure_reasons(df: pd.DataFrame) -> pd.Series:
    """Why each run counts as a failure, or "" when it does not.

    An error; a time limit reached without any solution; an infeasible or unbounded claim on an
    instance that has a reference value (some solution or proof says otherwise); a solution the
    evaluator did not confirm; a confirmed solution on an instance the reference proves infeasible. An
    infeasible claim on an instance without reference is not a failure: it may be the right answer (and
    with an ``=inf=`` reference it is, and counts as solved).
    """
    has_reference = df["reference"].map(as_float).map(math.isfinite)
    has_solution = df["objective"].map(as_float).map(math.isfinite)
    verified = df["verified"].fillna(False).astype(bool)
    status = df["status"]
    reasons = pd.Series("", index=df.index, dtype=object)
    reasons[status == "error"] = "error"
    reasons[(status == "time_limit") & ~has_solution] = "time limit without a solution"
    wrong_claim = status.isin(("infeasible", "unbounded")) & has_reference
    reasons[wrong_claim] = "claimed " + status[wrong_claim] + " but the instance has a reference value"
    reasons[status.isin(SOLVED_STATUSES) & ~verified] = "solution not confirmed by the evaluator"
    kind = df["reference_kind"] if "reference_kind" in df else pd.Series("", index=df.index)
    contradicts = status.isin(SOLVED_STATUSES) & verified & (kind == "inf")
    reasons[contradicts] = "a confirmed solution on an instance the reference says is infeasible (=inf=)"
    return reasons


#: In the time profile a run counts as solved when it is verified and within this relative gap of the
#: reference (the precision the references are written to); with no reference, when it proved optimality.
PROFILE_GAP = 1e-6


def profile_solved_mask(df: pd.DataFrame) -> pd.Series:
    """Runs that solved the problem for the time profile: a verified answer at the reference value, not
    merely a feasible one (a run 6% above the optimum has not solved it, however fast)."""
    gap = df["gap_to_reference"].map(as_float)
    at_reference = gap.map(math.isfinite) & (gap <= PROFILE_GAP)
    no_reference = ~df["reference"].map(as_float).map(math.isfinite)
    return (solved_mask(df) & (at_reference | (no_reference & (df["status"] == "optimal")))) | proven_infeasible_mask(df)


def failure_mask(df: pd.DataFrame) -> pd.Series:
    """Runs that count as failures (see :func:`failure_reasons`)."""
    return failure_reasons(df) != ""


def run_seconds(df: pd.DataFrame) -> pd.Series:
    """What each run took: its wall time (build, solve, check); where missing, build plus solve."""
    wall = df["wall_seconds"].map(as_float)
    parts = df["build_seconds"].map(as_float).fillna(0.0) + df["solve_seconds"].map(as_float).fillna(0.0)
    return wall.where(wall.map(math.isfinite), parts).astype(float)


def total_seconds(df: pd.DataFrame) -> pd.Series:
    """Time charged to each run for summaries and profiles.

    :func:`run_seconds`, except that a run that did not solve is charged at least its time limit,
    so a solver that fails fast does not look fast.
    """
    seconds = run_seconds(df)
    limit = df["time_limit"].map(as_float)
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
    v = as_float(value)
    if not math.isfinite(v):
        return "-"
    return f"{v:.8g}"


def _fmt_gap(gap, kind: str) -> str:
    g = as_float(gap)
    if not math.isfinite(g):
        return "-"
    text = f"{100.0 * g:.2f}%"
    # Against a bound the true gap to the optimum is at most this much.
    return f"<= {text}" if kind == "bound" else text


def _fmt_reference(value, kind: str) -> str:
    if kind == "inf":
        return "infeasible"
    if not math.isfinite(as_float(value)):
        return "-"
    return f"{_fmt_number(value)} ({kind})" if kind else _fmt_number(value)


def in_order(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values(["instance", "solver", "seed"], kind="stable")


def display_frame(df: pd.DataFrame, message_width: int | None = None) -> pd.DataFrame:
    """The rows as formatted strings, one per run, in instance, solver, seed order."""
    rows = []
    times = run_seconds(df)
    reasons = failure_reasons(df)
    for index, row in in_order(df).iterrows():
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
    align = "".join("r" if c in right else "l" for c in frame.columns)
    return table(list(frame.columns), list(frame.itertuples(index=False)), align, rule=False)


def solver_summary(df: pd.DataFrame) -> pd.DataFrame:
    """One row per solver: runs, solved, optimal, failures, mean/max gap, shifted geometric mean time.

    Gaps are averaged over the runs that have one (``gap_to_reference`` not NaN); runs without one
    are the failures and are counted in ``failures``, not hidden in the mean.
    """
    solved = solved_mask(df)
    failed = failure_mask(df)
    seconds = total_seconds(df)
    gaps = df["gap_to_reference"].map(as_float)
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


def summary_strings(df: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
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


SUMMARY_NOTES = (
    "solved: status optimal or feasible and confirmed by the family's evaluator. "
    "failures: errors, time limits without a solution, infeasible or unbounded claims on instances "
    "with a reference value, and unconfirmed solutions. "
    "Gaps are relative to the reference (positive = worse), averaged over runs that have one. "
    f"Time: shifted geometric mean of wall seconds per run, shift {TIME_SHIFT_SECONDS:g} s; "
    "a run that did not solve is charged at least its time limit."
)


def summary_markdown(df: pd.DataFrame) -> str:
    """The per-solver summary as a Markdown document."""
    header, body = summary_strings(df)

    def line(cells):
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    lines = ["# edgeopt compare: summary per solver", ""]
    lines.append(f"{df['instance'].nunique()} instances, {df['solver'].nunique()} solvers, "
                 f"{len(df)} runs.")
    lines += ["", line(header), "| " + " | ".join(["---"] * len(header)) + " |"]
    lines += [line(cells) for cells in body]
    lines += ["", SUMMARY_NOTES, ""]
    return "\n".join(lines)
