"""Run a benchmark pair end to end: robust teacher, clean student, oracle, every transfer
method, robust evaluation and the summary table. Used by ``birdkit demo``.

Layout of ``out_dir/<pair>/seed<k>/``::

    config.yaml            resolved PairConfig
    teacher/ student/ oracle/ <method>/    one run directory each (model.safetensors + .json,
                                           state.safetensors, metrics.csv, tb/)
    eval.csv               tidy rows: model x corruption x severity accuracy
    summary.csv            one row per method: clean, robust (held-out / training), CKA, layers
                           (teacher->student pairs of BIRD / Hints), PGR

Every stage is resumable: a run directory holding a finished model is reused, a partial one
resumes from its last checkpoint.
"""

from __future__ import annotations

import copy
import csv
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from birdkit.checkpoint import load_checkpoint
from birdkit.data import create_dataset
from birdkit.evaluation.robustness import CorruptedTestSet, evaluate_robustness, pgr, summarize
from birdkit.evaluation.similarity import CKAMetric
from birdkit.experiments.config import ALL_METHODS, PairConfig
from birdkit.features.capture import capture
from birdkit.methods import METHODS, create_method
from birdkit.models import create_model
from birdkit.training.config import AugmentConfig, DataConfig, MethodConfig, TrainConfig, dump_yaml
from birdkit.training.trainer import MODEL_FILE, TensorData, Trainer

log = logging.getLogger(__name__)

Progress = Callable[[dict[str, Any]], None]


def load_split(cfg: DataConfig, split: str, limit: int | None = None, norm_from: TensorData | None = None) -> TensorData:
    ds = create_dataset(cfg.dataset, split, root=cfg.root, classes=cfg.classes, val_fraction=cfg.val_fraction)
    if norm_from is not None:
        return TensorData.from_dataset(ds, limit, mean=norm_from.mean, std=norm_from.std)
    return TensorData.from_dataset(ds, limit)


def train_model(run_dir: Path, method, train: TensorData, cfg: TrainConfig, val: TensorData | None,
                progress: Progress, meta: dict) -> torch.nn.Module:
    """Train (or reuse, or resume) one run directory and return its trained model. A directory
    holding a different run (another config, method or data) raises ``RunMismatchError``."""
    trainer = Trainer(method, train, cfg, run_dir, val=val, progress=progress, checkpoint_meta=meta)
    if (run_dir / MODEL_FILE).exists():
        trainer.check_run_dir()
        log.info("reusing finished run %s", run_dir)
        model, _ = load_checkpoint(run_dir / MODEL_FILE)
        return model
    trainer.fit(resume=True)
    model, _ = load_checkpoint(run_dir / MODEL_FILE)
    return model


@torch.no_grad()
def cka_to_teacher(model, teacher, teacher_layer: str, model_layer: str, data: TensorData, n: int,
                   batch_size: int = 256) -> float:
    """Linear CKA between teacher and model layers on ``n`` clean test images, accumulated over
    batches of ``batch_size`` (HSIC terms averaged, then the ratio)."""
    metric = CKAMetric(kernel="linear")
    model.eval()
    teacher.eval()
    n = min(n, len(data))
    for i in range(0, n - n % batch_size or n, batch_size):
        x = data.normalize(data.images[i:i + batch_size].float().div_(255))
        if len(x) < 4:
            break
        with capture(teacher, [teacher_layer], pool="avg") as tf:
            teacher(x)
            u = tf[teacher_layer]
        with capture(model, [model_layer], pool="avg") as mf:
            model(x)
            v = mf[model_layer]
        metric.update(u, v)
    return float(metric.compute())


