"""Single runs for the command line: ``train``, ``transfer``, ``evaluate`` and ``report``.

Each job checks everything it can before any work or any file (names, checkpoints, that the
data's channels and size fit the model), then trains or evaluates through the same pieces as
the experiment runner (:class:`~birdkit.training.Trainer`, ``create_method``,
``evaluate_robustness``) and returns its results as data.

Data format: a model expects images of the channels and size it was built for
(``birdkit_spec``). Where a job is given a checkpoint, the data config's unset ``channels`` /
``img_size`` are taken from the model (an image folder is then decoded so, another dataset
converted); a value that contradicts the model is refused in one line.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from birdkit.audit import create_behavior
from birdkit.checkpoint import load_checkpoint, read_checkpoint_meta
from birdkit.config import DataConfig, EvaluateConfig, LayerPair, TrainConfig, TrainJob, TransferJob, dump_yaml
from birdkit.corruptions import ALL_CORRUPTIONS
from birdkit.data import DATASETS, TensorData, describe_images, load_split
from birdkit.errors import BirdkitError, ShapeError
from birdkit.evaluation.robustness import CorruptedTestSet, evaluate_robustness, summarize
from birdkit.experiments.runner import Progress
from birdkit.io import read_csv, write_csv
from birdkit.methods import create_method, method_class
from birdkit.models import MODELS, create_model
from birdkit.selection import search_layers
from birdkit.training import MODEL_FILE, NOT_IDENTITY, Trainer
from birdkit.training.distributed import init_from_env, is_main

__all__ = ["EvaluateResult", "JobResult", "collect_results", "data_for_model", "run_evaluate", "run_train",
           "run_transfer"]

log = logging.getLogger(__name__)


@dataclass
class JobResult:
    """A finished training run: where its model is, and what it did."""

    model_path: Path
    history: list[dict[str, Any]] = field(default_factory=list)
    layers: list[LayerPair] = field(default_factory=list)
    layer_rows: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class EvaluateResult:
    label: str
    dataset: str
    n: int
    rows: list[dict[str, Any]]
    summary: dict[str, float]


def _input_format(model: nn.Module) -> tuple[int, int] | None:
    spec = getattr(model, "birdkit_spec", None) or {}
    if "in_chans" in spec and "img_size" in spec:
        return int(spec["in_chans"]), int(spec["img_size"])
    return None


def data_for_model(data: DataConfig, model: nn.Module, what: str = "model") -> DataConfig:
    """``data`` with unset ``channels`` / ``img_size`` taken from ``model``'s input format, or
    ShapeError (one line) when a value given contradicts it."""
    fmt = _input_format(model)
    if fmt is None:
        return data
    chans, size = fmt
    if (data.channels not in (None, chans)) or (data.img_size not in (None, size)):
        given = describe_images(data.channels or chans, data.img_size or size)
        raise ShapeError(f"the {what} expects {describe_images(chans, size)} images, but the data options ask for "
                         f"{given}: drop --channels/--img-size or set them to {chans} / {size}")
    return data.model_copy(update={"channels": chans, "img_size": size})


def _check_fits(model: nn.Module, data: TensorData, what: str) -> None:
    fmt = _input_format(model)
    if fmt is not None and fmt != (data.channels, data.img_size):
        raise ShapeError(f"the {what} expects {describe_images(*fmt)} images, the data gives "
                         f"{describe_images(data.channels, data.img_size)}")


def _load(path: str | Path | None, what: str) -> nn.Module | None:
    if path is None:
        return None
    if not Path(path).is_file():
        raise BirdkitError(f"{what} checkpoint {str(path)!r} does not exist")
    return load_checkpoint(path)[0]


def _meta(data: DataConfig, train: TensorData) -> dict[str, Any]:
    return {"data": data.model_dump(), "normalize": {"mean": train.mean, "std": train.std}}


def _recipe(cfg: TrainConfig) -> dict[str, Any]:
    """The training config's fields that decide what is learnt (not device, threads or logging)."""
    return cfg.model_dump(mode="json", exclude=set(NOT_IDENTITY))


def run_train(job: TrainJob, out: str | Path, *, progress: Progress | None = None) -> JobResult:
    """Train ``job.model`` on ``job.data`` into ``out`` (resumes a partial run of the same job);
    data-parallel under torchrun (docs/distributed.md)."""
    MODELS.get(job.model.name)      # unknown names are refused before any data is read
    DATASETS.get(job.data.dataset)
    init_from_env(job.train.device)
    out = Path(out)
    train = load_split(job.data, "train", job.train.max_train_samples)
    val = load_split(job.data, "val", None, norm_from=train)
    # the recipe, which a control teacher must share with its planted teacher (docs/audit.md)
    meta = {**_meta(job.data, train), "model": job.model.model_dump(), "train": _recipe(job.train)}
    if job.plant is not None:  # refused before any training when it does not fit the data
        behavior = create_behavior(job.plant, channels=train.channels, img_size=train.img_size,
                                   num_classes=train.num_classes)
        meta["plant"] = behavior.describe()
        train = behavior.plant(train)
    torch.manual_seed(job.train.seed)  # the initial weights follow the seed too
    net = create_model(job.model.name, num_classes=train.num_classes, in_chans=train.channels,
                       img_size=train.img_size, **job.model.kwargs)
    trainer = Trainer(create_method("task", student=net), train, job.train, out, val=val, progress=progress,
                      checkpoint_meta=meta)
    trainer.check_run_dir()  # a directory holding another run is refused before anything else is written
    if is_main():
        dump_yaml(job, out / "job.yaml")
    res = trainer.fit()
    return JobResult(out / MODEL_FILE, res.history)


