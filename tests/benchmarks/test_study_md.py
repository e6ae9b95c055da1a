"""BENCHMARKS.md's teacher-selection section is what the committed study rows give (NumPy, scipy)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

ROOT = Path(__file__).resolve().parents[2]
ROWS = ROOT / "benchmarks" / "results" / "study-grid" / "study.csv"
PROPS = ("task_relevance", "complementary_knowledge", "behavioral_relevance")


def _rows() -> list[dict]:
    if not ROWS.is_file():
        pytest.skip("the grid study is not committed yet")
    return list(csv.DictReader(ROWS.open()))


def _section(part: int = 0) -> str:
    """The primary study's text (0) or the seed extension's (1)."""
    text = (ROOT / "BENCHMARKS.md").read_text().split("## Teacher selection")[1].split("\n## ")[0]
    return text.split("### Extension")[part]


def _table(text: str, header: str) -> dict[str, list[str]]:
    """Rows of the markdown table whose header starts with ``header``, by first cell."""
    lines = text.split(header, 1)[1].split("\n\n")[0].splitlines()[2:]
    return {c[0]: c for c in ([s.strip() for s in ln.strip("|").split("|")] for ln in lines)}


def test_at_least_100_pairs_and_the_r2_recomputes():
    rows = _rows()
    assert len(rows) >= 100 and len({r["pair"] for r in rows}) == len(rows)
    x = np.array([[float(r[p]) for p in PROPS] for r in rows])
    for target, label in (("robust_heldout", "| robust accuracy (held-out) |"), ("gain", "| gain over no transfer |")):
        y = np.array([float(r[target]) for r in rows])
        a = np.c_[np.ones(len(x)), x]
        beta = np.linalg.lstsq(a, y, rcond=None)[0]
        r2 = 1 - np.sum((y - a @ beta) ** 2) / np.sum((y - y.mean()) ** 2)
        [line] = [ln for ln in _section().splitlines() if ln.startswith(label)]
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[1].startswith(f"{r2:.3f} [")
        assert cells[2] == f"{1 - (1 - r2) * (len(y) - 1) / (len(y) - 4):.3f}"


def test_rank_correlations_recompute():
    rows = _rows()
    y = [float(r["robust_heldout"]) for r in rows]
    table = _table(_section(), "| predictor |")
    assert set(table) == {*PROPS, "leep", "nce", "h_score", "logme"}
    for name, cells in table.items():
        x = [float(r[name]) for r in rows]
        assert cells[1].startswith(f"{stats.spearmanr(x, y).statistic:+.3f} [")
        assert cells[2].startswith(f"{stats.kendalltau(x, y).statistic:+.3f} [")


def test_holdout_regret_of_the_model_and_of_chance_recomputes():
    from sklearn.model_selection import GroupKFold

    rows = _rows()
    names: dict[str, int] = {}
    groups = np.array([names.setdefault(r["teacher"], len(names)) for r in rows])
    x = np.array([[float(r[p]) for p in PROPS] for r in rows])
    y = np.array([float(r["robust_heldout"]) for r in rows])
    ctx = np.array([f"{r['student']}|{r['layer']}|{r['seed']}" for r in rows])
    model, chance = [], []
    for tr, te in GroupKFold(5).split(x, y, groups):
        a = np.c_[np.ones(len(tr)), x[tr]]
        beta = np.linalg.lstsq(a, y[tr], rcond=None)[0]
        for c in np.unique(ctx[te]):
            idx = te[ctx[te] == c]
            pred = np.c_[np.ones(len(idx)), x[idx]] @ beta
            model.append(y[idx].max() - y[idx][np.argmax(pred)])
            chance.append(y[idx].max() - y[idx].mean())
    table = _table(_section(), "| chooser |")
    for name, values in (("model", model), ("chance", chance)):
        mean = 100 * np.mean(values)
        half = 100 * stats.t.ppf(0.975, len(values) - 1) * np.std(values, ddof=1) / np.sqrt(len(values))
        assert table[name][1] == f"{mean:.2f} [{mean - half:.2f}, {mean + half:.2f}]"


def test_the_seed_extension_recomputes():
    path = ROWS.with_name("study-2seeds.csv")
    if not path.is_file():
        pytest.skip("the seed extension is not committed yet")
    rows = list(csv.DictReader(path.open()))
    primary = {r["pair"]: r for r in _rows()}
    assert all(primary[r["pair"]] == r for r in rows if r["seed"] == "0")  # seed 0 is the primary run's rows
    pairs: dict = {}
    for r in rows:
        pairs.setdefault((r["student"], r["teacher"], r["layer"]), {})[r["seed"]] = r
    assert len(pairs) >= 100 and all(set(v) == {"0", "1"} for v in pairs.values())
    y = np.array([[float(v[s]["robust_heldout"]) for s in ("0", "1")] for v in pairs.values()])
    within = np.mean(y.var(1, ddof=1))
    cells = list(_table(_section(1), "| seed-0 vs seed-1 correlation |").values())[0]
    assert cells[0].startswith(f"{stats.pearsonr(y[:, 0], y[:, 1]).statistic:.3f} [")
    assert cells[1] == f"{100 * np.sqrt(within):.2f} points"
    assert cells[3].startswith(f"{1 - within / y.var(ddof=1):.3f} [")
    assert cells[4].startswith(f"{1 - within / 2 / y.mean(1).var(ddof=1):.3f} [")
    x = np.array([[float(v["0"][p]) for p in PROPS] for v in pairs.values()])  # properties: means over seeds
    x = (x + np.array([[float(v["1"][p]) for p in PROPS] for v in pairs.values()])) / 2
    a = np.c_[np.ones(len(x)), x]
    m = y.mean(1)
    beta = np.linalg.lstsq(a, m, rcond=None)[0]
    r2 = 1 - np.sum((m - a @ beta) ** 2) / np.sum((m - m.mean()) ** 2)
    assert _table(_section(1), "| outcome |")["robust accuracy (held-out)"][1].startswith(f"{r2:.3f} [")
