"""edgeopt.allocation: the closed form against hand-computed optima, KKT and bisection; the three methods
against each other; bad input."""
from __future__ import annotations

import math

import numpy as np
import pytest

from edgeopt.allocation import METHODS, Allocation, SolverFailed, allocate, objective_of

INF = math.inf


def random_case(seed: int, n: int, *, bounds: bool):
    """Weights over two decades; with ``bounds``, about half the consumers get a lower and half an upper
    bound, drawn around the fair share budget/n so that many of them bind at the optimum."""
    rng = np.random.default_rng(seed)
    a = 10 ** rng.uniform(-1, 1, n)
    budget = float(rng.uniform(0.5, 20))
    if not bounds:
        return a, budget, None, None
    fair = budget / n
    lower = np.where(rng.random(n) < 0.5, fair * rng.uniform(0.2, 1.0, n), 0.0)
    upper = np.where(rng.random(n) < 0.5, lower + fair * rng.uniform(0.2, 1.5, n), INF)
    return a, budget, lower, upper


def binding(alloc: Allocation, lower, upper) -> int:
    lower = np.zeros_like(alloc.shares) if lower is None else lower
    upper = np.full_like(alloc.shares, INF) if upper is None else upper
    return int(np.sum((alloc.shares == lower) | (alloc.shares == upper)))


# ---------------------------------------------------------------------------------------------------
# closed form: exact answers


@pytest.mark.parametrize("a, budget, lower, upper, shares, objective, price", [
    # f = sqrt(a) * B / sum(sqrt(a)) = (1, 2) * 3 / 3
    ((1, 4), 3, None, None, (1, 2), 3.0, 1.0),
    ((1, 4, 9), 12, None, None, (2, 4, 6), 0.5 + 1 + 1.5, 0.25),
    # consumer 1 capped at 1; the remaining 5 split 1:3 between sqrt(1) and sqrt(9): t = 5/4
    ((1, 4, 9), 6, None, (INF, 1, INF), (1.25, 1, 3.75), 0.8 + 4 + 2.4, 0.64),
    # consumer 0 held up at 1.5 (its rule share would be 1); consumer 1 takes the rest
    ((1, 4), 3, (1.5, 0), None, (1.5, 1.5), 1 / 1.5 + 4 / 1.5, 4 / 1.5 ** 2),
    # the upper bounds sum to 3 < 10: every consumer at its upper bound, budget left over, price 0
    ((1, 4), 10, None, (1, 2), (1, 2), 3.0, 0.0),
    # every consumer held at its lower bound, which together take the whole budget; the smallest price
    # that satisfies KKT is the largest marginal a/l^2 = max(1/4, 4/1)
    ((1, 4), 3, (2, 1), None, (2, 1), 0.5 + 4, 4.0),
    # n = 1: the whole budget, or the upper bound
    ((5,), 2, None, None, (2,), 2.5, 1.25),
    ((5,), 2, None, 0.5, (0.5,), 10.0, 0.0),
])
def test_closed_form_equals_hand_computed_optimum(a, budget, lower, upper, shares, objective, price):
    alloc = allocate(a, budget, lower=lower, upper=upper)
    np.testing.assert_array_equal(alloc.shares, np.array(shares, dtype=float))
    assert alloc.objective == pytest.approx(objective, rel=1e-15)
    assert alloc.price == pytest.approx(price, rel=1e-15)
    assert alloc.method == "closed" and alloc.status == "optimal" and alloc.iterations is None


def test_idle_consumers_get_their_lower_bound_and_the_rest_goes_to_the_others():
    # consumer 0 has a = 0: its term is 0 whatever it gets, so it keeps its lower bound 1 and the
    # remaining 3 split 1:2 as in the (1, 4) case; consumer 3 (a = 0, no lower bound) gets nothing.
    for method in METHODS:
        alloc = allocate([0, 1, 4, 0], 4, lower=[1, 0, 0, 0], method=method)
        np.testing.assert_allclose(alloc.shares, [1, 1, 2, 0], rtol=1e-4, atol=1e-12)
        assert alloc.shares[0] == 1.0 and alloc.shares[3] == 0.0
        assert alloc.objective == pytest.approx(3.0, rel=1e-6)


