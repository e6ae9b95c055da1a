"""``birdkit compare``: intervals, PGR and BIRD - X verdicts over the seeds of finished runs."""

from __future__ import annotations

from pathlib import Path

import typer

from birdkit.cli.main import app, console


@app.command("compare")
def compare(
    runs: list[Path] = typer.Argument(..., help="Pair or seed directories holding summary.csv (any depth)."),
    baseline: str = typer.Option("none", "--baseline", help="PGR's floor: the method every gap starts from."),
    focus: str = typer.Option("", "--focus", help="Comma-separated methods compared, paired over seeds, with every "
                              "other (default: bird and every bird-* variant)."),
    level: float = typer.Option(0.95, "--level", min=0.5, max=0.999, help="Confidence level of every interval."),
    out: Path = typer.Option(None, "--out", help="Where to write compare.md and compare.csv (default: first run)."),
    images: bool = typer.Option(False, "--images/--no-images",
                                help="Also two-way (seeds x test images) bootstrap intervals from the runs' "
                                     "predictions.safetensors (compare_images.csv)."),
) -> None:
    """Each method's clean and robust accuracy with 95% intervals, its PGR with its interval,
    and the paired difference FOCUS - X for every other method (interval, wins, verdict)."""
    from birdkit.cli._tables import print_comparison
    from birdkit.evaluation.compare import compare_runs
    from birdkit.experiments import collect_results
    from birdkit.io import write_csv, write_text

    summary, _ = collect_results(runs)
    if not summary:
        raise typer.BadParameter(f"no summary.csv under {', '.join(map(str, runs))}", param_hint="RUNS")
    methods = {str(r.get("method")) for r in summary}
    if baseline not in methods:
        raise typer.BadParameter(f"{baseline!r} is not among the runs' methods ({', '.join(sorted(methods))})",
                                 param_hint="--baseline")
    try:
        chosen = [f.strip() for f in focus.split(",") if f.strip()] or None
        for f in chosen or []:
            if f not in methods:
                raise typer.BadParameter(f"{f!r} is not among the runs' methods ({', '.join(sorted(methods))})",
                                         param_hint="--focus")
        res = compare_runs(summary, baseline=baseline, focus=chosen, level=level)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="RUNS") from None
    out = out or runs[0]
    md = write_text(out / "compare.md", res.markdown())
    csv = write_csv(out / "compare.csv", res.rows())
    print_comparison(res)
    console.print(f"written: {md}, {csv}")
    if images:
        from birdkit.evaluation.compare import crossed_rows, load_predictions

        dirs = sorted({p.parent for r in runs for p in Path(r).glob("**/predictions.safetensors")})
        if not dirs:
            raise typer.BadParameter("no predictions.safetensors under the runs", param_hint="--images")
        rows = []
        for pair_dir in sorted({d.parent for d in dirs}):
            got = crossed_rows(load_predictions([d for d in dirs if d.parent == pair_dir]), focus=res.focus,
                               baseline=baseline, level=level)
            rows += [{**r, "pair": pair_dir.name} for r in got]
        path = write_csv(out / "compare_images.csv", rows)
        for r in rows:
            if r["kind"] == "paired-crossed" and r["metric"] == "robust_heldout":
                console.print(f"{r['pair']}: {r['method']} - {r['vs']} {r['mean']:+.2f} [{r['low']:+.2f}, "
                              f"{r['high']:+.2f}] {r['verdict']} (seeds x images)")
        console.print(f"written: {path}")
