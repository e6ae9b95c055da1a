"""``birdkit audit``: what else a transfer carried, measured against a control (docs/audit.md).

For every seed and planted behavior, on the :class:`~birdkit.experiments.runner.PairRunner`
steps of a pair:

1. the **control teacher** (the pair's robust teacher recipe) and the **planted teacher** (the
   same recipe, seed, initial weights, data order and augmentation draws, with the behavior in
   its training data), or the checkpoints a user brings;
2. the clean **student** (before any transfer), trained once per seed;
3. every audited method from the planted teacher (**student after**) and from the control
   teacher (**control student**), with the pair's transfer budget and overrides;
4. every probe that applies (:mod:`birdkit.audit.probes`) on each of these models.

The control teacher, the student and the control students do not depend on the behavior, so
one of each serves every behavior of a seed. A seed writes ``seed<k>/records.jsonl`` (the
per-sample values) and ``seed<k>/audit.yaml`` when it finishes, and is read back on a rerun with
the same config, so an interrupted audit resumes: at the seed level, and within a seed at the
training runs (each resumes from its last checkpoint). The report is made from the records
alone (:func:`report_audit`), so ``birdkit audit-report`` recomputes it from the raw files.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch import nn

from birdkit.audit import (
    CONTROL,
    Behavior,
    Measurement,
    ProbeContext,
    audit_markdown,
    check_samples,
    contrasts,
    correct,
    create_probe,
    list_probes,
    plot_audit,
    read_records,
    records_of,
    subliminal_markdown,
    summarize,
    train_subliminal,
    write_records,
)
from birdkit.checkpoint import load_checkpoint, read_checkpoint_meta
from birdkit.config import AuditConfig, DataConfig, PairConfig, SubliminalConfig, load_pair
from birdkit.data import TensorData, load_split
from birdkit.errors import BirdkitError, ShapeError
from birdkit.experiments.runner import PairRunner, Progress, check_pair_methods, seed_dir
from birdkit.io import directory_lock, json_diff, read_json, write_csv, write_json, write_text
from birdkit.methods import method_class

__all__ = ["SUBLIMINAL_CONTRASTS", "SUBLIMINAL_MODELS", "AuditResult", "AuditSources", "check_control", "headline_rows",
           "report_audit", "report_subliminal",
           "run_audit", "run_subliminal"]

log = logging.getLogger(__name__)

RECORDS = "records.jsonl"
#: keys of a ``birdkit train`` checkpoint's ``extra`` that make up its recipe (besides the plant)
RECIPE_KEYS = ("data", "train", "model")


@dataclass
class AuditSources:
    """Checkpoints a user brings instead of the pair's trained teacher, control teacher and student."""

    teacher: Path | None = None
    control_teacher: Path | None = None
    student: Path | None = None


@dataclass
class AuditResult:
    """Every record and the tables made from them, and the files written."""

    records: list[dict[str, Any]]
    summary: list[dict[str, Any]]
    contrasts: list[dict[str, Any]]
    out_dir: Path
    headlines: dict[str, str]
    files: list[Path] = field(default_factory=list)
    seconds: float = 0.0


def check_control(teacher_meta: dict[str, Any], control_meta: dict[str, Any]) -> None:
    """Refuse (one line) a control teacher that is not the planted teacher's recipe without
    the behavior: another architecture (model spec) or, where both checkpoints record it
    (``birdkit train`` does), other data, training config or model options."""
    spec_diffs = json_diff(teacher_meta.get("spec") or {}, control_meta.get("spec") or {})
    if spec_diffs:
        raise BirdkitError("the control teacher has another architecture than the teacher (" +
                           "; ".join(spec_diffs[:4]) + "): a control must differ only by the planted behavior")
    te, ce = teacher_meta.get("extra") or {}, control_meta.get("extra") or {}
    recipe = [d for k in RECIPE_KEYS if k in te and k in ce for d in json_diff(te[k], ce[k], f"{k}.")]
    if recipe:
        raise BirdkitError("the control teacher was trained by another recipe than the teacher (" +
                           "; ".join(recipe[:4]) + "): train it with the same command, without --plant")
    if ce.get("plant"):
        raise BirdkitError(f"the control teacher carries a planted behavior ({ce['plant'].get('behavior')}); a control "
                           "is trained without --plant")


