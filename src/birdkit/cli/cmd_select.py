"""``birdkit select``: choose transfer hyperparameters on validation data and training corruptions."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from birdkit.cli._progress import TrainingProgress
from birdkit.cli.main import app, console


@app.command("select")
def select(
    pair: str = typer.Option("fmnist-split", "--pair", help="Built-in pair name or pair YAML."),
    out: Path = typer.Option(Path("runs/select"), "--out", help="Run directory (teacher/student reused if present)."),
    seed: int = typer.Option(0, "--seed"),
    methods: str = typer.Option("", "--methods", help="Comma-separated subset (default: all transfer methods)."),
    layer_search: bool = typer.Option(True, "--layer-search/--no-layer-search",
                                      help="Then choose BIRD's layer pair (Hints gets the same)."),
    seeds: int = typer.Option(1, "--seeds", min=1,
                              help="Training seeds per grid point, scored by --rule (guards against lucky draws)."),
    rule: str = typer.Option("mean", "--rule", help="Score of a grid point over its seeds: mean, or mean-se (the "
                             "mean less one standard error: a point whose seeds disagree loses to a steady one)."),
    lrs: str = typer.Option("", "--lrs", help="Comma-separated learning rates of the grid (default: 9 from 0.001 "
                            "to 1.6)."),
    val_samples: int = typer.Option(1000, "--val-samples", min=10, help="Validation images scored per candidate."),
    variants: bool = typer.Option(False, "--variants/--no-variants",
                                  help="Then try BIRD's variants (debiased CKA, feature queue, two layer pairs) at "
                                       "its chosen point; the best is returned under 'variants'."),
) -> None:
    """Grid-search lr (all methods) and alpha (BIRD, Hints) on the student's validation split under
    the 15 *training* corruptions, then BIRD's layer pair at its chosen lr and alpha; print the table
    and the chosen overrides (YAML-ready). The held-out corruptions are never computed."""
    from birdkit.config import load_pair
    from birdkit.experiments import run_select
    from birdkit.selection import RULES

    if rule not in RULES:
        raise typer.BadParameter(f"{rule!r} is not a rule; allowed: {', '.join(RULES)}", param_hint="--rule")
    cfg = load_pair(pair)
    chosen = [m.strip() for m in methods.split(",") if m.strip()] or None
    try:
        lr_grid = [float(x) for x in lrs.split(",") if x.strip()] or None
    except ValueError:
        raise typer.BadParameter(f"{lrs!r}: expected comma-separated positive numbers", param_hint="--lrs") from None
    if lr_grid and min(lr_grid) <= 0:
        raise typer.BadParameter(f"{lrs!r}: learning rates must be > 0", param_hint="--lrs")
    with TrainingProgress(console) as prog:
        res = run_select(cfg, out, seed=seed, methods=chosen, layer_search=layer_search, seeds=seeds,
                         rule=rule, variants=variants, lrs=lr_grid, val_samples=val_samples, progress=prog)
    t = Table(title=f"{cfg.name}: validation, training corruptions (sev 1, 3, 5)")
    order = ["lr", "alpha", "teacher_layer", "student_layer"]
    found = {k for r in res.rows for k in r} - {"method", "val_clean", "val_robust_train", "variant_fields"}
    keys = [k for k in order if k in found] + sorted(found - set(order))
    for h in ["method", *keys, "val clean", "val robust (train corr.)"]:
        t.add_column(h)
    for r, chosen_row in zip(res.rows, res.chosen):
        t.add_row(r["method"], *[str(r.get(k, "")) for k in keys], f"{100 * r['val_clean']:.2f}",
                  f"{100 * r['val_robust_train']:.2f}", style="bold green" if chosen_row else None)
    console.print(t)
    console.print(f"rows: {res.csv}")
    console.print("overrides: " + json.dumps(res.best))
