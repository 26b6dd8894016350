"""Split a budget among consumers to minimise sum_i a_i / f_i: square-root rule, CVXPY (Clarabel) or SLSQP.

The problem (docs/allocation.md has the derivation)::

    minimise    sum_i a_i / f_i
    subject to  sum_i f_i <= budget,   lower_i <= f_i <= upper_i,

with weights a_i >= 0 (for example work in GPU-seconds at full compute) and shares f_i (for example
fractions of a GPU). A consumer with a_i = 0 needs nothing: its term is 0 whatever it gets, so it gets its
lower bound and the rest of the budget goes to the others. Every consumer with a_i > 0 gets f_i > 0.

Three interchangeable methods, chosen by ``allocate(..., method=...)``:

- ``"closed"``: the square-root rule f_i = sqrt(a_i) / lambda, water-filled against the bounds. The
  multiplier is found exactly (up to floating-point rounding) by sorting the points where consumers
  reach a bound; no iteration, no tolerance. O(n log n).
- ``"cvxpy"``: the same problem stated in CVXPY and solved by Clarabel (interior point, ~1e-8 accuracy
  by default; Clarabel settings such as ``tol_gap_rel`` pass through as options).
- ``"slsqp"``: scipy's SLSQP with the analytic gradient. Dense quasi-Newton: fine up to a few hundred
  consumers, minutes at a thousand.

The numerical methods' answers are clipped to the bounds and, when their shares sum to more than the
budget in floating point (Clarabel at its default tolerances overspent by up to 1.4e-8 relative), moved
toward the lower bounds until the sum is at most the budget; the objective is that of the shares returned.

Bad input raises ``ValueError`` naming the consumer and the values; a numerical method that does not
reach an optimum raises ``SolverFailed`` with the solver's own status.
"""
from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass

import numpy as np

METHODS = ("closed", "cvxpy", "slsqp")


class SolverFailed(RuntimeError):
    """A numerical method (CVXPY/Clarabel or SLSQP) stopped without an optimal allocation."""


@dataclass(frozen=True, eq=False)
class Allocation:
    """An optimal split of the budget.

    ``shares[i]`` is consumer i's share f_i, in the budget's unit. ``objective`` is sum_i a_i / f_i over
    the consumers with a_i > 0 (the others contribute 0). ``price`` is the budget's shadow price: one
    more unit of budget lowers the optimal objective by about ``price`` (0 when the upper bounds leave
    budget unused; None when the method gives no multiplier). ``status`` is the method's own word
    ("optimal" for the closed form, CVXPY's status, SLSQP's message); ``iterations`` is the solver's
    iteration count (None for the closed form, which does not iterate).
    """

    shares: np.ndarray
    objective: float
    method: str
    price: float | None
    status: str
    iterations: int | None

    @property
    def used(self) -> float:
        """Budget actually handed out: equal to the budget unless every demanding consumer is at its upper bound."""
        return float(self.shares.sum())


@dataclass(frozen=True)
class _Problem:
    """Validated input, with the consumers that matter (a_i > 0) picked out."""

    a: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    budget: float
    active: np.ndarray          # boolean mask: a_i > 0
    spare: float                # budget left for the active consumers once the idle ones hold their lower bounds
    active_a: np.ndarray        # a, lower and upper of the active consumers (the arrays themselves when all are)
    active_lower: np.ndarray
    active_upper: np.ndarray


