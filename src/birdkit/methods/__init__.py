"""Transfer methods: BIRD and every baseline of the paper, behind one factory.

| name   | starts from        | trains                         | objective |
|--------|--------------------|--------------------------------|-----------|
| none   | clean student      | nothing                        | -         |
| task   | given model        | all                            | CE        |
| oracle | scratch            | all, corruption augmentation   | CE        |
| ft     | robust teacher     | all, new head                  | CE        |
| lp     | robust teacher     | new head only (frozen features)| CE        |
| lpft   | robust teacher     | head, then all at lr x 0.1     | CE        |
| lwf    | robust teacher     | all, new + old head            | CE + KD_T(old head, teacher) |
| hints  | clean student      | all + linear regressor         | (1-a) CE + a L2(W v, u) |
| bird   | clean student      | all                            | (1-a) CE + a (1 - CKA(u, v)) |
"""

from __future__ import annotations

import torch
from torch import nn

from birdkit._registry import Registry
from birdkit.errors import BirdkitError
from birdkit.methods._base import Stage, TransferMethod, freeze, teacher_with_new_head
from birdkit.methods.bird import BirdMethod
from birdkit.methods.hints import HintsMethod
from birdkit.methods.lwf import LwFMethod
from birdkit.methods.probe import LinearProbeMethod, LPFTMethod
from birdkit.methods.task import FineTuneMethod, NoneMethod, OracleMethod, TaskMethod
from birdkit.training.config import MethodConfig

METHODS: Registry = Registry("method", list_hint="Known methods: " + "none, task, oracle, ft, lp, lpft, lwf, hints, bird.")
for _cls in (NoneMethod, TaskMethod, OracleMethod, FineTuneMethod, LinearProbeMethod, LPFTMethod, LwFMethod,
             HintsMethod, BirdMethod):
    METHODS.add(_cls.name, _cls, uses_teacher=_cls in (FineTuneMethod, LinearProbeMethod, LPFTMethod, LwFMethod,
                                                       HintsMethod, BirdMethod),
                starts_from_teacher=_cls in (FineTuneMethod, LinearProbeMethod, LPFTMethod, LwFMethod))

__all__ = ["METHODS", "Stage", "TransferMethod", "create_method", "list_methods", "freeze", "teacher_with_new_head"]


def list_methods(pattern: str | None = None) -> list[str]:
    return METHODS.names(pattern)


def create_method(
    cfg: MethodConfig | str,
    *,
    student: nn.Module | None = None,
    teacher: nn.Module | None = None,
    num_classes: int | None = None,
) -> TransferMethod:
    """Build a method from its config.

    Args:
        cfg: a MethodConfig or a method name (defaults for the rest).
        student: the clean student (none, task, oracle, hints, bird).
        teacher: the frozen robust teacher (ft, lp, lpft, lwf, hints, bird).
        num_classes: classes of the student task (for the new head of teacher-based methods;
            default: the student's).
    """
    if isinstance(cfg, str):
        cfg = MethodConfig(name=cfg)
    cls = METHODS.get(cfg.name)
    meta = METHODS.meta(cfg.name)
    if meta["uses_teacher"] and teacher is None:
        raise BirdkitError(f"Method {cfg.name!r} needs a teacher (pass --teacher CKPT)")
    if not meta["starts_from_teacher"] and student is None:
        raise BirdkitError(f"Method {cfg.name!r} needs a student (pass --student CKPT)")
    if num_classes is None:
        if student is None:
            raise BirdkitError(f"Method {cfg.name!r}: pass num_classes (no student given)")
        num_classes = student.num_classes
    if cfg.name in ("none", "task", "oracle"):
        return cls(student)
    if cfg.name in ("ft", "lp"):
        return cls(teacher, num_classes)
    if cfg.name == "lpft":
        return cls(teacher, num_classes, lp_fraction=cfg.lp_epochs_fraction, ft_lr_scale=cfg.ft_lr_scale)
    if cfg.name == "lwf":
        return cls(teacher, num_classes, temperature=cfg.temperature, weight=cfg.lwf_weight)
    if cfg.name == "hints":
        return cls(student, teacher, alpha=cfg.alpha, layers=cfg.layers)
    return cls(student, teacher, alpha=cfg.alpha, layers=cfg.layers, kernel=cfg.kernel, debiased=cfg.debiased,
               beta=cfg.beta)