def _audit_text(cfg: AuditConfig, pair: PairConfig, sources: AuditSources | None) -> str:
    """What a seed's records depend on, as YAML (a rerun with other settings recomputes the seed)."""
    src = {k: str(v) for k, v in vars(sources).items() if v} if sources else {}
    return yaml.safe_dump({"audit": cfg.model_dump(mode="json"), "pair": pair.model_dump(mode="json"),
                           "sources": src}, sort_keys=False)


def _first(data: TensorData, n: int) -> TensorData:
    return TensorData(data.images[:n], data.targets[:n], data.mean, data.std)


class _Audit:
    """One audit: the checks before work, then each seed (see the module docstring)."""

    def __init__(self, cfg: AuditConfig, out_dir: Path, pair: PairConfig, sources: AuditSources | None,
                 progress: Progress):
        self.cfg, self.out_dir, self.pair, self.sources, self.progress = cfg, out_dir, pair, sources, progress
        check_pair_methods(pair, cfg.methods)
        for m in cfg.methods:
            if not method_class(pair.base_method(m)).uses_teacher:
                raise BirdkitError(f"method {m!r} uses no teacher, so there is no transfer to audit; audit methods "
                                   "that do (bird, hints, lwf, ft, lp, lpft)")
        self.probes = [create_probe(n) for n in (cfg.probe.probes or list_probes())]
        self.loaded = self._load_sources()
        first = self._runner(0)
        self.behaviors: dict[str, Behavior] = {}
        for label, plant in cfg.behaviors.items():
            self.behaviors[label] = first.behavior(plant, self.teacher_data)
        test = first.student_test
        self.n = min(cfg.probe.samples, len(test))
        check_samples(self.probes, self.n)
        train = first.student_train
        for label, b in self.behaviors.items():
            b.check_images(train.images, "student's images")
            for what, images in (("training", train.images), ("probe", test.images[:self.n])):
                k = b.carriers(images)
                if k:
                    raise BirdkitError(f"{k} of the student's {len(images)} {what} images already carry the "
                                       f"{b.name} pattern of behavior {label!r}: the audit needs student data "
                                       "without it")
        self.text = _audit_text(cfg, pair, sources)

    @property
    def teacher_data(self) -> DataConfig:
        return self.pair.teacher_data

    def _load_sources(self) -> dict[str, tuple[nn.Module, dict[str, Any]]]:
        s = self.sources
        if s is None:
            return {}
        loaded = {}
        for role, path in (("teacher", s.teacher), ("control-teacher", s.control_teacher), ("student", s.student)):
            if path is None:
                continue
            if not Path(path).is_file():
                raise BirdkitError(f"{role} checkpoint {str(path)!r} does not exist")
            loaded[role] = (load_checkpoint(path)[0], read_checkpoint_meta(path))
        if "teacher" in loaded and "control-teacher" in loaded:
            check_control(loaded["teacher"][1], loaded["control-teacher"][1])
        if "control-teacher" in loaded and "teacher" not in loaded:
            raise BirdkitError("a control teacher needs its planted teacher (--teacher)")
        return loaded

    def _runner(self, seed: int) -> PairRunner:
        runner = PairRunner(self.pair, seed_dir(self.out_dir, self.cfg.name, seed), seed=seed, progress=self.progress)
        if "student" in self.loaded:
            runner.adopt("student", self.loaded["student"][0])
        if "control-teacher" in self.loaded:
            runner.adopt("teacher", self.loaded["control-teacher"][0])
        return runner

    def seed(self, s: int) -> list[dict[str, Any]]:
        with directory_lock(seed_dir(self.out_dir, self.cfg.name, s), "output directory"):
            return self._seed(s)

    def _seed(self, s: int) -> list[dict[str, Any]]:
        root = seed_dir(self.out_dir, self.cfg.name, s)
        rec_path, cfg_path = root / RECORDS, root / "audit.yaml"
        if rec_path.is_file() and cfg_path.is_file() and cfg_path.read_text() == self.text:
            log.info("audit seed %d: reading back %s", s, rec_path)
            return read_records(rec_path)
        rec_path.unlink(missing_ok=True)
        runner = self._runner(s)
        self.progress({"event": "run", "title": f"{self.cfg.name} seed {s}"})
        control = runner.teacher()
        student = runner.student()
        test = runner.student_test
        images, normalize = test.images[:self.n], test.normalize
        own_student = _first(test, self.n)
        own_teacher = self._teacher_test(runner)
        controls = {m: runner.transfer(m, teacher=control, run_dir=root / "control" / m)[0] for m in self.cfg.methods}
        cache: dict[tuple[int, str], list] = {}
        shared: dict = {}
        records: list[dict[str, Any]] = []
        for label, behavior in self.behaviors.items():
            self.progress({"event": "run", "title": f"{self.cfg.name} seed {s} {label}"})
            planted = (self.loaded["teacher"][0] if "teacher" in self.loaded else
                       runner.teacher(run_dir=root / f"teacher-{label}", plant=self.cfg.behaviors[label]))
            after = {m: runner.transfer(m, teacher=planted, run_dir=root / label / m)[0] for m in self.cfg.methods}
            models = [("teacher", "teacher", "", planted, own_teacher),
                      ("control-teacher", "control-teacher", "", control, own_teacher),
                      ("student", "student-before", "", student, own_student),
                      *((m, "student-after", m, after[m], own_student) for m in self.cfg.methods),
                      *((CONTROL + m, "control-student", m, controls[m], own_student) for m in self.cfg.methods)]
            self.progress({"event": "stage", "name": f"probes ({len(models)} models)"})
            for name, role, method, model, own in models:
                ctx = ProbeContext(images, normalize, own, behavior, planted, self.cfg.probe.severities,
                                   family=self.pair.eval.family, corruption_seed=self.pair.eval.seed,
                                   batch_size=self.cfg.probe.batch_size, testsets=shared)
                for probe in self.probes:
                    if not probe.applies(behavior) or ("own" in probe.needs and own is None):
                        continue
                    independent = not {"behavior", "teacher"} & set(probe.needs)
                    key = (id(model), probe.name)
                    ms = cache.get(key) if independent else None
                    if ms is None:
                        ms = probe.measure(model, ctx)
                        if independent:
                            cache[key] = ms
                    records += records_of(ms, behavior=label, seed=s, model=name, role=role, method=method,
                                          probe=probe.name)
        write_text(cfg_path, self.text)
        write_records(rec_path, records)
        return records

    def _teacher_test(self, runner: PairRunner) -> TensorData | None:
        """The first N of the teacher's labelled test images (for the teachers' own accuracy);
        None for checkpoints that record no data."""
        data = self.teacher_data
        if "teacher" in self.loaded:
            recorded = (self.loaded["teacher"][1].get("extra") or {}).get("data")
            if not recorded:
                return None
            data = DataConfig(**recorded)
        train = runner.split(data, "train", self.pair.teacher_train.max_train_samples)
        return _first(runner.split(data, "test", None, norm_from=train), self.n)