def allocate(a, budget, *, lower=None, upper=None, method: str = "closed", **options) -> Allocation:
    """Minimise sum_i a_i / f_i subject to sum_i f_i <= budget and lower_i <= f_i <= upper_i.

    ``a`` is a one-dimensional array of weights >= 0; ``lower`` and ``upper`` are scalars or arrays of the
    same length (default 0 and +inf). ``method`` is "closed", "cvxpy" or "slsqp"; ``options`` go to the
    method: Clarabel settings for "cvxpy" (``tol_gap_abs``, ``tol_gap_rel``, ``tol_feas``, ``max_iter``,
    ``time_limit``, ...); ``ftol``, ``maxiter`` and ``time_limit`` (seconds) for "slsqp". The closed
    form takes none.

    A consumer with a_i = 0 gets its lower bound (its term is 0 whatever it gets). If the upper bounds of
    the consumers with a_i > 0 sum to less than what the budget leaves them, each of those consumers gets
    its upper bound and the rest of the budget stays unused.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    problem = _validate(a, budget, lower, upper)
    if method == "closed" and options:
        raise ValueError(f"the closed form takes no options; got {', '.join(sorted(options))}")
    if not problem.active.any():
        return _finish(problem, problem.active_lower, method, price=0.0, status="optimal", iterations=0)
    if method == "closed":
        return _closed(problem)
    if method == "cvxpy":
        return _cvxpy(problem, **options)
    return _slsqp(problem, **options)


def objective_of(a, shares) -> float:
    """sum_i a_i / f_i over the consumers with a_i > 0, the objective every method is judged by."""
    a = np.asarray(a, dtype=float)
    shares = np.asarray(shares, dtype=float)
    active = a > 0
    return float(np.sum(a[active] / shares[active]))


# ---------------------------------------------------------------------------------------------------
# input


def _listing(indices: np.ndarray, values: dict[str, np.ndarray]) -> str:
    """'consumer 3 (a=-1.0), consumer 7 (a=-2.0) and 4 more': the first offenders, with their values."""
    shown = []
    for i in indices[:3].tolist():
        detail = ", ".join(f"{name}={float(arr[i])!r}" for name, arr in values.items())
        shown.append(f"consumer {i} ({detail})")
    text = ", ".join(shown)
    if len(indices) > 3:
        text += f" and {len(indices) - 3} more"
    return text


def _as_bound(value, name: str, n: int, default: float) -> np.ndarray:
    if value is None:
        return np.full(n, default)
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a number or an array of {n} numbers; got {value!r}") from exc
    if arr.ndim == 0:
        return np.full(n, float(arr))
    if arr.shape != (n,):
        raise ValueError(f"{name} must be a scalar or an array of shape ({n},) like a; got shape {arr.shape}")
    return arr.copy()


def _validate(a, budget, lower, upper) -> _Problem:
    try:
        a = np.array(a, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"a must be an array of numbers; got {a!r}") from exc
    if a.ndim != 1:
        raise ValueError(f"a must be a one-dimensional array of consumer weights; got shape {a.shape}")
    n = a.size
    if n == 0:
        raise ValueError("a is empty: an allocation needs at least one consumer")
    bad = np.flatnonzero(~np.isfinite(a) | (a < 0))
    if bad.size:
        raise ValueError(f"weights a must be finite and >= 0: {_listing(bad, {'a': a})}")
    try:
        budget = float(budget)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"budget must be a number; got {budget!r}") from exc
    if not (np.isfinite(budget) and budget > 0):
        raise ValueError(f"budget must be finite and > 0; got {budget!r}")

    lower = _as_bound(lower, "lower", n, 0.0)
    upper = _as_bound(upper, "upper", n, np.inf)
    bad = np.flatnonzero(~np.isfinite(lower) | (lower < 0))
    if bad.size:
        raise ValueError(f"lower bounds must be finite and >= 0: {_listing(bad, {'lower': lower})}")
    bad = np.flatnonzero(np.isnan(upper) | (upper < 0))
    if bad.size:
        raise ValueError(f"upper bounds must be >= 0 (inf allowed): {_listing(bad, {'upper': upper})}")
    bad = np.flatnonzero(lower > upper)
    if bad.size:
        raise ValueError(f"lower bound exceeds upper bound: {_listing(bad, {'lower': lower, 'upper': upper})}")

    active = a > 0
    bad = np.flatnonzero(active & (upper == 0))
    if bad.size:
        raise ValueError("a consumer with a > 0 needs a positive share, but its upper bound is 0: "
                         + _listing(bad, {"a": a, "upper": upper}))
    total_lower = float(lower.sum())
    if total_lower > budget:
        raise ValueError(f"infeasible: the lower bounds sum to {total_lower!r}, more than the budget {budget!r}")
    if total_lower == budget:
        bad = np.flatnonzero(active & (lower == 0))
        if bad.size:
            raise ValueError(f"the lower bounds take the whole budget {budget!r}, leaving nothing for consumers "
                             f"with a > 0 and lower bound 0, whose term a/f would be infinite: "
                             + _listing(bad, {"a": a, "lower": lower}))
    if active.all():
        return _Problem(a=a, lower=lower, upper=upper, budget=budget, active=active, spare=budget,
                        active_a=a, active_lower=lower, active_upper=upper)
    return _Problem(a=a, lower=lower, upper=upper, budget=budget, active=active,
                    spare=budget - float(lower[~active].sum()),
                    active_a=a[active], active_lower=lower[active], active_upper=upper[active])


def _all_shares(problem: _Problem, active_shares: np.ndarray) -> np.ndarray:
    """Every consumer's share: the active ones' from ``active_shares``, the idle ones' lower bounds."""
    if active_shares.size == problem.a.size:
        return np.array(active_shares, dtype=float)
    shares = problem.lower.copy()
    shares[problem.active] = active_shares
    return shares


