"""The plots of ``edgeopt compare``: performance profile, gap against time, gap per instance (PNG).

Figures are made with matplotlib's object interface (``Figure``), never through pyplot, so writing a
report changes no global state: the caller's matplotlib backend stays what it was.
"""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from edgeopt.comparison.tables import MIN_TIME_SECONDS, as_float, profile_solved_mask, total_seconds

PLOT_FILES = {
    "profile": "performance_profile.png",
    "scatter": "gap_vs_time.png",
    "per_instance": "gap_per_instance.png",
}

_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "*")
#: Line styles of the performance profile's curves, in turn: two solvers with the same results draw the same
#: steps, and the solid line, the dashes drawn over it and their different markers keep both in sight.
_LINESTYLES = ("-", "--", ":", "-.")


# --------------------------------------------------------------------------- performance profile

def _problem_keys(df: pd.DataFrame) -> list[str]:
    return [c for c in ("instance", "instance_hash", "seed") if c in df.columns]


def performance_profile(df: pd.DataFrame) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Dolan–Moré performance profile over time.

    A problem is one (instance, seed). A run solved it when it returned a verified answer at the reference
    value (:func:`~edgeopt.comparison.tables.profile_solved_mask`). For each problem, a solver's ratio is its
    time over the best time among the solvers that solved it; unsolved (or missing) runs have ratio inf. Returns, per
    solver, ``(taus, fractions)`` on one grid shared by all solvers: the sorted distinct finite
    ratios, and the fraction of all problems (those no solver solved included) with ratio <= tau.
    """
    keys = _problem_keys(df)
    solvers = sorted(df["solver"].unique())
    frame = df[keys + ["solver"]].copy()
    frame["seconds"] = np.maximum(total_seconds(df), MIN_TIME_SECONDS)
    frame.loc[~profile_solved_mask(df), "seconds"] = math.inf
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
    palette = matplotlib.colormaps["tab10"].colors
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
    return path


def plot_performance_profile(df: pd.DataFrame, path) -> Path:
    """Write the Dolan–Moré time profile (log x) as a PNG."""
    profile = performance_profile(df)
    styles = solver_styles(profile)
    fig = Figure(figsize=(7, 4.5))
    ax = fig.subplots()
    all_taus = np.concatenate([t for t, _ in profile.values()]) if profile else np.array([])
    right = float(all_taus.max()) * 1.5 if all_taus.size else 10.0
    right = max(right, 2.0)
    for k, (solver, (taus, fractions)) in enumerate(profile.items()):
        colour, marker = styles[solver]
        xs = np.concatenate([[1.0], taus, [right]])
        ys = np.concatenate([[0.0], fractions, [fractions[-1] if fractions.size else 0.0]])
        # Each curve its own line style, marker (at the steps) and, later ones drawn thinner and smaller over
        # the earlier, slightly transparent: identical curves stay distinguishable.
        ax.step(xs, ys, where="post", color=colour, label=_plain(solver), alpha=0.8,
                linestyle=_LINESTYLES[k % len(_LINESTYLES)], linewidth=max(1.0, 2.5 - 0.5 * (k % 4)),
                marker=marker, markersize=max(4.0, 8.0 - 1.5 * (k % 4)), markevery=slice(1, 1 + len(taus)),
                markeredgecolor="black", markeredgewidth=0.4)
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
    gaps = df["gap_to_reference"].map(as_float)
    fig = Figure(figsize=(7, 4.5))
    ax = fig.subplots()
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
    gaps = df.assign(gap_pct=100.0 * df["gap_to_reference"].map(as_float), instance=df["instance"].astype(str))
    n = len(styles)
    width = 0.8 / max(n, 1)
    fig = Figure(figsize=(max(7.0, 0.6 * len(instances) * max(n, 1) / 2 + 3), 4.8))
    ax = fig.subplots()
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
