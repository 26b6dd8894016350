"""The report files of ``edgeopt compare``: summary.md, the plots, and one self-contained report.html."""
from __future__ import annotations

import base64
import html
from pathlib import Path

import pandas as pd

from edgeopt.comparison.plots import PLOT_FILES, plot_gap_per_instance, plot_gap_vs_time, plot_performance_profile
from edgeopt.comparison.tables import (SUMMARY_NOTES, display_frame, failure_mask, in_order, summary_markdown,
                                       summary_strings)
from edgeopt.io import write_atomic


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


def report_html(df: pd.DataFrame, images: dict[str, Path], title: str = "edgeopt compare report",
                preface_html: str = "") -> str:
    """One self-contained HTML page: ``preface_html`` (already escaped; the tour's per-family tables), the
    summary, the plots as data URIs, and every run."""
    header, body = summary_strings(df)
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>{html.escape(title)}</title>", f"<style>{_CSS}</style>", "</head><body>",
             f"<h1>{html.escape(title)}</h1>",
             f"<p>{df['instance'].nunique()} instances, {df['solver'].nunique()} solvers, {len(df)} runs.</p>",
             preface_html, "<h2>Summary per solver</h2>", _html_table(header, body),
             f'<p class="note">{html.escape(SUMMARY_NOTES)}</p>', "<h2>Plots</h2>"]
    titles = {"profile": "Performance profile over time", "scatter": "Gap versus time",
              "per_instance": "Gap per instance"}
    for key, path in images.items():
        data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
        parts.append(f"<h3>{html.escape(titles.get(key, key))}</h3>")
        parts.append(f'<img alt="{html.escape(titles.get(key, key))}" src="data:image/png;base64,{data}">')
    frame = display_frame(df)
    rows = in_order(df)
    failed = failure_mask(rows).to_numpy()
    # A verified solution counts whatever the status: a time limit with a checked incumbent is an answer.
    answered = rows["verified"].fillna(False).astype(bool).to_numpy()
    classes = ["failure" if f else ("" if a else "unsolved") for f, a in zip(failed, answered)]
    parts += ["<h2>All runs</h2>",
              '<p class="note">Red rows are failures; yellow rows ended without a verified solution and are not '
              "failures (an infeasible answer where no reference exists, an instance no listed solver solves). "
              'A gap written "&lt;= x%" is measured against a proven bound: the solution is within x% of the '
              "optimum.</p>",
              _html_table(list(frame.columns), frame.itertuples(index=False), classes),
              "</body></html>", ""]
    return "\n".join(parts)


def write_reports(df: pd.DataFrame, out_dir, title: str = "edgeopt compare report",
                  preface_html: str = "") -> list[Path]:
    """Write summary.md, the three PNG plots and report.html (``title``, ``preface_html`` first) into
    ``out_dir``; return their paths."""
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
    write_atomic(report, report_html(df, images, title, preface_html))
    return [summary, *images.values(), report]
