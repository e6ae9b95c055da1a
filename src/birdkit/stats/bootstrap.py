r"""Bootstrap intervals: one sample (``scipy.stats.bootstrap``) and the two-way crossed design.

``bootstrap_interval`` resamples one set of values (BCa by default, Efron 1987) through
``scipy.stats.bootstrap``. ``two_way_bootstrap`` is for per-image results on several seeds:
every seed is evaluated on the *same* test images, so the seeds x images table is a crossed
design, and both the seeds and the images are samples whose variation the interval must carry.
Each resample draws the seed rows and the image columns independently with replacement (the
pigeonhole bootstrap, Owen 2007; the nested case is Davison & Hinkley 1997, section 3.8), the
same draws for every array so that comparisons stay paired. For count vectors ``w_s`` (seeds)
and ``w_i`` (images) the mean of the resampled table is

    m = w_s^T A w_i / (sum(w_s) sum(w_i)) = w_s^T A w_i / (S N)

so the resampled table is never built. See ``docs/statistics.md``.
"""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from birdkit.stats.intervals import Interval

__all__ = ["bootstrap_interval", "crossed_weighted_means", "two_way_bootstrap"]

#: scipy >= 1.15 takes ``rng``; older releases ``random_state``
_RNG_KEYWORD = "rng" if "rng" in inspect.signature(stats.bootstrap).parameters else "random_state"
_METHODS = ("BCa", "percentile", "basic")
#: resamples drawn and evaluated at once by two_way_bootstrap (memory: CHUNK x N floats)
CHUNK = 256


def _check_level(level: float) -> None:
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")


def bootstrap_interval(values: Sequence[float] | ArrayLike, statistic: Callable[..., float] = np.mean, *,
                       level: float = 0.95, n_resamples: int = 9999, seed: int = 0,
                       method: str = "BCa") -> Interval:
    """Bootstrap interval of ``statistic(values)`` by ``scipy.stats.bootstrap``, deterministic for ``seed``.

    NaN values are dropped; fewer than two values give NaN bounds. When all values are equal
    every resample is the sample itself, so ``low == high == statistic(values)``; when BCa is
    otherwise degenerate (its acceleration or bias correction undefined) the percentile
    interval is returned. ``statistic`` takes an ``axis`` keyword to be vectorised (as
    ``np.mean`` and ``np.median`` do); scipy loops over resamples otherwise.
    """
    _check_level(level)
    if method not in _METHODS:
        raise ValueError(f"method must be one of {', '.join(_METHODS)}, got {method!r}")
    x = np.asarray(values, dtype=float).ravel()
    x = x[~np.isnan(x)]
    n = int(x.size)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0, level)
    point = float(statistic(x))
    if n < 2:
        return Interval(point, math.nan, math.nan, n, level)
    if np.all(x == x[0]):
        return Interval(point, point, point, n, level)

    def run(how: str) -> tuple[float, float]:
        res = stats.bootstrap((x,), statistic, n_resamples=n_resamples, confidence_level=level, method=how,
                              **{_RNG_KEYWORD: np.random.default_rng(seed)})
        return float(res.confidence_interval.low), float(res.confidence_interval.high)

    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)  # handled below
        low, high = run(method)
    if method == "BCa" and not (math.isfinite(low) and math.isfinite(high)):
        low, high = run("percentile")
    return Interval(point, low, high, n, level)


def _as_tables(arrays: Sequence[ArrayLike] | np.ndarray) -> list[np.ndarray]:
    if isinstance(arrays, np.ndarray) and arrays.ndim == 2:
        arrays = [arrays]
    tables = [np.asarray(a, dtype=float) for a in arrays]
    if not tables:
        raise ValueError("need at least one (seeds, images) array")
    shape = tables[0].shape
    if len(shape) != 2 or 0 in shape:
        raise ValueError(f"arrays must be non-empty 2-D (seeds, images), got shape {shape}")
    if any(t.shape != shape for t in tables):
        raise ValueError(f"all arrays must share one (seeds, images) shape, got {[t.shape for t in tables]}")
    if not all(np.isfinite(t).all() for t in tables):
        raise ValueError("arrays must be finite (no NaN or inf)")
    return tables


