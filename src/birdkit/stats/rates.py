r"""Interval of a rate (successes out of trials): the Wilson score interval.

With ``k`` successes in ``n`` trials, ``p_hat = k / n`` and ``z = Phi^{-1}((1 + level) / 2)``,
the Wilson interval is every ``p`` the score test does not reject,
``|p_hat - p| <= z sqrt(p (1 - p) / n)``, i.e.

    (p_hat + z^2 / 2n  +-  z sqrt(p_hat (1 - p_hat) / n + z^2 / 4n^2)) / (1 + z^2 / n)

It stays inside [0, 1] and keeps close to nominal coverage for small ``n`` and rates near 0
or 1, where the Wald interval ``p_hat +- z sqrt(p_hat (1 - p_hat) / n)`` fails. Computed by
``scipy.stats.binomtest(...).proportion_ci(method="wilson")``. See ``docs/statistics.md``.
"""

from __future__ import annotations

import math

from scipy import stats

from birdkit.stats.intervals import Interval

__all__ = ["wilson_interval"]


def wilson_interval(successes: int, n: int, level: float = 0.95) -> Interval:
    """Wilson score interval of the rate ``successes / n`` (NaN mean and bounds when ``n == 0``)."""
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if int(successes) != successes or int(n) != n:
        raise ValueError(f"successes and n must be whole numbers, got {successes} and {n}")
    k, n = int(successes), int(n)
    if n < 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= successes <= n, got successes={k}, n={n}")
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0, level)
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=level, method="wilson")
    return Interval(k / n, float(ci.low), float(ci.high), n, level)
