"""The method contract: every transfer method is an ``nn.Module`` whose ``forward(x, y)``
returns ``{"loss": scalar, "output": logits, <term>: scalar, ...}``, so one trainer loop serves
all of them (the shape of timm's distillation task and torchdistill's loss wrappers).

A method owns the network being trained (``.model``, the one evaluated afterwards) and any
frozen teacher (kept in eval mode and run under ``no_grad`` whatever ``.train()`` says), and
declares its *stages* (LP-FT has two: probe, then fine-tune with a smaller learning rate).

Each method class also declares what it needs, so that the factory, the command line and the
experiment runner derive everything from the registry (``docs/methods.md``):

==================== =====================================================================
``uses_teacher``     needs a frozen teacher
``starts_from_teacher`` trains a copy of the teacher with a new head (needs no student)
``has_layers``       aligns teacher / student layer pairs (``MethodConfig.layers``)
``trains``           False for ``none`` (evaluated as is)
``needs_augment``    trains on corrupted images (the oracle)
``pipeline_step``    which step of an experiment produces it: ``student`` (the clean student
                     as is), ``oracle`` (the robust ceiling), ``transfer`` or ``train``
``in_benchmark``     run by ``birdkit demo`` unless a pair lists its methods
``tunable``          hyperparameters ``birdkit select`` searches (``lr``, ``alpha``)
==================== =====================================================================

and builds itself from a :class:`~birdkit.config.MethodConfig` with :meth:`from_config`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from birdkit.config import MethodConfig

__all__ = ["Stage", "TransferMethod", "freeze", "task_output", "teacher_with_new_head"]


@dataclass(frozen=True)
class Stage:
    """A training stage: a share of the epoch budget and a learning-rate factor."""

    name: str
    epochs: int
    lr_scale: float = 1.0


class TransferMethod(nn.Module):
    """Base class. Subclasses set ``name`` and the declarations above and implement :meth:`forward`.

    Attributes:
        model: the network trained and evaluated.
        teacher: the frozen teacher, or None.
    """

    name: ClassVar[str] = "base"
    summary: ClassVar[str] = ""
    uses_teacher: ClassVar[bool] = False
    starts_from_teacher: ClassVar[bool] = False
    has_layers: ClassVar[bool] = False
    trains: ClassVar[bool] = True
    needs_augment: ClassVar[bool] = False
    pipeline_step: ClassVar[str] = "transfer"
    in_benchmark: ClassVar[bool] = True
    tunable: ClassVar[tuple[str, ...]] = ("lr",)

    def __init__(self, model: nn.Module, teacher: nn.Module | None = None):
        super().__init__()
        self.model = model
        if teacher is not None:
            teacher = freeze(teacher)
        # Stored outside the module tree so it is neither trained, nor saved in training
        # state, nor switched to train mode.
        self.__dict__["teacher"] = teacher
        self._stage: str = "main"
        self.batch_keys: torch.Tensor | None = None

    # -- execution ----------------------------------------------------------------------
    def set_batch_keys(self, keys: torch.Tensor | None) -> None:
        """Which training samples the next batch holds (the trainer sets it when a sample's input
        is the same in every epoch, so per-sample results of the frozen teacher can be reused)."""
        self.batch_keys = keys

    def enable_teacher_cache(self, size: int) -> bool:
        """Cache the frozen teacher's per-sample results over ``size`` training samples, where the
        method has any to cache; returns whether it does (the base class: no)."""
        return False

    @classmethod
    def from_config(cls, cfg: MethodConfig, *, student: nn.Module | None, teacher: nn.Module | None,
                    num_classes: int) -> TransferMethod:
        """Build the method from its config (the factory has checked what it needs)."""
        return cls(student)

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


def task_output(out: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    """The contract's dict for an objective made of the task loss alone: ``CE(out, y)``."""
    ce = F.cross_entropy(out, y)
    return {"loss": ce, "output": out, "ce": ce.detach()}


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
