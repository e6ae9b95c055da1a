"""Typed configs (pydantic) for training and transfer runs.

Every run saves its resolved config as YAML next to its results and checkpoints, and every
command accepts one (``--config run.yaml``, loaded with ``yaml.safe_load``: no executable
tags). Unknown keys are errors (``extra="forbid"``), so a typo never silently falls back to
a default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from birdkit.errors import BirdkitError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class OptimConfig(_Strict):
    """Optimiser and schedule. Defaults: the BIRD authors' (SGD lr 0.005, momentum 0.9,
    weight decay 5e-4, cosine stepped per iteration)."""

    name: Literal["sgd", "adamw"] = "sgd"
    lr: float = Field(0.005, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    nesterov: bool = False
    weight_decay: float = Field(5e-4, ge=0)
    schedule: Literal["cosine", "constant"] = "cosine"
    warmup_steps: int = Field(0, ge=0)
    grad_clip: float | None = Field(None, gt=0)


class AugmentConfig(_Strict):
    """Corruption augmentation (robust teacher, oracle): each training image gets, with
    probability ``p``, a corruption drawn uniformly from ``corruptions`` at a severity drawn
    uniformly from ``severities`` (0 = clean); fresh draws every epoch."""

    corruptions: list[str] | Literal["train"] = "train"
    severities: list[int] = Field(default_factory=lambda: [0, 1, 2, 3, 4, 5])
    p: float = Field(1.0, ge=0, le=1)

    @field_validator("severities")
    @classmethod
    def _sev(cls, v: list[int]) -> list[int]:
        bad = [s for s in v if s not in range(6)]
        if bad or not v:
            raise ValueError(f"severities must be a non-empty subset of 0..5, got {v}")
        return v


class TrainConfig(_Strict):
    """The loop itself: epochs, batch, seed, device, logging and checkpoint cadence."""

    epochs: int = Field(10, ge=0)
    batch_size: int = Field(128, ge=1)
    eval_batch_size: int = Field(512, ge=1)
    seed: int = 0
    device: str = "cpu"
    threads: int | None = Field(None, ge=1)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    augment: AugmentConfig | None = None
    max_train_samples: int | None = Field(None, ge=1)
    checkpoint_every: int = Field(1, ge=1, description="epochs between training-state checkpoints")
    tensorboard: bool = True

    def with_lr(self, lr: float | None) -> TrainConfig:
        """A copy with the optimiser's learning rate set to ``lr`` (unchanged when None)."""
        return self if lr is None else self.model_copy(update={"optim": self.optim.model_copy(update={"lr": lr})})


class LayerPair(_Strict):
    """One guiding (teacher) / guided (student) layer pair of BIRD or Hints, with a weight."""

    teacher: str
    student: str
    weight: float = Field(1.0, gt=0)


class MethodConfig(_Strict):
    """Which transfer method and its own parameters (see ``birdkit.methods``)."""

    name: str = "bird"
    alpha: float = Field(0.9, ge=0, le=1, description="weight of the representation term; task gets 1-alpha")
    beta: float | None = Field(None, ge=0, description="paper form: if set, L = alpha * task + beta * rep "
                                                       "(alpha then weighs the task term)")
    kernel: Literal["linear", "rbf"] = "linear"
    debiased: bool = False
    layers: list[LayerPair] | None = Field(None, description="None: the models' default layers")
    temperature: float = Field(2.0, gt=0, description="LwF distillation temperature")
    lwf_weight: float = Field(1.0, ge=0, description="LwF: weight of the old-task distillation term")
    lp_epochs_fraction: float = Field(0.5, gt=0, lt=1, description="LP-FT: share of epochs spent probing")
    ft_lr_scale: float = Field(0.1, gt=0, description="LP-FT: learning-rate factor of the fine-tune stage")


class ModelRef(_Strict):
    name: str
    kwargs: dict = Field(default_factory=dict)


class DataConfig(_Strict):
    dataset: str
    classes: list[int] | None = None
    root: str | None = None
    val_fraction: float = Field(0.1, ge=0, lt=1)
    max_test_samples: int | None = Field(None, ge=1)


class EvaluateConfig(_Strict):
    """``birdkit evaluate --config``: which test data, how many images, which corruption seed."""

    data: DataConfig
    max_test_samples: int | None = Field(None, ge=1)
    seed: int = 0
    severities: list[int] = Field(default_factory=lambda: [1, 2, 3, 4, 5])


def load_yaml(path: str | Path, model: type[BaseModel]) -> BaseModel:
    """Load and validate a YAML config (safe loader only)."""
    path = Path(path)
    if not path.is_file():
        raise BirdkitError(f"Config file {str(path)!r} does not exist")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise BirdkitError(f"Config {str(path)!r}: expected a mapping at top level, got {type(data).__name__}")
    return model.model_validate(data)


def dump_yaml(cfg: BaseModel, path: str | Path) -> Path:
    """Write the resolved config as YAML (atomic)."""
    import os
    import tempfile

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".yaml")
    with os.fdopen(fd, "w") as f:
        yaml.safe_dump(cfg.model_dump(mode="json"), f, sort_keys=False)
    os.replace(tmp, path)
    return path
