"""birdkit: behavior transfer between neural networks, and audits of what transferred.

The public API is re-exported here lazily (importing ``birdkit`` stays cheap; each name
loads its module on first use).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # representation similarity (pure functions, loss, accumulating metric)
    "cka": "birdkit.functional.cka",
    "hsic": "birdkit.functional.cka",
    "CKALoss": "birdkit.losses.cka",
    "CKAMetric": "birdkit.evaluation.similarity",
    # feature capture
    "capture": "birdkit.features.capture",
    "list_layers": "birdkit.features.capture",
    # models
    "create_model": "birdkit.models",
    "list_models": "birdkit.models",
    # data
    "create_dataset": "birdkit.data",
    "list_datasets": "birdkit.data",
    # corruptions
    "corrupt": "birdkit.corruptions",
    "list_corruptions": "birdkit.corruptions",
    # checkpoints
    "save_checkpoint": "birdkit.checkpoint",
    "load_checkpoint": "birdkit.checkpoint",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'birdkit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
