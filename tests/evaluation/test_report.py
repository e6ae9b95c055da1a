"""Reports: aggregation over seeds against numpy, number formatting, the markdown table, PNG plots."""

import math

import numpy as np
import pytest

from birdkit.evaluation.report import SUMMARY_COLUMNS, aggregate, fmt, markdown_table, plot_report

pytest.importorskip("pandas")

METHODS = ["none", "oracle", "bird", "ft"]  # deliberately not alphabetical
PAIRS = ["zz-pair", "aa-pair"]
KEYS = ["clean_acc", "robust_heldout", "pgr_heldout", "cka_to_teacher"]


def _summary_rows():
    rng = np.random.default_rng(0)
    rows = []
    for seed in range(3):
        for pair in PAIRS:
            for method in METHODS:
                if pair == "aa-pair" and method == "ft" and seed > 0:
                    continue  # one seed only: std is undefined
                rows.append({"pair": pair, "method": method, "seed": seed, "layers": "x",
                             **{k: float(rng.uniform(0.1, 0.9)) for k in KEYS}})
    return rows


def _expected(rows, pair, method, key):
    v = np.array([r[key] for r in rows if r["pair"] == pair and r["method"] == method])
    return v.mean(), (v.std(ddof=1) if len(v) > 1 else float("nan")), len(v)


def test_aggregate_matches_numpy_and_keeps_method_order():
    rows = _summary_rows()
    agg = aggregate(rows)
    assert len(agg) == len(PAIRS) * len(METHODS)
    assert {c for c in agg.columns if c.endswith(("_mean", "_std"))} == {f"{k}_{s}" for k in KEYS
                                                                         for s in ("mean", "std")}
    for pair in PAIRS:
        sub = agg[agg["pair"] == pair]
        assert [str(m) for m in sub["method"]] == METHODS  # order of first appearance, not alphabetical
        for _, r in sub.iterrows():
            for k in KEYS:
                mean, std, n = _expected(rows, pair, str(r["method"]), k)
                assert r[f"{k}_mean"] == pytest.approx(mean, rel=1e-12)
                if math.isnan(std):
                    assert math.isnan(r[f"{k}_std"])
                else:
                    assert r[f"{k}_std"] == pytest.approx(std, rel=1e-12)
                assert int(r["seeds"]) == n
    # rows of a pair are contiguous
    pairs = list(agg["pair"])
    assert pairs == sorted(pairs, key=pairs.index)


def test_aggregate_only_known_columns():
    rows = [{"pair": "p", "method": "bird", "clean_acc": 0.5, "other": 3.0},
            {"pair": "p", "method": "bird", "clean_acc": 0.7, "other": 4.0}]
    agg = aggregate(rows)
    assert "other_mean" not in agg and "robust_heldout_mean" not in agg
    assert agg.loc[0, "clean_acc_mean"] == pytest.approx(0.6)
    assert agg.loc[0, "clean_acc_std"] == pytest.approx(np.std([0.5, 0.7], ddof=1))


def test_fmt():
    assert fmt(0.1234, 0.0056) == "12.34 ± 0.56"
    assert fmt(0.1234, None) == "12.34"
    assert fmt(0.1234, float("nan")) == "12.34"
    assert fmt(0.87654, 0.01234, pct=False) == "0.877 ± 0.012"
    assert fmt(0.87654, None, pct=False) == "0.877"
    assert fmt(float("nan"), 0.1) == "n/a"
    assert fmt(float("nan"), None, pct=False) == "n/a"
    assert fmt(np.float64("nan"), np.float64(0.1)) == "n/a"
    assert fmt(None, None) == "n/a"
    assert fmt(np.float64(0.5), np.float64(0.25)) == "50.00 ± 25.00"
    assert fmt(0.0, 0.0) == "0.00 ± 0.00"


def _cell(mean, std, pct):
    if math.isnan(mean):
        return "n/a"
    if pct:
        s = f"{mean * 100:.2f}"
        return s if math.isnan(std) else s + f" ± {std * 100:.2f}"
    s = f"{mean:.3f}"
    return s if math.isnan(std) else s + f" ± {std:.3f}"