@pytest.mark.parametrize("method", METHODS)
def test_no_demanding_consumer_means_objective_zero_at_the_lower_bounds(method):
    alloc = allocate([0, 0, 0], 5, lower=[0, 1, 2], method=method)
    np.testing.assert_array_equal(alloc.shares, [0, 1, 2])
    assert alloc.objective == 0.0 and alloc.price == 0.0


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("bounds", [False, True], ids=["no-bounds", "bounds"])
def test_closed_form_satisfies_kkt(seed, bounds):
    a, budget, lower, upper = random_case(seed, 2_000, bounds=bounds)
    alloc = allocate(a, budget, lower=lower, upper=upper)
    f, nu = alloc.shares, alloc.price
    lo = np.zeros_like(f) if lower is None else lower
    hi = np.full_like(f, INF) if upper is None else upper
    assert np.all(f >= lo) and np.all(f <= hi) and np.all(f > 0)
    assert f.sum() == pytest.approx(budget, rel=1e-12)
    marginal = a / f ** 2
    free = (f > lo) & (f < hi)
    at_lower = (f == lo) & (f < hi)
    at_upper = (f == hi) & (f > lo)
    assert free.sum() > 0
    # equal marginal value among consumers strictly within bounds, equal to the budget's price ...
    np.testing.assert_allclose(marginal[free], nu, rtol=1e-10)
    # ... a consumer at its lower bound would give budget back (it values it less than the price),
    # one at its upper bound would take more (it values it more)
    assert np.all(marginal[at_lower] <= nu * (1 + 1e-10))
    assert np.all(marginal[at_upper] >= nu * (1 - 1e-10))
    if bounds:
        assert at_lower.sum() > 0 and at_upper.sum() > 0
    else:
        assert free.all()


def test_closed_form_price_is_the_derivative_of_the_optimum_in_the_budget():
    a, budget, lower, upper = random_case(11, 300, bounds=True)
    alloc = allocate(a, budget, lower=lower, upper=upper)
    h = budget * 1e-6
    up = allocate(a, budget + h, lower=lower, upper=upper).objective
    down = allocate(a, budget - h, lower=lower, upper=upper).objective
    assert (down - up) / (2 * h) == pytest.approx(alloc.price, rel=1e-5)


def test_closed_form_scales_with_weights_and_budget():
    a, budget, lower, upper = random_case(3, 500, bounds=False)
    base = allocate(a, budget)
    np.testing.assert_allclose(allocate(7.5 * a, budget).shares, base.shares, rtol=1e-13)
    np.testing.assert_allclose(allocate(a, 3 * budget).shares, 3 * base.shares, rtol=1e-13)


def test_closed_form_is_deterministic_and_follows_a_permutation():
    a, budget, lower, upper = random_case(5, 1_000, bounds=True)
    first = allocate(a, budget, lower=lower, upper=upper)
    again = allocate(a, budget, lower=lower, upper=upper)
    np.testing.assert_array_equal(first.shares, again.shares)
    assert first.objective == again.objective
    perm = np.random.default_rng(0).permutation(a.size)
    permuted = allocate(a[perm], budget, lower=lower[perm], upper=upper[perm])
    np.testing.assert_allclose(permuted.shares, first.shares[perm], rtol=1e-12)


def test_ties_between_breakpoints_are_resolved():
    # identical consumers reach their bounds at the same multiplier
    a = np.array([4.0] * 4 + [1.0] * 4)
    alloc = allocate(a, 10, lower=np.array([0.5] * 4 + [1.0] * 4), upper=np.array([1.5] * 4 + [INF] * 4))
    # the rule would give 2:1 shares (sqrt 2 : sqrt 1); the heavy ones stop at 1.5, the light ones split the rest
    np.testing.assert_allclose(alloc.shares, [1.5] * 4 + [1.0] * 4, rtol=1e-15)


def bisection_reference(a, budget, lower, upper):
    """clip(sqrt(a) t, l, u) with t found by 200 halvings: slow and simple, a check on the breakpoint search."""
    active = a > 0
    spare = budget - lower[~active].sum()
    s, lo, hi = np.sqrt(a[active]), lower[active], upper[active]
    if hi.sum() <= spare:
        shares = hi
    else:
        low_t, high_t = 0.0, 1.0
        while np.clip(s * high_t, lo, hi).sum() < spare:
            high_t *= 2
        for _ in range(200):
            mid = (low_t + high_t) / 2
            low_t, high_t = (mid, high_t) if np.clip(s * mid, lo, hi).sum() < spare else (low_t, mid)
        shares = np.clip(s * high_t, lo, hi)
    out = lower.copy()
    out[active] = shares
    return out