def crossed_weighted_means(arrays: Sequence[ArrayLike] | np.ndarray, seed_counts: ArrayLike,
                           image_counts: ArrayLike) -> np.ndarray:
    """Means of resampled (seeds, images) tables from count weights, without building the tables.

    ``seed_counts`` is (R, S) and ``image_counts`` (R, N): how often resample ``r`` drew each
    seed row and each image column. Returns a (k, R) array, ``m[j, r] = w_s^T A_j w_i /
    (sum w_s * sum w_i)``, which is the mean of ``A_j`` restricted to the drawn rows and columns.
    """
    tables = _as_tables(arrays)
    ws = np.atleast_2d(np.asarray(seed_counts, dtype=float))
    wi = np.atleast_2d(np.asarray(image_counts, dtype=float))
    s, n = tables[0].shape
    if ws.shape[1] != s or wi.shape[1] != n or ws.shape[0] != wi.shape[0]:
        raise ValueError(f"counts of shape {ws.shape} and {wi.shape} do not fit tables of shape {(s, n)}")
    norm = ws.sum(axis=1) * wi.sum(axis=1)
    return np.stack([np.einsum("rn,rn->r", ws @ t, wi) / norm for t in tables])


def _counts(rng: np.random.Generator, size: int, k: int) -> np.ndarray:
    """(size, k) counts of ``k`` draws with replacement from ``k`` items, one row per resample."""
    idx = rng.integers(0, k, size=(size, k)) + k * np.arange(size)[:, None]
    return np.bincount(idx.ravel(), minlength=size * k).reshape(size, k)


def _first(mean: np.ndarray, *rest: np.ndarray) -> np.ndarray:
    return mean


def two_way_bootstrap(arrays: Sequence[ArrayLike] | np.ndarray, statistic: Callable[..., float] = _first, *,
                      level: float = 0.95, n_resamples: int = 2000, seed: int = 0,
                      vectorized: bool = True) -> Interval:
    """Two-way (seeds x images) percentile bootstrap interval of ``statistic(m_1, ..., m_k)``.

    Every array is (S seeds, N images), e.g. per-image 0/1 correctness of method, none and
    oracle on the same seeds and images. Each resample draws S seeds and N images with
    replacement, the same draws for every array, and ``m_j`` is the mean of array ``j`` over the
    drawn cells (:func:`crossed_weighted_means`). The default statistic is ``m_1``; the PGR is
    ``lambda m, n, o: (m - n) / (o - n)``. With ``vectorized`` the statistic receives arrays of
    resample means and must act elementwise (numpy arithmetic does); otherwise it is called once
    per resample with floats. The point estimate is the statistic of the full-table means;
    ``n`` is the number of seeds. A NaN statistic in any resample gives NaN bounds.
    """
    _check_level(level)
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    tables = _as_tables(arrays)
    s = tables[0].shape[0]
    rng = np.random.default_rng(seed)
    out = np.empty(n_resamples)
    with np.errstate(divide="ignore", invalid="ignore"):  # a 0 / 0 statistic is NaN, handled below
        point = float(statistic(*[t.mean() for t in tables]))
        _fill(out, tables, statistic, rng, vectorized)
    if np.isnan(out).any():
        return Interval(point, math.nan, math.nan, s, level)
    low, high = np.quantile(out, [(1 - level) / 2, (1 + level) / 2])
    return Interval(point, float(low), float(high), s, level)


def _fill(out: np.ndarray, tables: list[np.ndarray], statistic: Callable[..., float], rng: np.random.Generator,
          vectorized: bool) -> None:
    """Write the statistic of ``out.size`` resamples into ``out``, ``CHUNK`` resamples at a time."""
    s, n = tables[0].shape
    n_resamples = out.size
    for start in range(0, n_resamples, CHUNK):
        size = min(CHUNK, n_resamples - start)
        means = crossed_weighted_means(tables, _counts(rng, size, s), _counts(rng, size, n))
        if vectorized:
            values = np.asarray(statistic(*means), dtype=float)
            if values.shape != (size,):
                raise ValueError(f"a vectorized statistic must return one value per resample ({size}), got shape "
                                 f"{values.shape}; pass vectorized=False")
        else:
            values = np.array([float(statistic(*col)) for col in means.T])
        out[start:start + size] = values
