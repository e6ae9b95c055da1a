"""paired_differences and compare_paired, checked against scipy.stats.ttest_rel (its own
confidence interval of the mean paired difference) on aligned arrays built by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

import birdkit.stats
from birdkit.stats import Comparison, Interval, compare_paired, paired_differences, verdict


def test_differences_follow_sorted_keys_and_skip_unshared_and_nan():
    a = {3: 1.0, 1: 5.0, 2: math.nan, 7: 2.0, 9: 4.0}
    b = {1: 2.0, 2: 1.0, 3: 0.5, 9: math.nan, 11: 8.0}
    assert paired_differences(a, b) == [3.0, 0.5]  # keys 1, 3: key 2 and 9 NaN, 7 and 11 unshared


def test_differences_of_string_keys_are_sorted():
    assert paired_differences({"s2": 1.0, "s1": 3.0}, {"s1": 1.0, "s2": 2.0}) == [2.0, -1.0]


def test_no_shared_key_is_a_one_line_value_error():
    with pytest.raises(ValueError, match="no shared keys") as err:
        paired_differences({0: 1.0, 1: 2.0}, {2: 1.0})
    assert "\n" not in str(err.value)


def test_all_pairs_nan_gives_no_differences_and_an_unresolved_comparison():
    assert paired_differences({0: math.nan}, {0: 1.0}) == []
    c = compare_paired({0: math.nan}, {0: 1.0})
    assert c.n == 0 and c.verdict == "not resolved" and math.isnan(c.interval.mean)


@pytest.mark.parametrize("level", [0.9, 0.95, 0.99])
@pytest.mark.parametrize("scale", [1.0, 100.0])
def test_interval_matches_ttest_rel(level, scale):
    rng = np.random.default_rng(int(level * 100) + int(scale))
    seeds = list(range(6))
    a = {s: 0.70 + 0.02 * rng.standard_normal() for s in seeds}
    b = {s: a[s] - 0.01 - 0.01 * rng.standard_normal() for s in seeds}
    a[99] = 0.5        # only in a
    b[5] = math.nan    # seed 5 drops out
    common = [0, 1, 2, 3, 4]
    xa = scale * np.array([a[s] for s in common])
    xb = scale * np.array([b[s] for s in common])
    ref = stats.ttest_rel(xa, xb).confidence_interval(level)
    c = compare_paired(a, b, level=level, scale=scale)
    assert c.n == 5 and c.interval.n == 5 and c.interval.level == level
    assert c.interval.mean == pytest.approx(float(np.mean(xa - xb)), rel=1e-12)
    assert c.interval.low == pytest.approx(float(ref.low), rel=1e-10)
    assert c.interval.high == pytest.approx(float(ref.high), rel=1e-10)
    assert c.wins == int(np.sum(xa - xb > 0)) and c.ties == 0


def test_wins_ties_and_verdicts_in_both_directions():
    a = {0: 3.0, 1: 4.1, 2: 5.0, 3: 5.0, 4: 3.9}
    b = {0: 1.0, 1: 2.0, 2: 2.5, 3: 5.0, 4: 2.0}    # differences 2, 2.1, 2.5, 0, 1.9
    up = compare_paired(a, b)
    down = compare_paired(a, b, higher_is_better=False)
    assert (up.wins, up.ties, up.n) == (4, 1, 5)
    assert (down.wins, down.ties) == (0, 1)   # a win is a lower value when lower is better
    assert up.verdict == "better" and down.verdict == "worse"
    assert compare_paired(b, a).verdict == "worse" and compare_paired(b, a, higher_is_better=False).verdict == "better"
    noisy = compare_paired({0: 1.0, 1: -1.0, 2: 0.5}, {0: 0.0, 1: 0.0, 2: 0.0})
    assert noisy.verdict == "not resolved" and noisy.wins == 2


def test_label_has_sign_and_two_decimals():
    iv = Interval(1.2345, 0.4, 2.0649, 3)
    assert Comparison(iv, 3, 0, 3, verdict(iv)).label == "+1.23 [0.40, 2.06]"
    iv = Interval(-0.5, -1.0, 0.004, 3)
    assert Comparison(iv, 0, 0, 3, verdict(iv)).label == "-0.50 [-1.00, 0.00]"
    assert compare_paired({0: 0.5, 1: 0.6}, {0: 0.5, 1: 0.5}, scale=100).label.startswith("+5.00 [")


def test_comparison_is_frozen_and_reexported():
    c = compare_paired({0: 1.0, 1: 2.0}, {0: 0.0, 1: 0.0})
    with pytest.raises(AttributeError):
        c.wins = 5  # type: ignore[misc]
    for name in ("Comparison", "compare_paired", "paired_differences", "ratio_interval", "bootstrap_interval",
                 "two_way_bootstrap", "crossed_weighted_means", "wilson_interval", "Interval", "mean_interval",
                 "verdict"):
        assert name in birdkit.stats.__all__ and hasattr(birdkit.stats, name)
