"""Configs of the training loop: optimiser and schedule, corruption augmentation, the loop itself."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from birdkit.config.base import StrictModel, check_severities

__all__ = ["AugmentConfig", "OptimConfig", "TrainConfig"]


class OptimConfig(StrictModel):
    """Optimiser and schedule. Defaults: the BIRD authors' (SGD lr 0.005, momentum 0.9,
    weight decay 5e-4, cosine stepped per iteration; docs/method.md §1)."""

    name: Literal["sgd", "adamw"] = "sgd"
    lr: float = Field(0.005, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    nesterov: bool = False
    weight_decay: float = Field(5e-4, ge=0)
    schedule: Literal["cosine", "constant"] = "cosine"
    warmup_steps: int = Field(0, ge=0)
    grad_clip: float | None = Field(None, gt=0)


class AugmentConfig(StrictModel):
    """Corruption augmentation (robust teacher, oracle): each training image gets, with
    probability ``p``, a corruption drawn uniformly from ``corruptions`` at a severity drawn
    uniformly from ``severities`` (0 = clean); fresh draws every epoch."""

    corruptions: list[str] | Literal["train"] = "train"
    severities: list[int] = Field(default_factory=lambda: [0, 1, 2, 3, 4, 5])
    p: float = Field(1.0, ge=0, le=1)

    @field_validator("severities")
    @classmethod
    def _sev(cls, v: list[int]) -> list[int]:
        return check_severities(v, range(6))


class TrainConfig(StrictModel):
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
    distributed_cka: Literal["global", "local"] = Field(
        "global", description="under torchrun: BIRD's CKA on the global batch (every process's rows) or per process")
    distributed_bn: Literal["global", "local"] = Field(
        "global", description="under torchrun: batch-norm statistics of the global batch or per process")
    teacher_cache: bool = Field(True, description="reuse the frozen teacher's per-sample features when inputs repeat "
                                "(no augmentation); results are unchanged")

    def with_lr(self, lr: float | None) -> TrainConfig:
        """A copy with the optimiser's learning rate set to ``lr`` (unchanged when None)."""
        return self if lr is None else self.model_copy(update={"optim": self.optim.model_copy(update={"lr": lr})})

    def with_seed_offset(self, offset: int) -> TrainConfig:
        """A copy whose seed is ``seed + offset`` (the experiment seed added to the config's own)."""
        return self.model_copy(update={"seed": self.seed + offset})