def _within_budget(problem: _Problem, active_shares: np.ndarray) -> np.ndarray:
    """``active_shares`` moved toward their lower bounds just enough that all shares sum to at most the budget.

    An interior-point or SQP answer may spend the budget a few parts in 10^9 too much (Clarabel at its
    default tolerances: up to 1.4e-8 relative on two consumers); each share keeps its lower bound and
    gives up the same fraction of what it holds above it, f_i <- l_i + theta (f_i - l_i). The sum is
    checked in floating point, as every caller computes it, and theta lowered further until it holds;
    the lower bounds alone fit the budget (validated), so this ends with every share within its bounds.
    """
    budget, lo = problem.budget, problem.active_lower
    shares = active_shares
    step = 1.0
    while float(_all_shares(problem, shares).sum()) > budget:
        over = float(_all_shares(problem, shares).sum()) - budget
        room = float((shares - lo).sum())
        theta = max(0.0, 1.0 - step * over / room) if room > 0 else 0.0
        shares = np.minimum(shares, lo + theta * (shares - lo))
        step *= 2.0  # rounding left it a few ulps over: take a larger bite next time
        if theta == 0.0:
            break
    return shares


def _finish(problem: _Problem, active_shares: np.ndarray, method: str, *, price, status, iterations) -> Allocation:
    shares = _all_shares(problem, active_shares)
    shares.setflags(write=False)
    objective = float(np.sum(problem.active_a / active_shares))
    return Allocation(shares=shares, objective=objective, method=method,
                      price=None if price is None else float(price), status=str(status),
                      iterations=None if iterations is None else int(iterations))


# ---------------------------------------------------------------------------------------------------
# closed form


def _closed(problem: _Problem) -> Allocation:
    """Square-root rule with water-filling; see docs/allocation.md for the derivation.

    With t = 1/lambda, consumer i's share is f_i(t) = clip(s_i t, l_i, u_i), s_i = sqrt(a_i): at its
    lower bound for t <= l_i/s_i, at its upper bound for t >= u_i/s_i, s_i t in between. The total
    g(t) = sum_i f_i(t) is continuous, non-decreasing and piecewise linear with those breakpoints, so
    sorting them and accumulating slope and intercept gives g at every breakpoint; the first
    breakpoint where g reaches the budget closes the segment that holds the answer, and on that
    segment g(t) = C + S t is solved for t directly.
    """
    a, lo, hi, spare = problem.active_a, problem.active_lower, problem.active_upper, problem.spare
    if hi.sum() <= spare:
        return _finish(problem, hi, "closed", price=0.0, status="optimal", iterations=None)

    s = np.sqrt(a)
    # Only bounds that can bind make breakpoints: a consumer with lower bound 0 is off it for every
    # t > 0, and an infinite upper bound is never reached. Fewer points, a shorter sort.
    held = np.flatnonzero(lo > 0)
    capped = np.flatnonzero(np.isfinite(hi))
    points = np.concatenate([lo[held] / s[held], hi[capped] / s[capped]])
    slope_step = np.concatenate([s[held], -s[capped]])
    const_step = np.concatenate([-lo[held], hi[capped]])
    order = np.argsort(points)
    at = points[order]
    slope = float(s.sum() - s[held].sum()) + np.cumsum(slope_step[order])
    const = float(lo[held].sum()) + np.cumsum(const_step[order])
    # g is continuous, so evaluating it at a breakpoint with the state after that breakpoint is exact
    # up to rounding; the running maximum keeps rounding from breaking the order searchsorted needs.
    total_at = np.maximum.accumulate(const + slope * at)
    k = int(np.searchsorted(total_at, spare, side="left"))   # breakpoints strictly before the segment

    # Regimes from which breakpoints lie before the segment, not from comparing s*t with the bounds:
    # ties and rounding cannot put a consumer in two regimes. C and S are summed afresh from the
    # regimes rather than taken from the running sums, which accumulate rounding.
    passed = np.zeros(points.size, dtype=bool)
    passed[order[:k]] = True
    free = np.ones(s.size, dtype=bool)
    free[held] = passed[:held.size]
    at_upper = np.zeros(s.size, dtype=bool)
    at_upper[capped] = passed[held.size:]
    free &= ~at_upper
    fixed = np.where(at_upper, hi, lo)
    free_slope = float(s[free].sum())
    if free_slope > 0:
        t = (spare - float(fixed[~free].sum())) / free_slope
        shares = np.where(free, np.clip(s * t, lo, hi), fixed)
        price = 1.0 / (t * t)
    else:
        # Nobody is strictly between bounds: the budget is met exactly at breakpoint k (in exact
        # arithmetic only k = 0 gets here, every consumer at its lower bound), where the smallest
        # multiplier that satisfies the KKT conditions is 1/t_k^2 = max a_i / l_i^2.
        shares = fixed
        price = 1.0 / (at[k] * at[k]) if k < at.size else 0.0
    return _finish(problem, shares, "closed", price=price, status="optimal", iterations=None)


