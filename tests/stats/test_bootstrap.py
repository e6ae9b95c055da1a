"""bootstrap_interval against scipy.stats.bootstrap called directly; two_way_bootstrap against
explicit index resampling of the (seeds, images) tables, against one-way bootstraps on data
with and without a seed effect, and by its coverage in a crossed random-effects model."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from scipy import stats

from birdkit.stats import Interval, bootstrap_interval, crossed_weighted_means, two_way_bootstrap


def _pgr(m, n, o):
    return (m - n) / (o - n)


# ----------------------------------------------------------------------------- one sample

@pytest.mark.parametrize("method", ["BCa", "percentile", "basic"])
@pytest.mark.parametrize("statistic", [np.mean, np.median])
def test_one_sample_equals_scipy_called_directly(method, statistic):
    x = np.random.default_rng(3).lognormal(size=12)
    iv = bootstrap_interval(x, statistic, level=0.9, n_resamples=2000, seed=7, method=method)
    ref = stats.bootstrap((x,), statistic, n_resamples=2000, confidence_level=0.9, method=method,
                          rng=np.random.default_rng(7))
    assert iv.low == float(ref.confidence_interval.low) and iv.high == float(ref.confidence_interval.high)
    assert iv.mean == pytest.approx(float(statistic(x))) and iv.n == 12 and iv.level == 0.9


def test_one_sample_is_deterministic_per_seed_and_bca_is_the_default():
    x = [0.61, 0.64, 0.58, 0.66, 0.70, 0.59]
    assert bootstrap_interval(x, seed=1) == bootstrap_interval(x, seed=1)
    assert bootstrap_interval(x, seed=1) != bootstrap_interval(x, seed=2)
    assert bootstrap_interval(x, seed=1) == bootstrap_interval(x, seed=1, method="BCa")
    assert bootstrap_interval(x, seed=1) != bootstrap_interval(x, seed=1, method="percentile")


def test_all_equal_values_give_a_point_interval():
    iv = bootstrap_interval([0.25] * 6)
    assert iv.low == iv.high == iv.mean == 0.25 and iv.n == 6


def test_degenerate_bca_falls_back_to_percentile():
    x = np.array([1.0] * 9 + [2.0])       # every jackknife median is 1: BCa's acceleration is 0 / 0
    with pytest.warns(stats.DegenerateDataWarning), np.errstate(invalid="ignore"):
        bca = stats.bootstrap((x,), np.median, n_resamples=999, rng=np.random.default_rng(0))
    assert math.isnan(bca.confidence_interval.low)
    pct = stats.bootstrap((x,), np.median, n_resamples=999, method="percentile", rng=np.random.default_rng(0))
    iv = bootstrap_interval(x, np.median, n_resamples=999)
    assert (iv.low, iv.high) == (float(pct.confidence_interval.low), float(pct.confidence_interval.high))


def test_nan_dropped_and_too_few_values():
    x = [0.3, math.nan, 0.5, 0.4, 0.45]
    assert bootstrap_interval(x, n_resamples=500) == bootstrap_interval([0.3, 0.5, 0.4, 0.45], n_resamples=500)
    one = bootstrap_interval([0.3, math.nan])
    assert one.mean == 0.3 and math.isnan(one.low) and one.n == 1
    assert bootstrap_interval([]).n == 0
    with pytest.raises(ValueError, match="method"):
        bootstrap_interval(x, method="bca")


# ----------------------------------------------------------------------------- two-way

def _explicit_means(tables, seed_idx, image_idx):
    return np.array([[t[np.ix_(si, ii)].mean() for si, ii in zip(seed_idx, image_idx)] for t in tables])


def _bincounts(idx, k):
    return np.array([np.bincount(row, minlength=k) for row in idx])


def test_weighted_means_equal_explicit_resampling():
    rng = np.random.default_rng(11)
    tables = [rng.random((4, 7)), (rng.random((4, 7)) < 0.5).astype(float)]
    seed_idx = rng.integers(0, 4, size=(25, 4))
    image_idx = rng.integers(0, 7, size=(25, 7))
    got = crossed_weighted_means(tables, _bincounts(seed_idx, 4), _bincounts(image_idx, 7))
    np.testing.assert_allclose(got, _explicit_means(tables, seed_idx, image_idx), rtol=1e-12, atol=1e-14)
    # draws of another size than the table (m-out-of-n): the normalisation uses the counts' sums
    seed_idx, image_idx = rng.integers(0, 4, size=(5, 2)), rng.integers(0, 7, size=(5, 12))
    got = crossed_weighted_means(tables, _bincounts(seed_idx, 4), _bincounts(image_idx, 7))
    np.testing.assert_allclose(got, _explicit_means(tables, seed_idx, image_idx), rtol=1e-12, atol=1e-14)


def test_two_way_agrees_with_an_explicit_resampling_bootstrap():
    rng = np.random.default_rng(5)
    s, n = 4, 60
    p = rng.beta(2, 2, n)
    none = (rng.random((s, n)) < p).astype(float)
    oracle = np.maximum(none, rng.random((s, n)) < 0.4)
    method = np.where(rng.random((s, n)) < 0.5, oracle, none)
    tables = [method, none, oracle]
    r = 4000
    ref_rng = np.random.default_rng(123)
    m = _explicit_means(tables, ref_rng.integers(0, s, size=(r, s)), ref_rng.integers(0, n, size=(r, n)))
    ref_low, ref_high = np.quantile(_pgr(*m), [0.025, 0.975])
    iv = two_way_bootstrap(tables, _pgr, n_resamples=r)
    width = ref_high - ref_low
    assert abs(iv.low - ref_low) < 0.1 * width and abs(iv.high - ref_high) < 0.1 * width
    full = [t.mean() for t in tables]
    assert iv.mean == pytest.approx(_pgr(*full), rel=1e-12) and iv.n == s


def test_two_way_is_deterministic_per_seed_and_vectorized_equals_the_loop():
    rng = np.random.default_rng(2)
    tables = [(rng.random((3, 200)) < q).astype(float) for q in (0.6, 0.5, 0.8)]
    a = two_way_bootstrap(tables, _pgr, n_resamples=700, seed=4)
    assert a == two_way_bootstrap(tables, _pgr, n_resamples=700, seed=4)
    assert a != two_way_bootstrap(tables, _pgr, n_resamples=700, seed=5)
    loop = two_way_bootstrap(tables, lambda m, n, o: float(_pgr(m, n, o)), n_resamples=700, seed=4, vectorized=False)
    assert loop.low == pytest.approx(a.low, rel=1e-12) and loop.high == pytest.approx(a.high, rel=1e-12)
    first = two_way_bootstrap(tables, n_resamples=700, seed=4)   # default statistic: mean of the first array
    assert first.mean == pytest.approx(tables[0].mean()) and first.low < first.mean < first.high
    assert two_way_bootstrap(tables[0], n_resamples=700, seed=4) == first   # a single table


def _image_only_width(table, r=2000, seed=1):
    cols = table.mean(axis=0)
    idx = np.random.default_rng(seed).integers(0, cols.size, size=(r, cols.size))
    low, high = np.quantile(cols[idx].mean(axis=1), [0.025, 0.975])
    return high - low


def test_without_a_seed_effect_the_width_is_the_image_only_bootstrap():
    rng = np.random.default_rng(0)
    s, n = 5, 2000
    p = rng.beta(0.5, 0.5, n)
    same = np.tile((rng.random(n) < p).astype(float), (s, 1))   # every seed right on the same images
    iv = two_way_bootstrap([same])
    assert 0.9 < (iv.high - iv.low) / _image_only_width(same) < 1.1
    noisy = (rng.random((s, n)) < p).astype(float)               # seeds differ only by per-image noise
    iv = two_way_bootstrap([noisy])
    assert 0.95 < (iv.high - iv.low) / _image_only_width(noisy) < 1.3


def test_a_seed_effect_widens_the_interval_far_beyond_the_image_only_bootstrap():
    rng = np.random.default_rng(0)
    s, n = 5, 2000
    p = rng.beta(0.5, 0.5, n)
    shift = np.array([-0.1, -0.05, 0.0, 0.05, 0.1])[:, None]
    table = (rng.random((s, n)) < np.clip(p + shift, 0, 1)).astype(float)
    iv = two_way_bootstrap([table])
    assert (iv.high - iv.low) / _image_only_width(table) > 3


def test_coverage_in_a_crossed_random_effects_model():
    # y_si = a_s + b_i + e_si, true mean 0; var of the grand mean = 1/S + 10/N + 1/(S N), both
    # factors matter equally, so a one-way bootstrap (seeds only or images only) under-covers
    s, n, reps = 10, 100, 300
    hits = {"two-way": 0, "images only": 0, "seeds only": 0}
    for r in range(reps):
        g = np.random.default_rng(1000 + r)
        y = g.normal(0, 1, (s, 1)) + g.normal(0, math.sqrt(10), (1, n)) + g.normal(0, 1, (s, n))
        iv = two_way_bootstrap([y], n_resamples=1000, seed=r)
        hits["two-way"] += iv.low <= 0 <= iv.high
        for key, means in (("images only", y.mean(axis=0)), ("seeds only", y.mean(axis=1))):
            idx = g.integers(0, means.size, size=(1000, means.size))
            low, high = np.quantile(means[idx].mean(axis=1), [0.025, 0.975])
            hits[key] += low <= 0 <= high
    cover = {k: v / reps for k, v in hits.items()}
    assert cover["two-way"] >= 0.9, cover
    assert cover["images only"] <= 0.88 and cover["seeds only"] <= 0.88, cover


def test_the_benchmark_size_runs_in_seconds():
    rng = np.random.default_rng(0)
    tables = [(rng.random((5, 5000)) < q).astype(float) for q in (0.6, 0.5, 0.7)]
    start = time.perf_counter()
    iv = two_way_bootstrap(tables, _pgr, n_resamples=2000)
    assert time.perf_counter() - start < 20
    assert isinstance(iv, Interval) and iv.low < iv.mean < iv.high


def test_two_way_refuses_bad_input():
    good = np.zeros((3, 4))
    with pytest.raises(ValueError, match="shape"):
        two_way_bootstrap([good, np.zeros((3, 5))])
    with pytest.raises(ValueError, match="2-D"):
        two_way_bootstrap([np.zeros(4)])
    with pytest.raises(ValueError, match="finite"):
        two_way_bootstrap([np.full((3, 4), math.nan)])
    with pytest.raises(ValueError, match="vectorized=False"):
        two_way_bootstrap([good], lambda m: 0.0)
    with pytest.raises(ValueError, match="level"):
        two_way_bootstrap([good], level=1.5)


def test_a_nan_statistic_gives_nan_bounds():
    zeros = np.zeros((3, 4))
    iv = two_way_bootstrap([zeros, zeros, zeros], _pgr, n_resamples=50)
    assert math.isnan(iv.mean) and math.isnan(iv.low) and math.isnan(iv.high)
    oracle = np.ones((3, 4))
    oracle[0, 0] = 0.0   # a resample without cell (0, 0) has oracle == none: PGR 0 / 0
    iv = two_way_bootstrap([np.ones((3, 4)), np.ones((3, 4)), oracle], _pgr, n_resamples=200)
    assert iv.mean == 0.0 and math.isnan(iv.low) and math.isnan(iv.high)
