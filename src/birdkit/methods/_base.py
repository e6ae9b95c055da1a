"""The method contract: every transfer method is an ``nn.Module`` whose ``forward(x, y)``
returns ``{"loss": scalar, "output": logits, <term>: scalar, ...}``, so one trainer loop serves
all of them (the shape of timm's distillation task and torchdistill's loss wrappers).

A method owns the network being trained (``.model``, the one evaluated afterwards) and any
frozen teacher (kept in eval mode and run under ``no_grad`` whatever ``.train()`` says), and
declares its *stages* (LP-FT has two: probe, then fine-tune with a smaller learning rate).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class Stage:
    """A training stage: a share of the epoch budget and a learning-rate factor."""

    name: str
    epochs: int
    lr_scale: float = 1.0


class TransferMethod(nn.Module):
    """Base class. Subclasses set ``name`` and implement :meth:`forward`.

    Attributes:
        model: the network trained and evaluated.
        teacher: the frozen teacher, or None.
        needs_augment: whether the method trains on corrupted images (oracle, robust teacher).
        trains: False for ``none`` (the pretrained student, evaluated as is).
    """

    name: str = "base"
    needs_augment: bool = False
    trains: bool = True

    def __init__(self, model: nn.Module, teacher: nn.Module | None = None):
        super().__init__()
        self.model = model
        if teacher is not None:
            teacher = freeze(teacher)
        # Stored outside the module tree so it is neither trained, nor saved in training
        # state, nor switched to train mode.
        self.__dict__["teacher"] = teacher
        self._stage: str = "main"

    # -- stages -------------------------------------------------------------------------
    def stages(self, epochs: int) -> list[Stage]:
        return [Stage("main", epochs)]

    def set_stage(self, name: str) -> None:
        self._stage = name

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]

    def train(self, mode: bool = True) -> TransferMethod:
        super().train(mode)
        if self.teacher is not None:
            self.teacher.eval()
        return self

    def to(self, *args, **kwargs):  # the teacher lives outside the module tree
        if self.teacher is not None:
            self.teacher.to(*args, **kwargs)
        return super().to(*args, **kwargs)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:  # pragma: no cover
        raise NotImplementedError


def freeze(model: nn.Module) -> nn.Module:
    """Freeze a teacher: eval mode (BN running statistics, no dropout), no gradients."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def teacher_with_new_head(teacher: nn.Module, num_classes: int) -> nn.Module:
    """A trainable copy of the teacher whose classifier is replaced by a fresh one for the
    student task (the starting point of LP, FT, LP-FT and LwF in the paper)."""
    model = copy.deepcopy(teacher)
    for p in model.parameters():
        p.requires_grad_(True)
    model.reset_classifier(num_classes)
    model.train()
    return model
