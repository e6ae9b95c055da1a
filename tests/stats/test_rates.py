"""wilson_interval against a numeric inversion of the score test (brentq) and against the
published values of Newcombe (1998), Statistics in Medicine 17:857-872 (method 3,
the score interval without continuity correction)."""

from __future__ import annotations

import math

import pytest
from scipy import optimize, stats

from birdkit.stats import wilson_interval


def _score_inversion(k: int, n: int, level: float) -> tuple[float, float]:
    z = stats.norm.ppf((1 + level) / 2)
    p_hat = k / n

    def f(p: float) -> float:
        return abs(p_hat - p) / math.sqrt(p * (1 - p) / n) - z

    eps = 1e-15
    low = 0.0 if k == 0 else optimize.brentq(f, eps, min(p_hat, 1 - eps), xtol=1e-14)
    high = 1.0 if k == n else optimize.brentq(f, max(p_hat, eps), 1 - eps, xtol=1e-14)
    return low, high


@pytest.mark.parametrize("k, n", [(0, 1), (1, 1), (0, 10), (3, 10), (10, 10), (1, 29), (50, 100), (997, 1000),
                                  (4321, 5000)])
@pytest.mark.parametrize("level", [0.8, 0.95, 0.99])
def test_matches_the_inverted_score_test(k, n, level):
    iv = wilson_interval(k, n, level)
    low, high = _score_inversion(k, n, level)
    assert iv.low == pytest.approx(low, abs=1e-9) and iv.high == pytest.approx(high, abs=1e-9)
    assert iv.mean == k / n and iv.n == n and iv.level == level
    assert 0 <= iv.low <= iv.mean <= iv.high <= 1


@pytest.mark.parametrize("k, n, low, high", [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605),
                                             (0, 20, 0.0, 0.1611), (1, 29, 0.0061, 0.1718)])
def test_textbook_values(k, n, low, high):
    iv = wilson_interval(k, n)
    assert round(iv.low, 4) == low and round(iv.high, 4) == high


def test_is_narrower_than_wald_never_outside_unit_range():
    wald_low = 0.05 - 1.96 * math.sqrt(0.05 * 0.95 / 20)   # Wald for 1/20 goes below 0
    iv = wilson_interval(1, 20)
    assert wald_low < 0 < iv.low


def test_no_trials_gives_nan():
    iv = wilson_interval(0, 0)
    assert iv.n == 0 and math.isnan(iv.mean) and math.isnan(iv.low) and math.isnan(iv.high)


@pytest.mark.parametrize("k, n", [(-1, 5), (6, 5), (1, -1), (0, -1), (1.5, 5)])
def test_invalid_counts_are_a_one_line_value_error(k, n):
    with pytest.raises(ValueError) as err:
        wilson_interval(k, n)
    assert "\n" not in str(err.value)
