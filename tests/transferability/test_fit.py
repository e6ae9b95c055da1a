"""The study fit against scikit-learn, NumPy least squares and scipy's rank correlations."""

import numpy as np
import pytest
from scipy import stats

from birdkit.errors import BirdkitError
from birdkit.transferability import fit_rows, load_fit, predict, rank_correlations, save_fit
from studyrows import study_rows as _rows


def test_r2_adjusted_and_grouped_cv_against_independent_least_squares():
    rows = _rows()
    fit = fit_rows(rows, n_boot=200, rank_predictors=["task_relevance", "leep"])
    cols = ["task_relevance", "complementary_knowledge", "behavioral_relevance"]
    x = np.array([[r[c] for c in cols] for r in rows])
    y = np.array([r["robust_heldout"] for r in rows])
    a = np.c_[np.ones(len(x)), x]
    beta = np.linalg.lstsq(a, y, rcond=None)[0]
    r2 = 1 - np.sum((y - a @ beta) ** 2) / np.sum((y - y.mean()) ** 2)
    assert fit.r2 == pytest.approx(r2, rel=1e-9)
    assert fit.r2_adj == pytest.approx(1 - (1 - r2) * (len(y) - 1) / (len(y) - 4), rel=1e-9)
    assert fit.intercept == pytest.approx(beta[0]) and fit.coef["task_relevance"] == pytest.approx(beta[1])
    assert fit.coef_std["task_relevance"][0] == pytest.approx(beta[1] * x[:, 0].std())
    assert fit.groups == 12 and fit.n == 36 and fit.folds == 5
    # grouped CV: a teacher's three rows are always predicted by a model that never saw that teacher
    names: dict = {}
    teachers = np.array([names.setdefault(r["teacher"], len(names)) for r in rows])  # ids by first appearance
    pred = np.empty(len(y))
    from sklearn.model_selection import GroupKFold

    for tr, te in GroupKFold(5).split(x, y, teachers):
        assert not set(teachers[tr]) & set(teachers[te])
        b = np.linalg.lstsq(a[tr], y[tr], rcond=None)[0]
        pred[te] = a[te] @ b
    assert fit.r2_cv == pytest.approx(1 - np.sum((y - pred) ** 2) / np.sum((y - y.mean()) ** 2), rel=1e-9)
    assert fit.r2_cv < fit.r2 and fit.r2_ci[0] <= fit.r2 <= fit.r2_ci[1] + 1e-9
    assert fit.r2_alone["task_relevance"] > fit.r2_alone["behavioral_relevance"]


def test_rank_correlations_are_scipys_with_group_bootstrap_intervals():
    rows = _rows()
    got = rank_correlations(rows, ["leep", "task_relevance"], "robust_heldout", n_boot=300)
    x = [r["leep"] for r in rows]
    y = [r["robust_heldout"] for r in rows]
    assert got["leep"]["spearman"] == pytest.approx(stats.spearmanr(x, y).statistic)
    assert got["leep"]["kendall"] == pytest.approx(stats.kendalltau(x, y).statistic)
    assert got["leep"]["spearman_high"] < 0  # leep is built to fall with the outcome here
    assert got["task_relevance"]["spearman_low"] > 0


def test_the_saved_model_predicts_like_the_fit(tmp_path):
    rows = _rows()
    fit = fit_rows(rows, n_boot=50)
    save_fit(fit, tmp_path / "fit.json")
    loaded = load_fit(tmp_path / "fit.json")
    assert np.allclose(predict(loaded, rows), predict(fit, rows))
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(BirdkitError, match="not a birdkit study fit"):
        load_fit(tmp_path / "bad.json")


def test_bad_rows_are_refused():
    rows = _rows()
    with pytest.raises(BirdkitError, match="no column 'logme'"):
        fit_rows(rows, predictors=["logme"])
    with pytest.raises(BirdkitError, match="need at least 5 rows"):
        fit_rows(rows[:4])


