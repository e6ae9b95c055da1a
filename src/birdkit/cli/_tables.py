"""Rich tables the commands share (the library returns data; only the CLI prints)."""

from __future__ import annotations

from rich.table import Table

from birdkit.cli.main import console
from birdkit.evaluation.compare import METRICS, PGR_METRICS, CompareResult, fmt_comparison, fmt_interval


def print_comparison(res: CompareResult) -> None:
    """The compare result as rich tables (one method table and one paired table per pair)."""
    for pair in res.pairs():
        metrics = res.metrics(pair)
        stats = {(m.method, m.metric): m for m in res.methods if m.pair == pair}
        names = list(dict.fromkeys(m.method for m in res.methods if m.pair == pair))
        t = Table(title=f"{pair}: mean [{res.level:.0%} CI] over seeds, accuracies in %")
        t.add_column("method")
        t.add_column("seeds", justify="right")
        for k in metrics:
            t.add_column(METRICS.get(k, k), justify="right")
        pgr_metrics = [k for k in metrics if k in PGR_METRICS]
        for k in pgr_metrics:
            t.add_column(f"PGR {METRICS.get(k, k).removeprefix('robust ')}", justify="right")
        for n in names:
            cells = [fmt_interval(stats[(n, k)].value) if (n, k) in stats else "n/a" for k in metrics]
            cells += [fmt_interval(stats[(n, k)].pgr) if (n, k) in stats and stats[(n, k)].pgr else "n/a"
                      for k in pgr_metrics]
            seeds = max(stats[(n, k)].value.n for k in metrics if (n, k) in stats)
            t.add_row(n, str(seeds), *cells, style="bold green" if n in res.focus else None)
        console.print(t)
        for focus in res.focus:
            paired = [p for p in res.paired if p.pair == pair and p.focus == focus]
            if not paired:
                continue
            t = Table(title=f"{focus} - X, paired over seeds (points; wins/seeds; verdict at {res.level:.0%})")
            t.add_column("X")
            for k in metrics:
                t.add_column(METRICS.get(k, k), justify="right")
            by = {(p.other, p.metric): p.comparison for p in paired}
            for o in dict.fromkeys(p.other for p in paired):
                cells = [fmt_comparison(by[(o, k)]) if (o, k) in by else "n/a" for k in metrics]
                main = by.get((o, "robust_heldout"))
                style = {"better": "green", "worse": "red"}.get(main.verdict) if main else None
                t.add_row(o, *cells, style=style)
            console.print(t)
    console.print("Intervals: Student-t over seeds; PGR = mean(X - none) / mean(oracle - none) with "
                  "Fieller's interval ('unbounded': the oracle gap is not resolved). See docs/statistics.md.")
