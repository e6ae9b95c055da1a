"""Training: the one loop that serves every method, its corruption augmentation and its seeds."""

from birdkit.training.augment import CorruptionAugment
from birdkit.training.trainer import (
    LOG_FILE,
    METRICS_FILE,
    MODEL_FILE,
    RUN_FILE,
    STATE_FILE,
    FitResult,
    NonFiniteLossError,
    Trainer,
    accuracy,
    build_optimizer,
    build_scheduler,
)

__all__ = [
    "LOG_FILE", "METRICS_FILE", "MODEL_FILE", "RUN_FILE", "STATE_FILE", "CorruptionAugment", "FitResult",
    "NonFiniteLossError", "Trainer", "accuracy", "build_optimizer", "build_scheduler",
]
