"""Reports of edgeopt compare, checked against numbers worked out by hand from a hand-made table."""
from __future__ import annotations

import base64
import math
import re

import numpy as np
import pandas as pd
import pytest

from edgeopt.comparison import html, plots, tables

NAN = math.nan
COLUMNS = ["instance", "family", "sense", "instance_hash", "path", "solver", "seed", "status", "objective",
           "bound", "gap", "reference", "reference_kind", "gap_to_reference", "verified", "message",
           "build_seconds", "solve_seconds", "wall_seconds", "time_limit", "options"]
BOLD = "<b>delta</b>"


def run(instance, sense, solver, seed, status, objective, reference, kind, gap, verified, wall,
        message="", family="deployment"):
    return {
        "instance": instance, "family": family, "sense": sense, "instance_hash": f"hash-{instance}",
        "path": f"instances/{instance}.json", "solver": solver, "seed": seed, "status": status,
        "objective": objective, "bound": NAN, "gap": NAN, "reference": reference, "reference_kind": kind,
        "gap_to_reference": gap, "verified": verified, "message": message,
        "build_seconds": wall / 4, "solve_seconds": wall / 2, "wall_seconds": wall, "time_limit": 10.0,
        "options": "{}",
    }


@pytest.fixture
def runs() -> pd.DataFrame:
    """Four instances: alpha (min, proven optimum 100, two seeds), beta (max family, bound 200 only),
    gamma (no reference at all, every solver says infeasible), and an instance named with markup
    whose reference is the best solution found in the run (50)."""
    rows = [
        run("alpha", "min", "highs", 0, "optimal", 100.0, 100.0, "opt", 0.0, True, 2.0),
        run("alpha", "min", "greedy", 0, "feasible", 110.0, 100.0, "opt", 0.10, True, 0.5),
        run("alpha", "min", "genetic", 0, "error", NAN, 100.0, "opt", NAN, False, 0.1,
            message="objective mismatch: solver 90, evaluator 120"),
        run("alpha", "min", "highs", 1, "optimal", 100.0, 100.0, "opt", 0.0, True, 4.0),
        run("alpha", "min", "greedy", 1, "feasible", 105.0, 100.0, "opt", 0.05, True, 1.0),
        run("beta", "max", "highs", 0, "feasible", 190.0, 200.0, "bound", 0.05, True, 10.0, family="gap"),
        run("beta", "max", "greedy", 0, "feasible", 180.0, 200.0, "bound", 0.10, True, 0.2, family="gap"),
        run("beta", "max", "genetic", 0, "time_limit", NAN, 200.0, "bound", NAN, False, 10.5, family="gap"),
        run("gamma", "min", "highs", 0, "infeasible", NAN, NAN, "", NAN, False, 0.3),
        run("gamma", "min", "greedy", 0, "infeasible", NAN, NAN, "", NAN, False, 0.1),
        run("gamma", "min", "genetic", 0, "infeasible", NAN, NAN, "", NAN, False, 0.2),
        run(BOLD, "min", "highs", 0, "feasible", 50.0, 50.0, "best-in-run", 0.0, True, 1.0),
        run(BOLD, "min", "greedy", 0, "infeasible", NAN, 50.0, "best-in-run", NAN, False, 0.1),
        run(BOLD, "min", "genetic", 0, "feasible", 55.0, 50.0, "best-in-run", 0.10, True, 3.0),
    ]
    return pd.DataFrame(rows, columns=COLUMNS)


def sgm(times):
    return math.exp(sum(math.log(t + 1.0) for t in times) / len(times)) - 1.0


def test_total_seconds_charges_unsolved_runs_their_time_limit(runs):
    seconds = tables.total_seconds(runs)
    # alpha/genetic errored after 0.1 s; gamma/highs proved infeasible in 0.3 s: both charged 10 s.
    assert seconds[2] == 10.0 and seconds[8] == 10.0
    assert seconds[7] == 10.5  # already past the limit: its own time
    assert seconds[0] == 2.0 and seconds[11] == 1.0
    no_wall = runs.assign(wall_seconds=NAN)
    assert tables.total_seconds(no_wall)[0] == pytest.approx(0.5 + 1.0)


