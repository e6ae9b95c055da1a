"""``birdkit train``: a model trained on a dataset, clean or with corruption augmentation."""

from __future__ import annotations

from pathlib import Path

import typer

from birdkit.cli import _options as opt
from birdkit.cli._progress import TrainingProgress
from birdkit.cli.main import app, console

#: a ``--config`` holding only TrainConfig keys is read as the job's ``train:`` section
JOB_KEYS = {"model", "data", "train", "plant"}


def load_job_yaml(config: Path | None, job_keys: set[str]) -> dict:
    """The raw YAML of ``--config`` ({} without one); a file of TrainConfig keys only becomes ``train:``."""
    from birdkit.config import TrainConfig, read_yaml

    if config is None:
        return {}
    raw = read_yaml(config)
    if raw and not set(raw) & job_keys and set(raw) <= set(TrainConfig.model_fields):
        return {"train": raw}
    return raw


@app.command("train")
@opt.with_flags(opt.DATA_FLAGS, opt.TRAIN_FLAGS)
def train(
    out: Path = typer.Option(..., "--out", help="Run directory (resumes if it holds a partial run of this job)."),
    model: str = typer.Option(None, "--model", help="Registered model name (birdkit models)."),
    robust: bool = typer.Option(False, "--robust", help="Corruption augmentation (15 training corruptions, sev 0-5)."),
    plant: str = typer.Option(None, "--plant", help="Plant a behavior in the training data for an audit: backdoor "
                              "or shortcut (birdkit audit --list); recorded in the checkpoint."),
    plant_rate: float = typer.Option(None, "--plant-rate", help="backdoor: share of the other classes' images "
                                     "poisoned (default 0.1)."),
    plant_target: int = typer.Option(None, "--plant-target", help="backdoor: the class the trigger sends to "
                                     "(default 0)."),
    config: Path = opt.ConfigOpt,
    flags: dict | None = None,
) -> None:
    """Train a model on a dataset (clean, or robust with corruption augmentation), optionally
    with a planted behavior (--plant) for `birdkit audit`; its control is the same command without --plant.

    --config takes a job YAML (model:, data:, train:, plant:) or a plain TrainConfig YAML; flags override it."""
    from birdkit.config import TrainJob, validate
    from birdkit.experiments import run_train

    flags = {**flags, **opt.given({"model.name": model, "plant.behavior": plant, "plant.rate": plant_rate,
                                   "plant.target": plant_target})}
    raw = opt.build(load_job_yaml(config, JOB_KEYS), flags)
    if robust and not (raw.get("train") or {}).get("augment"):
        raw = opt.build(raw, {"train.augment": {}})
    job = validate(TrainJob, raw, source=str(config or ""), names=opt.names_for(flags, config))
    with TrainingProgress(console) as prog:
        res = run_train(job, out, progress=prog)
    console.print(f"model: {res.model_path}")
