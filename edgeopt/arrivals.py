"""Request arrivals over time: two real traces of generative-model requests, the processes fitted to them, and
seeded samples, for families whose requests arrive slot by slot.

**Traces** (:func:`trace`): per-second request counts of two one-hour samples of production LLM inference in
Azure on 2023-11-16, ``azure-code-2023`` (a code-completion service, 8,819 requests over 3,437 s) and
``azure-conv-2023`` (a conversation service, 19,366 requests over 3,503 s), derived by
instances/derive_arrivals.py from the Azure Public Dataset (CC-BY 4.0; Patel et al., "Splitwise", ISCA
2024); edgeopt/catalog/azure_arrivals_2023.json holds them with the attribution, and its .LICENSE the
licence. Both are bursty: the variance of the per-second counts is 13.8 (code) and 2.5 (conversation) times
their mean, and 88 and 16 times over 10-second windows, where a Poisson process would give 1.

**Processes.** :class:`Poisson` (one rate) and :class:`MMPP`, a Markov-modulated Poisson process in
discrete time: a hidden state follows a Markov chain step by step (``step_seconds`` each) and the step's
count is Poisson with the state's rate. :func:`fit_poisson` is the maximum-likelihood rate;
:func:`fit_mmpp` fits an MMPP of ``states`` states by expectation-maximisation (Baum-Welch with Poisson
emissions; Rabiner, "A tutorial on hidden Markov models", Proc. IEEE 1989), deterministic from the data
(rates started at quantiles of the counts). :func:`diurnal` is a day-shaped rate multiplier,
``1 + amplitude cos(2 pi (hour - peak_hour) / 24)``: the traces last an hour each, so the day's shape is an
assumption (one peak a day), its amplitude and peak are parameters.

**Samples.** ``process.sample(slots, slot_seconds, rng, scale=None)`` draws the counts of ``slots`` slots of
``slot_seconds`` each (a whole number of steps), the rates multiplied by ``scale`` (one factor per slot, e.g.
:func:`diurnal`); the same generator state gives the same counts.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

_FILE = Path(__file__).resolve().parent / "catalog" / "azure_arrivals_2023.json"
TRACES = ("azure-code-2023", "azure-conv-2023")


@cache
def _document() -> dict:
    return json.loads(_FILE.read_text())


def trace(name: str) -> np.ndarray:
    """(seconds,) the trace's requests per second, from the second of its first request (read-only)."""
    traces = _document()["traces"]
    if name not in traces:
        raise ValueError(f"no arrival trace {name!r}; traces: {', '.join(traces)}")
    counts = np.array(traces[name]["counts"], dtype=np.int64)
    counts.setflags(write=False)
    return counts


def per_slot(counts: np.ndarray, slot_seconds: int) -> np.ndarray:
    """Per-second counts summed over slots of ``slot_seconds`` whole seconds (an incomplete last slot is
    dropped)."""
    if isinstance(slot_seconds, bool) or not isinstance(slot_seconds, (int, np.integer)) or slot_seconds < 1:
        raise ValueError(f"slot_seconds must be a whole number of seconds >= 1, got {slot_seconds!r}")
    n = len(counts) // int(slot_seconds)
    return np.asarray(counts[:n * int(slot_seconds)]).reshape(n, int(slot_seconds)).sum(axis=1)


def dispersion(counts: np.ndarray) -> float:
    """Index of dispersion (variance over mean) of counts: 1 for a Poisson process."""
    counts = np.asarray(counts, dtype=float)
    return float(counts.var() / counts.mean()) if counts.mean() > 0 else float("nan")


def diurnal(slots: int, slot_seconds: float, *, amplitude: float = 0.5, peak_hour: float = 20.0,
            start_hour: float = 0.0) -> np.ndarray:
    """(slots,) rate multipliers of a day with one peak: ``1 + amplitude cos(2 pi (hour - peak_hour) / 24)``
    at each slot's middle, the clock starting at ``start_hour``; averages 1 over a whole day."""
    if not 0.0 <= amplitude <= 1.0:
        raise ValueError(f"amplitude must be between 0 and 1 (a rate cannot go negative), got {amplitude!r}")
    hours = start_hour + (np.arange(slots) + 0.5) * slot_seconds / 3600.0
    return 1.0 + amplitude * np.cos(2.0 * math.pi * (hours - peak_hour) / 24.0)


