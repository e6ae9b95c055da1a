"""BENCHMARKS.md's audit sections are what the committed raw records give.

The pre-registered audit (benchmarks/AUDIT_PROTOCOL.md) and the subliminal check are committed as
their per-sample records (``records.jsonl.gz``) with the CSVs the run wrote. Here every headline
contrast of the page is recomputed from the records with NumPy and ``scipy.stats`` (not
``birdkit.audit``), and the CSVs the run wrote must equal what the records give today.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from birdkit.audit import contrasts, read_records, summarize
from birdkit.io import write_csv

ROOT = Path(__file__).resolve().parents[2]
AUDIT = ROOT / "benchmarks" / "results" / "audit"
BENCHMARKS_MD = ROOT / "BENCHMARKS.md"
RUNS = {"fmnist-audit": "audit.json", "subliminal": "subliminal.json"}


def _lines(run: str) -> list[dict]:
    path = AUDIT / run / "records.jsonl.gz"
    if not path.is_file():
        pytest.skip(f"the {run} run is not committed yet")
    return [json.loads(x) for x in gzip.decompress(path.read_bytes()).decode().splitlines()]


def _table(lines, behavior, model, probe, metric) -> np.ndarray:
    rs = sorted((r for r in lines if (r["behavior"], r["model"], r["probe"], r["metric"]) ==
                 (behavior, model, probe, metric)), key=lambda r: r["seed"])
    assert len({tuple(r["samples"]) for r in rs}) == 1  # every seed on the same images
    return np.array([r["values"] for r in rs], dtype=float)


def _t(d: np.ndarray) -> tuple[float, float]:
    sem = stats.sem(d)
    return stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=sem) if sem > 0 else (d.mean(), d.mean())


def _md_rows(prefix: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip("|").split("|")] for line in BENCHMARKS_MD.read_text().splitlines()
            if line.startswith(prefix)]


def test_headline_contrasts_on_the_page_recompute_from_the_records():
    lines = _lines("fmnist-audit")
    meta = json.loads((AUDIT / "fmnist-audit" / "audit.json").read_text())
    rows = [r for r in _md_rows("| backdoor |") + _md_rows("| shortcut |") if len(r) == 8 and r[5].startswith("[")]
    assert len(rows) == len(meta["headlines"]) * (1 + len(meta["methods"]))
    for behavior, method, planted, control, diff, t_iv, wins, verdict in rows:
        probe, metric = meta["headlines"][behavior].split(".")
        a, b = (("teacher", "control-teacher") if method == "teacher" else (method, f"control:{method}"))
        ta, tb = _table(lines, behavior, a, probe, metric), _table(lines, behavior, b, probe, metric)
        d = (ta - tb).mean(1)
        lo, hi = _t(d)
        assert planted == f"{100 * ta.mean():.1f}" and control == f"{100 * tb.mean():.1f}"
        assert diff.startswith(f"{100 * d.mean():+.1f} [")
        assert t_iv == f"[{100 * lo:.1f}, {100 * hi:.1f}]"
        assert wins == f"{int((d > 0).sum())}/{len(d)}"
        boot = [float(x) for x in diff.split("[")[1].rstrip("]").split(",")]
        resolved_up = lo > 0 and boot[0] > 0
        resolved_down = hi < 0 and boot[1] < 0
        # the page rounds the bootstrap ends to 0.1 points; a verdict on the edge is left to the library
        if abs(boot[0]) > 0.1 and abs(boot[1]) > 0.1:
            assert verdict == ("higher" if resolved_up else "lower" if resolved_down else "not resolved")


@pytest.mark.parametrize("run", RUNS)
def test_the_runs_csvs_are_what_the_records_give(run, tmp_path):
    _lines(run)
    records = read_records(AUDIT / run / "records.jsonl.gz")
    pairs = None
    if run == "subliminal":
        from birdkit.experiments.audit import SUBLIMINAL_CONTRASTS

        pairs = [("subliminal", label, a, b) for label, a, b in SUBLIMINAL_CONTRASTS]
    for name, rows in (("summary.csv", summarize(records)), ("contrasts.csv", contrasts(records, pairs=pairs))):
        write_csv(tmp_path / name, rows)
        assert (tmp_path / name).read_text() == (AUDIT / run / name).read_text(), name


def test_subliminal_rows_on_the_page_recompute():
    lines = _lines("subliminal")
    for model, acc in (r for r in _md_rows("| ") if len(r) == 2 and r[0] in ("init", "teacher", "same-init",
                                                                                  "other-init")):
        t = _table(lines, "subliminal", model, "digits", "accuracy")
        assert acc.startswith(f"{100 * t.mean():.1f} [")
    same = _table(lines, "subliminal", "same-init", "digits", "accuracy")
    other = _table(lines, "subliminal", "other-init", "digits", "accuracy")
    d = (same - other).mean(1)
    [row] = [r for r in _md_rows("| same-init - other-init |")]
    lo, hi = _t(d)
    assert row[1].startswith(f"{100 * d.mean():+.1f} [") and row[2] == f"[{100 * lo:.1f}, {100 * hi:.1f}]"
