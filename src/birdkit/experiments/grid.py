"""``birdkit study CONFIG`` for a grid: many teacher-student pairs, cached, resumable, on local
processes or Ray (docs/study.md).

A :class:`~birdkit.config.GridConfig` expands to pairs = students x teachers x student layers x
seeds. Work runs in three phases, each a set of independent tasks:

1. **teachers**: each distinct (teacher, seed) trained once;
2. **students**: each distinct (student, seed) trained once, with its oracle and both evaluated
   (none and oracle are the floor and ceiling of every pair on that student);
3. **pairs**: the teacher's properties and baselines for the student, BIRD from the teacher into
   the student at the pair's layer, the evaluation; the row goes to ``pairs/<key>/row.json``.

Every folder is named by the SHA-256 of what it holds (the spec, the budget, the seed): a teacher
serves every pair it is part of, a finished task is never redone, and an interrupted study
restarts where it stopped (each training also resumes from its last checkpoint). The study
folder is locked by the process that runs it, so a second launch is refused; it records the
settings every pair shares (the base pair, evaluation, property measurement) in
``settings.json`` and refuses to add pairs made under other settings to it. Pool workers whose
study process died (killed) stop instead of starting the next queued task.

Tasks are plain module-level functions of JSON-able arguments, so the same code runs in this
process, in a process pool (``backend="local"``, ``workers``) or as Ray tasks (``backend="ray"``,
each declaring ``resources.cpus`` / ``resources.gpus``, so a Ray cluster with GPUs schedules the
study unchanged).
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import logging
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from birdkit.config import GridConfig, LayerPair, PairConfig, StudentSpec, TeacherSpec, load_pair
from birdkit.data import DATASETS
from birdkit.errors import BirdkitError, RunMismatchError
from birdkit.evaluation.robustness import pgr, summarize
from birdkit.experiments.runner import PairRunner, Progress
from birdkit.features import validate_layers
from birdkit.io import directory_lock, json_diff, read_json, write_csv, write_json
from birdkit.models import MODELS, create_model
from birdkit.transferability import PROPERTIES, teacher_properties

__all__ = ["BACKENDS", "GridTask", "expand_grid", "grid_settings", "run_grid"]

log = logging.getLogger(__name__)

BACKENDS = ("local", "ray")
ROW = "row.json"
SETTINGS = "settings.json"
_PARENT: int | None = None  # in a pool worker: the study process that started it


def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class GridTask:
    """One pair of the grid: a student, a teacher, the student layer BIRD aligns, a seed."""

    student: str  # StudentSpec as JSON
    teacher: str  # TeacherSpec as JSON
    layer: str
    seed: int

    @property
    def key(self) -> str:
        return _hash([self.student, self.teacher, self.layer, self.seed])

    def as_dict(self) -> dict[str, Any]:
        return {"student": self.student, "teacher": self.teacher, "layer": self.layer, "seed": self.seed}


def expand_grid(cfg: GridConfig) -> list[GridTask]:
    """Every pair of the grid, in a fixed order (students, teachers, layers, seeds)."""
    pair = load_pair(cfg.pair)
    return [GridTask(s.model_dump_json(), t.model_dump_json(), layer, seed)
            for s in cfg.students_or(pair) for t in cfg.grid.expand() for layer in cfg.layers for seed in cfg.seeds]


# ---------------------------------------------------------------------------------------------
# folders and pair configs
# ---------------------------------------------------------------------------------------------
class _Grid:
    def __init__(self, cfg_json: str, out: str):
        self.cfg = GridConfig.model_validate_json(cfg_json)
        self.base = load_pair(self.cfg.pair)
        self.root = Path(out) / self.cfg.name
        torch.set_num_threads(max(1, int(self.cfg.resources.cpus)))

    def pair_config(self, student: StudentSpec, teacher: TeacherSpec | None = None) -> PairConfig:
        upd: dict[str, Any] = {"name": f"{self.cfg.name}-{student.name}", "student_model": student.model,
                               "student_data": student.data}
        if teacher is not None:
            upd.update(teacher_model=teacher.model, teacher_data=teacher.data)
        if self.cfg.eval is not None:
            upd["eval"] = self.cfg.eval
        return self.base.model_copy(update=upd)

    def teacher_dir(self, teacher: TeacherSpec, seed: int) -> Path:
        return self.root / "teachers" / _hash([teacher.model_dump(mode="json"),
                                               self.base.teacher_train.model_dump(mode="json"), seed])

    def student_dir(self, student: StudentSpec, seed: int) -> Path:
        cfg = self.pair_config(student)
        return self.root / "students" / _hash([student.model_dump(mode="json"), cfg.student_train.model_dump(
            mode="json"), cfg.transfer_train.model_dump(mode="json"), cfg.eval.model_dump(mode="json"),
                                               cfg.oracle_init, seed])

    def runner(self, student: StudentSpec, seed: int, teacher: TeacherSpec | None = None) -> PairRunner:
        return PairRunner(self.pair_config(student, teacher), self.student_dir(student, seed), seed=seed)

    def layer(self, name: str, student: torch.nn.Module) -> str:
        if name == "default":
            return student.default_layer
        if name == "pair":
            layers = self.base.overrides.get("bird", {}).get("layers") or [{}]
            return layers[0].get("student") or student.default_layer
        return name


# ---------------------------------------------------------------------------------------------
# tasks (module-level functions of JSON-able arguments: Ray and process pools ship them as is)
# ---------------------------------------------------------------------------------------------
def _remember_parent() -> None:
    """Pool-worker initializer: remember the study process."""
    global _PARENT
    _PARENT = os.getppid()


def _stop_if_orphaned() -> None:
    """A worker whose study process is gone (killed) takes no further task: the resumed study
    will, and two writers of one pair would only meet at its lock."""
    if _PARENT is not None and os.getppid() != _PARENT:
        raise SystemExit(f"the study process {_PARENT} is gone; this worker stops")


def teacher_task(cfg_json: str, out: str, teacher_json: str, seed: int) -> str:
    """Train one teacher (or find it trained); returns its run folder."""
    _stop_if_orphaned()
    g = _Grid(cfg_json, out)
    teacher = TeacherSpec.model_validate_json(teacher_json)
    student = g.cfg.students_or(g.base)[0]  # the input format every network of the grid shares
    d = g.teacher_dir(teacher, seed)
    g.runner(student, seed, teacher).teacher(teacher, run_dir=d / "teacher")
    write_json(d / "teacher.json", {"teacher": teacher.model_dump(mode="json"), "seed": seed})
    return str(d)


def student_task(cfg_json: str, out: str, student_json: str, seed: int) -> dict[str, float]:
    """Train one student and its oracle (or find them) and evaluate both; returns their robust accuracy."""
    _stop_if_orphaned()
    g = _Grid(cfg_json, out)
    student = StudentSpec.model_validate_json(student_json)
    d = g.student_dir(student, seed)
    if (d / "base.json").is_file():
        return read_json(d / "base.json")
    r = g.runner(student, seed)
    rows = r.robustness({"none": r.student(), "oracle": r.oracle()}, training_corruptions=False)
    base = {f"{m}_robust_heldout": summarize([x for x in rows if x["model"] == m])["robust_heldout"]
            for m in ("none", "oracle")}
    write_json(d / "base.json", base)
    return base


def pair_task(cfg_json: str, out: str, task: dict[str, Any]) -> dict[str, Any]:
    """One pair: properties, baselines, BIRD, evaluation; the row (also written to ``row.json``)."""
    _stop_if_orphaned()
    g = _Grid(cfg_json, out)
    t = GridTask(**task)
    d = g.root / "pairs" / t.key
    if (d / ROW).is_file():
        return read_json(d / ROW)
    student_spec = StudentSpec.model_validate_json(t.student)
    teacher_spec = TeacherSpec.model_validate_json(t.teacher)
    r = g.runner(student_spec, t.seed, teacher_spec)
    student = r.student()
    teacher = r.teacher(teacher_spec, run_dir=g.teacher_dir(teacher_spec, t.seed) / "teacher")
    layer = g.layer(t.layer, student)
    pc = g.cfg.properties
    props = teacher_properties(teacher, student, r.student_split("train", pc.probe_samples), r.student_split("val"),
                               student_layer=layer, severities=pc.severities, reduce=pc.reduce, gamma=pc.gamma,
                               aggregate=pc.aggregate, robust_samples=pc.robust_samples)
    bird, used = r.transfer("bird", teacher=teacher, layers=[LayerPair(teacher=teacher.default_layer, student=layer)],
                            run_dir=d / "bird")
    res = summarize(r.robustness({"bird": bird}, training_corruptions=False))
    base = student_task(cfg_json, out, t.student, t.seed)
    aug = teacher_spec.augment
    row = {"pair": t.key, "teacher": teacher_spec.name, "teacher_model": teacher_spec.model.name,
           "teacher_data": teacher_spec.data.dataset, "recipe": teacher_spec.name.rsplit("-", 1)[-1],
           "robust_teacher": teacher_spec.robust, "recipe_corruptions": (len(aug.corruptions) if aug and
                                                                         isinstance(aug.corruptions, list) else 15),
           "student": student_spec.name, "layer": used, "seed": t.seed,
           **{k: getattr(props, k) for k in PROPERTIES}, "student_probe_accuracy": props.student_probe_accuracy,
           **props.baselines, "clean_acc": res["clean_acc"], "robust_heldout": res["robust_heldout"], **base,
           "gain": res["robust_heldout"] - base["none_robust_heldout"],
           "pgr_heldout": pgr(res["robust_heldout"], base["none_robust_heldout"], base["oracle_robust_heldout"])}
    write_json(d / ROW, {**row, "task": t.as_dict()})
    return row


# ---------------------------------------------------------------------------------------------
# execution
# ---------------------------------------------------------------------------------------------
def _execute(fn: Callable[..., Any], calls: Sequence[tuple], *, backend: str, workers: int, cpus: float, gpus: float,
             phase: str, progress: Progress) -> Iterator[tuple[tuple, Any, str | None]]:
    """Run ``fn(*args)`` for every args of ``calls``; yields ``(args, result, error)`` as tasks finish."""
    total, done, failed, t0 = len(calls), 0, 0, time.perf_counter()

    def report(running: int) -> None:
        el = time.perf_counter() - t0
        eta = el / done * (total - done - failed) if done else None
        progress({"event": "study", "phase": phase, "done": done, "running": running, "failed": failed,
                  "total": total, "eta_s": eta})

    if not calls:
        return
    report(0)
    if backend == "ray":
        import ray  # optional extra: birdkit[distributed]

        remote = ray.remote(num_cpus=cpus, num_gpus=gpus)(fn)
        pending = {remote.remote(*args): args for args in calls}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            args = pending.pop(ready[0])
            try:
                result, err = ray.get(ready[0]), None
            except Exception as e:  # noqa: BLE001 - a failed task is recorded, the others go on
                result, err = None, f"{type(e).__name__}: {e}"
            done, failed = done + (err is None), failed + (err is not None)
            report(len(pending))
            yield args, result, err
        return
    if workers <= 1:
        for i, args in enumerate(calls):
            report(1)
            try:
                result, err = fn(*args), None
            except BirdkitError:
                raise  # a bad config is not a task failure
            except Exception as e:  # noqa: BLE001
                result, err = None, f"{type(e).__name__}: {e}"
            done, failed = done + (err is None), failed + (err is not None)
            report(0 if i == total - 1 else 1)
            yield args, result, err
        return
    with cf.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                initializer=_remember_parent) as pool:
        futures = {pool.submit(fn, *args): args for args in calls}
        for fut in cf.as_completed(futures):
            args = futures[fut]
            try:
                result, err = fut.result(), None
            except Exception as e:  # noqa: BLE001
                result, err = None, f"{type(e).__name__}: {e}"
            done, failed = done + (err is None), failed + (err is not None)
            report(min(workers, sum(not f.done() for f in futures)))  # the rest wait in the queue
            yield args, result, err


def _check(cfg: GridConfig, tasks: Sequence[GridTask]) -> None:
    """Refuse unknown models and datasets and unknown student layers before any work."""
    for m in cfg.grid.models:
        MODELS.get(m)
    for d in cfg.grid.datasets.values():
        DATASETS.get(d.dataset)
    pair = load_pair(cfg.pair)
    for s in cfg.students_or(pair):
        MODELS.get(s.model.name)
        DATASETS.get(s.data.dataset)
        net = create_model(s.model.name, num_classes=2, in_chans=s.data.channels or 1, img_size=s.data.img_size or 28,
                           **s.model.kwargs)
        named = [x for x in cfg.layers if x not in ("pair", "default")]
        if named:
            validate_layers(net, named)
    if not tasks:
        raise BirdkitError(f"study {cfg.name!r} has no pairs")


def grid_settings(cfg: GridConfig) -> dict[str, Any]:
    """What every pair of a study folder shares and its folder names do not hash: the base pair
    (budgets, BIRD's settings), the evaluation and the property measurement."""
    return {"pair": load_pair(cfg.pair).model_dump(mode="json"), "properties": cfg.properties.model_dump(mode="json"),
            "eval": cfg.eval.model_dump(mode="json") if cfg.eval else None}


def _check_settings(root: Path, cfg: GridConfig) -> None:
    """Record the study's shared settings, or refuse (changing nothing) a folder made under others."""
    path, current = root / SETTINGS, grid_settings(cfg)
    if path.is_file():
        diffs = json_diff(read_json(path), current)
        if diffs:
            shown = "; ".join(diffs[:5]) + (f"; and {len(diffs) - 5} more" if len(diffs) > 5 else "")
            raise RunMismatchError(f"{root} holds a study made under other settings ({shown}). Nothing was changed: "
                                   "use another --out or study name, or delete the folder to start over.")
        return
    write_json(path, current, indent=1, sort_keys=True)


def run_grid(cfg: GridConfig, out_dir: str | Path, *, backend: str = "local", workers: int = 1,
             progress: Progress | None = None, limit: int | None = None) -> tuple[list[dict], list[dict]]:
    """Run (or resume) the grid study; returns the rows of the finished pairs (also written to
    ``<out>/<name>/study.csv``) and the failures (``failed.csv``). ``limit`` runs only the first
    pairs (a partial study, resumable later)."""
    if backend not in BACKENDS:
        raise BirdkitError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    progress = progress or (lambda ev: None)
    tasks = expand_grid(cfg)[:limit]
    _check(cfg, tasks)
    root = Path(out_dir) / cfg.name
    cfg_json, out = cfg.model_dump_json(), str(out_dir)
    res = cfg.resources
    kw = {"backend": backend, "workers": workers, "cpus": res.cpus, "gpus": res.gpus, "progress": progress}
    failures: list[dict] = []
    with directory_lock(root, "study directory"):
        _check_settings(root, cfg)
        write_json(root / "study.json", cfg.model_dump(mode="json"))
        g = _Grid(cfg_json, out)
        teachers = sorted({(t.teacher, t.seed) for t in tasks})
        todo = [(cfg_json, out, tj, s) for tj, s in teachers
                if not (g.teacher_dir(TeacherSpec.model_validate_json(tj), s) / "teacher.json").is_file()]
        for args, _, err in _execute(teacher_task, todo, phase="teachers", **kw):
            if err:
                failures.append({"phase": "teacher", "what": json.loads(args[2])["name"], "seed": args[3],
                                 "error": err})
        students = sorted({(t.student, t.seed) for t in tasks})
        todo = [(cfg_json, out, sj, s) for sj, s in students
                if not (g.student_dir(StudentSpec.model_validate_json(sj), s) / "base.json").is_file()]
        for args, _, err in _execute(student_task, todo, phase="students", **kw):
            if err:
                failures.append({"phase": "student", "what": json.loads(args[2])["name"], "seed": args[3],
                                 "error": err})
        todo = [(cfg_json, out, t.as_dict()) for t in tasks if not (root / "pairs" / t.key / ROW).is_file()]
        for args, _, err in _execute(pair_task, todo, phase="pairs", **kw):
            if err:
                failures.append({"phase": "pair", "what": GridTask(**args[2]).key, "seed": args[2]["seed"],
                                 "error": err})
        rows = []
        for t in tasks:
            p = root / "pairs" / t.key / ROW
            if p.is_file():
                rows.append({k: v for k, v in read_json(p).items() if k != "task"})
        if rows:
            write_csv(root / "study.csv", rows)
        if failures:
            write_csv(root / "failed.csv", failures)
        else:
            (root / "failed.csv").unlink(missing_ok=True)
    return rows, failures