def run_pair(cfg: PairConfig, out_dir: str | Path, *, seed: int = 0, progress: Progress | None = None,
             methods: list[str] | None = None) -> list[dict]:
    """Run the whole protocol of ``cfg`` for one seed; returns the summary rows."""
    progress = progress or (lambda ev: None)
    root = Path(out_dir) / cfg.name / f"seed{seed}"
    root.mkdir(parents=True, exist_ok=True)
    dump_yaml(cfg, root / "config.yaml")
    methods = methods or cfg.methods
    for m in methods:
        METHODS.get(m)

    t0 = time.perf_counter()
    # ---- data --------------------------------------------------------------------------
    t_train = load_split(cfg.teacher_data, "train", cfg.teacher_train.max_train_samples)
    t_val = load_split(cfg.teacher_data, "val", cfg.eval.max_test_samples, norm_from=t_train)
    s_train = load_split(cfg.student_data, "train", cfg.student_train.max_train_samples)
    s_val = load_split(cfg.student_data, "val", cfg.eval.max_test_samples, norm_from=s_train)
    s_test = load_split(cfg.student_data, "test", cfg.eval.max_test_samples, norm_from=s_train)
    spec_t, spec_s = cfg.teacher_model, cfg.student_model
    in_chans, size = s_train.images.shape[1], s_train.images.shape[-1]

    def with_seed(tc: TrainConfig) -> TrainConfig:
        return tc.model_copy(update={"seed": tc.seed + seed})

    # ---- teacher (robust), student (clean), oracle --------------------------------------
    progress({"event": "stage", "name": "teacher"})
    torch.manual_seed(seed)
    teacher_net = create_model(spec_t.name, num_classes=len(t_train.targets.unique()), in_chans=in_chans,
                               img_size=size, **spec_t.kwargs)
    tcfg = with_seed(cfg.teacher_train)
    if tcfg.augment is None:
        tcfg = tcfg.model_copy(update={"augment": AugmentConfig()})
    teacher = train_model(root / "teacher", create_method("task", student=teacher_net), t_train, tcfg, t_val,
                          progress, {"role": "teacher", "data": cfg.teacher_data.model_dump()})

    num_classes = len(s_train.targets.unique())

    def fresh_student():
        torch.manual_seed(seed + 1)
        return create_model(spec_s.name, num_classes=num_classes, in_chans=in_chans, img_size=size, **spec_s.kwargs)

    progress({"event": "stage", "name": "student"})
    student = train_model(root / "student", create_method("task", student=fresh_student()), s_train,
                          with_seed(cfg.student_train), s_val, progress, {"role": "student"})

    trained: dict[str, torch.nn.Module] = {}
    layers_used: dict[str, str] = {}
    for name in methods:
        progress({"event": "stage", "name": name})
        mcfg = MethodConfig(**{**cfg.method.model_dump(), "name": name, **_method_overrides(cfg, name)})
        if name == "none":
            trained[name] = student
            continue
        if name == "oracle":
            init = fresh_student() if cfg.oracle_init == "scratch" else copy.deepcopy(student)
            ocfg = with_seed(cfg.student_train if cfg.oracle_init == "scratch" else cfg.transfer_train)
            trained[name] = train_model(root / "oracle", create_method("oracle", student=init), s_train,
                                        ocfg, s_val, progress, {"role": "oracle"})
            continue
        torch.manual_seed(seed * 1_000 + 17 * (ALL_METHODS.index(name) if name in ALL_METHODS else 99))
        method = create_method(mcfg, student=copy.deepcopy(student), teacher=copy.deepcopy(teacher),
                               num_classes=num_classes)  # new heads seeded per (seed, method): resumable
        if getattr(method, "pairs", None):
            layers_used[name] = ";".join(f"{p.teacher}->{p.student}" for p in method.pairs)
        tc = with_seed(cfg.transfer_train).with_lr(cfg.overrides.get(name, {}).get("lr"))
        trained[name] = train_model(root / name, method, s_train, tc, s_val, progress,
                                    {"role": name, "method_config": mcfg.model_dump()})

    # ---- evaluation ----------------------------------------------------------------------
    progress({"event": "stage", "name": "evaluate"})
    testset = CorruptedTestSet(s_test.images, s_test.targets, seed=cfg.eval.seed)
    train_sub = cfg.eval.train_corruption_samples
    testset_train = (CorruptedTestSet(s_test.images[:train_sub], s_test.targets[:train_sub], seed=cfg.eval.seed)
                     if train_sub and train_sub < len(s_test) else testset)
    rows, summary = [], []
    from birdkit.corruptions import HELDOUT_CORRUPTIONS, TRAIN_CORRUPTIONS

    for name, model in trained.items():
        progress({"event": "evaluate", "name": name})
        r = evaluate_robustness(model, testset, s_test.normalize, corruptions=HELDOUT_CORRUPTIONS,
                                severities=cfg.eval.severities, model_name=name)
        r_tr = evaluate_robustness(model, testset_train, s_test.normalize, corruptions=TRAIN_CORRUPTIONS,
                                   severities=cfg.eval.severities, model_name=name)
        rows += r + [x for x in r_tr if x["severity"] > 0]
        s = summarize(r + [x for x in r_tr if x["severity"] > 0])
        s["cka_to_teacher"] = cka_to_teacher(model, teacher, teacher.default_layer, model.default_layer, s_test,
                                             cfg.eval.cka_samples)
        summary.append({"pair": cfg.name, "seed": seed, "method": name, **s, "layers": layers_used.get(name, "")})
    by = {s["method"]: s for s in summary}
    for s in summary:
        if "none" in by and "oracle" in by:
            s["pgr_heldout"] = pgr(s["robust_heldout"], by["none"]["robust_heldout"], by["oracle"]["robust_heldout"])
        else:
            s["pgr_heldout"] = float("nan")
    _write_csv(root / "eval.csv", [{"pair": cfg.name, "seed": seed, **r} for r in rows])
    _write_csv(root / "summary.csv", summary)
    log.info("pair %s seed %d done in %.1f s", cfg.name, seed, time.perf_counter() - t0)
    return summary


def _method_overrides(cfg: PairConfig, name: str) -> dict:
    fields = set(MethodConfig.model_fields)
    return {k: v for k, v in cfg.overrides.get(name, {}).items() if k in fields}


def _write_csv(path: Path, rows: list[dict]) -> None:
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    tmp = path.with_suffix(".csv.tmp")
    with tmp.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
    tmp.replace(path)
