"""AUC against scikit-learn, and its stratified bootstrap interval."""

import math

import numpy as np
from sklearn.metrics import roc_auc_score

from birdkit.stats import auc_interval, auc_score


def test_auc_equals_sklearn_with_ties():
    rng = np.random.default_rng(0)
    for _ in range(20):
        y = rng.integers(0, 2, 60)
        s = rng.integers(0, 5, 60).astype(float)  # many ties
        if 0 < y.sum() < 60:
            assert abs(auc_score(y, s) - roc_auc_score(y, s)) < 1e-12
    assert math.isnan(auc_score([1, 1], [0.2, 0.3]))


def test_interval_brackets_the_point_and_separates_when_the_score_does():
    rng = np.random.default_rng(1)
    y = np.r_[np.ones(80), np.zeros(80)]
    noise = auc_interval(y, rng.normal(size=160), n_resamples=500)
    assert noise.low < 0.5 < noise.high and noise.low <= noise.mean <= noise.high
    good = auc_interval(y, y + rng.normal(scale=0.5, size=160), n_resamples=500)
    assert good.low > 0.8 and good.n == 160