def test_holdout_regret_beats_chance_when_a_property_predicts_and_recomputes_by_hand():
    from birdkit.transferability import holdout_regret

    rows = []
    for student in ("s1", "s2"):
        for r in _rows(n_teachers=15, seeds=1, seed=1 if student == "s1" else 2):
            rows.append({**r, "student": student, "layer": "x"})
    out = holdout_regret(rows, rankers=["leep"], folds=5)
    recs, summ = out["records"], out["summary"]
    assert len(recs) == 5 * 2 and all(r["candidates"] == 3 for r in recs)
    assert summ["model"]["regret"] < summ["chance"]["regret"] and summ["model"]["verdict"] == "better"
    assert summ["leep"]["regret"] < summ["chance"]["regret"]  # leep falls with the outcome: oriented by its sign
    # one record by hand: the chance regret is best minus the candidates' mean
    r0 = recs[0]
    cands = [r for r in rows if r["student"] + "|x|" + str(r["seed"]) == r0["context"]]
    assert r0["best"] in [c["robust_heldout"] for c in cands]
    assert 0 <= r0["model"] <= r0["best"] - min(c["robust_heldout"] for c in cands) + 1e-12


def _seeded_rows(noise: float, seeds=(0, 1, 2), teachers=12, students=3, rng_seed=0):
    rng = np.random.default_rng(rng_seed)
    rows = []
    for t in range(teachers):
        for s in range(students):
            effect = rng.normal(0, 1)
            for seed in seeds:
                rows.append({"student": f"s{s}", "teacher": f"t{t}", "layer": "pair", "seed": seed, "note": "x",
                             "robust_heldout": effect + rng.normal(0, noise), "task_relevance": effect})
    return rows


def test_seed_reliability_against_numpy_and_scipy():
    from birdkit.transferability import seed_reliability

    rows = _seeded_rows(0.5)
    rel = seed_reliability(rows, n_boot=200)
    y = np.array([r["robust_heldout"] for r in rows]).reshape(36, 3)
    within = np.mean(y.var(1, ddof=1))  # equal seeds per pair: the pooled variance is the mean variance
    assert rel["within_sd"] == pytest.approx(np.sqrt(within)) and rel["df"] == 36 * 2
    assert rel["ceiling"] == pytest.approx(1 - within / y.var(ddof=1))
    assert rel["ceiling_mean"] == pytest.approx(1 - within / 3 / y.mean(1).var(ddof=1))
    assert rel["test_retest"] == pytest.approx(stats.pearsonr(y[:, 0], y[:, 1]).statistic)
    assert rel["pair_mean_half_width"] == pytest.approx(stats.t.ppf(0.975, 72) * np.sqrt(within / 3))
    for m in ("ceiling", "ceiling_mean", "test_retest"):
        assert rel[f"{m}_low"] <= rel[m] <= rel[f"{m}_high"]
    # the true ceiling is 1 / (1 + 0.25) = 0.8 for one seed
    assert 0.65 < rel["ceiling"] < 0.9 and rel["ceiling_mean"] > rel["ceiling"]


def test_seed_reliability_sees_pure_noise_and_no_noise():
    from birdkit.transferability import seed_reliability

    assert seed_reliability(_seeded_rows(0.0), n_boot=50)["ceiling"] == pytest.approx(1.0)
    rows = _seeded_rows(1.0)
    for r in rows:  # every pair the same: all variance is seed noise
        r["robust_heldout"] -= r["task_relevance"]
    rel = seed_reliability(rows, n_boot=50)
    assert abs(rel["ceiling"]) < 0.15 and abs(rel["test_retest"]) < 0.35


def test_mean_over_seeds_averages_numbers_and_keeps_names():
    from birdkit.transferability import mean_over_seeds, seed_reliability

    rows = _seeded_rows(0.5, seeds=(0, 1))
    means = mean_over_seeds(rows)
    assert len(means) == 36 and all(m["n_seeds"] == 2 and "seed" not in m and m["note"] == "x" for m in means)
    first = [r for r in rows if r["teacher"] == "t0" and r["student"] == "s0"]
    assert means[0]["robust_heldout"] == pytest.approx(np.mean([r["robust_heldout"] for r in first]))
    assert fit_rows(means, predictors=["task_relevance"], n_boot=50).n == 36
    with pytest.raises(BirdkitError, match="at least 3 pairs with two or more seeds"):
        seed_reliability(_seeded_rows(0.5, seeds=(0,)))
    with pytest.raises(BirdkitError, match="no column 'layer'"):
        mean_over_seeds([{"student": "a", "teacher": "b"}])
