"""``birdkit evaluate``: a checkpoint's clean and robust accuracy on a test split."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from birdkit.cli import _options as opt
from birdkit.cli.main import app, console


@app.command("evaluate")
@opt.with_flags(opt.DATA_FLAGS)
def evaluate(
    model: Path = typer.Option(..., "--model", help="Checkpoint to evaluate."),
    out: Path = typer.Option(..., "--out", help="Directory for eval.csv and summary.csv."),
    max_samples: int = typer.Option(None, "--max-samples", help="Evaluate on a test subset."),
    seed: int = typer.Option(None, "--seed", help="Corruption seed (default 0)."),
    name: str = typer.Option(None, "--name", help="Model name in the tables (default: the run directory's name)."),
    config: Path = opt.ConfigOpt,
    flags: dict | None = None,
) -> None:
    """Clean accuracy, accuracy per corruption x severity (held-out and training corruptions),
    robust accuracy with and without severity 0. --config takes an EvaluateConfig YAML (data:,
    max_test_samples:, seed:, severities:)."""
    from birdkit.config import EvaluateConfig, read_yaml, validate
    from birdkit.experiments import run_evaluate

    flags = {**flags, **opt.given({"max_test_samples": max_samples, "seed": seed})}
    raw = opt.build(read_yaml(config) if config else {}, flags)
    cfg = validate(EvaluateConfig, raw, source=str(config or ""), names=opt.names_for(flags, config))
    res = run_evaluate(cfg, model, out, name=name)
    t = Table(title=f"{res.label} on {res.dataset} test ({res.n} images)")
    t.add_column("metric")
    t.add_column("accuracy (%)", justify="right")
    for k, v in res.summary.items():
        t.add_row(k, f"{100 * v:.2f}")
    console.print(t)
