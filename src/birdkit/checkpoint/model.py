"""Model checkpoints: a model's weights and the metadata that rebuilds and describes it.

:func:`save_checkpoint` stores the bare model's ``state_dict()`` (wrappers removed) and a
sidecar with the model spec, config, metrics and extra information; :func:`load_checkpoint`
loads it into a given model or rebuilds the architecture with ``birdkit.models.create_model``.
The file pair and its checks are in ``_format.py``; see docs/capture_and_checkpoints.md.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from birdkit.checkpoint._fit import load_state_dict
from birdkit.checkpoint._format import KIND_MODEL, meta_value, new_meta, open_pair, weights_path, write_pair
from birdkit.checkpoint._safetensors import device_str, prepare_tensors, read_safetensors
from birdkit.errors import CheckpointError
from birdkit.features.capture import unwrap_model
from birdkit.models import create_model

log = logging.getLogger(__name__)


def save_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    *,
    spec: Mapping[str, Any] | None = None,
    config: Any = None,
    metrics: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write the model's weights as safetensors and its metadata as a JSON sidecar, atomically.

    Args:
        path: the weights file, conventionally ``*.safetensors``; the sidecar is
            ``path.with_suffix(".json")``. Parent directories are created.
        model: the model; ``DataParallel``/``DDP``/``torch.compile`` wrappers are removed first,
            so the keys are those of the bare model. Tied (shared) tensors are stored as copies.
        spec: keyword arguments of ``birdkit.create_model`` that rebuild the architecture;
            defaults to ``model.birdkit_spec`` when present. Without it, loading needs a model.
        config: the resolved run configuration (dict, dataclass or pydantic model).
        metrics: final metrics (numbers).
        extra: any other JSON-able information (method name, data set, seed, ...).

    Returns:
        The path of the weights file.

    Raises:
        CheckpointError: a state-dict entry is not a tensor, or metadata is not JSON-able.
    """
    path = weights_path(path)
    inner = unwrap_model(model)
    if spec is None:
        spec = getattr(inner, "birdkit_spec", None)
    meta = new_meta(KIND_MODEL, path, inner, {
        "spec": meta_value(dict(spec), "spec") if spec is not None else None,
        "config": meta_value(config, "config"),
        "metrics": meta_value(dict(metrics), "metrics") if metrics is not None else {},
        "extra": meta_value(dict(extra), "extra") if extra is not None else {},
    })
    tensors = prepare_tensors(inner.state_dict(), "state_dict")
    meta["num_tensors"] = len(tensors)
    meta["num_params"] = sum(p.numel() for p in inner.parameters())
    write_pair(path, tensors, meta)
    log.info("saved checkpoint %s (%d tensors, sha256 %s)", path, len(tensors), meta["sha256"][:12])
    return path


def load_checkpoint(
    path: str | os.PathLike,
    model: nn.Module | None = None,
    *,
    map_location: str | torch.device | None = "cpu",
    strict: bool = True,
    verify: bool = True,
) -> tuple[nn.Module, dict[str, Any]]:
    """Load a checkpoint written by :func:`save_checkpoint`; never unpickles.

    Args:
        path: the weights file.
        model: the model to load into (wrappers are looked through). ``None`` rebuilds it with
            ``birdkit.models.create_model(**meta["spec"])`` and moves it to ``map_location``.
        map_location: device the tensors are read onto (``"cpu"``, ``"cuda:0"``, ...).
        strict: require exactly the model's keys (as ``nn.Module.load_state_dict``); shape
            mismatches are errors either way.
        verify: check the weights file against the sha256 recorded in the sidecar.

    Returns:
        ``(model, meta)``: the loaded model (training/eval mode unchanged; a rebuilt model is
        in eval mode) and the sidecar metadata.

    Raises:
        CheckpointError: missing file or sidecar, foreign or truncated file, failed sha256
            check, no spec to rebuild from, or an architecture that does not fit.
    """
    path, meta = open_pair(path, KIND_MODEL, verify, missing="no checkpoint",
                           wrong_kind="not a model checkpoint; use load_training_state")
    device = device_str(map_location)
    state = read_safetensors(path, device)
    if model is None:
        spec = meta.get("spec")
        if not spec:
            raise CheckpointError(
                f"{path} records no model spec, so the architecture cannot be rebuilt; pass model=..."
            )
        model = create_model(**spec)
        model.eval()
        if device != "cpu":
            model.to(device)
    load_state_dict(unwrap_model(model), state, strict, path)
    log.info("loaded checkpoint %s", path)
    return model, meta