def run_audit(cfg: AuditConfig, out_dir: str | Path, *, pair: PairConfig | None = None,
              sources: AuditSources | None = None, progress: Progress | None = None) -> AuditResult:
    """Run (or resume) the audit ``cfg`` into ``out_dir/<name>/`` and write its report.

    Everything that can be checked is checked before any training: method and probe names,
    that every method uses a teacher, the behaviors' parameters against the teacher's data,
    that the student's data does not carry a behavior's pattern, that the probe images are
    enough for every probe, and a brought control teacher against the teacher."""
    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    pair = pair or load_pair(cfg.pair)
    audit = _Audit(cfg, out_dir, pair, sources, progress or (lambda ev: None))
    records: list[dict[str, Any]] = []
    for s in range(cfg.seeds):
        records += audit.seed(s)
    root = out_dir / cfg.name
    meta = {"name": cfg.name, "description": cfg.description, "pair": pair.name, "methods": cfg.methods,
            "seeds": cfg.seeds, "samples": audit.n,
            "behaviors": {k: b.describe() for k, b in audit.behaviors.items()},
            "headlines": {k: b.headline for k, b in audit.behaviors.items()}}
    return _report(root, "audit.json", meta, records, report_audit, t0)


def _report(root: Path, meta_file: str, meta: dict[str, Any], records: list[dict[str, Any]], report,
            t0: float) -> AuditResult:
    """Write a run's metadata and records, then its report from them (the one way a report is made)."""
    write_json(root / meta_file, meta)
    write_records(root / RECORDS, records)
    res = report(root)
    res.seconds = time.perf_counter() - t0
    return res


