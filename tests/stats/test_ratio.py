"""ratio_interval (Fieller) against a brute-force scan: the set of theta for which the one-sample
t-test of a - theta * b (scipy.stats.ttest_1samp) does not reject at 1 - level."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from birdkit.stats import Interval, mean_interval, ratio_interval, verdict


def _accepted(a, b, thetas, level):
    d = a[None, :] - thetas[:, None] * b[None, :]
    return stats.ttest_1samp(d, 0.0, axis=1).pvalue >= 1 - level


@pytest.mark.parametrize("case", range(6))
@pytest.mark.parametrize("level", [0.9, 0.95])
def test_bounded_interval_matches_a_grid_scan_of_the_t_test(case, level):
    rng = np.random.default_rng(case)
    n = [3, 4, 5, 8, 10, 20][case]
    none = 0.60 + 0.02 * rng.standard_normal(n)
    oracle = none + 0.10 + 0.02 * rng.standard_normal(n)
    method = none + 0.05 + 0.02 * rng.standard_normal(n) + 0.3 * (oracle - none - 0.1)  # correlated pairs
    a, b = method - none, oracle - none
    iv = ratio_interval(a, b, level)
    assert math.isfinite(iv.low) and math.isfinite(iv.high), iv
    step = 1e-4
    grid = np.arange(iv.low - 1.0, iv.high + 1.0, step)
    ok = _accepted(a, b, grid, level)
    inside = grid[ok]
    assert ok.any() and not ok[0] and not ok[-1]           # bounded, well inside the scanned range
    assert np.all(np.diff(np.flatnonzero(ok)) == 1)        # one contiguous interval
    assert iv.low == pytest.approx(inside.min(), abs=step)
    assert iv.high == pytest.approx(inside.max(), abs=step)
    assert iv.mean == pytest.approx(a.mean() / b.mean(), rel=1e-12)
    assert iv.n == n and iv.level == level


def test_unbounded_when_the_denominator_is_not_significant():
    a = np.array([0.02, 0.03, 0.01, 0.025])
    b = np.array([0.01, -0.02, 0.03, 0.0])   # mean 0.005, far from significant
    iv = ratio_interval(a, b)
    assert iv.low == -math.inf and iv.high == math.inf
    assert iv.mean == pytest.approx(a.mean() / b.mean())
    assert verdict(iv) == "not resolved" and verdict(iv, higher_is_better=False) == "not resolved"
    wide = np.linspace(-1e4, 1e4, 20001)
    ok = _accepted(a, b, wide, 0.95)
    assert ok[0] and ok[-1]   # the scan accepts arbitrarily large ratios of either sign


def test_denominator_of_constant_value_reduces_to_the_t_interval_of_the_numerator():
    a = [0.3, 0.5, 0.2, 0.45, 0.35]
    t = mean_interval(a)
    iv = ratio_interval(a, [0.5] * 5)
    assert (iv.mean, iv.low, iv.high) == pytest.approx((t.mean / 0.5, t.low / 0.5, t.high / 0.5), rel=1e-12)


def test_pairs_with_zero_spread_give_a_point_interval():
    iv = ratio_interval([0.05, 0.05, 0.05], [0.1, 0.1, 0.1])
    assert iv.low == pytest.approx(0.5) and iv.high == pytest.approx(0.5) and iv.mean == pytest.approx(0.5)


def test_nan_pairs_are_dropped_and_few_pairs_give_nan_bounds():
    a, b = [0.1, math.nan, 0.2, 0.15, 0.3], [0.2, 0.2, math.nan, 0.25, 0.35]
    assert ratio_interval(a, b) == ratio_interval([0.1, 0.15, 0.3], [0.2, 0.25, 0.35])
    one = ratio_interval([0.1], [0.2])
    assert one.mean == pytest.approx(0.5) and math.isnan(one.low) and math.isnan(one.high) and one.n == 1
    none = ratio_interval([], [])
    assert none.n == 0 and math.isnan(none.mean)
    zero = ratio_interval([0.1, 0.2], [0.1, -0.1])
    assert math.isnan(zero.mean) and zero.low == -math.inf


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="pair up"):
        ratio_interval([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="level"):
        ratio_interval([1.0, 2.0], [1.0, 2.0], level=95)


def test_verdict_handles_infinite_and_half_infinite_bounds():
    assert verdict(Interval(1.0, -math.inf, math.inf, 3)) == "not resolved"
    assert verdict(Interval(1.0, 0.5, math.inf, 3)) == "better"
    assert verdict(Interval(-1.0, -math.inf, -0.5, 3)) == "worse"
