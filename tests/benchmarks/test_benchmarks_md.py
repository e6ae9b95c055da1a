"""BENCHMARKS.md's demo tables must be exactly what the committed per-run CSVs recompute to.

Runs ``benchmarks/recompute_tables.py`` (which recomputes robust accuracies from each seed's
tidy eval.csv, PGR by its formula, and checks them against the run's summary.csv) and asserts
every recomputed table appears verbatim in BENCHMARKS.md, so a hand-edited or stale number
fails CI.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"
PAIRS = ("fmnist-split", "mnist5k-to-fmnist", "fmnist-split-w2s")
# current configs (wide lr grid + layer pair); layer pair on the first grid; the first benchmark
RUNS = ("demo", "demo-layers", "demo-default-layers")


def _recompute_module():
    spec = importlib.util.spec_from_file_location("recompute_tables", ROOT / "benchmarks" / "recompute_tables.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("run", RUNS)
@pytest.mark.parametrize("pair", PAIRS)
def test_demo_table_in_benchmarks_md_recomputes(run, pair):
    mod = _recompute_module()
    df = mod.recompute(RESULTS / run / pair)
    assert df.seed.nunique() == 3, "the issue asks for 3 seeds per pair"
    assert set(df.method) == {"none", "oracle", "ft", "lp", "lpft", "lwf", "hints", "bird"}
    table = mod.table(df, pair)
    text = (ROOT / "BENCHMARKS.md").read_text()
    assert table in text, f"BENCHMARKS.md's table for {pair} differs from the recomputation:\n{table}"


def test_recompute_detects_a_tampered_summary(tmp_path):
    """The recomputation must refuse a summary.csv that disagrees with eval.csv."""
    import shutil

    import pandas as pd

    src = RESULTS / "demo-default-layers" / "fmnist-split" / "seed0"
    dst = tmp_path / "pair" / "seed0"
    shutil.copytree(src, dst)
    sm = pd.read_csv(dst / "summary.csv")
    sm.loc[sm.method == "bird", "robust_heldout"] += 0.01
    sm.to_csv(dst / "summary.csv", index=False)
    with pytest.raises(SystemExit, match="bird robust_heldout"):
        _recompute_module().recompute(tmp_path / "pair")


def _md_rows(text: str) -> set[tuple[str, ...]]:
    """Every markdown table row of ``text`` as a tuple of cells, bold markers removed."""
    rows = set()
    for line in text.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            rows.add(tuple(c.strip().replace("**", "") for c in line.strip().strip("|").split("|")))
    return rows


def _module(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("pair", PAIRS)
def test_current_selection_table_and_overrides_match_the_csv(pair):
    """The selection table is the committed hparams.csv, and the pair's YAML uses what it chose."""
    import pandas as pd

    from birdkit.experiments import load_pair

    mod = _module("select_tables")
    path = RESULTS / "select" / f"{pair}.csv"
    assert mod.table(path) in (ROOT / "BENCHMARKS.md").read_text()
    df = pd.read_csv(path)
    picked = df[mod.chosen(df)]
    cfg = load_pair(pair)
    for r in picked.itertuples():
        if r.method == "bird-layers":
            for m in ("bird", "hints"):  # Hints at BIRD's layer pair, as in the paper
                (lp,) = cfg.overrides[m]["layers"]
                assert (lp["teacher"], lp["student"]) == (r.teacher_layer, r.student_layer)
            continue
        assert cfg.overrides[r.method]["lr"] == r.lr, r.method
        if not pd.isna(r.alpha):
            assert cfg.overrides[r.method]["alpha"] == r.alpha, r.method
    assert set(picked.method) == {"ft", "lp", "lpft", "lwf", "hints", "bird", "bird-layers"}


@pytest.mark.parametrize("pair", PAIRS)
def test_earlier_selection_rows_are_in_benchmarks_md(pair):
    """The selections behind the earlier benchmark tables stay on record, row by row."""
    import pandas as pd

    rows = _md_rows((ROOT / "BENCHMARKS.md").read_text())
    grid = pd.read_csv(RESULTS / "select" / "2026-11-22" / f"{pair}.csv")
    for r in grid.itertuples():
        alpha = "" if pd.isna(r.alpha) else f"{r.alpha:g}"
        cells = (r.method, f"{r.lr:g}", alpha, f"{100 * r.val_clean:.2f}", f"{100 * r.val_robust_train:.2f}")
        assert cells in rows, f"{pair}: no row {cells} in BENCHMARKS.md"
    layers = pd.read_csv(RESULTS / "select" / "2026-11-30-layers" / f"{pair}.csv")
    lay = layers[layers.method == "bird-layers"]
    assert len(lay) == 4
    for r in lay.itertuples():
        cells = (r.teacher_layer, r.student_layer, f"{100 * r.val_clean:.2f}", f"{100 * r.val_robust_train:.2f}")
        assert cells in rows, f"{pair}: no layer row {cells} in BENCHMARKS.md"


def test_investigation_table_in_benchmarks_md():
    spec = importlib.util.spec_from_file_location("investigate_table", ROOT / "benchmarks" / "investigate_table.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.table() in (ROOT / "BENCHMARKS.md").read_text()


def test_study_tables_in_benchmarks_md():
    spec = importlib.util.spec_from_file_location("study_tables", ROOT / "benchmarks" / "study_tables.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    text = mod.tables(RESULTS / "study" / "fmnist-teachers-seed0.csv")
    assert text.count("\n| convnet_") == 18
    assert text in (ROOT / "BENCHMARKS.md").read_text()
