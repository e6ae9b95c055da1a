"""The one experiment runner: a teacher -> student pair, step by step.

:class:`PairRunner` owns one seed directory of a :class:`~birdkit.config.PairConfig` and
exposes the protocol's steps (docs/method.md §3)::

    teacher()     the robust teacher (corruption augmentation), or any TeacherSpec of a study
    student()     the clean student
    oracle()      the student architecture trained with the augmentation (the PGR ceiling)
    transfer(m)   method m from the teacher into the student, on the student's data
    evaluate(...) robust accuracy, CKA to the teacher and PGR of trained models

``birdkit demo`` runs them all (:meth:`PairRunner.run`); ``birdkit select`` takes the teacher
and student and scores candidates; ``birdkit study`` swaps teachers; the single-run commands
share the steps' building blocks (:mod:`birdkit.experiments.jobs`). Every step trains into its
own run directory, which is reused when finished, resumed when interrupted, and refused when it
holds a different run. Results come back as data; nothing is printed.

Seeds: the experiment seed ``s`` is added to each training config's own seed, and every
network's initial weights (and a method's new heads) are drawn after
``torch.manual_seed(derive_seed(s, role))``.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save as st_save
from torch import nn

from birdkit.audit.behaviors import Behavior, create_behavior
from birdkit.config import (
    AugmentConfig,
    DataConfig,
    LayerPair,
    MethodConfig,
    ModelRef,
    PairConfig,
    PlantConfig,
    TeacherSpec,
    TrainConfig,
    dump_yaml,
    yaml_text,
)
from birdkit.corruptions import HELDOUT_CORRUPTIONS, MNISTC_CORRUPTIONS, TRAIN_CORRUPTIONS
from birdkit.data import TensorData, load_split
from birdkit.errors import UnknownNameError
from birdkit.evaluation.alignment import cka_to_teacher
from birdkit.evaluation.robustness import CorruptedTestSet, evaluate_models, pgr, summarize
from birdkit.io import directory_lock, read_csv, write_bytes, write_csv
from birdkit.methods import TransferMethod, benchmark_methods, create_method, list_methods, method_class
from birdkit.models import create_model
from birdkit.training import Trainer

__all__ = ["PairResult", "PairRunner", "Progress", "derive_seed", "resolve_method_config", "resolve_transfer_train",
           "seed_dir"]

log = logging.getLogger(__name__)

Progress = Callable[[dict[str, Any]], None]

#: transfer methods seed their new heads / regressors with ``seed * STRIDE + STEP * index``,
#: ``index`` the method's place among the benchmark methods (so every (seed, method) differs)
TRANSFER_SEED_STRIDE = 1_000
TRANSFER_SEED_STEP = 17
#: index used for a method that is not a benchmark method
UNLISTED_METHOD_INDEX = 99


def derive_seed(seed: int, role: str) -> int:
    """The torch seed set before a network of ``role`` is built in experiment seed ``seed``.

    ``teacher``: ``seed``; ``student`` and ``oracle``: ``seed + 1`` (the oracle trained from
    scratch starts from the student's initial weights, so the two differ only by the
    augmentation); a transfer method: ``seed * 1000 + 17 * index`` (its new heads)."""
    if role == "teacher":
        return seed
    if role in ("student", "oracle"):
        return seed + 1
    order = benchmark_methods()
    index = order.index(role) if role in order else UNLISTED_METHOD_INDEX
    return seed * TRANSFER_SEED_STRIDE + TRANSFER_SEED_STEP * index


def seed_dir(out_dir: str | Path, name: str, seed: int) -> Path:
    """``out_dir/<name>/seed<seed>``: where one seed of an experiment lives."""
    return Path(out_dir) / name / f"seed{seed}"


def resolve_method_config(cfg: PairConfig, name: str, layers: list[LayerPair] | None = None) -> MethodConfig:
    """Method ``name``'s config in pair ``cfg`` (:meth:`PairConfig.method_config`), ``layers``
    replacing its layer pairs; an unknown method lists close matches."""
    method_class(cfg.base_method(name))
    return cfg.method_config(name) if layers is None else cfg.method_config(name, layers=list(layers))


def resolve_transfer_train(cfg: PairConfig, name: str, seed: int = 0) -> TrainConfig:
    """The transfer budget of method ``name`` in experiment seed ``seed`` (:meth:`PairConfig.transfer_config`)."""
    return cfg.transfer_config(name, seed)


def check_pair_methods(cfg: PairConfig, methods: Sequence[str] | None = None) -> list[str]:
    """The methods to run (``methods``, else the pair's, else every benchmark method and the
    pair's variants), checked against the registry together with the pair's override names and
    the variants' methods, before any work."""
    chosen = list(methods or cfg.methods or [*benchmark_methods(), *cfg.variants])
    for name in [*chosen, *cfg.overrides, *(v["method"] for v in cfg.variants.values())]:
        if name not in list_methods() and name not in cfg.variants:
            raise UnknownNameError("method", name, [*list_methods(), *cfg.variants],
                                   hint="List them with `birdkit methods`.")
    return chosen


@dataclass
class PairResult:
    """What one seed of a pair produced: a summary row per method and the tidy evaluation rows."""

    summary: list[dict[str, Any]]
    eval_rows: list[dict[str, Any]]
    root: Path
    seconds: float = 0.0
    layers: dict[str, str] = field(default_factory=dict)


class PairRunner:
    """The steps of the protocol on one seed of a pair, each trained into ``root/<step>/``.

    Args:
        cfg: the pair.
        root: the seed directory (default ``seed_dir(out_dir, cfg.name, seed)``).
        seed: the experiment seed.
        progress: receives event dicts (``{"event": "stage", "name": ...}`` and the trainer's).
    """

    def __init__(self, cfg: PairConfig, root: str | Path, *, seed: int = 0, progress: Progress | None = None):
        check_pair_methods(cfg)
        self.cfg = cfg
        self.root = Path(root)
        self.seed = seed
        self.progress = progress or (lambda ev: None)
        self._splits: dict[tuple, TensorData] = {}
        self._models: dict[str, nn.Module] = {}
        self._testsets: dict[tuple[int | None, str | None], CorruptedTestSet] = {}

    # -- data --------------------------------------------------------------------------------
    def split(self, data: DataConfig, split: str, limit: int | None = None,
              norm_from: TensorData | None = None) -> TensorData:
        """A split in memory, loaded once per (data, split, limit, normalisation)."""
        key = (data.model_dump_json(), split, limit, None if norm_from is None else (norm_from.mean, norm_from.std))
        if key not in self._splits:
            self._splits[key] = load_split(data, split, limit, norm_from=norm_from)
        return self._splits[key]

    def student_split(self, split: str, limit: int | None = None) -> TensorData:
        """The student's ``split``; validation and test data normalised like its training split."""
        train = self.split(self.cfg.student_data, "train", self.cfg.student_train.max_train_samples)
        return train if split == "train" and limit is None else \
            self.split(self.cfg.student_data, split, limit, norm_from=train)

    @property
    def student_train(self) -> TensorData:
        return self.student_split("train")

    @property
    def student_val(self) -> TensorData:
        return self.student_split("val", self.cfg.eval.max_test_samples)

    @property
    def student_test(self) -> TensorData:
        return self.student_split("test", self.cfg.eval.max_test_samples)

    @property
    def num_classes(self) -> int:
        return self.student_train.num_classes

    def _build(self, model: ModelRef, num_classes: int, role: str) -> nn.Module:
        s = self.student_train  # every network sees the student's input format (BIRD feeds both the same batch)
        torch.manual_seed(derive_seed(self.seed, role))
        return create_model(model.name, num_classes=num_classes, in_chans=s.channels, img_size=s.img_size,
                            **model.kwargs)

    def _fit(self, run_dir: Path, method: TransferMethod, train: TensorData, cfg: TrainConfig,
             val: TensorData | None, meta: dict[str, Any]) -> nn.Module:
        trainer = Trainer(method, train, cfg, run_dir, val=val, progress=self.progress, checkpoint_meta=meta)
        return trainer.fit_or_load()

    def _stage(self, name: str) -> None:
        self.progress({"event": "stage", "name": name})

    # -- steps -------------------------------------------------------------------------------
    def teacher(self, spec: TeacherSpec | None = None, run_dir: str | Path | None = None, *,
                plant: PlantConfig | None = None) -> nn.Module:
        """The pair's robust teacher, or the teacher ``spec`` (its model, data and whether it is
        trained robustly) with the pair's teacher budget, in ``run_dir`` (default ``root/teacher``).

        With ``plant``, the behavior is planted in the teacher's training data
        (:mod:`birdkit.audit.behaviors`) and everything else stays as it is: the initial weights,
        data order, augmentation draws and budget of the teacher without it (its control), so
        the two differ only by the behavior (docs/audit.md §1)."""
        key = f"teacher:{spec.name if spec else ''}:{run_dir or ''}"
        if key in self._models:
            return self._models[key]
        data = spec.data if spec else self.cfg.teacher_data
        limit = self.cfg.teacher_train.max_train_samples
        train = self.split(data, "train", limit)
        val = self.split(data, "val", self.cfg.eval.max_test_samples, norm_from=train)
        net = self._build(spec.model if spec else self.cfg.teacher_model, train.num_classes, "teacher")
        tcfg = self.cfg.teacher_train.with_seed_offset(self.seed)
        meta: dict[str, Any] = {"role": "teacher", "data": data.model_dump()}
        if plant is not None:
            behavior = self.behavior(plant, data)
            train = behavior.plant(train)
            meta["plant"] = behavior.describe()
        if spec is None:
            if tcfg.augment is None:
                tcfg = tcfg.model_copy(update={"augment": AugmentConfig()})
        else:
            recipe = (spec.augment or AugmentConfig()) if spec.robust else None
            tcfg = tcfg.model_copy(update={"augment": recipe})
            meta["robust"] = spec.robust
        self._stage("teacher" if spec is None else f"teacher {spec.name}")
        model = self._fit(Path(run_dir) if run_dir else self.root / "teacher", create_method("task", student=net),
                          train, tcfg, val, meta)
        self._models[key] = model
        return model

    def behavior(self, plant: PlantConfig, data: DataConfig | None = None) -> Behavior:
        """The behavior ``plant`` for a teacher on ``data`` (default: the pair's teacher data)."""
        train = self.split(data or self.cfg.teacher_data, "train", self.cfg.teacher_train.max_train_samples)
        return create_behavior(plant, channels=train.channels, img_size=train.img_size, num_classes=train.num_classes)

    def adopt(self, step: str, model: nn.Module) -> None:
        """Use ``model`` as the pair's ``teacher`` or ``student`` instead of training it (an audit
        of checkpoints a user brings)."""
        if step not in ("teacher", "student"):
            raise ValueError(f"only the teacher or the student can be adopted, not {step!r}")
        self._models["teacher::" if step == "teacher" else "student"] = model

    def student(self) -> nn.Module:
        """The clean student: the student architecture trained on the student's data."""
        if "student" not in self._models:
            net = self._build(self.cfg.student_model, self.num_classes, "student")
            self._stage("student")
            self._models["student"] = self._fit(self.root / "student", create_method("task", student=net),
                                                self.student_train, self.cfg.student_train.with_seed_offset(self.seed),
                                                self.student_val, {"role": "student"})
        return self._models["student"]

    def oracle(self) -> nn.Module:
        """The robust ceiling: trained from scratch with the student's budget (``oracle_init:
        scratch``, the paper's) or fine-tuned from the clean student with the transfer budget."""
        if "oracle" not in self._models:
            scratch = self.cfg.oracle_init == "scratch"
            init = self._build(self.cfg.student_model, self.num_classes, "oracle") if scratch \
                else copy.deepcopy(self.student())
            ocfg = (self.cfg.student_train if scratch else self.cfg.transfer_train).with_seed_offset(self.seed)
            self._stage("oracle")
            self._models["oracle"] = self._fit(self.root / "oracle", create_method("oracle", student=init),
                                               self.student_train, ocfg, self.student_val, {"role": "oracle"})
        return self._models["oracle"]

    def transfer(self, name: str, *, teacher: nn.Module | None = None, layers: list[LayerPair] | None = None,
                 run_dir: str | Path | None = None) -> tuple[nn.Module, str]:
        """Method ``name`` from ``teacher`` (default: the pair's) into copies of the student, with
        the pair's transfer budget and the method's overrides; ``layers`` replace its layer pairs.
        Returns the trained model and its layer pairs as ``teacher->student;...`` ('' if none)."""
        mcfg = resolve_method_config(self.cfg, name, layers)
        teacher = teacher if teacher is not None else self.teacher()
        student = self.student()
        # new heads seeded per (seed, method), a variant like its method: resumable, and paired
        torch.manual_seed(derive_seed(self.seed, self.cfg.base_method(name)))
        method = create_method(mcfg, student=copy.deepcopy(student), teacher=copy.deepcopy(teacher),
                               num_classes=self.num_classes)
        used = ";".join(f"{p.teacher}->{p.student}" for p in getattr(method, "pairs", []) or [])
        self._stage(name)
        model = self._fit(Path(run_dir) if run_dir else self.root / name, method, self.student_train,
                          resolve_transfer_train(self.cfg, name, self.seed), self.student_val,
                          {"role": name, "method_config": mcfg.model_dump()})
        return model, used

    def produce(self, name: str) -> tuple[nn.Module, str]:
        """The model of benchmark entry ``name``, from the step its method class names."""
        step = method_class(self.cfg.base_method(name)).pipeline_step
        if step == "student":
            self._stage(name)
            return self.student(), ""
        if step == "oracle":
            self.student()
            self._stage(name)
            return self.oracle(), ""
        return self.transfer(name)

    # -- evaluation --------------------------------------------------------------------------
    def testset(self, limit: int | None = None, family: str | None = None) -> CorruptedTestSet:
        """The student's corrupted test images (first ``limit`` of them) under severity table
        ``family`` (default ``eval.family``), built once and shared by every model so all see the
        same corrupted images."""
        family = family or self.cfg.eval.family
        if (limit, family) not in self._testsets:
            test = self.student_test
            images, targets = (test.images, test.targets) if limit is None else \
                (test.images[:limit], test.targets[:limit])
            self._testsets[(limit, family)] = CorruptedTestSet(images, targets, seed=self.cfg.eval.seed,
                                                               family=family, cache=self.cfg.eval.cache)
        return self._testsets[(limit, family)]

    @property
    def mnistc(self) -> bool:
        """Whether MNIST-C's held-out family is evaluated: ``eval.mnistc``, by default for 28x28
        grayscale students."""
        if self.cfg.eval.mnistc is not None:
            return self.cfg.eval.mnistc
        s = self.student_train
        return s.channels == 1 and s.img_size == 28

    def robustness(self, models: dict[str, nn.Module], *, training_corruptions: bool = True,
                   predictions: dict[str, torch.Tensor] | None = None,
                   seconds: dict[str, float] | None = None) -> list[dict]:
        """Tidy accuracy rows of every model: clean and the held-out corruptions on the test set
        (ImageNet-C's 4 at ``eval.severities``, MNIST-C's 8 at ``eval.mnistc_severities`` when
        :attr:`mnistc`), then (optionally) the training corruptions on its first
        ``train_corruption_samples``; each corrupted set is built (or read from the cache) once
        and run through all models."""
        ev = self.cfg.eval
        rows = evaluate_models(models, self.testset(), self.student_test.normalize,
                               corruptions=HELDOUT_CORRUPTIONS, severities=ev.severities,
                               predictions=predictions, seconds=seconds)
        if self.mnistc:
            rows += evaluate_models(models, self.testset(family="mnist"), self.student_test.normalize, clean=False,
                                    corruptions=MNISTC_CORRUPTIONS, severities=ev.mnistc_severities,
                                    predictions=predictions, seconds=seconds)
        if training_corruptions and ev.training_corruptions:
            sub = ev.train_corruption_samples
            ts = self.testset(sub if sub and sub < len(self.student_test) else None)
            rows += evaluate_models(models, ts, self.student_test.normalize, corruptions=TRAIN_CORRUPTIONS,
                                    severities=ev.severities, clean=False, seconds=seconds)
        return rows

    def evaluate(self, models: dict[str, nn.Module], layers: dict[str, str] | None = None) -> tuple[list, list]:
        """Summary rows (clean, robust held-out / MNIST-C / training, CKA to the teacher, layers,
        PGR, evaluation seconds) and tidy rows of every model; PGR needs ``none`` and ``oracle``.
        With ``eval.save_predictions`` the test predictions go to ``predictions.safetensors``."""
        self._stage("evaluate")
        teacher, layers = self.teacher(), layers or {}
        t0 = time.perf_counter()
        predictions: dict[str, torch.Tensor] | None = {} if self.cfg.eval.save_predictions else None
        seconds: dict[str, float] = {}
        self.progress({"event": "evaluate", "name": ", ".join(models)})
        rows = self.robustness(models, predictions=predictions, seconds=seconds)
        summary = []
        for name, model in models.items():
            s = summarize([r for r in rows if r["model"] == name])
            s["cka_to_teacher"] = cka_to_teacher(model, teacher, teacher.default_layer, model.default_layer,
                                                 self.student_test, self.cfg.eval.cka_samples)
            summary.append({"pair": self.cfg.name, "seed": self.seed, "method": name, **s,
                            "layers": layers.get(name, ""), "eval_seconds": round(seconds.get(name, 0.0), 3)})
        by = {s["method"]: s for s in summary}
        for s in summary:
            for split in ("heldout", "mnistc"):
                key = f"robust_{split}"
                if key not in s:
                    continue
                s[f"pgr_{split}"] = (pgr(s[key], by["none"][key], by["oracle"][key])
                                     if "none" in by and "oracle" in by else float("nan"))
        if predictions is not None:
            predictions["targets"] = self.testset().targets
            write_bytes(self.root / "predictions.safetensors", st_save({k: v.contiguous() for k, v in
                                                                          predictions.items()}))
        log.info("evaluated %d models in %.1f s (corrupting / cache reads %.1f s)", len(models),
                 time.perf_counter() - t0, sum(t.build_seconds for t in self._testsets.values()))
        return summary, rows

    def finished(self, methods: Sequence[str] | None = None) -> PairResult | None:
        """The seed's results read back when a previous :meth:`run` of this very config and
        these methods completed (``summary.csv`` and ``eval.csv`` present, ``config.yaml`` the
        same), else None."""
        chosen = check_pair_methods(self.cfg, methods)
        files = [self.root / f for f in ("config.yaml", "summary.csv", "eval.csv")]
        if not all(f.is_file() for f in files):
            return None
        if files[0].read_text() != yaml_text(self.cfg.model_copy(update={"methods": chosen})):
            return None
        summary = read_csv(files[1])
        layers = {r["method"]: r["layers"] for r in summary if r.get("layers")}
        return PairResult(summary, read_csv(files[2]), self.root, 0.0, layers)

    def run(self, methods: Sequence[str] | None = None) -> PairResult:
        """The whole protocol: every method's model, evaluated; writes ``config.yaml``,
        ``eval.csv`` and ``summary.csv`` in the seed directory, which it holds locked."""
        chosen = check_pair_methods(self.cfg, methods)
        with directory_lock(self.root, "output directory"):
            return self._run(chosen)

    def _run(self, chosen: list[str]) -> PairResult:
        t0 = time.perf_counter()
        self.root.mkdir(parents=True, exist_ok=True)
        dump_yaml(self.cfg.model_copy(update={"methods": chosen}), self.root / "config.yaml")
        for f in ("summary.csv", "eval.csv"):  # a rerun replaces them; never pair an old summary with a new config
            (self.root / f).unlink(missing_ok=True)
        self.teacher()
        self.student()
        trained, layers = {}, {}
        for name in chosen:
            trained[name], used = self.produce(name)
            if used:
                layers[name] = used
        summary, rows = self.evaluate(trained, layers)
        eval_rows = [{"pair": self.cfg.name, "seed": self.seed, **r} for r in rows]
        write_csv(self.root / "eval.csv", eval_rows)
        write_csv(self.root / "summary.csv", summary)
        seconds = time.perf_counter() - t0
        log.info("pair %s seed %d done in %.1f s", self.cfg.name, self.seed, seconds)
        return PairResult(summary, eval_rows, self.root, seconds, layers)
