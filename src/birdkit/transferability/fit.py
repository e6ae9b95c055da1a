r"""How well do teacher properties predict the result of a transfer? A fit users can trust.

BIRD (§5) reports that a linear model of post-transfer robust accuracy on its three teacher
properties reaches R^2 = 0.736-0.855 over 400+ pairs. :func:`fit_rows` fits that model on a
study's rows and reports what a user needs to trust it (docs/study.md):

* R^2 in sample and adjusted, ``1 - (1 - R^2)(n - 1)/(n - p - 1)``;
* cross-validated R^2 with folds **grouped by teacher** (a teacher's seeds or students never sit on
  both sides of a split), ``1 - SS_res(out of fold) / SS_tot``;
* each predictor's own R^2, and standardised coefficients (per standard deviation of the
  predictor), with percentile-bootstrap intervals that resample *groups* (teachers);
* for every predictor (the properties and the transferability baselines), Spearman's and Kendall's
  rank correlation with the outcome, with group-bootstrap intervals.

The model is saved as plain JSON (:func:`save_fit`, no pickle) and applied with :func:`predict`.
scikit-learn's ``LinearRegression`` and ``GroupKFold`` do the fitting, scipy the rank correlations.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from birdkit.errors import BirdkitError
from birdkit.io import read_json, write_bytes, write_json
from birdkit.stats import compare_paired, mean_interval

__all__ = ["BASELINES", "PAIR_KEY", "PROPERTIES", "StudyFit", "fit_rows", "holdout_regret", "load_fit",
           "mean_over_seeds", "plot_fit", "predict", "rank_correlations", "save_fit", "seed_reliability"]

PROPERTIES = ("task_relevance", "complementary_knowledge", "behavioral_relevance")
BASELINES = ("leep", "nce", "h_score", "logme")
PAIR_KEY = ("student", "teacher", "layer")  # what names a pair across its seeds


@dataclass
class StudyFit:
    """A fitted linear model of ``target`` on ``predictors`` and its diagnostics (module docs)."""

    target: str
    predictors: list[str]
    n: int
    groups: int
    r2: float
    r2_adj: float
    r2_cv: float
    folds: int
    intercept: float
    coef: dict[str, float]          # per unit of each predictor
    mean: dict[str, float]
    std: dict[str, float]
    coef_std: dict[str, list[float]]  # per standard deviation: [estimate, low, high]
    r2_alone: dict[str, float]
    r2_ci: list[float]               # bootstrap interval of the in-sample R^2
    ranks: dict[str, dict[str, float]] = field(default_factory=dict)
    level: float = 0.95

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _matrix(rows: Sequence[Mapping[str, Any]], cols: Sequence[str]) -> np.ndarray:
    missing = [c for c in cols if c not in rows[0]]
    if missing:
        raise BirdkitError(f"the rows have no column {missing[0]!r}; columns: {', '.join(rows[0])}")
    return np.array([[float(r[c]) for c in cols] for r in rows], dtype=float)


def _r2(x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray, float]:
    from sklearn.linear_model import LinearRegression  # optional extra: birdkit[study]

    m = LinearRegression().fit(x, y)
    return float(m.score(x, y)), m.coef_, float(m.intercept_)


def _boot_fits(x: np.ndarray, y: np.ndarray, resamples: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """R^2 and standardised slopes of ``y ~ 1 + x`` on every resample, by NumPy least squares
    (the same numbers as scikit-learn's LinearRegression without its per-fit overhead)."""
    r2s, coefs = [], []
    for idx in resamples:
        xi, yi = x[idx], y[idx]
        a = np.c_[np.ones(len(xi)), xi]
        beta = np.linalg.lstsq(a, yi, rcond=None)[0]
        res, tot = yi - a @ beta, yi - yi.mean()
        r2s.append(1 - (res @ res) / (tot @ tot))
        coefs.append(beta[1:] * xi.std(0))
    return np.array(r2s), np.array(coefs)


def _group_ids(rows: Sequence[Mapping[str, Any]], group: str | None) -> np.ndarray:
    if group is None:
        return np.arange(len(rows))
    if group not in rows[0]:
        raise BirdkitError(f"the rows have no group column {group!r}; columns: {', '.join(rows[0])}")
    names = {}
    return np.array([names.setdefault(str(r[group]), len(names)) for r in rows])


def _boot_groups(g: np.ndarray, n_boot: int, seed: int):
    """Row indices of ``n_boot`` resamples that draw whole groups with replacement."""
    rng = np.random.default_rng(seed)
    ids = np.unique(g)
    members = {k: np.flatnonzero(g == k) for k in ids}
    for _ in range(n_boot):
        yield np.concatenate([members[k] for k in rng.choice(ids, len(ids))])


def _ranks(a: np.ndarray) -> np.ndarray:
    """Average ranks of each row of ``a`` (ties share their mean rank), as scipy.stats.rankdata."""
    return stats.rankdata(a, axis=-1)


def _spearman_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman's rho of each row pair of ``x`` and ``y`` (resamples x n): Pearson of the ranks."""
    rx, ry = _ranks(x), _ranks(y)
    rx -= rx.mean(1, keepdims=True)
    ry -= ry.mean(1, keepdims=True)
    return (rx * ry).sum(1) / np.sqrt((rx * rx).sum(1) * (ry * ry).sum(1))


def _kendall_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Kendall's tau-b of each row pair: ``sum sx sy / sqrt(sum |sx| sum |sy|)`` over all ordered
    pairs, ``sx = sign(x_i - x_j)`` (tied pairs drop out of their side's count, as in tau-b)."""
    sx = np.sign(x[:, :, None] - x[:, None, :])
    sy = np.sign(y[:, :, None] - y[:, None, :])
    return (sx * sy).sum((1, 2)) / np.sqrt(np.abs(sx).sum((1, 2)) * np.abs(sy).sum((1, 2)))


def rank_correlations(rows: Sequence[Mapping[str, Any]], predictors: Sequence[str], target: str, *,
                      group: str | None = "teacher", level: float = 0.95, n_boot: int = 2000,
                      seed: int = 0) -> dict[str, dict[str, float]]:
    """Spearman's and Kendall's correlation of each predictor with ``target`` (scipy.stats), with
    percentile intervals from a bootstrap over groups (vectorised over the resamples)."""
    y = _matrix(rows, [target])[:, 0]
    g = _group_ids(rows, group)
    out = {}
    q = [(1 - level) / 2, (1 + level) / 2]
    resamples = list(_boot_groups(g, n_boot, seed))
    for p in predictors:
        x = _matrix(rows, [p])[:, 0]
        sp, kt = stats.spearmanr(x, y).statistic, stats.kendalltau(x, y).statistic
        keep = [idx for idx in resamples if np.ptp(x[idx]) > 0 and np.ptp(y[idx]) > 0]
        bs = bk = np.empty(0)
        for start in range(0, len(keep), 250):  # chunks bound the (chunk, n, n) sign arrays
            xs = np.stack([x[idx] for idx in keep[start:start + 250]])
            ys = np.stack([y[idx] for idx in keep[start:start + 250]])
            bs, bk = np.r_[bs, _spearman_rows(xs, ys)], np.r_[bk, _kendall_rows(xs, ys)]
        lo_s, hi_s = np.quantile(bs, q) if len(bs) else (math.nan, math.nan)
        lo_k, hi_k = np.quantile(bk, q) if len(bk) else (math.nan, math.nan)
        out[p] = {"spearman": float(sp), "spearman_low": float(lo_s), "spearman_high": float(hi_s),
                  "kendall": float(kt), "kendall_low": float(lo_k), "kendall_high": float(hi_k)}
    return out


def fit_rows(rows: Sequence[Mapping[str, Any]], *, target: str = "robust_heldout",
             predictors: Sequence[str] = PROPERTIES, group: str | None = "teacher", folds: int = 5,
             rank_predictors: Sequence[str] | None = None, level: float = 0.95, n_boot: int = 2000,
             seed: int = 0) -> StudyFit:
    """Fit ``target ~ predictors`` on a study's rows (module docstring)."""
    from sklearn.linear_model import LinearRegression  # optional extra: birdkit[study]
    from sklearn.model_selection import GroupKFold

    rows = list(rows)
    p = len(predictors)
    if len(rows) < p + 2:
        raise BirdkitError(f"need at least {p + 2} rows to fit {p} predictors, got {len(rows)}")
    x, y = _matrix(rows, predictors), _matrix(rows, [target])[:, 0]
    g = _group_ids(rows, group)
    n, k = len(rows), len(np.unique(g))
    r2, coef, intercept = _r2(x, y)
    r2_adj = 1 - (1 - r2) * (n - 1) / max(1, n - p - 1)
    folds = min(folds, k)
    pred = np.empty(n)
    for tr, te in GroupKFold(folds).split(x, y, g):
        pred[te] = LinearRegression().fit(x[tr], y[tr]).predict(x[te])
    r2_cv = float(1 - np.sum((y - pred) ** 2) / np.sum((y - y.mean()) ** 2))
    sd = x.std(0)
    boots_r2, boots_coef = _boot_fits(x, y, [idx for idx in _boot_groups(g, n_boot, seed)
                                             if len(np.unique(idx)) >= p + 2])
    q = [(1 - level) / 2, (1 + level) / 2]
    lo_c, hi_c = np.quantile(boots_coef, q, axis=0)
    return StudyFit(
        target=target, predictors=list(predictors), n=n, groups=k, r2=r2, r2_adj=float(r2_adj), r2_cv=r2_cv,
        folds=folds, intercept=intercept, coef=dict(zip(predictors, map(float, coef))),
        mean=dict(zip(predictors, map(float, x.mean(0)))), std=dict(zip(predictors, map(float, sd))),
        coef_std={pr: [float(coef[i] * sd[i]), float(lo_c[i]), float(hi_c[i])] for i, pr in enumerate(predictors)},
        r2_alone={pr: _r2(x[:, [i]], y)[0] for i, pr in enumerate(predictors)},
        r2_ci=[float(v) for v in np.quantile(boots_r2, q)],
        ranks=rank_correlations(rows, list(rank_predictors or predictors), target, group=group, level=level,
                                n_boot=n_boot, seed=seed),
        level=level)


def predict(fit: StudyFit | Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """The fitted model's prediction for each row (rows need the fit's predictor columns)."""
    f = fit.as_dict() if isinstance(fit, StudyFit) else fit
    x = _matrix(rows, f["predictors"])
    return f["intercept"] + x @ np.array([f["coef"][p] for p in f["predictors"]])


def save_fit(fit: StudyFit, path: str | Path) -> Path:
    """The fit as plain JSON (no pickle): what :func:`predict` and ``rank-teachers --model`` read."""
    return write_json(path, fit.as_dict(), indent=1)


def load_fit(path: str | Path) -> dict[str, Any]:
    d = read_json(path)
    for key in ("predictors", "intercept", "coef", "target"):
        if key not in d:
            raise BirdkitError(f"{path} is not a birdkit study fit (no {key!r})")
    return d


def plot_fit(fit: StudyFit, rows: Sequence[Mapping[str, Any]], path: str | Path) -> Path:
    """Predicted vs measured ``target`` (one point per row), with the identity line."""
    from matplotlib.figure import Figure  # optional extra: birdkit[report]

    y = _matrix(rows, [fit.target])[:, 0]
    yhat = predict(fit, rows)
    fig = Figure(figsize=(4.4, 4.2))
    ax = fig.subplots()
    ax.scatter(yhat, y, s=14, alpha=0.8)
    lo, hi = float(min(y.min(), yhat.min())), float(max(y.max(), yhat.max()))
    ax.plot([lo, hi], [lo, hi], color="grey", lw=0.8)
    ax.set_xlabel(f"predicted {fit.target}")
    ax.set_ylabel(f"measured {fit.target}")
    ax.set_title(f"R^2 {fit.r2:.2f} in sample, {fit.r2_cv:.2f} grouped CV (n = {fit.n})", fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    return write_bytes(path, buf.getvalue())


def _zrule(x: np.ndarray) -> np.ndarray:
    sd = x.std(0)
    return np.where(sd > 0, (x - x.mean(0)) / np.where(sd > 0, sd, 1), 0.0).mean(1)


def holdout_regret(rows: Sequence[Mapping[str, Any]], *, predictors: Sequence[str] = PROPERTIES,
                   rankers: Sequence[str] = (), target: str = "robust_heldout", group: str = "teacher",
                   context: Sequence[str] = ("student", "layer", "seed"), folds: int = 5,
                   level: float = 0.95) -> dict[str, Any]:
    """Choosing a teacher for teachers never seen by the fit: regret against the best in hindsight.

    Teachers are split into ``folds`` groups; for each fold the linear model is fitted on the other
    teachers' rows, and for every context (a student, layer and seed) the held-out teachers are
    ranked by (a) the model's prediction, (b) the default rule (mean z-score of the three
    properties among the candidates), (c) each column of ``rankers`` alone, oriented by the sign of
    its correlation with the target in the training folds, and (d) chance (the mean over the
    candidates). Regret = the best candidate's ``target`` minus the chosen one's. Returns the
    per-(fold, context) records and, per chooser, the mean regret with a Student-t interval over
    the records and the paired difference to chance."""
    from sklearn.linear_model import LinearRegression  # optional extra: birdkit[study]
    from sklearn.model_selection import GroupKFold

    rows = list(rows)
    g = _group_ids(rows, group)
    x, y = _matrix(rows, predictors), _matrix(rows, [target])[:, 0]
    extra = _matrix(rows, rankers) if rankers else np.empty((len(rows), 0))
    ctx = np.array(["|".join(str(r.get(c, "")) for c in context) for r in rows])
    records = []
    for k, (tr, te) in enumerate(GroupKFold(min(folds, len(np.unique(g)))).split(x, y, g)):
        model = LinearRegression().fit(x[tr], y[tr])
        signs = [1.0 if stats.spearmanr(extra[tr, j], y[tr]).statistic >= 0 else -1.0 for j in range(extra.shape[1])]
        for c in np.unique(ctx[te]):
            idx = te[ctx[te] == c]
            if len(idx) < 2:
                continue
            best = y[idx].max()
            rec = {"fold": k, "context": c, "candidates": len(idx), "best": float(best),
                   "model": float(best - y[idx][np.argmax(model.predict(x[idx]))]),
                   "default_rule": float(best - y[idx][np.argmax(_zrule(x[idx]))]),
                   "chance": float(best - y[idx].mean())}
            for j, name in enumerate(rankers):
                rec[name] = float(best - y[idx][np.argmax(signs[j] * extra[idx, j])])
            records.append(rec)
    choosers = ["model", "default_rule", *rankers, "chance"]
    summary = {}
    for ch in choosers:
        iv = mean_interval([r[ch] for r in records], level)
        summary[ch] = {"regret": iv.mean, "low": iv.low, "high": iv.high, "n": iv.n}
        if ch != "chance":
            comp = compare_paired({i: r[ch] for i, r in enumerate(records)},
                                  {i: r["chance"] for i, r in enumerate(records)}, level=level,
                                  higher_is_better=False)
            summary[ch].update(vs_chance=comp.interval.mean, vs_chance_low=comp.interval.low,
                               vs_chance_high=comp.interval.high, verdict=comp.verdict)
    return {"records": records, "summary": summary, "target": target, "folds": folds}


def _pairs(rows: Sequence[Mapping[str, Any]], key: Sequence[str]) -> dict[tuple, list[Mapping[str, Any]]]:
    missing = [c for c in key if c not in rows[0]]
    if missing:
        raise BirdkitError(f"the rows have no column {missing[0]!r}; columns: {', '.join(rows[0])}")
    out: dict[tuple, list[Mapping[str, Any]]] = {}
    for r in rows:
        out.setdefault(tuple(str(r[c]) for c in key), []).append(r)
    return out


def _number(v: Any) -> float | None:
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def mean_over_seeds(rows: Sequence[Mapping[str, Any]], key: Sequence[str] = PAIR_KEY,
                    seed: str = "seed") -> list[dict[str, Any]]:
    """One row per pair (``key``): every numeric column averaged over the pair's seeds, the rest
    from its first row, ``seed`` replaced by the number of seeds (``n_seeds``)."""
    out = []
    for group in _pairs(list(rows), key).values():
        row: dict[str, Any] = {}
        for c, v in group[0].items():
            if c == seed:
                continue
            vals = [_number(r.get(c)) for r in group]
            row[c] = float(np.mean(vals)) if c not in key and all(x is not None for x in vals) else v
        row["n_seeds"] = len(group)
        out.append(row)
    return out


def seed_reliability(rows: Sequence[Mapping[str, Any]], target: str = "robust_heldout", *,
                     key: Sequence[str] = PAIR_KEY, seed: str = "seed", group: str | None = "teacher",
                     level: float = 0.95, n_boot: int = 2000, boot_seed: int = 0) -> dict[str, float]:
    """How much of a single-seed outcome is the pair, and how much is seed noise.

    Over pairs with two or more seeds: the pooled within-pair (seed) standard deviation
    ``s_w`` (degrees of freedom ``sum(k_i - 1)``); the noise ceiling ``1 - s_w^2 / s_total^2``
    (``s_total``: the standard deviation of all single-seed outcomes), the largest share of their
    variance any predictor of the pair can explain; the ceiling for per-pair means of ``k`` seeds,
    ``1 - (s_w^2 / k) / s_means^2``; the Pearson correlation between the two lowest common seeds'
    outcomes (test-retest reliability); the half-width of a pair mean's interval from the pooled
    ``s_w``. Percentile intervals from a bootstrap over ``group``."""
    pairs = {k: v for k, v in _pairs(list(rows), key).items() if len(v) >= 2}
    if len(pairs) < 3:
        raise BirdkitError(f"seed reliability needs at least 3 pairs with two or more seeds, got {len(pairs)}")
    seeds = sorted(set.intersection(*({str(r[seed]) for r in v} for v in pairs.values())), key=_seed_order)
    if len(seeds) < 2:
        raise BirdkitError("seed reliability needs two seeds that every pair has")
    a_seed, b_seed = seeds[:2]
    groups = list(pairs.values())
    y = [np.array([float(r[target]) for r in v]) for v in groups]
    ab = np.array([[float(next(r[target] for r in v if str(r[seed]) == s)) for s in (a_seed, b_seed)]
                   for v in groups])
    gid = _group_ids([v[0] for v in groups], group)

    def measure(idx: np.ndarray) -> tuple[float, float, float, float]:
        ys = [y[i] for i in idx]
        df = sum(len(v) - 1 for v in ys)
        within = sum(float(np.sum((v - v.mean()) ** 2)) for v in ys) / df
        total = float(np.var(np.concatenate(ys), ddof=1))
        means = np.array([v.mean() for v in ys])
        k = float(np.mean([len(v) for v in ys]))
        r = float(np.corrcoef(ab[idx, 0], ab[idx, 1])[0, 1])
        return within, 1 - within / total, 1 - within / k / float(np.var(means, ddof=1)), r

    idx_all = np.arange(len(groups))
    within, ceiling, ceiling_mean, r = measure(idx_all)
    df = sum(len(v) - 1 for v in y)
    k = float(np.mean([len(v) for v in y]))
    boots = np.array([measure(i) for i in _boot_groups(gid, n_boot, boot_seed)])
    q = [(1 - level) / 2, (1 + level) / 2]
    lo, hi = np.quantile(boots, q, axis=0)
    return {"pairs": len(groups), "seeds_per_pair": k, "seed_a": a_seed, "seed_b": b_seed, "df": df,
            "within_sd": math.sqrt(within), "total_sd": float(np.std(np.concatenate(y), ddof=1)),
            "between_sd": float(np.std([v.mean() for v in y], ddof=1)),
            "ceiling": ceiling, "ceiling_low": float(lo[1]), "ceiling_high": float(hi[1]),
            "ceiling_mean": ceiling_mean, "ceiling_mean_low": float(lo[2]), "ceiling_mean_high": float(hi[2]),
            "test_retest": r, "test_retest_low": float(lo[3]), "test_retest_high": float(hi[3]),
            "pair_mean_half_width": float(stats.t.ppf((1 + level) / 2, df) * math.sqrt(within / k)),
            "level": level}


def _seed_order(s: str) -> tuple[int, float | str]:
    x = _number(s)
    return (0, x) if x is not None else (1, s)
