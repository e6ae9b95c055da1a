"""Configs of experiments: a teacher -> student benchmark pair (``birdkit demo``), a robust
evaluation (``birdkit evaluate``) and a teacher study (``birdkit study``), with the built-in
YAML files shipped in ``birdkit/config/pairs/`` and ``birdkit/config/studies/``."""

from __future__ import annotations

import itertools
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from birdkit.config.base import StrictModel, check_severities, load_yaml, read_yaml, validate
from birdkit.config.data import DataConfig, ModelRef
from birdkit.config.method import METHOD_OVERRIDE_KEYS, MethodConfig
from birdkit.config.training import AugmentConfig, TrainConfig
from birdkit.errors import UnknownNameError

__all__ = [
    "EvalConfig", "EvaluateConfig", "GridConfig", "GridTeachers", "PairConfig", "PropertyConfig", "ResourceConfig",
    "StudentSpec", "StudyConfig", "TeacherGrid", "TeacherSpec",
    "builtin_configs", "builtin_pairs", "builtin_studies", "load_builtin", "load_pair", "load_study",
]

#: folders of ``birdkit.config`` holding the built-in YAML files
PAIRS_FOLDER = "pairs"
STUDIES_FOLDER = "studies"


#: corruption severity tables (``birdkit.corruptions.FAMILIES``; a test keeps the two equal)
CorruptionFamily = Literal["imagenet", "cifar", "tinyimagenet", "mnist"]


class EvalConfig(StrictModel):
    """Robust evaluation: which test images, which corruptions (default: 4 held-out + 15 training)."""

    max_test_samples: int | None = Field(None, ge=1)
    train_corruption_samples: int | None = Field(None, ge=1, description="test subset for the 15 training corruptions")
    severities: list[int] = Field(default_factory=lambda: [1, 2, 3, 4, 5])
    seed: int = 0
    cka_samples: int = Field(2048, ge=4)
    family: CorruptionFamily | None = Field(None, description="corruption severity table of the test set "
                                                              "(None: from the image size)")
    training_corruptions: bool = Field(True, description="also evaluate the 15 training corruptions (on the first "
                                                         "train_corruption_samples test images)")
    mnistc_severities: list[int] = Field(default_factory=lambda: [3],
                                         description="MNIST-C severities (3: MNIST-C's own single parameter)")
    mnistc: bool | None = Field(None, description="also evaluate MNIST-C's held-out corruptions (None: for "
                                                 "28x28 grayscale data)")
    cache: bool = Field(True, description="keep corrupted test sets in the machine-wide cache ($BIRDKIT_CACHE)")
    save_predictions: bool = Field(True, description="write every model's test predictions (predictions.safetensors)")

    @field_validator("severities", "mnistc_severities")
    @classmethod
    def _severities(cls, v: list[int]) -> list[int]:
        return check_severities(v)