def report_audit(root: str | Path, level: float = 0.95) -> AuditResult:
    """Recompute an audit's tables, report and plots from ``root/records.jsonl`` and
    ``root/audit.json`` alone (what ``birdkit audit-report`` runs)."""
    root = Path(root)
    meta, records = _finished(root, "audit.json", "audit")
    summary = summarize(records, level)
    rows = contrasts(records, level)
    files = [write_csv(root / "summary.csv", summary), write_csv(root / "contrasts.csv", rows)]
    files += plot_audit(summary, rows, root, meta["headlines"])
    files.append(write_text(root / "report.md", audit_markdown(meta, summary, rows)))
    return AuditResult(records, summary, rows, root, dict(meta["headlines"]), files)


def _finished(root: Path, meta_file: str, what: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A finished run's metadata and records (one-line error when either is missing)."""
    for f in (RECORDS, meta_file):
        if not _found(root, f):
            raise BirdkitError(f"{root} holds no finished {what} ({f} is missing)")
    return read_json(root / meta_file), read_records(_found(root, RECORDS))


def _found(root: Path, name: str) -> Path | None:
    """``root/name``, else its gzip-compressed copy ``name.gz`` (how benchmarks commit records), else None."""
    for p in (root / name, root / f"{name}.gz"):
        if p.is_file():
            return p
    return None


def headline_rows(rows: Sequence[dict[str, Any]], headlines: dict[str, str]) -> list[dict[str, Any]]:
    """The contrasts on each behavior's headline metric."""
    return [r for r in rows if headlines.get(r["behavior"]) == f"{r['probe']}.{r['metric']}"]



#: the models of the subliminal check, in report order
SUBLIMINAL_MODELS = ("init", "teacher", "same-init", "other-init")
#: its contrasts: (label, model, reference)
SUBLIMINAL_CONTRASTS = (("same-init - other-init", "same-init", "other-init"),
                        ("same-init - init", "same-init", "init"),
                        ("other-init - init", "other-init", "init"))


def run_subliminal(cfg: SubliminalConfig, out_dir: str | Path, *, progress: Progress | None = None) -> AuditResult:
    """Cloud et al.'s MNIST check (:mod:`birdkit.audit.subliminal`) into ``out_dir``: digit
    accuracy of the initial networks, the teachers, the same-init and the other-init students,
    per test digit and seed (``records.jsonl``), with intervals and contrasts (``report.md``)."""
    t0 = time.perf_counter()
    progress = progress or (lambda ev: None)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    data = DataConfig(dataset=cfg.dataset, root=cfg.root, val_fraction=0.0)
    train, test = load_split(data, "train"), load_split(data, "test")
    if train.channels != 1 or train.img_size != 28 or train.num_classes != 10:
        raise ShapeError(f"the subliminal check needs 10 classes of 1-channel 28x28 digits; {cfg.dataset!r} gives "
                         f"{train.num_classes} classes of {train.channels}-channel {train.img_size}x{train.img_size}")
    progress({"event": "stage", "name": f"{cfg.seeds} teachers and {2 * cfg.seeds} students "
                                         f"({cfg.teacher_steps} + {cfg.student_steps} steps)"})
    models = train_subliminal(cfg, train)
    samples = np.arange(len(test))
    records: list[dict[str, Any]] = []
    for name in SUBLIMINAL_MODELS:
        hits = correct(getattr(models, name.replace("-", "_")), test).numpy().astype(float)
        for k, s in enumerate(models.seeds):
            records += records_of([Measurement("accuracy", "rate", hits[k], samples, "own")], behavior="subliminal",
                                  seed=s, model=name, role=name, method="", probe="digits")
    out = Path(out_dir)
    meta = {"name": "subliminal", "config": cfg.model_dump(mode="json"), "train_images": len(train),
            "test_images": len(test), "seconds": round(time.perf_counter() - t0, 1)}
    return _report(out, "subliminal.json", meta, records, report_subliminal, t0)


def report_subliminal(root: str | Path, level: float = 0.95) -> AuditResult:
    """The subliminal check's tables and report from ``root/records.jsonl`` alone."""
    root = Path(root)
    meta, records = _finished(root, "subliminal.json", "subliminal check")
    summary = summarize(records, level)
    rows = contrasts(records, level, pairs=[("subliminal", label, a, b) for label, a, b in SUBLIMINAL_CONTRASTS])
    files = [write_csv(root / "summary.csv", summary), write_csv(root / "contrasts.csv", rows),
             write_text(root / "report.md", subliminal_markdown(meta, summary, rows))]
    return AuditResult(records, summary, rows, root, {"subliminal": "digits.accuracy"}, files)
