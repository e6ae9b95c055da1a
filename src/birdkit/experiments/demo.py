"""``birdkit demo``: every benchmark method on a pair for several seeds, then the report.

Layout of ``out_dir/<pair>/``::

    seed<k>/               one PairRunner seed directory each: config.yaml, teacher/ student/
                           oracle/ <method>/ run directories, eval.csv (model x corruption x
                           severity), summary.csv (a row per method)
    report.md              the aggregated table (mean and std over seeds)
    summary_agg.csv        the same as CSV
    compare.md, compare.csv   intervals over seeds, PGR and BIRD - X verdicts (``birdkit compare``)
    severity.png, corruptions.png   held-out accuracy per severity and per corruption
    gain_heatmap.png       (method - none) per held-out corruption x severity, for BIRD, its
                           variants and the best baseline
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from birdkit.config import PairConfig
from birdkit.evaluation.compare import CompareResult, compare_runs
from birdkit.evaluation.report import aggregate, best_baseline, markdown_table, plot_gain_heatmap, plot_report
from birdkit.experiments.runner import PairRunner, Progress, check_pair_methods, seed_dir
from birdkit.io import write_csv, write_text

__all__ = ["DemoResult", "run_demo"]


@dataclass
class DemoResult:
    """Summary and evaluation rows of every seed, their aggregate, and the files written."""

    summary: list[dict[str, Any]]
    eval_rows: list[dict[str, Any]]
    aggregate: Any  # pandas DataFrame: mean / std per (pair, method)
    pair_dir: Path
    files: list[Path] = field(default_factory=list)
    seconds: float = 0.0
    layers: dict[str, str] = field(default_factory=dict)
    comparison: CompareResult | None = None


def run_demo(cfg: PairConfig, out_dir: str | Path, *, seeds: int = 1, methods: Sequence[str] | None = None,
             progress: Progress | None = None) -> DemoResult:
    """Run seeds ``0..seeds-1`` of pair ``cfg`` (a seed already finished with this config is read
    back, an interrupted one resumes) and write the aggregated report next to them."""
    progress = progress or (lambda ev: None)
    chosen = check_pair_methods(cfg, methods)  # refused before any work
    t0 = time.perf_counter()
    summary, evals, layers = [], [], {}
    for s in range(seeds):
        progress({"event": "run", "title": f"{cfg.name} seed {s}"})
        runner = PairRunner(cfg, seed_dir(out_dir, cfg.name, s), seed=s, progress=progress)
        res = runner.finished(chosen) or runner.run(chosen)
        summary += res.summary
        evals += res.eval_rows
        layers.update(res.layers)
    pair_dir = Path(out_dir) / cfg.name
    agg = aggregate(summary)
    files = [write_text(pair_dir / "report.md", f"# {cfg.name}\n\n{cfg.description}\n\n{markdown_table(agg)}\n")]
    files.append(write_text(pair_dir / "summary_agg.csv", agg.to_csv(index=False)))
    files += plot_report(evals, pair_dir)
    gains = [m for m in ("bird", *(m for m in dict.fromkeys(r["method"] for r in summary) if m.startswith("bird-")),
                         best_baseline(summary)) if m and any(r["method"] == m for r in summary)]
    if gains and any(r["method"] == "none" for r in summary):
        files.append(plot_gain_heatmap(evals, gains, pair_dir / "gain_heatmap.png"))
    comparison = compare_runs(summary)
    files.append(write_text(pair_dir / "compare.md", comparison.markdown()))
    files.append(write_csv(pair_dir / "compare.csv", comparison.rows()))
    return DemoResult(summary, evals, agg, pair_dir, files, time.perf_counter() - t0, layers, comparison)