def test_solver_summary_matches_hand_computed_values(runs):
    summary = tables.solver_summary(runs).set_index("solver")
    assert list(summary.index) == ["genetic", "greedy", "highs"]
    expected = {
        # runs, solved, optimal, failures, gaps of runs with one, charged seconds
        "highs": (5, 4, 2, 0, [0.0, 0.0, 0.05, 0.0], [2.0, 4.0, 10.0, 10.0, 1.0]),
        "greedy": (5, 3, 0, 1, [0.10, 0.05, 0.10], [0.5, 1.0, 0.2, 10.0, 10.0]),
        "genetic": (4, 1, 0, 2, [0.10], [10.0, 10.5, 10.0, 3.0]),
    }
    for solver, (n, solved, optimal, failures, gaps, times) in expected.items():
        row = summary.loc[solver]
        assert (row["runs"], row["solved"], row["optimal"], row["failures"]) == (n, solved, optimal, failures), solver
        assert row["mean_gap"] == pytest.approx(sum(gaps) / len(gaps))
        assert row["max_gap"] == pytest.approx(max(gaps))
        assert row["sgm_seconds"] == pytest.approx(sgm(times))
    assert summary.loc["highs", "mean_gap"] == pytest.approx(0.0125)
    assert summary.loc["greedy", "mean_gap"] == pytest.approx(0.25 / 3)


def test_failures_follow_the_rules(runs):
    failed = tables.failure_mask(runs)
    assert list(runs.index[failed]) == [2, 7, 12]  # error, time limit without solution, wrong infeasible
    with_incumbent = runs.copy()
    with_incumbent.loc[7, ["objective", "gap_to_reference"]] = [150.0, 0.25]
    assert not tables.failure_mask(with_incumbent)[7]  # a time limit with a solution is not a failure
    unconfirmed = runs.copy()
    unconfirmed.loc[1, "verified"] = False
    assert tables.failure_mask(unconfirmed)[1] and not tables.solved_mask(unconfirmed)[1]


def test_shifted_geometric_mean():
    assert tables.shifted_geometric_mean([0.0, 0.0]) == pytest.approx(0.0)
    assert tables.shifted_geometric_mean([1.0, 7.0]) == pytest.approx(3.0)  # sqrt(2 * 8) - 1
    assert math.isnan(tables.shifted_geometric_mean([]))


def test_performance_profile_matches_hand_computed_ratios(runs):
    profile = plots.performance_profile(runs)
    # Problems (instance, seed): alpha/0, alpha/1, beta/0, gamma/0, delta/0. A run solved a problem when
    # it is verified at the reference value: a feasible answer 5% or 10% above it has not (greedy
    # everywhere, genetic on delta), and beta has only a bound, which no answer reaches.
    # Solved: alpha/0 highs (2 s), alpha/1 highs (4 s), delta highs (1 s): ratio 1 each; the rest inf.
    taus = [1.0]
    expected = {"highs": [3 / 5], "greedy": [0.0], "genetic": [0.0]}
    assert sorted(profile) == sorted(expected)
    for solver, fractions in expected.items():
        got_taus, got_fractions = profile[solver]
        np.testing.assert_allclose(got_taus, taus)
        np.testing.assert_allclose(got_fractions, fractions)


def test_performance_profile_when_nothing_is_solved(runs):
    nothing = runs[runs["instance"] == "gamma"]
    profile = plots.performance_profile(nothing)
    for taus, fractions in profile.values():
        assert taus.size == 0 and fractions.size == 0


def test_summary_table_shows_every_run(runs):
    table = tables.summary_table(runs)
    lines = table.splitlines()
    assert len(lines) == 1 + len(runs)
    rows = [line.split() for line in lines[1:]]
    for _, run_row in runs.iterrows():
        matches = [r for r in rows if r[:4] == [run_row["instance"], run_row["solver"], str(run_row["seed"]),
                                                run_row["status"]]]
        assert len(matches) == 1, (run_row["instance"], run_row["solver"], run_row["seed"])
    beta_highs = next(line for line in lines if line.startswith("beta") and " highs " in line)
    assert "<= 5.00%" in beta_highs and "200 (bound)" in beta_highs
    alpha_greedy = next(line for line in lines if line.startswith("alpha") and " greedy " in line)
    assert "10.00%" in alpha_greedy and "<=" not in alpha_greedy and "100 (opt)" in alpha_greedy
    assert "objective mismatch" in table  # the reason of an error row is shown
    delta_greedy = next(line for line in lines if line.startswith(BOLD) and " greedy " in line)
    assert "FAILURE (claimed infeasible" in delta_greedy
    gamma = [line for line in lines if line.startswith("gamma")]
    assert len(gamma) == 3 and not any("FAILURE" in line for line in gamma)