class PairConfig(StrictModel):
    """A teacher -> student pair and the full protocol run on it by ``birdkit demo``."""

    name: str
    description: str = ""
    teacher_data: DataConfig
    student_data: DataConfig
    teacher_model: ModelRef
    student_model: ModelRef
    teacher_train: TrainConfig = Field(default_factory=lambda: TrainConfig(augment=AugmentConfig()))
    student_train: TrainConfig = Field(default_factory=TrainConfig)
    transfer_train: TrainConfig = Field(default_factory=TrainConfig)
    oracle_init: str = Field("scratch", pattern="^(scratch|student)$",
                             description="oracle trained from scratch (paper) or fine-tuned from the clean student")
    methods: list[str] | None = Field(None, description="methods to run; None: every benchmark method of the registry")
    method: MethodConfig = Field(default_factory=MethodConfig, description="shared method parameters")
    overrides: dict[str, dict] = Field(default_factory=dict,
                                       description="per-method MethodConfig fields and learning rate (lr)")
    variants: dict[str, dict] = Field(default_factory=dict,
                                      description="named variants of a method, run and reported like methods: "
                                                  "{method: bird, debiased: true, ...} on top of its overrides")
    eval: EvalConfig = Field(default_factory=EvalConfig)

    def base_method(self, name: str) -> str:
        """The registered method behind ``name`` (a variant's ``method``, else ``name`` itself)."""
        return self.variants[name]["method"] if name in self.variants else name

    def method_config(self, name: str, **fields) -> MethodConfig:
        """Method ``name``'s config: the shared ``method`` section, then the method's own
        ``overrides`` (its MethodConfig fields; the learning rate goes to :meth:`transfer_config`),
        for a variant then the variant's fields, then ``fields`` (a selection grid point, a layer
        pair), which win."""
        base = self.base_method(name)
        own = {k: v for k, v in self.overrides.get(base, {}).items() if k in MethodConfig.model_fields}
        var = {k: v for k, v in self.variants.get(name, {}).items() if k in MethodConfig.model_fields}
        extra = {k: v for k, v in fields.items() if k in MethodConfig.model_fields}
        return MethodConfig(**{**self.method.model_dump(), **own, **var, **extra, "name": base})

    def transfer_config(self, name: str, seed: int = 0, lr: float | None = None) -> TrainConfig:
        """Method ``name``'s transfer budget in experiment seed ``seed``: ``transfer_train`` with the
        seed added and the learning rate ``lr``, else the variant's, else the method's overridden one."""
        lr = lr or self.variants.get(name, {}).get("lr") or self.overrides.get(self.base_method(name), {}).get("lr")
        return self.transfer_train.with_seed_offset(seed).with_lr(lr)

    @field_validator("variants")
    @classmethod
    def _known_variant_keys(cls, v: dict[str, dict]) -> dict[str, dict]:
        for name, fields in v.items():
            if "method" not in fields:
                raise ValueError(f"variants.{name}: needs a 'method' (the registered method it varies)")
            bad = sorted(set(fields) - METHOD_OVERRIDE_KEYS - {"method"})
            if bad:
                raise ValueError(f"variants.{name}: unknown keys {bad}; allowed: method, "
                                 f"{', '.join(sorted(METHOD_OVERRIDE_KEYS))}")
        return v

    @field_validator("overrides")
    @classmethod
    def _known_override_keys(cls, v: dict[str, dict]) -> dict[str, dict]:
        # method names are checked against the method registry by the experiment runner
        for method, fields in v.items():
            bad = sorted(set(fields) - METHOD_OVERRIDE_KEYS)
            if bad:
                raise ValueError(f"overrides.{method}: unknown keys {bad}; allowed: {sorted(METHOD_OVERRIDE_KEYS)}")
        return v


class EvaluateConfig(StrictModel):
    """``birdkit evaluate --config``: which test data, how many images, which corruption seed."""

    data: DataConfig
    max_test_samples: int | None = Field(None, ge=1)
    seed: int = 0
    severities: list[int] = Field(default_factory=lambda: [1, 2, 3, 4, 5])


class TeacherSpec(StrictModel):
    """One teacher of a study."""

    name: str
    model: ModelRef
    data: DataConfig
    robust: bool = Field(True, description="train with the corruption augmentation (training corruptions)")
    augment: AugmentConfig | None = Field(None, description="the robustness recipe (corruptions, severities, p) "
                                                            "when robust; None: the default augmentation")


class TeacherGrid(StrictModel):
    """The product models x datasets x robust, named ``<model>-<dataset label>-<robust|clean>``."""

    models: list[str]
    datasets: dict[str, DataConfig]
    robust: list[bool] = Field(default_factory=lambda: [True, False])

    def expand(self) -> list[TeacherSpec]:
        return [TeacherSpec(name=f"{m}-{label}-{'robust' if r else 'clean'}", model=ModelRef(name=m), data=d, robust=r)
                for m, (label, d), r in itertools.product(self.models, self.datasets.items(), self.robust)]


class PropertyConfig(StrictModel):
    """How the teacher properties are measured (defaults of ``teacher_properties``)."""

    probe_samples: int = Field(4000, ge=10)
    robust_samples: int = Field(1000, ge=4)
    severities: list[int] = Field(default_factory=lambda: [1, 3, 5])
    reduce: str = "inf"
    gamma: float = 0.1
    aggregate: str = "fraction"


class StudyConfig(StrictModel):
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


class StudentSpec(StrictModel):
    """One student of a grid study: its architecture and its data."""

    name: str
    model: ModelRef
    data: DataConfig


