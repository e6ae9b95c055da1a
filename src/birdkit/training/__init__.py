"""Training: typed configs, corruption augmentation and the one loop that serves every method."""

from birdkit.training.config import AugmentConfig, DataConfig, LayerPair, MethodConfig, ModelRef, OptimConfig, TrainConfig
from birdkit.training.trainer import FitResult, NonFiniteLossError, TensorData, Trainer, accuracy

__all__ = [
    "AugmentConfig", "DataConfig", "FitResult", "LayerPair", "MethodConfig", "ModelRef", "NonFiniteLossError",
    "OptimConfig", "TensorData", "TrainConfig", "Trainer", "accuracy",
]
