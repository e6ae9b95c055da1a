r"""Paired comparisons over seeds: per-seed differences, their t-interval, wins and a verdict.

Two methods run on the same seeds (same teacher, student initialisation and test images) are
compared through the per-seed difference ``d_k = a_k - b_k``; the interval is the Student-t
interval of the mean difference, ``mean(d) +- t_{(1 + level) / 2, n - 1} * s_d / sqrt(n)``
(the paired t-test's interval), and the verdict is :func:`birdkit.stats.intervals.verdict`.
See ``docs/statistics.md``.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from dataclasses import dataclass

from birdkit.stats.intervals import Interval, mean_interval, verdict

__all__ = ["Comparison", "compare_paired", "paired_differences"]


def _sorted_keys(keys: set[Hashable]) -> list[Hashable]:
    try:
        return sorted(keys)  # type: ignore[type-var]
    except TypeError:  # keys of mixed, unorderable types: a stable order all the same
        return sorted(keys, key=lambda k: (type(k).__name__, repr(k)))


def paired_differences(a: Mapping[Hashable, float], b: Mapping[Hashable, float]) -> list[float]:
    """``a[k] - b[k]`` for the keys (seeds) both mappings have, in sorted key order.

    A key whose value is NaN in either mapping is dropped (pairwise deletion); keys only one
    mapping has are ignored. Raises ``ValueError`` when no key is shared.
    """
    shared = set(a) & set(b)
    if not shared:
        raise ValueError(f"no shared keys (seeds) to pair: a has {_sorted_keys(set(a))[:10]}, "
                         f"b has {_sorted_keys(set(b))[:10]}")
    out = []
    for k in _sorted_keys(shared):
        x, y = float(a[k]), float(b[k])
        if not (math.isnan(x) or math.isnan(y)):
            out.append(x - y)
    return out


@dataclass(frozen=True)
class Comparison:
    """The paired comparison of ``a`` with ``b`` over ``n`` seeds.

    ``interval`` is the t-interval of the mean of ``a - b``; ``wins`` counts the seeds where
    ``a`` is better than ``b`` (difference > 0, or < 0 when lower is better), ``ties`` those
    where the difference is exactly 0; ``verdict`` is ``"better"`` / ``"worse"`` /
    ``"not resolved"``.
    """

    interval: Interval
    wins: int
    ties: int
    n: int
    verdict: str

    @property
    def label(self) -> str:
        """The mean difference and its interval, two decimals: ``"+1.23 [0.40, 2.06]"``."""
        iv = self.interval
        return f"{iv.mean:+.2f} [{iv.low:.2f}, {iv.high:.2f}]"


def compare_paired(a: Mapping[Hashable, float], b: Mapping[Hashable, float], *, level: float = 0.95,
                   higher_is_better: bool = True, scale: float = 1.0) -> Comparison:
    """Compare ``a`` with ``b`` seed by seed: the t-interval of the mean of ``scale * (a - b)``.

    ``scale`` multiplies the values (100 turns accuracies into percentage points). Seeds that
    only one side has, or that are NaN on either side, are left out (:func:`paired_differences`).
    """
    diffs = [scale * d for d in paired_differences(a, b)]
    interval = mean_interval(diffs, level)
    sign = 1.0 if higher_is_better else -1.0
    wins = sum(1 for d in diffs if sign * d > 0)
    ties = sum(1 for d in diffs if d == 0)
    return Comparison(interval, wins, ties, len(diffs), verdict(interval, higher_is_better=higher_is_better))