def _steps_per_slot(slot_seconds: float, step_seconds: float) -> int:
    k = slot_seconds / step_seconds
    if not (k >= 1 - 1e-9 and abs(k - round(k)) <= 1e-9):
        raise ValueError(f"a slot of {slot_seconds:g} s is not a whole number of the process's {step_seconds:g}-s "
                         "steps")
    return round(k)


def _scale(scale, slots: int) -> np.ndarray:
    if scale is None:
        return np.ones(slots)
    scale = np.asarray(scale, dtype=float)
    if scale.shape != (slots,) or not np.isfinite(scale).all() or (scale < 0).any():
        raise ValueError(f"scale must be {slots} finite factors >= 0 (one per slot), got shape {scale.shape}")
    return scale


@dataclass(frozen=True)
class Poisson:
    """Requests arriving at ``rate`` per second, independently."""

    rate: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.rate) and self.rate >= 0):
            raise ValueError(f"rate must be finite and >= 0, got {self.rate!r}")

    def sample(self, slots: int, slot_seconds: float, rng: np.random.Generator, scale=None) -> np.ndarray:
        return rng.poisson(self.rate * slot_seconds * _scale(scale, slots))

    def describe(self) -> str:
        return f"Poisson, {self.rate:.4g} requests/s"


@dataclass(frozen=True)
class MMPP:
    """A discrete-time Markov-modulated Poisson process: ``rates`` (K,) requests per second in each state,
    ``transition`` (K, K) the chance of each state after each in one step of ``step_seconds``, ``initial``
    (K,) the first step's state distribution."""

    rates: tuple[float, ...]
    transition: tuple[tuple[float, ...], ...]
    initial: tuple[float, ...]
    step_seconds: float = 1.0

    def __post_init__(self) -> None:
        r, a, p = np.array(self.rates, float), np.array(self.transition, float), np.array(self.initial, float)
        k = r.size
        if k < 1 or a.shape != (k, k) or p.shape != (k,):
            raise ValueError(f"an MMPP needs K rates, a K x K transition matrix and K initial chances, got {k}, "
                             f"{a.shape}, {p.shape}")
        if not (np.isfinite(r).all() and (r >= 0).all()):
            raise ValueError(f"rates must be finite and >= 0, got {self.rates!r}")
        for what, m in (("transition rows", a), ("initial chances", p[None, :])):
            if not (np.isfinite(m).all() and (m >= 0).all() and np.allclose(m.sum(axis=1), 1.0, atol=1e-9)):
                raise ValueError(f"{what} must be chances summing to 1, got {m.tolist()!r}")
        if not self.step_seconds > 0:
            raise ValueError(f"step_seconds must be > 0, got {self.step_seconds!r}")

    @property
    def stationary(self) -> np.ndarray:
        """The chain's stationary distribution (the left eigenvector of eigenvalue 1)."""
        a = np.array(self.transition)
        w, v = np.linalg.eig(a.T)
        pi = np.real(v[:, np.argmin(np.abs(w - 1.0))])
        return pi / pi.sum()

    @property
    def mean_rate(self) -> float:
        return float(self.stationary @ np.array(self.rates))

    def sample(self, slots: int, slot_seconds: float, rng: np.random.Generator, scale=None) -> np.ndarray:
        per = _steps_per_slot(slot_seconds, self.step_seconds)
        factor = np.repeat(_scale(scale, slots), per)
        n = slots * per
        a = np.cumsum(np.array(self.transition), axis=1)
        u = rng.random(n)
        state = np.empty(n, dtype=np.int64)
        s = int(np.searchsorted(np.cumsum(self.initial), u[0] * 1.0, side="right"))
        s = min(s, len(self.rates) - 1)
        state[0] = s
        for i in range(1, n):
            s = min(int(np.searchsorted(a[s], u[i], side="right")), len(self.rates) - 1)
            state[i] = s
        counts = rng.poisson(np.array(self.rates)[state] * self.step_seconds * factor)
        return counts.reshape(slots, per).sum(axis=1)

    def describe(self) -> str:
        dwell = [self.step_seconds / max(1.0 - self.transition[k][k], 1e-12) for k in range(len(self.rates))]
        parts = ", ".join(f"{r:.3g}/s (mean stay {d:.3g} s, {100 * p:.1f}% of the time)"
                          for r, d, p in zip(self.rates, dwell, self.stationary))
        return f"MMPP of {len(self.rates)} states: {parts}"


