"""Request arrivals (edgeopt.arrivals): the bundled Azure traces, the Poisson and MMPP fits against known
generating processes, seeded samples, the diurnal profile, bad arguments."""
from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import ROOT

from edgeopt import arrivals as A


def test_the_bundled_traces_hold_the_datasets_request_counts():
    """The dataset's README gives 8,819 (code) and 19,366 (conversation) requests; the file carries the
    attribution and the licence name, and the licence text lies beside it."""
    assert int(A.trace("azure-code-2023").sum()) == 8819
    assert int(A.trace("azure-conv-2023").sum()) == 19366
    doc = json.loads((ROOT / "edgeopt" / "catalog" / "azure_arrivals_2023.json").read_text())
    assert doc["licence"] == "CC-BY-4.0" and "Splitwise" in doc["about"] and "Patel" in doc["about"]
    assert "Attribution 4.0 International" in (ROOT / "edgeopt" / "catalog" / "azure_arrivals_2023.LICENSE").read_text()
    for name in A.TRACES:
        t = A.trace(name)
        assert t[0] > 0 and t[-1] > 0 and not t.flags.writeable
    with pytest.raises(ValueError, match="no arrival trace 'x'; traces: azure-code-2023, azure-conv-2023"):
        A.trace("x")


def test_the_traces_are_burstier_than_poisson():
    for name in A.TRACES:
        assert A.dispersion(A.per_slot(A.trace(name), 10)) > 3.0


def test_per_slot_sums_whole_slots():
    assert A.per_slot(np.arange(10), 3).tolist() == [3, 12, 21]
    with pytest.raises(ValueError, match="whole number of seconds"):
        A.per_slot(np.arange(10), 0)


def test_the_poisson_fit_is_the_mean_rate():
    counts = np.array([0, 3, 1, 4, 2])
    assert A.fit_poisson(counts).rate == pytest.approx(2.0)
    assert A.fit_poisson(counts, step_seconds=2.0).rate == pytest.approx(1.0)
    s = A.Poisson(3.0).sample(20_000, 1.0, np.random.default_rng(0))
    assert s.mean() == pytest.approx(3.0, rel=0.03) and A.dispersion(s) == pytest.approx(1.0, abs=0.05)


def test_em_recovers_a_known_mmpp():
    """Oracle: the process that generated the counts."""
    truth = A.MMPP(rates=(1.0, 12.0), transition=((0.97, 0.03), (0.08, 0.92)), initial=(0.5, 0.5))
    counts = truth.sample(40_000, 1.0, np.random.default_rng(3))
    fit, ll = A.fit_mmpp(counts, states=2)
    assert fit.rates == pytest.approx(truth.rates, rel=0.05)
    assert np.array(fit.transition) == pytest.approx(np.array(truth.transition), abs=0.01)
    assert fit.mean_rate == pytest.approx(truth.mean_rate, rel=0.03)
    # EM's likelihood is at least the generating process's (up to its tolerance)
    _, _, ll_truth = A._forward_backward(A._log_emission(counts.astype(float), np.array(truth.rates)),
                                         np.array(truth.transition), np.array(truth.initial))
    assert ll >= ll_truth - 1e-6 * abs(ll_truth)


def test_a_fitted_mmpp_reproduces_the_traces_burstiness():
    counts = A.trace("azure-code-2023")
    fit, _ = A.fit_mmpp(counts, states=3)
    sample = fit.sample(20_000, 1.0, np.random.default_rng(0))
    assert sample.mean() == pytest.approx(counts.mean(), rel=0.1)
    assert A.dispersion(A.per_slot(sample, 10)) > 0.5 * A.dispersion(A.per_slot(counts, 10))
    assert A.dispersion(A.per_slot(sample, 10)) > 10 * A.dispersion(A.per_slot(A.Poisson(counts.mean()).sample(
        20_000, 1.0, np.random.default_rng(0)), 10))


def test_samples_are_seeded_scaled_and_summed_per_slot():
    m = A.MMPP(rates=(0.5, 5.0), transition=((0.9, 0.1), (0.2, 0.8)), initial=(1.0, 0.0))
    a = m.sample(50, 10.0, np.random.default_rng(7))
    assert np.array_equal(a, m.sample(50, 10.0, np.random.default_rng(7)))
    assert not np.array_equal(a, m.sample(50, 10.0, np.random.default_rng(8)))
    assert (m.sample(50, 10.0, np.random.default_rng(7), scale=np.zeros(50)) == 0).all()
    big = m.sample(2000, 10.0, np.random.default_rng(1), scale=np.full(2000, 2.0)).mean()
    assert big == pytest.approx(2.0 * 10.0 * m.mean_rate, rel=0.05)
    with pytest.raises(ValueError, match="not a whole number of the process's 1-s steps"):
        m.sample(5, 2.5, np.random.default_rng(0))
    with pytest.raises(ValueError, match="scale must be 5 finite factors >= 0"):
        m.sample(5, 1.0, np.random.default_rng(0), scale=[1, 1, -1, 1, 1])


def test_the_diurnal_profile_averages_one_over_a_day_and_peaks_where_asked():
    day = A.diurnal(24 * 60, 60.0, amplitude=0.6, peak_hour=20.0)
    assert day.mean() == pytest.approx(1.0, abs=1e-9)
    assert np.argmax(day) // 60 in (19, 20) and day.min() == pytest.approx(0.4, abs=1e-3)
    with pytest.raises(ValueError, match="amplitude must be between 0 and 1"):
        A.diurnal(10, 60.0, amplitude=1.5)


@pytest.mark.parametrize("kwargs,message", [
    ({"rates": (1.0, 2.0), "transition": ((1.0, 0.0),), "initial": (1.0, 0.0)}, "K x K transition"),
    ({"rates": (-1.0,), "transition": ((1.0,),), "initial": (1.0,)}, "rates must be finite and >= 0"),
    ({"rates": (1.0, 2.0), "transition": ((0.5, 0.6), (0.5, 0.5)), "initial": (1.0, 0.0)}, "transition rows"),
])
def test_bad_processes_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        A.MMPP(**kwargs)
    with pytest.raises(ValueError, match="states must be an integer between 1 and 8"):
        A.fit_mmpp(np.ones(10), states=0)
