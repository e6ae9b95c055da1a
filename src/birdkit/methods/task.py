"""Methods made of the task loss alone: ``none``, ``task`` (plain training), ``oracle`` and ``ft``.

* ``none``: the pretrained student evaluated as is (no training).
* ``task``: cross-entropy training of a model on its own data; what ``birdkit train`` runs.
* ``oracle``: the student architecture trained on the student data *with* the corruption
  augmentation (the PGR ceiling; BIRD paper, docs/method.md §3).
* ``ft``: full fine-tuning of the robust teacher with a new head on the student task
  (transfer-learning baseline; Kumar et al. 2022 call it FT).
"""

from __future__ import annotations

import torch
from torch import nn

from birdkit.config import MethodConfig
from birdkit.methods._base import TransferMethod, task_output, teacher_with_new_head
from birdkit.methods._factory import register_method


@register_method
class TaskMethod(TransferMethod):
    """L = CE(f(x), y)."""

    name = "task"
    summary = "plain training with cross-entropy (what `birdkit train` runs)"
    pipeline_step = "train"
    in_benchmark = False
    tunable = ()

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        return task_output(self.model(x), y)


@register_method
class NoneMethod(TaskMethod):
    """The pretrained student, untouched."""

    name = "none"
    summary = "the clean student as is (no transfer)"
    trains = False
    pipeline_step = "student"
    in_benchmark = True


@register_method
class OracleMethod(TaskMethod):
    """Student architecture trained with corruption augmentation (the robust ceiling)."""

    name = "oracle"
    summary = "the student trained with the corruption augmentation: the robust ceiling of PGR"
    needs_augment = True
    pipeline_step = "oracle"
    in_benchmark = True


@register_method
class FineTuneMethod(TaskMethod):
    """FT: every weight of the robust teacher, with a fresh head, trained on the student task."""

    name = "ft"
    summary = "fine-tune all of the robust teacher with a new head on the student task"
    uses_teacher = True
    starts_from_teacher = True
    pipeline_step = "transfer"
    in_benchmark = True
    tunable = ("lr",)

    def __init__(self, teacher: nn.Module, num_classes: int):
        super().__init__(teacher_with_new_head(teacher, num_classes))

    @classmethod
    def from_config(cls, cfg: MethodConfig, *, student, teacher, num_classes: int) -> FineTuneMethod:
        return cls(teacher, num_classes)