class GridTeachers(StrictModel):
    """Teachers of a grid study: architectures x datasets x robustness recipes, named
    ``<model>-<dataset label>-<recipe>``; a recipe is an augmentation (``{}``: the default one,
    the 15 training corruptions at severities 0-5) or ``null`` (clean training)."""

    models: list[str] = Field(min_length=1)
    datasets: dict[str, DataConfig] = Field(min_length=1)
    recipes: dict[str, AugmentConfig | None] = Field(min_length=1)

    def expand(self) -> list[TeacherSpec]:
        return [TeacherSpec(name=f"{m}-{d}-{r}", model=ModelRef(name=m), data=data, robust=aug is not None,
                            augment=aug)
                for m, (d, data), (r, aug) in itertools.product(self.models, self.datasets.items(),
                                                                 self.recipes.items())]


class ResourceConfig(StrictModel):
    """What one task of a study asks a scheduler for (Ray schedules by it; local runs ignore GPUs)."""

    cpus: float = Field(1.0, gt=0)
    gpus: float = Field(0.0, ge=0)


class GridConfig(StrictModel):
    """``birdkit study CONFIG``: many teacher-student pairs, BIRD on each, properties vs outcome.

    Pairs are students x teachers (the grid) x student layers x seeds; each teacher, student and
    pair is trained once into a folder named by the SHA-256 of what it is (content-hash caching),
    so a teacher serves every pair it is part of, and a finished pair is never redone."""

    name: str
    description: str = ""
    grid: GridTeachers
    pair: str = Field("fmnist-split", description="built-in pair or YAML: budgets, BIRD overrides, evaluation")
    students: list[StudentSpec] | None = Field(None, description="None: the pair's student")
    layers: list[str] = Field(default_factory=lambda: ["pair"], min_length=1,
                              description="student layers BIRD aligns with the teacher's default layer: a layer "
                                          "name, 'pair' (the pair's BIRD override) or 'default' (the student's)")
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    eval: EvalConfig | None = Field(None, description="replaces the pair's evaluation (e.g. fewer test images)")
    properties: PropertyConfig = Field(default_factory=PropertyConfig)
    resources: ResourceConfig = Field(default_factory=ResourceConfig)

    def students_or(self, pair: PairConfig) -> list[StudentSpec]:
        return list(self.students) if self.students else [
            StudentSpec(name=pair.student_model.name, model=pair.student_model, data=pair.student_data)]


def _folder(folder: str):
    return resources.files("birdkit.config") / folder


def builtin_configs(folder: str = PAIRS_FOLDER) -> list[str]:
    """Names of the YAML configs shipped in ``birdkit/config/<folder>/``."""
    return sorted(p.name.removesuffix(".yaml") for p in _folder(folder).iterdir() if p.name.endswith(".yaml"))


def load_builtin(name_or_path: str | Path, model: type[BaseModel], *, folder: str = PAIRS_FOLDER,
                 kind: str = "config"):
    """A built-in config of ``folder`` by name, or a YAML file path, validated as ``model``;
    an unknown name lists close matches."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") and p.exists():
        return load_yaml(p, model)
    names = builtin_configs(folder)
    if str(name_or_path) not in names:
        raise UnknownNameError(kind, str(name_or_path), names)
    with resources.as_file(_folder(folder) / f"{name_or_path}.yaml") as f:
        return load_yaml(f, model)


def builtin_pairs() -> list[str]:
    return builtin_configs(PAIRS_FOLDER)


def builtin_studies() -> list[str]:
    return builtin_configs(STUDIES_FOLDER)


def load_pair(name_or_path: str | Path) -> PairConfig:
    """A built-in pair by name (``fmnist-split``) or a YAML file path."""
    return load_builtin(name_or_path, PairConfig, folder=PAIRS_FOLDER, kind="benchmark pair")


def load_study(name_or_path: str | Path) -> StudyConfig | GridConfig:
    """A built-in study by name (``fmnist-teachers``) or a YAML file path: a
    :class:`GridConfig` when it has a ``grid:``, else a :class:`StudyConfig`."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") and p.exists():
        raw = read_yaml(p)
    else:
        names = builtin_configs(STUDIES_FOLDER)
        if str(name_or_path) not in names:
            raise UnknownNameError("study", str(name_or_path), names)
        with resources.as_file(_folder(STUDIES_FOLDER) / f"{name_or_path}.yaml") as f:
            raw, p = read_yaml(f), f
    return validate(GridConfig if "grid" in raw else StudyConfig, raw, source=str(p))