def test_markdown_table_rows_and_cells():
    rows = _summary_rows()
    for r in rows:  # a column that is all NaN for one method shows n/a
        if r["method"] == "none":
            r["pgr_heldout"] = float("nan")
    md = markdown_table(aggregate(rows))
    lines = md.splitlines()
    headers = [h for c, h in SUMMARY_COLUMNS if c in KEYS]
    assert lines[0] == "| pair | method | seeds | " + " | ".join(headers) + " |"
    assert lines[1] == "|" + "---|" * (3 + len(headers))
    body = [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:]]
    assert len(body) == len(PAIRS) * len(METHODS)
    assert sorted((b[0], b[1]) for b in body) == sorted((p, m) for p in PAIRS for m in METHODS)
    cols = [c for c, _ in SUMMARY_COLUMNS if c in KEYS]
    for b in body:
        pair, method = b[0], b[1]
        expected = []
        for k in cols:
            mean, std, n = _expected(rows, pair, method, k)
            expected.append(_cell(mean, std, pct=k != "cka_to_teacher"))
        assert b[2] == str(n)
        assert b[3:] == expected, (pair, method)
    none_row = next(b for b in body if b[1] == "none")
    assert none_row[3 + cols.index("pgr_heldout")] == "n/a"
    ft_one_seed = next(b for b in body if b[:2] == ["aa-pair", "ft"])
    assert ft_one_seed[2] == "1" and all("±" not in c for c in ft_one_seed[3:])


def _eval_rows():
    rows = []
    models = ["none", "bird", "oracle"]
    for k, m in enumerate(models):
        rows.append({"model": m, "corruption": "clean", "severity": 0, "split": "clean", "accuracy": 0.9 - 0.1 * k,
                     "n": 10})
        for c, split in [("speckle_noise", "heldout"), ("spatter", "heldout"), ("contrast", "train")]:
            for s in range(1, 6):
                rows.append({"model": m, "corruption": c, "severity": s, "split": split,
                             "accuracy": 0.8 - 0.1 * s + 0.02 * k, "n": 10})
    return rows


def test_plot_report_writes_two_valid_pngs(tmp_path):
    pytest.importorskip("matplotlib")
    from matplotlib.image import imread

    out = tmp_path / "report"
    paths = plot_report(_eval_rows(), out)
    assert [p.name for p in paths] == ["severity.png", "corruptions.png"]
    assert all(p.parent == out for p in paths)
    for p in paths:
        data = p.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        img = imread(p)
        assert img.ndim == 3 and img.shape[2] in (3, 4)
        assert img.shape[0] > 100 and img.shape[1] > 100
        assert float(img[..., :3].std()) > 0.01  # not a blank canvas
    # figure sizes at 120 dpi: 6.5 x 4.2 in for the curve, at least 7 x 4.2 in for the bars
    h, w = imread(paths[0]).shape[:2]
    assert (w, h) == (780, 504)
    h, w = imread(paths[1]).shape[:2]
    assert h == 504 and w >= 840
    assert sorted(f.name for f in out.iterdir()) == ["corruptions.png", "severity.png"]


def _eval_rows(seeds=3):
    rng = np.random.default_rng(1)
    rows = []
    for seed in range(seeds):
        for model in ("none", "bird", "lwf"):
            for c, split in (("saturate", "heldout"), ("shear", "mnistc"), ("fog", "train")):
                for s in (1, 2):
                    rows.append({"pair": "p", "seed": seed, "model": model, "corruption": c, "severity": s,
                                 "split": split, "accuracy": float(rng.uniform(0.5, 0.9))})
    return rows


def test_gain_table_is_the_seed_mean_of_paired_differences():
    from birdkit.evaluation.report import gain_table

    rows = _eval_rows()
    t = gain_table(rows, "bird")
    assert list(t.index) == ["saturate", "shear"] and list(t.columns) == [1, 2]  # training corruptions left out
    acc = {(r["seed"], r["model"], r["corruption"], r["severity"]): r["accuracy"] for r in rows}
    want = np.mean([acc[(k, "bird", "shear", 2)] - acc[(k, "none", "shear", 2)] for k in range(3)]) * 100
    assert t.loc["shear", 2] == pytest.approx(want)
    # a seed the baseline lacks is not paired
    t2 = gain_table([r for r in rows if not (r["model"] == "none" and r["seed"] == 2)], "bird")
    want2 = np.mean([acc[(k, "bird", "shear", 2)] - acc[(k, "none", "shear", 2)] for k in range(2)]) * 100
    assert t2.loc["shear", 2] == pytest.approx(want2)


def test_best_baseline_and_heatmap(tmp_path):
    from PIL import Image

    from birdkit.evaluation.report import best_baseline, plot_gain_heatmap

    summary = [{"method": m, "robust_heldout": v} for m, v in
               [("none", 0.5), ("oracle", 0.9), ("bird", 0.8), ("bird-queue", 0.85), ("ft", 0.6), ("lwf", 0.7),
                ("lwf", 0.66), ("ft", 0.7)]]
    assert best_baseline(summary) == "lwf"  # mean 0.68 > ft's 0.65; none, oracle and BIRD's are not baselines
    path = plot_gain_heatmap(_eval_rows(), ["bird", "lwf"], tmp_path / "h.png")
    with Image.open(path) as im:
        assert im.size[0] > im.size[1] > 50
