"""A teacher study: many teachers for one student, their properties, and how well BIRD transfers.

BIRD's §5 trains 400+ teacher-student pairs and finds that three teacher properties measured
before transfer (task relevance, complementary knowledge, behavioral relevance; see
:mod:`birdkit.selection.teacher`) explain 73.6-85.5% of the variance (R^2 of a linear model)
of post-transfer robust accuracy. ``run_study`` runs that protocol for one student and a grid of
teachers (architecture x teacher data x robust or clean training): the student and oracle are
trained once; per teacher, the teacher is trained, its properties are measured on the student's
training and validation data under the *training* corruptions only, BIRD is run with the pair's
transfer budget and overrides, and the result is evaluated on the held-out corruptions.
``fit_study`` then fits the linear model (scikit-learn), in sample and leave-one-out.
"""

from __future__ import annotations

import copy
import itertools
import logging
from pathlib import Path

import torch
from pydantic import Field, model_validator

from birdkit.corruptions import HELDOUT_CORRUPTIONS
from birdkit.errors import UnknownNameError
from birdkit.evaluation.robustness import CorruptedTestSet, evaluate_robustness, pgr, summarize
from birdkit.experiments.config import PairConfig, builtin_configs, load_config, load_pair
from birdkit.training.config import AugmentConfig, DataConfig, LayerPair, MethodConfig, ModelRef, _Strict

log = logging.getLogger(__name__)

PROPERTIES = ("task_relevance", "complementary_knowledge", "behavioral_relevance")


class TeacherSpec(_Strict):
    """One teacher of the study."""

    name: str
    model: ModelRef
    data: DataConfig
    robust: bool = Field(True, description="train with the corruption augmentation (training corruptions)")


class TeacherGrid(_Strict):
    """The product models x datasets x robust, named ``<model>-<dataset label>-<robust|clean>``."""

    models: list[str]
    datasets: dict[str, DataConfig]
    robust: list[bool] = Field(default_factory=lambda: [True, False])

    def expand(self) -> list[TeacherSpec]:
        return [TeacherSpec(name=f"{m}-{label}-{'robust' if r else 'clean'}", model=ModelRef(name=m), data=d, robust=r)
                for m, (label, d), r in itertools.product(self.models, self.datasets.items(), self.robust)]


class PropertyConfig(_Strict):
    """How the teacher properties are measured (defaults of :func:`teacher_properties`)."""

    probe_samples: int = Field(4000, ge=10)
    robust_samples: int = Field(1000, ge=4)
    severities: list[int] = Field(default_factory=lambda: [1, 3, 5])
    reduce: str = "inf"
    gamma: float = 0.1
    aggregate: str = "fraction"


class StudyConfig(_Strict):
    """A student side (taken from a benchmark pair) and the teachers to try on it."""

    name: str
    pair: str = Field("fmnist-split", description="built-in pair or YAML: student, budgets, BIRD overrides, eval")
    teachers: list[TeacherSpec] = Field(default_factory=list)
    teacher_grid: TeacherGrid | None = None
    properties: PropertyConfig = Field(default_factory=PropertyConfig)

    @model_validator(mode="after")
    def _some_teachers(self) -> StudyConfig:
        if not self.all_teachers():
            raise ValueError("a study needs teachers (teachers: [...] or teacher_grid: {...})")
        names = [t.name for t in self.all_teachers()]
        if len(set(names)) != len(names):
            raise ValueError(f"teacher names must be unique, got {names}")
        return self

    def all_teachers(self) -> list[TeacherSpec]:
        return list(self.teachers) + (self.teacher_grid.expand() if self.teacher_grid else [])


def builtin_studies() -> list[str]:
    return builtin_configs("birdkit.configs.studies")


def load_study(name_or_path: str | Path) -> StudyConfig:
    """A built-in study by name (``fmnist-teachers``) or a YAML file path."""
    return load_config(name_or_path, StudyConfig, package="birdkit.configs.studies", kind="study")


