"""``birdkit demo``: a built-in teacher -> student pair end to end, with a results table."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from birdkit.cli._progress import TrainingProgress
from birdkit.cli.main import app, console


@app.command("demo")
def demo(
    pair: str = typer.Option("fmnist-split", "--pair", help="Built-in pair name or a pair YAML file."),
    seeds: int = typer.Option(1, "--seeds", min=1, help="Seeds to run; >1 ends with `birdkit compare`'s table "
                              "(95% intervals, PGR, BIRD - X verdicts)."),
    out: Path = typer.Option(Path("runs/demo"), "--out", help="Directory for the run directories."),
    methods: str = typer.Option("", "--methods", help="Comma-separated subset of methods (default: all)."),
    threads: int = typer.Option(0, "--threads", min=0, help="torch threads (0: all cores)."),
) -> None:
    """Run teacher, student, oracle and every transfer method on a built-in pair, evaluate
    robustness on held-out corruptions, and print method | clean | robust | PGR | CKA."""
    import torch

    from birdkit.cli._tables import print_comparison
    from birdkit.config import load_pair
    from birdkit.evaluation.report import fmt
    from birdkit.experiments import run_demo

    if threads:
        torch.set_num_threads(threads)
    cfg = load_pair(pair)
    chosen = [m.strip() for m in methods.split(",") if m.strip()] or None
    with TrainingProgress(console) as prog:
        res = run_demo(cfg, out, seeds=seeds, methods=chosen, progress=prog)

    table = Table(title=f"birdkit demo: {cfg.name} ({seeds} seed{'s' if seeds > 1 else ''})")
    for h in ("method", "clean acc", "robust acc (held-out)", "robust acc (training corr.)", "PGR", "CKA to teacher"):
        table.add_column(h, justify="right" if h != "method" else "left")
    for _, r in res.aggregate.iterrows():
        style = "bold green" if r["method"] == "bird" else None
        table.add_row(str(r["method"]), fmt(r["clean_acc_mean"], r["clean_acc_std"]),
                      fmt(r["robust_heldout_mean"], r["robust_heldout_std"]),
                      fmt(r["robust_train_mean"], r["robust_train_std"]),
                      fmt(r["pgr_heldout_mean"], r["pgr_heldout_std"]),
                      fmt(r["cka_to_teacher_mean"], r["cka_to_teacher_std"], pct=False), style=style)
    if seeds > 1 and res.comparison is not None:
        print_comparison(res.comparison)
    else:
        console.print(table)
    console.print("accuracies in %; PGR = (method - none) / (oracle - none) on held-out robust accuracy; "
                  "CKA to teacher: linear, at each network's default layer.")
    if res.layers:
        console.print("layers (teacher->student): " + ", ".join(f"{m} {v}" for m, v in res.layers.items()))
    console.print(f"results: {res.pair_dir} ({', '.join(p.name for p in res.files)}); {res.seconds:.0f} s")
