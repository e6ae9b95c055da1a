"""``birdkit report``: tables and plots from finished runs."""

from __future__ import annotations

from pathlib import Path

import typer

from birdkit.cli.main import app, console


@app.command("report")
def report(
    runs: list[Path] = typer.Argument(..., help="Pair, seed or evaluation directories holding summary.csv/eval.csv."),
    out: Path = typer.Option(None, "--out", help="Where to write report.md and plots (default: first run dir)."),
) -> None:
    """Markdown table + PNG plots + aggregated CSV from finished runs."""
    from birdkit.evaluation.report import aggregate, markdown_table, plot_report
    from birdkit.experiments import collect_results
    from birdkit.io import write_text

    summary, evals = collect_results(runs)
    if not summary:
        raise typer.BadParameter(f"no summary.csv under {', '.join(map(str, runs))}")
    out = out or runs[0]
    agg = aggregate(summary)
    md = markdown_table(agg)
    write_text(out / "report.md", md + "\n")
    write_text(out / "summary_agg.csv", agg.to_csv(index=False))
    if evals:
        plot_report(evals, out)
    console.print(md)
    console.print(f"written: {out / 'report.md'}")
