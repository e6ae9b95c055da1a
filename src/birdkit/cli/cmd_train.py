"""``birdkit train``: a model trained on a dataset, clean or with corruption augmentation."""

from __future__ import annotations

from pathlib import Path

import typer

from birdkit.cli._options import (
    ChannelsOpt,
    ClassesOpt,
    ConfigOpt,
    DatasetOpt,
    ImgSizeOpt,
    RootOpt,
    build,
    data_flags,
    given,
    names_for,
)
from birdkit.cli._progress import TrainingProgress
from birdkit.cli.main import app, console

#: a ``--config`` holding only TrainConfig keys is read as the job's ``train:`` section
JOB_KEYS = {"model", "data", "train"}


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
def train(
    out: Path = typer.Option(..., "--out", help="Run directory (resumes if it holds a partial run of this job)."),
    model: str = typer.Option(None, "--model", help="Registered model name (birdkit models)."),
    dataset: str = DatasetOpt,
    root: Path = RootOpt,
    channels: int = ChannelsOpt,
    img_size: int = ImgSizeOpt,
    classes: str = ClassesOpt,
    robust: bool = typer.Option(False, "--robust", help="Corruption augmentation (15 training corruptions, sev 0-5)."),
    epochs: int = typer.Option(None, "--epochs"),
    lr: float = typer.Option(None, "--lr"),
    batch_size: int = typer.Option(None, "--batch-size"),
    seed: int = typer.Option(None, "--seed"),
    max_samples: int = typer.Option(None, "--max-samples", help="Train on a random subset of this size."),
    config: Path = ConfigOpt,
) -> None:
    """Train a model on a dataset (clean, or robust with corruption augmentation).

    --config takes a job YAML (model:, data:, train:) or a plain TrainConfig YAML; flags override it."""
    from birdkit.config import TrainJob, validate
    from birdkit.experiments import run_train

    flags = given({"model.name": model, "train.epochs": epochs, "train.optim.lr": lr, "train.batch_size": batch_size,
                   "train.seed": seed, "train.max_train_samples": max_samples})
    flags.update(data_flags(dataset, root, channels, img_size, classes))
    raw = build(load_job_yaml(config, JOB_KEYS), flags)
    if robust and not (raw.get("train") or {}).get("augment"):
        raw = build(raw, {"train.augment": {}})
    job = validate(TrainJob, raw, source=str(config or ""), names=names_for(flags, config))
    with TrainingProgress(console) as prog:
        res = run_train(job, out, progress=prog)
    console.print(f"model: {res.model_path}")
