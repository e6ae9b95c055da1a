"""Methods made of the task loss alone: ``none``, ``task`` (plain training), ``oracle`` and ``ft``.

* ``none``: the pretrained student evaluated as is (no training).
* ``task``: cross-entropy training of a model on its own data; what ``birdkit train`` runs.
* ``oracle``: the student architecture trained on the student data *with* the corruption
  augmentation (the PGR ceiling; BIRD paper, method.md §3).
* ``ft``: full fine-tuning of the robust teacher with a new head on the student task
  (transfer-learning baseline; Kumar et al. 2022 call it FT).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from birdkit.methods._base import TransferMethod, teacher_with_new_head


class TaskMethod(TransferMethod):
    """L = CE(f(x), y)."""

    name = "task"

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        out = self.model(x)
        ce = F.cross_entropy(out, y)
        return {"loss": ce, "output": out, "ce": ce.detach()}


class NoneMethod(TaskMethod):
    """The pretrained student, untouched."""

    name = "none"
    trains = False


class OracleMethod(TaskMethod):
    """Student architecture trained with corruption augmentation (the robust ceiling)."""

    name = "oracle"
    needs_augment = True


class FineTuneMethod(TaskMethod):
    """FT: every weight of the robust teacher, with a fresh head, trained on the student task."""

    name = "ft"

    def __init__(self, teacher: nn.Module, num_classes: int):
        super().__init__(teacher_with_new_head(teacher, num_classes))
