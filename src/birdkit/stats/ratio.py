r"""Interval of a ratio of means of paired per-seed values, by Fieller's theorem.

The performance-gap recovered ``PGR = mean(method - none) / mean(oracle - none)`` is a ratio of
two means over the same seeds. With per-seed numerators ``a_k`` and denominators ``b_k``
(``n`` pairs, sample variances and covariance with ddof 1) the Fieller set is every ``theta``
the paired t-test of ``a - theta b`` does not reject:

    (mean_a - theta mean_b)^2 <= t^2 * var(a - theta b) / n,   t = t_{(1 + level) / 2, n - 1}

a quadratic inequality in ``theta``. When ``mean_b`` is not significantly different from 0 (the
quadratic's leading coefficient ``mean_b^2 - t^2 var(b) / n`` is <= 0) the set is unbounded and
the interval is ``(-inf, +inf)``: the ratio is *not resolved*. See ``docs/statistics.md``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats

from birdkit.stats.intervals import Interval

__all__ = ["ratio_interval"]


def ratio_interval(numerators: Sequence[float], denominators: Sequence[float], level: float = 0.95) -> Interval:
    """Fieller interval of ``mean(numerators) / mean(denominators)`` over paired values.

    Pairs with a NaN on either side are dropped. The mean is the ratio of means (NaN when the
    denominators' mean is 0); fewer than two pairs give NaN bounds; a denominator mean that is
    not significantly different from 0 gives ``low = -inf``, ``high = +inf``.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    a = np.asarray(numerators, dtype=float).ravel()
    b = np.asarray(denominators, dtype=float).ravel()
    if a.shape != b.shape:
        raise ValueError(f"numerators and denominators must pair up, got {a.size} and {b.size} values")
    keep = ~(np.isnan(a) | np.isnan(b))
    a, b = a[keep], b[keep]
    n = int(a.size)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0, level)
    mean_a, mean_b = float(a.mean()), float(b.mean())
    ratio = mean_a / mean_b if mean_b != 0 else math.nan
    if n < 2:
        return Interval(ratio, math.nan, math.nan, n, level)
    cov = np.cov(a, b, ddof=1)
    s_aa, s_ab, s_bb = float(cov[0, 0]), float(cov[0, 1]), float(cov[1, 1])
    q = float(stats.t.ppf((1 + level) / 2, n - 1)) ** 2 / n
    # theta^2 (mb^2 - q s_bb) - 2 theta (ma mb - q s_ab) + (ma^2 - q s_aa) <= 0
    lead = mean_b ** 2 - q * s_bb
    if lead <= 0:
        return Interval(ratio, -math.inf, math.inf, n, level)
    half = mean_a * mean_b - q * s_ab
    const = mean_a ** 2 - q * s_aa
    root = math.sqrt(max(half ** 2 - lead * const, 0.0))  # >= 0 in exact arithmetic: ratio is in the set
    return Interval(ratio, (half - root) / lead, (half + root) / lead, n, level)