def run_transfer(job: TransferJob, out: str | Path, *, progress: Progress | None = None) -> JobResult:
    """Transfer with ``job.method`` from the teacher into the student checkpoint on the student's
    data into ``out``; with ``job.layer_search`` the layer pair is chosen first (validation,
    training corruptions); data-parallel under torchrun (docs/distributed.md)."""
    cls = method_class(job.method.name)  # an unknown method is refused before anything is read or written
    if job.layer_search and not cls.has_layers:
        raise BirdkitError(f"layer_search applies to methods with layer pairs, not {job.method.name!r}")
    teacher, student = _load(job.teacher, "teacher"), _load(job.student, "student")
    init_from_env(job.train.device)
    if cls.uses_teacher and teacher is None:
        raise BirdkitError(f"Method {job.method.name!r} needs a teacher (pass --teacher CKPT)")
    if not cls.starts_from_teacher and student is None:
        raise BirdkitError(f"Method {job.method.name!r} needs a student (pass --student CKPT)")
    ref = student if student is not None else teacher
    data = data_for_model(job.data, ref, "student" if student is not None else "teacher")
    if teacher is not None and student is not None:
        data_for_model(data, teacher, "teacher")  # both networks read the same batch
    out = Path(out)
    train = load_split(data, "train", job.train.max_train_samples)
    val = load_split(data, "val", None, norm_from=train)
    _check_fits(ref, train, "student" if student is not None else "teacher")
    mcfg, layer_rows = job.method, []
    if job.layer_search:
        best, layer_rows = search_layers(mcfg, teacher=teacher, student=student, train=train, val=val, cfg=job.train,
                                         run_dir=out / "layer_search", progress=progress)
        mcfg = mcfg.model_copy(update={"layers": [best]})
    torch.manual_seed(job.train.seed)  # new heads / regressors follow the seed
    method = create_method(mcfg, student=student, teacher=teacher, num_classes=train.num_classes)
    trainer = Trainer(method, train, job.train, out, val=val, progress=progress,
                      checkpoint_meta={"method_config": mcfg.model_dump(), **_meta(data, train)})
    trainer.check_run_dir()
    if is_main():
        dump_yaml(job.model_copy(update={"method": mcfg, "data": data}), out / "job.yaml")
    res = trainer.fit()
    return JobResult(out / MODEL_FILE, res.history, list(getattr(method, "pairs", []) or []), layer_rows)


def run_evaluate(cfg: EvaluateConfig, model_path: str | Path, out: str | Path, *,
                 name: str | None = None) -> EvaluateResult:
    """Clean accuracy and accuracy per corruption x severity (held-out and training
    corruptions) of a checkpoint on ``cfg.data``'s test split; writes ``config.yaml``,
    ``eval.csv`` and ``summary.csv`` to ``out``. Normalisation is the checkpoint's (recorded by
    ``train``/``transfer``), else the data's training split's."""
    model_path = Path(model_path)
    DATASETS.get(cfg.data.dataset)
    net = _load(model_path, "model")
    meta = read_checkpoint_meta(model_path)
    data = data_for_model(cfg.data, net)
    norm = (meta.get("extra") or {}).get("normalize")
    train = load_split(data, "train", 1)  # normalisation constants of the training split
    test = load_split(data, "test", cfg.max_test_samples, norm_from=train)
    if norm:
        test.mean, test.std = tuple(norm["mean"]), tuple(norm["std"])
    _check_fits(net, test, "model")
    label = name or model_path.parent.name or model_path.stem
    testset = CorruptedTestSet(test.images, test.targets, seed=cfg.seed, cache=True)
    rows = evaluate_robustness(net, testset, test.normalize,
                               corruptions=ALL_CORRUPTIONS, severities=cfg.severities, model_name=label)
    summary = summarize(rows)
    out = Path(out)
    dump_yaml(cfg.model_copy(update={"data": data}), out / "config.yaml")
    write_csv(out / "eval.csv", rows)
    write_csv(out / "summary.csv", [{"pair": data.dataset, "method": label, **summary}])
    return EvaluateResult(label, data.dataset, len(test), rows, summary)


def collect_results(paths: list[Path]) -> tuple[list[dict], list[dict]]:
    """Every ``summary.csv`` (and its ``eval.csv``) under ``paths``; rows without a ``pair``
    column are labelled by the folder above the run (``runs/bird/eval`` -> ``bird``)."""
    summary, evals = [], []
    for root in paths:
        for s in sorted(Path(root).glob("**/summary.csv")):
            rows = read_csv(s)
            label = s.parent.parent.name if s.parent.name == "eval" else s.parent.name
            summary += [r if r.get("pair") else {**r, "pair": label} for r in rows]
            e = s.with_name("eval.csv")
            if e.exists():
                evals += read_csv(e)
    return summary, evals
