"""Exact, reversible JSON encoding of nested states (optimiser, scheduler, RNG) without pickle.

Tensors are taken out into a flat ``{key: tensor}`` dict for safetensors and replaced by
``{"__tensor__": key}``; tuples, dicts with non-string keys, non-finite floats and NumPy
arrays and scalars are tagged (``__tuple__``, ``__dict__``, ``__float__``, ``__ndarray__``,
``__npscalar__``) so that :func:`decode` gives back the same types. Anything else cannot be
stored without pickle and is a CheckpointError. The tags are listed in
docs/capture_and_checkpoints.md.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from birdkit.errors import CheckpointError


def encode(obj: Any, key: str, tensors: dict[str, torch.Tensor]) -> Any:
    """Exact, reversible JSON form of a nested state; tensors go to ``tensors`` under ``key``."""
    if isinstance(obj, torch.Tensor):
        if key in tensors:
            raise CheckpointError(f"two tensors map to the same key {key!r}")
        tensors[key] = obj
        return {"__tensor__": key}
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, float):
        if math.isfinite(obj):
            return obj
        return {"__float__": repr(obj)}
    if isinstance(obj, tuple):
        return {"__tuple__": [encode(v, f"{key}/{i}", tensors) for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [encode(v, f"{key}/{i}", tensors) for i, v in enumerate(obj)]
    if isinstance(obj, Mapping):
        if all(isinstance(k, str) for k in obj) and not any(k.startswith("__") and k.endswith("__") for k in obj):
            return {k: encode(v, f"{key}/{k}", tensors) for k, v in obj.items()}
        items = []
        for k, v in obj.items():
            if not isinstance(k, (str, int, bool, float)) and k is not None:
                raise CheckpointError(f"{key} has a {type(k).__name__} key; only str/int keys are stored")
            items.append([k, encode(v, f"{key}/{k}", tensors)])
        return {"__dict__": items}
    if isinstance(obj, np.ndarray):
        return {"__ndarray__": obj.tolist(), "dtype": str(obj.dtype), "shape": list(obj.shape)}
    if isinstance(obj, np.generic):
        return {"__npscalar__": obj.item(), "dtype": str(obj.dtype)}
    raise CheckpointError(f"{key} holds a {type(obj).__name__}, which cannot be stored without pickle")


def decode(obj: Any, tensors: Mapping[str, torch.Tensor]) -> Any:
    """The inverse of :func:`encode`: ``{"__tensor__": key}`` is looked up in ``tensors``."""
    if isinstance(obj, list):
        return [decode(v, tensors) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if "__tensor__" in obj:
        key = obj["__tensor__"]
        if key not in tensors:
            raise CheckpointError(f"the state refers to tensor {key!r}, which the weights file lacks")
        return tensors[key]
    if "__tuple__" in obj:
        return tuple(decode(v, tensors) for v in obj["__tuple__"])
    if "__float__" in obj:
        return float(obj["__float__"])
    if "__dict__" in obj:
        return {k: decode(v, tensors) for k, v in obj["__dict__"]}
    if "__ndarray__" in obj:
        return np.asarray(obj["__ndarray__"], dtype=obj["dtype"]).reshape(obj["shape"])
    if "__npscalar__" in obj:
        return np.dtype(obj["dtype"]).type(obj["__npscalar__"])
    return {k: decode(v, tensors) for k, v in obj.items()}