def fit_poisson(counts: np.ndarray, step_seconds: float = 1.0) -> Poisson:
    """The maximum-likelihood Poisson process of counts per step: the mean count over the step."""
    counts = np.asarray(counts, dtype=float)
    if counts.size == 0:
        raise ValueError("no counts to fit")
    return Poisson(float(counts.mean() / step_seconds))


def _log_emission(counts: np.ndarray, rates: np.ndarray) -> np.ndarray:
    """(T, K) log P(count | state): Poisson log-likelihoods (log Gamma(x + 1) included)."""
    from scipy.special import gammaln

    x = counts[:, None]
    lam = np.maximum(rates[None, :], 1e-300)
    return x * np.log(lam) - lam - gammaln(x + 1.0)


def _forward_backward(log_b: np.ndarray, a: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Scaled forward-backward: (gamma (T, K) state posteriors, xi (K, K) expected transitions, log-likelihood)."""
    T, K = log_b.shape
    shift = log_b.max(axis=1, keepdims=True)
    b = np.exp(log_b - shift)
    alpha = np.empty((T, K))
    c = np.empty(T)
    alpha[0] = p * b[0]
    c[0] = alpha[0].sum()
    alpha[0] /= c[0]
    for t in range(1, T):
        alpha[t] = (alpha[t - 1] @ a) * b[t]
        c[t] = alpha[t].sum()
        alpha[t] /= c[t]
    beta = np.empty((T, K))
    beta[-1] = 1.0
    xi = np.zeros((K, K))
    for t in range(T - 2, -1, -1):
        nb = b[t + 1] * beta[t + 1]
        xi += a * np.outer(alpha[t], nb) / c[t + 1]
        beta[t] = (a @ nb) / c[t + 1]
    gamma = alpha * beta
    gamma /= gamma.sum(axis=1, keepdims=True)
    return gamma, xi, float(np.log(c).sum() + shift.sum())


def fit_mmpp(counts: np.ndarray, states: int = 2, step_seconds: float = 1.0, iterations: int = 500,
             tolerance: float = 1e-9) -> tuple[MMPP, float]:
    """An MMPP of ``states`` states fitted to counts per step by expectation-maximisation, and its
    log-likelihood. Deterministic: the rates start at evenly spaced quantiles of the counts, every state
    stays with chance 0.9; it stops when the log-likelihood gains less than ``tolerance`` (relative) or after
    ``iterations`` rounds. Rates are returned in increasing order."""
    x = np.asarray(counts, dtype=float)
    if x.ndim != 1 or x.size < 2 or not np.isfinite(x).all() or (x < 0).any():
        raise ValueError("counts must be at least two finite counts >= 0")
    if isinstance(states, bool) or not isinstance(states, int) or not 1 <= states <= 8:
        raise ValueError(f"states must be an integer between 1 and 8, got {states!r}")
    K = states
    q = np.quantile(x, (np.arange(K) + 0.5) / K)
    rates = np.maximum(q + 1e-3 * (np.arange(K) + 1) * max(x.mean(), 1e-9), 1e-6)
    a = np.full((K, K), 0.1 / max(K - 1, 1)) if K > 1 else np.ones((1, 1))
    np.fill_diagonal(a, 0.9 if K > 1 else 1.0)
    p = np.full(K, 1.0 / K)
    last = -np.inf
    for _ in range(iterations):
        gamma, xi, ll = _forward_backward(_log_emission(x, rates), a, p)
        weight = gamma.sum(axis=0)
        rates = np.maximum((gamma * x[:, None]).sum(axis=0) / np.maximum(weight, 1e-300), 1e-12)
        a = xi / np.maximum(xi.sum(axis=1, keepdims=True), 1e-300)
        p = gamma[0]
        if np.isfinite(last) and abs(ll - last) <= tolerance * max(1.0, abs(ll)):
            last = ll
            break
        last = ll
    order = np.argsort(rates)
    a = a[np.ix_(order, order)]
    a = a / a.sum(axis=1, keepdims=True)
    p = p[order] / p[order].sum()
    model = MMPP(tuple(float(r) / step_seconds for r in rates[order]), tuple(tuple(map(float, row)) for row in a),
                 tuple(map(float, p)), float(step_seconds))
    return model, float(last)


__all__ = ["MMPP", "TRACES", "Poisson", "dispersion", "diurnal", "fit_mmpp", "fit_poisson", "per_slot", "trace"]