def test_closed_form_equals_bisection_on_awkward_small_cases():
    """Repeated weights (tied breakpoints), idle consumers, fixed shares (lower = upper), bounds that take the
    whole budget, upper bounds that leave it unused."""
    rng = np.random.default_rng(2024)
    checked = 0
    for _ in range(600):
        n = int(rng.integers(1, 10))
        a = rng.choice([0.0, 1.0, 4.0, 2.5], n)
        lower = np.where(rng.random(n) < 0.5, rng.choice([0.5, 1.0, 0.3], n), 0.0)
        upper = np.where(rng.random(n) < 0.5, lower + rng.choice([0.0, 0.5, 1.7], n), INF)
        budget = float(lower.sum() + rng.choice([0.0, 0.7, 3.0, 20.0]))
        if budget <= 0 or np.any((a > 0) & (upper == 0)) or (budget == lower.sum() and np.any((a > 0) & (lower == 0))):
            continue
        alloc = allocate(a, budget, lower=lower, upper=upper)
        np.testing.assert_allclose(alloc.shares, bisection_reference(a, budget, lower, upper), rtol=1e-12, atol=1e-12)
        checked += 1
    assert checked > 300


def test_shares_are_read_only():
    alloc = allocate([1, 4], 3)
    with pytest.raises(ValueError):
        alloc.shares[0] = 5.0


# ---------------------------------------------------------------------------------------------------
# the three methods agree


@pytest.mark.parametrize("seed, n", [(0, 2), (1, 7), (2, 25), (3, 30)])
@pytest.mark.parametrize("bounds", [False, True], ids=["no-bounds", "bounds"])
def test_three_methods_agree(seed, n, bounds):
    a, budget, lower, upper = random_case(seed, n, bounds=bounds)
    results = {m: allocate(a, budget, lower=lower, upper=upper, method=m) for m in METHODS}
    closed = results["closed"]
    if bounds and n >= 25:
        assert binding(closed, lower, upper) > 0, "the case must exercise binding bounds"
    for method, alloc in results.items():
        assert alloc.method == method
        assert alloc.objective == pytest.approx(closed.objective, rel=1e-6), method
        assert alloc.objective == pytest.approx(objective_of(a, alloc.shares), rel=1e-15)
        assert alloc.used <= budget * (1 + 1e-7)
        if lower is not None:
            assert np.all(alloc.shares >= lower)
        if upper is not None:
            assert np.all(alloc.shares <= upper)
        # the objective is flat near the optimum: a 1e-9 objective error allows ~1e-4.5 in the shares
        np.testing.assert_allclose(alloc.shares, closed.shares, rtol=1e-3, atol=1e-3 * budget / n)
        assert alloc.price == pytest.approx(closed.price, rel=1e-3), method


def test_methods_agree_when_upper_bounds_leave_budget_unused():
    a = np.array([1.0, 4.0, 9.0])
    upper = np.array([0.5, 1.0, 2.0])
    for method in METHODS:
        alloc = allocate(a, 10.0, upper=upper, method=method)
        np.testing.assert_allclose(alloc.shares, upper, rtol=1e-7)
        assert alloc.used == pytest.approx(3.5, rel=1e-7)
        assert alloc.objective == pytest.approx(2 + 4 + 4.5, rel=1e-6)


def test_cvxpy_with_tight_tolerances_matches_closed_form_closely():
    a, budget, lower, upper = random_case(8, 200, bounds=True)
    closed = allocate(a, budget, lower=lower, upper=upper)
    tight = allocate(a, budget, lower=lower, upper=upper, method="cvxpy", tol_gap_abs=1e-11, tol_gap_rel=1e-11,
                     tol_feas=1e-11)
    assert tight.objective == pytest.approx(closed.objective, rel=1e-9)


#: Draws of random_case on which Clarabel at its default tolerances spent 1.1e-9 to 1.4e-8 of the budget
#: too much (past the assignment evaluator's 1e-9 relative tolerance) before the budget repair.
OVER_BUDGET_DRAWS = [(2, True, 10), (2, True, 32), (2, True, 73), (3, False, 199), (3, False, 220),
                     (3, True, 35), (3, True, 66), (7, True, 452)]


@pytest.mark.parametrize("method", ["cvxpy", "slsqp"])
@pytest.mark.parametrize("n, bounds, seed", OVER_BUDGET_DRAWS)
def test_numerical_methods_never_spend_more_than_the_budget(method, n, bounds, seed):
    a, budget, lower, upper = random_case(seed, n, bounds=bounds)
    alloc = allocate(a, budget, lower=lower, upper=upper, method=method)
    closed = allocate(a, budget, lower=lower, upper=upper)
    # the sum as any caller computes it, in floating point, with no tolerance
    assert float(alloc.shares.sum()) <= budget
    assert alloc.used <= budget
    if lower is not None:
        assert np.all(alloc.shares >= lower) and np.all(alloc.shares <= upper)
    assert np.all(alloc.shares > 0)
    # the objective is that of the repaired shares, and the repair costs no more than the solver's accuracy
    assert alloc.objective == objective_of(a, alloc.shares)
    assert closed.objective * (1 - 1e-12) <= alloc.objective <= closed.objective * (1 + 1e-6)


