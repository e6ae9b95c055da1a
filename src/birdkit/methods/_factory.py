"""The method registry and ``create_method``: everything about a method comes from its class."""

from __future__ import annotations

from typing import Any

from torch import nn

from birdkit._registry import Registry
from birdkit.config import MethodConfig
from birdkit.errors import BirdkitError
from birdkit.methods._base import TransferMethod

__all__ = ["METHODS", "benchmark_methods", "create_method", "list_methods", "method_class", "method_info",
           "register_method", "tunable_methods"]

METHODS: Registry[type[TransferMethod]] = Registry("method", list_hint="List them with `birdkit methods`.")


def register_method(cls: type[TransferMethod]) -> type[TransferMethod]:
    """Class decorator: register a :class:`TransferMethod` subclass under its ``name``."""
    METHODS.add(cls.name, cls)
    return cls


def method_class(name: str) -> type[TransferMethod]:
    """The class of a registered method (unknown names list close matches)."""
    return METHODS.get(name)


def list_methods(pattern: str | None = None) -> list[str]:
    """Registered method names in registration order (the order of the paper's tables),
    optionally filtered by a shell wildcard."""
    return [n for n in METHODS.registered() if n in set(METHODS.names(pattern))]


def benchmark_methods() -> list[str]:
    """The methods ``birdkit demo`` runs on a pair: the clean student, the oracle and every
    transfer method, in registration order."""
    return [n for n in list_methods() if METHODS.get(n).in_benchmark]


def tunable_methods() -> list[str]:
    """Benchmark methods with hyperparameters for ``birdkit select``."""
    return [n for n in benchmark_methods() if METHODS.get(n).tunable]


def method_info(name: str) -> dict[str, Any]:
    """What a method needs and does, for listings (``birdkit methods``)."""
    cls = METHODS.get(name)
    return {"name": name, "summary": cls.summary, "uses_teacher": cls.uses_teacher,
            "needs_student": not cls.starts_from_teacher, "starts_from": "teacher" if cls.starts_from_teacher
            else "student", "has_layers": cls.has_layers, "trains": cls.trains, "needs_augment": cls.needs_augment,
            "tunable": list(cls.tunable), "in_benchmark": cls.in_benchmark}


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
    if cls.uses_teacher and teacher is None:
        raise BirdkitError(f"Method {cfg.name!r} needs a teacher (pass --teacher CKPT)")
    if not cls.starts_from_teacher and student is None:
        raise BirdkitError(f"Method {cfg.name!r} needs a student (pass --student CKPT)")
    if num_classes is None:
        if student is None:
            raise BirdkitError(f"Method {cfg.name!r}: pass num_classes (no student given)")
        num_classes = student.num_classes
    return cls.from_config(cfg, student=student, teacher=teacher, num_classes=num_classes)
