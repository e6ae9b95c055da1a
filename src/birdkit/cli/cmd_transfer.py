"""``birdkit transfer``: one transfer method from a teacher checkpoint into a student checkpoint."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from birdkit.cli import _options as opt
from birdkit.cli._progress import TrainingProgress
from birdkit.cli.cmd_train import load_job_yaml
from birdkit.cli.main import app, console

JOB_KEYS = {"method", "teacher", "student", "data", "train", "layer_search"}


@app.command("transfer")
@opt.with_flags(opt.DATA_FLAGS, opt.TRAIN_FLAGS)
def transfer(
    out: Path = typer.Option(..., "--out", help="Run directory (resumes if it holds a partial run of this job)."),
    method: str = typer.Option(None, "--method", help="Transfer method (default bird; see `birdkit methods`)."),
    teacher: Path = typer.Option(None, "--teacher", help="Teacher checkpoint (.safetensors)."),
    student: Path = typer.Option(None, "--student", help="Student checkpoint (.safetensors)."),
    teacher_layer: str = typer.Option(None, "--teacher-layer", help="Guiding layer (default: teacher's default)."),
    student_layer: str = typer.Option(None, "--student-layer", help="Guided layer (default: student's default)."),
    alpha: float = typer.Option(None, "--alpha", help="Weight of the representation term (BIRD, Hints)."),
    beta: float = typer.Option(None, "--beta", help="BIRD paper form: L = alpha * task + beta * rep."),
    kernel: str = typer.Option(None, "--kernel", help="linear or rbf."),
    debiased: bool = typer.Option(None, "--debiased/--biased", help="Unbiased HSIC in CKA (default biased)."),
    layer_search: bool = typer.Option(None, "--layer-search/--no-layer-search",
                                      help="Try candidate layer pairs briefly; keep the best by validation robust "
                                           "accuracy under the *training* corruptions."),
    config: Path = opt.ConfigOpt,
    flags: dict | None = None,
) -> None:
    """Transfer a teacher's behavior into a student with one method (`birdkit methods` lists them).

    --config takes a job YAML (method:, teacher:, student:, data:, train:, layer_search:) or a
    plain TrainConfig YAML; flags override it."""
    from birdkit.checkpoint import load_checkpoint
    from birdkit.config import TransferJob, validate
    from birdkit.experiments import run_transfer
    from birdkit.training.distributed import is_main

    flags = {**flags, **opt.given({"method.name": method, "teacher": str(teacher) if teacher else None,
                                   "student": str(student) if student else None, "method.alpha": alpha,
                                   "method.beta": beta, "method.kernel": kernel, "method.debiased": debiased,
                                   "layer_search": layer_search})}
    raw = opt.build(load_job_yaml(config, JOB_KEYS), flags)
    job = validate(TransferJob, raw, source=str(config or ""), names=opt.names_for(flags, config))
    if teacher_layer or student_layer:
        if not (job.teacher and job.student):
            raise typer.BadParameter("--teacher-layer/--student-layer need --teacher and --student")
        t_net, s_net = load_checkpoint(job.teacher)[0], load_checkpoint(job.student)[0]
        pair = {"teacher": teacher_layer or t_net.default_layer, "student": student_layer or s_net.default_layer}
        job = validate(TransferJob, opt.build(job.model_dump(), {"method.layers": [pair]}))
    with TrainingProgress(console) as prog:
        res = run_transfer(job, out, progress=prog)
    if not is_main():  # under torchrun: rank 0 reports
        return
    if res.layer_rows:
        t = Table(title="layer search (validation, training corruptions)")
        for h in ("teacher layer", "student layer", "val clean", "val robust (train corr.)"):
            t.add_column(h)
        for r in res.layer_rows:
            t.add_row(r["teacher"], r["student"], f"{100 * r['val_clean']:.2f}", f"{100 * r['val_robust_train']:.2f}")
        console.print(t)
    if res.layers:
        console.print("layers: " + "; ".join(f"teacher {p.teacher} -> student {p.student} (w={p.weight})"
                                             for p in res.layers))
    console.print(f"model: {res.model_path}")
