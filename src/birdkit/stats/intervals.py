r"""Confidence intervals for a mean over a few seeds, and the verdict they allow.

With ``k`` seeds and values ``x_1..x_k`` (a method's robust accuracy, or a per-seed paired
difference ``BIRD - X``), the two-sided Student-t interval is

    mean +- t_{(1 + level) / 2, k - 1} * s / sqrt(k)

with ``s`` the sample standard deviation (ddof 1); scipy.stats.t gives the quantile. It assumes
the seed-to-seed values are roughly normal; with 3 seeds its half-width is 2.48 s, so only
large, consistent effects resolve. A comparison is *better* / *worse* when the interval of the
difference lies entirely above / below 0, and *not resolved* otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats

__all__ = ["Interval", "mean_interval", "verdict"]


@dataclass(frozen=True)
class Interval:
    """A mean and its two-sided confidence interval (``low``, ``high``) from ``n`` values."""

    mean: float
    low: float
    high: float
    n: int
    level: float = 0.95

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2


def mean_interval(values: Sequence[float], level: float = 0.95) -> Interval:
    """Student-t interval of the mean of ``values`` (NaN bounds for fewer than two finite values)."""
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    xs = [float(v) for v in values if not math.isnan(float(v))]
    n = len(xs)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0, level)
    mean = sum(xs) / n
    if n < 2:
        return Interval(mean, math.nan, math.nan, n, level)
    sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1))
    half = float(stats.t.ppf((1 + level) / 2, n - 1)) * sd / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n, level)


def verdict(interval: Interval, *, higher_is_better: bool = True) -> str:
    """``"better"`` / ``"worse"`` when the interval of a difference excludes 0, else ``"not resolved"``."""
    if math.isnan(interval.low) or math.isnan(interval.high):
        return "not resolved"
    if interval.low > 0:
        return "better" if higher_is_better else "worse"
    if interval.high < 0:
        return "worse" if higher_is_better else "better"
    return "not resolved"