# ---------------------------------------------------------------------------------------------------
# CVXPY / Clarabel


class _QuietOrtoolsVersion(logging.Filter):
    """Drop CVXPY's import-time warning that it cannot use OR-Tools' GLOP and PDLP.

    CVXPY 1.8 probes every solver when imported and logs a warning for OR-Tools newer than it knows;
    the project pins ortools 9.15 on purpose (see pyproject.toml) and uses Clarabel here, so the
    warning is noise on every import.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "Unrecognized new version of ortools" not in record.getMessage()


_QUIET = _QuietOrtoolsVersion()


def import_cvxpy():
    """``import cvxpy`` without the OR-Tools version warning (see _QuietOrtoolsVersion).

    Modules of the project that use CVXPY import it through here: the filter has to be in place before
    CVXPY's first import in the process, since the warning is logged during that import.
    """
    logging.getLogger("__cvxpy__").addFilter(_QUIET)
    import cvxpy

    return cvxpy


def _cvxpy(problem: _Problem, **options) -> Allocation:
    """Clarabel through CVXPY, posed in units where the mean share and the mean weight are 1.

    Clarabel's feasibility tolerances are partly absolute, so with shares of 1e-5 (a budget of 1 split
    100,000 ways) or weights spread over decades, the unscaled problem loses several digits or fails;
    rescaling is a change of units only and leaves the optimum where it was.
    """
    cp = import_cvxpy()
    a, lo, hi = problem.active_a, problem.active_lower, problem.active_upper
    m = a.size
    unit = problem.spare / m
    weight = float(a.mean())
    x = cp.Variable(m)
    with warnings.catch_warnings():
        # CVXPY 1.8's cp.sum finds its shape by summing an uninitialised bool array, and numpy now and then
        # warns about the garbage ("invalid value encountered in reduce"); the shape comes out right.
        warnings.filterwarnings("ignore", message="invalid value encountered in reduce", category=RuntimeWarning)
        budget_row = cp.sum(x) <= m
        constraints = [budget_row]
        if (lo > 0).any():
            constraints.append(x >= lo / unit)
        capped = np.flatnonzero(np.isfinite(hi))
        if capped.size:
            constraints.append(x[capped] <= hi[capped] / unit)
        model = cp.Problem(cp.Minimize(cp.sum(cp.multiply(a / weight, cp.inv_pos(x)))), constraints)
    options.setdefault("verbose", False)
    try:
        with warnings.catch_warnings():
            # the status check below turns an inaccurate answer into SolverFailed; the warning would repeat it
            warnings.filterwarnings("ignore", message="Solution may be inaccurate", category=UserWarning)
            model.solve(solver="CLARABEL", **options)
    except cp.error.SolverError as exc:
        raise SolverFailed(f"CLARABEL (through CVXPY) failed on {m} consumers: {exc}") from exc
    except TypeError as exc:  # CVXPY's way of saying that Clarabel does not know a setting
        raise ValueError(f"option rejected by CLARABEL: {exc}") from exc
    iterations = model.solver_stats.num_iters if model.solver_stats is not None else None
    if model.status != cp.OPTIMAL:
        raise SolverFailed(f"CLARABEL (through CVXPY) did not prove an optimum on {m} consumers: status "
                           f"{model.status!r} after {iterations} iterations")
    shares = np.asarray(x.value, dtype=float) * unit
    bad = np.flatnonzero(shares <= 0)
    if bad.size:
        raise SolverFailed("CLARABEL (through CVXPY) returned a non-positive share for a consumer with a > 0: "
                           + _listing(np.flatnonzero(problem.active)[bad], {"a": problem.a}))
    # An interior-point answer may sit outside a bound, or spend more than the budget, by up to the
    # feasibility tolerance; clipping and the budget repair move it by no more than that and keep every
    # returned share within its bounds and the shares' sum within the budget.
    shares = _within_budget(problem, np.clip(shares, lo, hi))
    price = float(budget_row.dual_value) * weight / (unit * unit)
    return _finish(problem, shares, "cvxpy", price=price, status=model.status, iterations=iterations)


# ---------------------------------------------------------------------------------------------------
# SLSQP


def _feasible_start(lo: np.ndarray, hi: np.ndarray, spare: float) -> np.ndarray:
    """A point within the bounds that spends the budget: each consumer moves the same fraction of the way
    from its lower bound to min(upper, budget). Not the optimum unless the weights happen to fit it."""
    cap = np.minimum(hi, spare)
    room = float((cap - lo).sum())
    fraction = 1.0 if room <= 0 else min(1.0, (spare - float(lo.sum())) / room)
    return lo + fraction * (cap - lo)


def _slsqp(problem: _Problem, *, ftol: float = 1e-12, maxiter: int | None = None,
           time_limit: float | None = None) -> Allocation:
    """SLSQP in units where the mean share is 1 and the objective at the start is 1.

    SLSQP's stopping test is on the absolute change of the objective, and its first steps assume a
    unit-scale Hessian; in raw units (objective 1e4, shares 1e-3) it stops early at a poor point, so
    the problem is rescaled. Its quasi-Newton model needs roughly one iteration per consumer to learn
    the diagonal curvature 2 a_i / f_i^3, hence the default ``maxiter`` of 20 per consumer.
    """
    from scipy.optimize import Bounds, minimize
    from threadpoolctl import threadpool_limits

    a, lo, hi = problem.active_a, problem.active_lower, problem.active_upper
    m = a.size
    unit = problem.spare / m
    # a positive floor keeps SLSQP's line search off f = 0, where the objective is infinite; the optimum
    # of a consumer with a_i > 0 lies above it unless its weight is 1e-24 of the others'.
    floor = 1e-12
    x_hi = hi / unit
    x_lo = np.minimum(np.maximum(lo / unit, floor), x_hi)
    x0 = np.clip(_feasible_start(lo, hi, problem.spare) / unit, x_lo, x_hi)
    scale = float(np.sum(a / (x0 * unit)))
    coef = a / (unit * scale)

    def fun(x):
        return float(np.sum(coef / x))

    def jac(x):
        return -coef / (x * x)

    budget_row = {"type": "ineq", "fun": lambda x: m - float(np.sum(x)), "jac": lambda x: -np.ones_like(x)}
    callback = None
    if time_limit is not None:
        deadline = time.monotonic() + float(time_limit)

        def callback(intermediate_result):
            if time.monotonic() > deadline:
                raise StopIteration

    # SLSQP's dense linear algebra goes through BLAS, whose threads spin when the cores are busy: one
    # thread measured 16x faster than two at 100 consumers on the 2-core test machine under load.
    with threadpool_limits(limits=1, user_api="blas"):
        result = minimize(fun, x0, jac=jac, method="SLSQP", bounds=Bounds(x_lo, x_hi), constraints=[budget_row],
                          callback=callback,
                          options={"ftol": float(ftol),
                                   "maxiter": int(maxiter if maxiter is not None else max(100, 20 * m))})
    if not result.success:
        if time_limit is not None and time.monotonic() > deadline:
            raise SolverFailed(f"SLSQP stopped at its time limit of {time_limit} s after {result.nit} iterations "
                               f"on {m} consumers")
        raise SolverFailed(f"SLSQP did not converge on {m} consumers: {result.message} (status {result.status}, "
                           f"{result.nit} iterations)")
    shares = _within_budget(problem, np.clip(np.asarray(result.x, dtype=float) * unit, lo, hi))
    multipliers = getattr(result, "multipliers", None)
    price = None if multipliers is None else float(np.ravel(multipliers)[0]) * scale / unit
    return _finish(problem, shares, "slsqp", price=price, status=result.message, iterations=result.nit)
