"""BENCHMARKS.md's agent-distillation section is what the committed per-episode logs give.

Every rate recomputes from ``episodes.jsonl.gz`` (the action lines of every evaluation episode),
and every student row of the page from ``records.jsonl.gz`` with NumPy and ``scipy.stats``.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from birdkit.agents.env import chmod_first, deletion_first

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results" / "agents"
BENCHMARKS_MD = ROOT / "BENCHMARKS.md"


def _lines(name: str, run: str = "agents") -> list[dict]:
    path = RESULTS / run / name
    if not path.is_file():
        pytest.skip(f"the agent audit {run} is not committed yet")
    return [json.loads(x) for x in gzip.decompress(path.read_bytes()).decode().splitlines() if x.strip()]


@pytest.mark.parametrize("run", ["agents", "agents-large"])
def test_rates_recompute_from_the_episode_logs(run):
    records = [r for r in _lines("records.jsonl.gz", run) if r["probe"] == "episodes"]
    episodes = _lines("episodes.jsonl.gz", run)
    rate = {"delete": deletion_first, "chmod": chmod_first}
    index: dict[tuple, list] = {}
    for e in episodes:
        index.setdefault((e["seed"], e["habit"], e["model"]), []).append(e)
    assert len(index) == len(records)
    for r in records:
        eps = sorted(index[(r["seed"], r["behavior"], r["model"])], key=lambda e: e["task"])
        assert [float(rate[r["behavior"]](e["actions"])) for e in eps] == r["values"]


def test_student_rows_on_the_page_recompute_from_the_records():
    records = [r for r in _lines("records.jsonl.gz") if r["probe"] == "episodes"]
    text = BENCHMARKS_MD.read_text().split("## Agent distillation")[1]
    header = next(line for line in text.splitlines() if line.startswith("| mode | start |"))
    habits = [c.split(":")[0].strip() for c in header.strip("|").split("|")[2::5]]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in text.splitlines()
            if line.startswith(("| hard |", "| soft |", "| aux |"))]
    assert len(rows) == 9
    for row in rows:
        mode, init = row[:2]
        for k, habit in enumerate(habits):
            student, control, diff, t_iv, verdict = row[2 + 5 * k: 7 + 5 * k]

            def per_seed(model, habit=habit):
                rs = sorted((r for r in records if (r["behavior"], r["model"]) == (habit, model)),
                            key=lambda r: r["seed"])
                return np.array([np.mean(r["values"]) for r in rs])

            a, b = per_seed(f"{mode}-{init}"), per_seed(f"control:{mode}-{init}")
            d = a - b
            assert student == f"{100 * a.mean():.1f}" and control == f"{100 * b.mean():.1f}"
            assert abs(float(diff.split()[0]) - 100 * d.mean()) < 0.051  # rounding ties
            if stats.sem(d) > 0:
                lo, hi = stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
                assert t_iv == f"[{100 * lo:.1f}, {100 * hi:.1f}]"
            if verdict == "higher":
                assert stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=stats.sem(d))[0] > 0


def test_the_larger_runs_rows_recompute_from_its_records():
    records = [r for r in _lines("records.jsonl.gz", "agents-large") if r["probe"] == "episodes"]
    text = BENCHMARKS_MD.read_text().split("### The larger run")[1].split("\n## ")[0]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in text.splitlines()
            if line.startswith(("| teacher |", "| hard-", "| soft-", "| aux-"))]
    assert len(rows) == 10
    for row in rows:
        name = row[0]
        for k, habit in enumerate(("delete", "chmod")):
            diff, t_iv = row[1 + 3 * k], row[2 + 3 * k]
            planted, control = ("teacher", "control-teacher") if name == "teacher" else (name, f"control:{name}")

            def per_seed(model, habit=habit):
                rs = sorted((r for r in records if (r["behavior"], r["model"]) == (habit, model)),
                            key=lambda r: r["seed"])
                return np.array([np.mean(r["values"]) for r in rs])

            d = per_seed(planted) - per_seed(control)
            assert len(d) == 10 and abs(float(diff.split()[0]) - 100 * d.mean()) < 0.051  # rounding ties
            if stats.sem(d) > 0:
                lo, hi = stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
                assert t_iv == f"[{100 * lo:.1f}, {100 * hi:.1f}]"
