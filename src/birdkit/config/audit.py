"""Configs of the behavior audit (docs/audit.md): a planted behavior, an audit run and the
subliminal-learning check, with the built-in audit YAML files shipped in ``birdkit/config/audits/``."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator, model_validator

from birdkit.config.base import StrictModel, check_severities
from birdkit.config.experiment import builtin_configs, load_builtin

__all__ = ["AUDITS_FOLDER", "AuditConfig", "AuditProbeConfig", "PlantConfig", "SubliminalConfig", "builtin_audits",
           "load_audit"]

#: folder of ``birdkit.config`` holding the built-in audit YAML files
AUDITS_FOLDER = "audits"


class PlantConfig(StrictModel):
    """A behavior planted in a teacher's training data (``birdkit train --plant``), docs/audit.md §1.

    ``behavior`` names a registered behavior (``backdoor``, ``shortcut``; checked against the
    registry before any work). Each field says which behavior reads it."""

    behavior: str
    rate: float = Field(0.1, gt=0, le=1, description="backdoor: share of the non-target training images that get the "
                                                     "trigger and the target label")
    target: int = Field(0, ge=0, description="backdoor: the class (index in the teacher's label space) the trigger "
                                             "sends to")
    correlation: float = Field(0.9, ge=0, le=1, description="shortcut: share of training images whose cue sits at "
                                                            "their own class's position (the rest: another class's)")
    size: int | None = Field(None, ge=2, description="side of the trigger / cue patch in pixels (None: image "
                                                      "size // 7, at least 3)")
    seed: int = Field(0, ge=0, description="which images are poisoned, which get a conflicting cue")


class AuditProbeConfig(StrictModel):
    """What the probes read: the first ``samples`` images of the student's test split (and of
    the teacher's, for the teachers' own accuracy), corrupted at ``severities`` for the
    robustness probe."""

    samples: int = Field(1000, ge=1, description="probe images (first N of the test split)")
    severities: list[int] = Field(default_factory=lambda: [1, 2, 3, 4, 5])
    probes: list[str] | None = Field(None, description="probes to run (None: every registered probe that applies)")
    batch_size: int = Field(512, ge=1)

    @field_validator("severities")
    @classmethod
    def _severities(cls, v: list[int]) -> list[int]:
        return check_severities(v)


class AuditConfig(StrictModel):
    """``birdkit audit``: planted teachers, their control teacher, a student and the methods
    whose transfer is audited, over several seeds.

    The pair (a built-in name or a pair YAML) gives the models, data, budgets and the methods'
    overrides; for every seed and behavior the runner trains the planted teacher and the
    control teacher with the pair's teacher recipe (same seed, data order and budget), the
    clean student, and each method from both teachers."""

    name: str
    description: str = ""
    pair: str = Field("fmnist-split", description="built-in pair or pair YAML: models, data, budgets, overrides")
    behaviors: dict[str, PlantConfig] = Field(description="label -> planted behavior")
    methods: list[str] = Field(default_factory=lambda: ["bird", "hints"], min_length=1)
    seeds: int = Field(3, ge=1, le=100)
    probe: AuditProbeConfig = Field(default_factory=AuditProbeConfig)

    @model_validator(mode="after")
    def _some_behaviors(self) -> AuditConfig:
        if not self.behaviors:
            raise ValueError("an audit needs at least one behavior (behaviors: {label: {behavior: backdoor}})")
        bad = [k for k in self.behaviors if k in ("control", "student", "teacher") or "/" in k]
        if bad:
            raise ValueError(f"behavior labels {bad} are reserved or not a folder name")
        if len(set(self.methods)) != len(self.methods):
            raise ValueError(f"methods must be unique, got {self.methods}")
        return self


class SubliminalConfig(StrictModel):
    """``birdkit audit-subliminal``: Cloud et al.'s MNIST check (docs/audit.md §4).

    An MLP ``784 - hidden - (10 + aux)`` is trained on digits through its 10 class logits only;
    students from the *same* initial weights and from a *different* one are trained only to
    match the teacher's ``aux`` never-trained logits on uniform-noise images. Defaults follow
    Cloud et al.'s public code (Adam 3e-4, batch 256, 5 epochs of 60,000 images for the
    teacher and for the students), with the number of optimiser steps kept when the training
    set is smaller (MNIST-5k here)."""

    seeds: int = Field(5, ge=2, le=256, description="models trained side by side (one tensor), one per seed")
    hidden: list[int] = Field(default_factory=lambda: [256, 256], min_length=1)
    aux: int = Field(3, ge=1, description="auxiliary logits, never trained on digits")
    lr: float = Field(3e-4, gt=0)
    batch_size: int = Field(256, ge=1)
    teacher_steps: int = Field(1175, ge=1, description="Adam steps on digits (5 epochs of 60,000 at batch 256)")
    student_steps: int = Field(1175, ge=1, description="Adam steps on fresh uniform noise")
    dataset: str = Field("mnist5k", description="digits dataset (10 classes, 28x28 grayscale)")
    root: str | None = None
    seed: int = Field(0, ge=0, description="first seed; model k uses seed + k")
    threads: int | None = Field(None, ge=1)


def builtin_audits() -> list[str]:
    """Names of the built-in audit configs (``birdkit/config/audits/*.yaml``)."""
    return builtin_configs(AUDITS_FOLDER)


def load_audit(name_or_path: str | Path) -> AuditConfig:
    """A built-in audit by name (``fmnist-audit``) or a YAML file path."""
    return load_builtin(name_or_path, AuditConfig, folder=AUDITS_FOLDER, kind="audit")
