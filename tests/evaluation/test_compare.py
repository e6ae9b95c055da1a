"""birdkit compare: method intervals, PGR and paired differences, checked against scipy directly."""

import math

import numpy as np
import pytest
from scipy import stats
from typer.testing import CliRunner

from birdkit.cli.main import _register_commands, app
from birdkit.evaluation.compare import compare_runs, fmt_interval
from birdkit.io import read_csv, write_csv

_register_commands()
cli = CliRunner()


def _summary(seeds=5, pair="p", gap=0.05, bird_gain=0.02, noise=0.004, seed=0):
    """Synthetic summary rows: none, oracle (none + gap), bird (none + bird_gain), ft (none - gain)."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(seeds):
        base = 0.7 + rng.normal(0, 0.01)
        vals = {"none": base, "oracle": base + gap + rng.normal(0, noise),
                "bird": base + bird_gain + rng.normal(0, noise), "ft": base - bird_gain + rng.normal(0, noise)}
        for m, v in vals.items():
            rows.append({"pair": pair, "seed": s, "method": m, "clean_acc": 0.9 + rng.normal(0, 0.005),
                         "robust_heldout": v, "layers": ""})
    return rows


def test_method_intervals_and_paired_differences_match_scipy():
    rows = _summary()
    res = compare_runs(rows)
    bird = {r["seed"]: 100 * r["robust_heldout"] for r in rows if r["method"] == "bird"}
    ft = {r["seed"]: 100 * r["robust_heldout"] for r in rows if r["method"] == "ft"}
    x = np.array([bird[s] for s in sorted(bird)])
    y = np.array([ft[s] for s in sorted(ft)])
    ci = stats.ttest_rel(x, y).confidence_interval(0.95)
    p = next(p for p in res.paired if p.other == "ft" and p.metric == "robust_heldout")
    assert p.comparison.interval.low == pytest.approx(ci.low, rel=1e-9)
    assert p.comparison.interval.high == pytest.approx(ci.high, rel=1e-9)
    assert p.comparison.verdict == "better" and p.comparison.wins == 5
    m = next(m for m in res.methods if m.method == "bird" and m.metric == "robust_heldout")
    ci1 = stats.ttest_1samp(x, 0).confidence_interval(0.95)
    assert (m.value.low, m.value.high) == (pytest.approx(ci1.low), pytest.approx(ci1.high))
    # every (method, metric) is there, and no paired row compares bird with itself
    assert {(m.method, m.metric) for m in res.methods} == {(a, b) for a in ("none", "oracle", "bird", "ft")
                                                           for b in ("clean_acc", "robust_heldout")}
    assert all(p.other != "bird" for p in res.paired)


def test_pgr_is_fieller_interval_of_ratio_of_means():
    rows = _summary(seeds=6)
    res = compare_runs(rows)
    get = lambda m: np.array([100 * r["robust_heldout"] for r in sorted(rows, key=lambda r: r["seed"])  # noqa: E731
                              if r["method"] == m])
    a, b = get("bird") - get("none"), get("oracle") - get("none")
    pg = next(m.pgr for m in res.methods if m.method == "bird" and m.metric == "robust_heldout")
    assert pg.mean == pytest.approx(100 * a.mean() / b.mean())
    # brute force: theta is inside iff the t-test of a - theta b does not reject at 5%
    grid = np.linspace(-1, 2, 6001)
    p = stats.ttest_1samp(a[None, :] - grid[:, None] * b[None, :], 0, axis=1).pvalue  # one vectorised scan
    inside = grid[p >= 0.05]
    assert pg.low / 100 == pytest.approx(inside.min(), abs=6e-4)
    assert pg.high / 100 == pytest.approx(inside.max(), abs=6e-4)
    none_pgr = next(m.pgr for m in res.methods if m.method == "none" and m.metric == "robust_heldout")
    assert none_pgr.mean == 0 and none_pgr.low == 0 == none_pgr.high


def test_unresolved_gap_gives_unbounded_pgr_and_no_verdict():
    rows = _summary(gap=0.0, bird_gain=0.0, noise=0.01)
    res = compare_runs(rows)
    pg = next(m.pgr for m in res.methods if m.method == "bird" and m.metric == "robust_heldout")
    assert math.isinf(pg.low) and math.isinf(pg.high)
    assert "unbounded" in fmt_interval(pg)
    p = next(p for p in res.paired if p.other == "none" and p.metric == "robust_heldout")
    assert p.comparison.verdict == "not resolved"


def test_rows_and_markdown_carry_every_comparison():
    res = compare_runs(_summary() + _summary(pair="q", seed=1))
    rows = res.rows()
    assert {r["kind"] for r in rows} == {"method", "pgr", "paired"}
    assert len([r for r in rows if r["kind"] == "paired"]) == 2 * 3 * 2  # pairs x others x metrics
    md = res.markdown()
    assert "### p:" in md and "### q:" in md and md.count("better") >= 2


def test_repeated_seed_is_refused():
    rows = _summary(seeds=2)
    with pytest.raises(ValueError, match="two summary rows"):
        compare_runs(rows + rows[:1])


def test_cli_compare_writes_markdown_and_csv(tmp_path):
    rows = _summary()
    for s in range(5):
        write_csv(tmp_path / "p" / f"seed{s}" / "summary.csv", [r for r in rows if r["seed"] == s])
    r = cli.invoke(app, ["compare", str(tmp_path / "p")])
    assert r.exit_code == 0, r.output
    assert "bird - X" in r.output and "better" in r.output
    out = read_csv(tmp_path / "p" / "compare.csv")
    ft = next(x for x in out if x["kind"] == "paired" and x["vs"] == "ft" and x["metric"] == "robust_heldout")
    assert ft["verdict"] == "better" and ft["wins"] == 5
    assert (tmp_path / "p" / "compare.md").read_text().startswith("### p:")


def test_cli_compare_bad_baseline_is_one_line(tmp_path):
    write_csv(tmp_path / "s" / "summary.csv", _summary(seeds=1))
    r = cli.invoke(app, ["compare", str(tmp_path / "s"), "--baseline", "nope"])
    assert r.exit_code == 2
    assert "--baseline" in r.output and "Traceback" not in r.output


def _fake_predictions(root, seeds=4, n=300, seed=0):
    """Per-image predictions of none / oracle / bird for ``seeds`` seed directories."""
    from safetensors.numpy import save_file

    from birdkit.corruptions import HELDOUT_CORRUPTIONS

    rng = np.random.default_rng(seed)
    targets = rng.integers(0, 5, n).astype(np.uint8)
    p_right = {"none": 0.6, "oracle": 0.8, "bird": 0.7}
    for s in range(seeds):
        d = root / "p" / f"seed{s}"
        d.mkdir(parents=True)
        out = {"targets": targets}
        for m, p in p_right.items():
            for c in HELDOUT_CORRUPTIONS:
                for sev in (1, 2):
                    right = rng.random(n) < p + rng.normal(0, 0.02)
                    out[f"{m}|{c}|{sev}"] = np.where(right, targets, (targets + 1) % 5).astype(np.uint8)
            out[f"{m}|clean|0"] = targets
        save_file(out, str(d / "predictions.safetensors"))
    return root / "p"


def test_crossed_rows_points_are_the_plain_means(tmp_path):
    from birdkit.evaluation.compare import crossed_rows, load_predictions, per_image_accuracy

    pair = _fake_predictions(tmp_path)
    preds = load_predictions(sorted(pair.glob("seed*")))
    rows = crossed_rows(preds, n_resamples=300)
    acc = {m: np.mean([per_image_accuracy(preds[s], m).mean() for s in preds]) for m in ("none", "oracle", "bird")}
    d = next(r for r in rows if r["kind"] == "paired-crossed" and r["vs"] == "none")
    assert d["mean"] == pytest.approx(100 * (acc["bird"] - acc["none"]))
    assert d["low"] < d["mean"] < d["high"] and d["verdict"] == "better"
    pg = next(r for r in rows if r["kind"] == "pgr-crossed" and r["method"] == "bird")
    assert pg["mean"] == pytest.approx(100 * (acc["bird"] - acc["none"]) / (acc["oracle"] - acc["none"]))
    assert 20 < pg["mean"] < 80 and pg["low"] < pg["mean"] < pg["high"]
    # per-image accuracy: the share of the 8 held-out conditions an image is right under
    one = preds[0]
    assert per_image_accuracy(one, "none").shape == (300,)
    assert set(np.unique(per_image_accuracy(one, "none") * 8)) <= set(range(9))


def test_cli_compare_images(tmp_path):
    pair = _fake_predictions(tmp_path)
    rows = _summary(seeds=4)
    for s in range(4):
        write_csv(pair / f"seed{s}" / "summary.csv", [r for r in rows if r["seed"] == s])
    r = cli.invoke(app, ["compare", str(pair), "--images"])
    assert r.exit_code == 0, r.output
    assert "(seeds x images)" in r.output
    out = read_csv(pair / "compare_images.csv")
    assert {x["kind"] for x in out} == {"pgr-crossed", "paired-crossed"}
