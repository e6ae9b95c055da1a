r"""The area under the ROC curve of a score that should separate two classes, with an interval.

``AUC = P(s_1 > s_0) + P(s_1 = s_0) / 2`` for a random positive and a random negative: the
Mann-Whitney U statistic over ``n_1 n_0`` (computed from mid-ranks, ``scipy.stats.rankdata``).
0.5 means the score cannot tell the classes apart. The interval is the stratified percentile
bootstrap: positives and negatives are resampled separately, so every resample keeps both
classes' sizes (Efron & Tibshirani 1993, ch. 13). See ``docs/statistics.md``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats

from birdkit.stats.intervals import Interval

__all__ = ["auc_interval", "auc_score"]


def auc_score(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> float:
    """AUC of ``scores`` for binary ``labels`` (1 positive); NaN without both classes."""
    y = np.asarray(labels).astype(bool)
    s = np.asarray(scores, dtype=float)
    n1, n0 = int(y.sum()), int((~y).sum())
    if n1 == 0 or n0 == 0:
        return math.nan
    r = stats.rankdata(s)
    return float((r[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def auc_interval(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray, *, level: float = 0.95,
                 n_resamples: int = 2000, seed: int = 0) -> Interval:
    """AUC and its stratified percentile-bootstrap interval (``n`` is the number of items)."""
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    y = np.asarray(labels).astype(bool)
    s = np.asarray(scores, dtype=float)
    point = auc_score(y, s)
    if math.isnan(point):
        return Interval(point, math.nan, math.nan, len(y), level)
    rng = np.random.default_rng(seed)
    pos, neg = s[y], s[~y]
    boots = np.empty(n_resamples)
    for k in range(n_resamples):
        a, b = rng.choice(pos, len(pos)), rng.choice(neg, len(neg))
        boots[k] = auc_score(np.r_[np.ones(len(a)), np.zeros(len(b))], np.r_[a, b])
    low, high = np.quantile(boots, [(1 - level) / 2, (1 + level) / 2])
    return Interval(point, float(low), float(high), len(y), level)