def run_study(cfg: StudyConfig, out_dir: str | Path, *, seed: int = 0, progress=None,
              teachers: list[str] | None = None) -> list[dict]:
    """Run the study for one seed; returns one row per teacher (properties, BIRD's clean and
    robust accuracies, PGR) and writes ``study.csv``. Every run directory is reused or resumed."""
    from birdkit.experiments.pipeline import _method_overrides, _write_csv, load_split, train_model
    from birdkit.methods import create_method
    from birdkit.models import create_model
    from birdkit.selection.teacher import teacher_properties
    from birdkit.training.config import dump_yaml

    progress = progress or (lambda ev: None)
    pair: PairConfig = load_pair(cfg.pair)
    root = Path(out_dir) / cfg.name / f"seed{seed}"
    root.mkdir(parents=True, exist_ok=True)
    dump_yaml(cfg, root / "study.yaml")
    specs = cfg.all_teachers()
    if teachers:
        known = [t.name for t in specs]
        for t in teachers:
            if t not in known:
                raise UnknownNameError("teacher", t, known)
        specs = [t for t in specs if t.name in teachers]

    s_train = load_split(pair.student_data, "train", pair.student_train.max_train_samples)
    s_val = load_split(pair.student_data, "val", None, norm_from=s_train)
    s_test = load_split(pair.student_data, "test", pair.eval.max_test_samples, norm_from=s_train)
    in_chans, size = s_train.images.shape[1], s_train.images.shape[-1]
    num_classes = len(s_train.targets.unique())

    def with_seed(tc):
        return tc.model_copy(update={"seed": tc.seed + seed})

    def fresh_student():
        torch.manual_seed(seed + 1)
        return create_model(pair.student_model.name, num_classes=num_classes, in_chans=in_chans, img_size=size,
                            **pair.student_model.kwargs)

    progress({"event": "stage", "name": "student"})
    student = train_model(root / "student", create_method("task", student=fresh_student()), s_train,
                          with_seed(pair.student_train), s_val, progress, {"role": "student"})
    progress({"event": "stage", "name": "oracle"})
    oracle = train_model(root / "oracle", create_method("oracle", student=fresh_student()), s_train,
                         with_seed(pair.student_train), s_val, progress, {"role": "oracle"})
    testset = CorruptedTestSet(s_test.images, s_test.targets, seed=pair.eval.seed)

    def robust(model, name):
        r = evaluate_robustness(model, testset, s_test.normalize, corruptions=HELDOUT_CORRUPTIONS,
                                severities=pair.eval.severities, model_name=name)
        return summarize(r)

    base = {"none": robust(student, "none"), "oracle": robust(oracle, "oracle")}
    bird_over = dict(pair.overrides.get("bird", {}))
    student_layer = (bird_over.get("layers") or [{}])[0].get("student") or student.default_layer
    tc = with_seed(pair.transfer_train).with_lr(bird_over.get("lr"))
    pc = cfg.properties
    p_train = load_split(pair.student_data, "train", pc.probe_samples, norm_from=s_train)  # probes' training set

    rows = []
    for spec in specs:
        tdir = root / "teachers" / spec.name
        progress({"event": "stage", "name": f"teacher {spec.name}"})
        t_train = load_split(spec.data, "train", pair.teacher_train.max_train_samples)
        t_val = load_split(spec.data, "val", pair.eval.max_test_samples, norm_from=t_train)
        torch.manual_seed(seed)
        net = create_model(spec.model.name, num_classes=len(t_train.targets.unique()), in_chans=in_chans,
                           img_size=size, **spec.model.kwargs)
        tcfg = with_seed(pair.teacher_train).model_copy(update={"augment": AugmentConfig() if spec.robust else None})
        teacher = train_model(tdir / "teacher", create_method("task", student=net), t_train, tcfg, t_val, progress,
                              {"role": "teacher", "data": spec.data.model_dump(), "robust": spec.robust})
        props = teacher_properties(teacher, student, p_train, s_val, student_layer=student_layer,
                                   severities=pc.severities, reduce=pc.reduce, gamma=pc.gamma,
                                   aggregate=pc.aggregate, robust_samples=pc.robust_samples)
        layers = [LayerPair(teacher=teacher.default_layer, student=student_layer)]
        mcfg = MethodConfig(**{**pair.method.model_dump(), "name": "bird", **_method_overrides(pair, "bird"),
                               "layers": layers})
        torch.manual_seed(seed * 1_000 + 7)
        method = create_method(mcfg, student=copy.deepcopy(student), teacher=copy.deepcopy(teacher),
                               num_classes=num_classes)
        progress({"event": "stage", "name": f"bird {spec.name}"})
        bird = train_model(tdir / "bird", method, s_train, tc, s_val, progress,
                           {"role": "bird", "method_config": mcfg.model_dump()})
        res = robust(bird, spec.name)
        row = {"teacher": spec.name, "model": spec.model.name, "data": spec.data.dataset,
               "classes": "" if spec.data.classes is None else "-".join(map(str, spec.data.classes)),
               "robust_teacher": spec.robust, **{k: getattr(props, k) for k in PROPERTIES},
               "student_probe_accuracy": props.student_probe_accuracy,
               **{f"behavioral_{k}": v for k, v in props.behavioral_variants.items()},
               "clean_acc": res["clean_acc"], "robust_heldout": res["robust_heldout"],
               "none_robust_heldout": base["none"]["robust_heldout"],
               "oracle_robust_heldout": base["oracle"]["robust_heldout"],
               "pgr_heldout": pgr(res["robust_heldout"], base["none"]["robust_heldout"],
                                  base["oracle"]["robust_heldout"]),
               "layers": f"{layers[0].teacher}->{layers[0].student}"}
        log.info("teacher %s: %s", spec.name, row)
        rows.append(row)
        _write_csv(root / "study.csv", rows)
    return rows


def fit_study(rows: list[dict], target: str = "robust_heldout", behavioral: str = "behavioral_relevance") -> dict:
    """Linear model ``target ~ properties`` (standardised): R^2 in sample and leave-one-out, and
    each property's own R^2 (scikit-learn's LinearRegression, LeaveOneOut). ``behavioral`` names
    the column used as behavioral relevance (e.g. ``behavioral_mean_max`` for a variant)."""
    import numpy as np
    from sklearn.linear_model import LinearRegression
    from sklearn.metrics import r2_score
    from sklearn.model_selection import LeaveOneOut, cross_val_predict

    cols = ["task_relevance", "complementary_knowledge", behavioral]
    x = np.array([[float(r[p]) for p in cols] for r in rows], dtype=float)
    y = np.array([float(r[target]) for r in rows], dtype=float)
    if len(rows) < len(PROPERTIES) + 2:
        raise ValueError(f"need at least {len(PROPERTIES) + 2} teachers to fit {len(PROPERTIES)} properties")
    model = LinearRegression().fit(x, y)
    out = {"n": len(rows), "r2": float(model.score(x, y)),
           "r2_loo": float(r2_score(y, cross_val_predict(LinearRegression(), x, y, cv=LeaveOneOut()))),
           "coef": dict(zip(PROPERTIES, map(float, model.coef_ * x.std(0))))}  # per std of each property
    for i, p in enumerate(PROPERTIES):
        out[f"r2_{p}"] = float(LinearRegression().fit(x[:, [i]], y).score(x[:, [i]], y))
    return out


__all__ = ["PROPERTIES", "PropertyConfig", "StudyConfig", "TeacherGrid", "TeacherSpec", "builtin_studies",
           "fit_study", "load_study", "run_study"]