def test_summary_markdown_states_the_shift(runs):
    text = tables.summary_markdown(runs)
    assert "shift 1 s" in text
    highs = next(line for line in text.splitlines() if line.startswith("| highs "))
    cells = [c.strip() for c in highs.strip("|").split("|")]
    assert cells[:5] == ["highs", "5", "4", "2", "0"]
    assert cells[5:7] == ["1.25%", "5.00%"]
    assert float(cells[7]) == pytest.approx(sgm([2.0, 4.0, 10.0, 10.0, 1.0]), abs=1e-3)


def test_write_reports_writes_a_self_contained_html(runs, tmp_path):
    paths = html.write_reports(runs, tmp_path / "out")
    names = sorted(p.name for p in paths)
    assert names == sorted(["summary.md", "report.html", *plots.PLOT_FILES.values()])
    for p in paths:
        assert p.is_file() and p.stat().st_size > 0
        if p.suffix == ".png":
            assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 3
    assert all(base64.b64decode(data)[:4] == b"\x89PNG" for data in images)
    assert not re.search(r'(src|href)="(?!data:)', page)  # nothing fetched from elsewhere
    assert BOLD not in page and "&lt;b&gt;delta&lt;/b&gt;" in page
    runs_table = page.split("<h2>All runs</h2>")[1]
    body_rows = re.findall(r"<tr(?: class=\"(\w+)\")?><td>", runs_table)
    assert len(body_rows) == len(runs)
    assert body_rows.count("failure") == 3


def test_html_escapes_solver_names_and_messages(runs, tmp_path):
    hostile = runs.copy()
    hostile.loc[2, "message"] = "<script>alert(1)</script>"
    page = html.report_html(hostile, {})
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_plots_are_deterministic(runs, tmp_path):
    first = html.write_reports(runs, tmp_path / "a")
    second = html.write_reports(runs, tmp_path / "b")
    for a, b in zip(first, second):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_solver_colours_do_not_depend_on_row_order(runs):
    assert plots.solver_styles(["highs", "greedy"]) == plots.solver_styles(["greedy", "highs"])
    shuffled = runs.sample(frac=1.0, random_state=0)
    assert tables.summary_table(shuffled) == tables.summary_table(runs)


def test_plots_take_names_literally_and_survive_all_failures(runs, tmp_path):
    odd = runs.replace({"instance": {"alpha": "cost $5 and $x^"}, "solver": {"greedy": "_greedy"}})
    assert len(html.write_reports(odd, tmp_path / "odd")) == 5
    only_failures = runs.loc[[2, 7, 12]]
    paths = html.write_reports(only_failures, tmp_path / "failures")
    page = paths[-1].read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == 3
    summary = tables.solver_summary(only_failures).set_index("solver")
    assert summary["solved"].sum() == 0 and summary["failures"].sum() == 3
    assert summary["mean_gap"].isna().all()


def test_identical_profiles_stay_distinguishable(monkeypatch, tmp_path):
    """Issue 20, item 5: two solvers with the same results drew the same solid steps in
    performance_profile.png, the later hiding the earlier. Now each has its own line style and marker."""
    rows = [run(name, "min", solver, 0, "optimal", 100.0, 100.0, "opt", 0.0, True, wall)
            for name, wall in (("alpha", 1.0), ("beta", 2.0)) for solver in ("highs", "cpsat")]
    drawn = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: drawn.append(fig) or path)
    plots.plot_performance_profile(pd.DataFrame(rows, columns=COLUMNS), tmp_path / "profile.png")
    lines = {line.get_label(): line for line in drawn[0].axes[0].get_lines()}
    assert set(lines) == {"highs", "cpsat"}
    highs, cpsat = lines["highs"], lines["cpsat"]
    assert list(highs.get_xdata()) == list(cpsat.get_xdata()) and list(highs.get_ydata()) == list(cpsat.get_ydata())
    assert highs.get_linestyle() != cpsat.get_linestyle() and highs.get_marker() != cpsat.get_marker()
    assert all(line.get_marker() not in ("None", "", None) and line.get_alpha() < 1 for line in lines.values())
    legend = drawn[0].axes[0].get_legend()
    assert legend is not None and {t.get_text() for t in legend.get_texts()} == {"highs", "cpsat"}