def test_slsqp_is_deterministic():
    a, budget, lower, upper = random_case(4, 30, bounds=True)
    first = allocate(a, budget, lower=lower, upper=upper, method="slsqp")
    again = allocate(a, budget, lower=lower, upper=upper, method="slsqp")
    np.testing.assert_array_equal(first.shares, again.shares)


# ---------------------------------------------------------------------------------------------------
# failures


@pytest.mark.parametrize("a, budget, kwargs, message", [
    ([1, -1, 2], 1, {}, r"weights a must be finite and >= 0: consumer 1 \(a=-1\.0\)"),
    ([1, np.nan], 1, {}, r"weights a must be finite and >= 0: consumer 1 \(a=nan\)"),
    ([np.inf, 1], 1, {}, r"consumer 0 \(a=inf\)"),
    ([-1] * 5, 1, {}, r"consumer 0 \(a=-1\.0\), consumer 1 \(a=-1\.0\), consumer 2 \(a=-1\.0\) and 2 more"),
    ([[1, 2]], 1, {}, r"one-dimensional .* got shape \(1, 2\)"),
    ([], 1, {}, r"a is empty"),
    (["x"], 1, {}, r"a must be an array of numbers"),
    ([1, 2], 0, {}, r"budget must be finite and > 0; got 0\.0"),
    ([1, 2], -3, {}, r"budget must be finite and > 0; got -3\.0"),
    ([1, 2], np.nan, {}, r"budget must be finite and > 0; got nan"),
    ([1, 2], np.inf, {}, r"budget must be finite and > 0; got inf"),
    ([1, 2], "lots", {}, r"budget must be a number; got 'lots'"),
    ([1, 2], 1, {"lower": [0, 0, 0]}, r"lower must be a scalar or an array of shape \(2,\) like a; got shape \(3,\)"),
    ([1, 2], 1, {"lower": [0, -0.5]}, r"lower bounds must be finite and >= 0: consumer 1 \(lower=-0\.5\)"),
    ([1, 2], 1, {"lower": [np.nan, 0]}, r"consumer 0 \(lower=nan\)"),
    ([1, 2], 1, {"upper": [np.nan, 1]}, r"upper bounds must be >= 0 \(inf allowed\): consumer 0 \(upper=nan\)"),
    ([1, 2, 3], 9, {"lower": [0, 3, 0], "upper": [1, 2, 5]},
     r"lower bound exceeds upper bound: consumer 1 \(lower=3\.0, upper=2\.0\)"),
    ([1, 2], 1, {"upper": [1, 0]}, r"upper bound is 0: consumer 1 \(a=2\.0, upper=0\.0\)"),
    ([0, 2], 1, {"lower": [0.75, 0.5]}, r"infeasible: the lower bounds sum to 1\.25, more than the budget 1\.0"),
    ([1, 2, 0], 2, {"lower": [0, 0, 2]},
     r"lower bounds take the whole budget 2\.0.*consumer 0 \(a=1\.0, lower=0\.0\), consumer 1 \(a=2\.0, lower=0\.0\)"),
    ([1, 2], 1, {"method": "newton"}, r"method must be one of closed, cvxpy, slsqp; got 'newton'"),
    ([1, 2], 1, {"tol": 1e-9}, r"the closed form takes no options; got tol"),
])
def test_bad_input_is_rejected_with_the_consumer_and_values(a, budget, kwargs, message):
    with pytest.raises(ValueError, match=message):
        allocate(a, budget, **kwargs)


def test_idle_consumer_with_zero_upper_bound_is_fine():
    alloc = allocate([0, 1], 2, upper=[0, INF])
    np.testing.assert_array_equal(alloc.shares, [0, 2])


def test_cvxpy_failure_is_reported_with_the_solver_status():
    a, budget, _, _ = random_case(1, 50, bounds=False)
    with pytest.raises(SolverFailed, match=r"CLARABEL \(through CVXPY\) did not prove an optimum on 50 consumers: "
                                           r"status 'user_limit' after 1 iterations"):
        allocate(a, budget, method="cvxpy", max_iter=1)


def test_cvxpy_rejects_unknown_settings():
    with pytest.raises(ValueError, match="option rejected by CLARABEL"):
        allocate([1, 2], 1, method="cvxpy", no_such_setting=3)


def test_slsqp_failure_is_reported():
    a, budget, _, _ = random_case(1, 50, bounds=False)
    with pytest.raises(SolverFailed, match=r"SLSQP did not converge on 50 consumers: Iteration limit reached"):
        allocate(a, budget, method="slsqp", maxiter=2)
    with pytest.raises(SolverFailed, match=r"SLSQP stopped at its time limit of 0\.0 s after 1 iterations"):
        allocate(a, budget, method="slsqp", time_limit=0.0)
