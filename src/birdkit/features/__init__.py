"""Feature capture: read intermediate layer outputs of any ``nn.Module`` during a forward pass.

See :mod:`birdkit.features.capture` and ``docs/capture_and_checkpoints.md``.
"""

from birdkit.features.capture import (
    Features,
    LayerInfo,
    LayerNotRunError,
    capture,
    list_layers,
    pool_features,
    unwrap_model,
    validate_layers,
)
from birdkit.features.inference import accuracy, batched_forward, pooled_features, predict

__all__ = [
    "accuracy",
    "batched_forward",
    "pooled_features",
    "predict",
    "Features",
    "LayerInfo",
    "LayerNotRunError",
    "capture",
    "list_layers",
    "pool_features",
    "unwrap_model",
    "validate_layers",
]
