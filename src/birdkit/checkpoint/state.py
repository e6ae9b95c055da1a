"""Training state: everything needed to resume a run bit-identically, without pickle.

:func:`save_training_state` stores the model's weights (``model/<key>``) and every tensor of
the optimiser, scheduler and torch RNG states in safetensors; their other values (optimiser
``param_groups``, scheduler state, Python and NumPy RNG states), ``step``, ``epoch`` and
``extra`` go to the JSON sidecar, encoded exactly by ``_state_codec.py``.
:func:`load_training_state` restores them into live objects. See
docs/capture_and_checkpoints.md.
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from birdkit.checkpoint._fit import load_state_dict
from birdkit.checkpoint._format import KIND_STATE, meta_value, new_meta, open_pair, weights_path, write_pair
from birdkit.checkpoint._safetensors import device_str, prepare_tensors, read_safetensors
from birdkit.checkpoint._state_codec import decode, encode
from birdkit.errors import CheckpointError
from birdkit.features.capture import unwrap_model

log = logging.getLogger(__name__)

_RESERVED_STATE_KEYS = frozenset({"extra", "meta"})


def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(legacy=False),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = list(torch.cuda.get_rng_state_all())
    return state


def _set_rng_state(state: Mapping[str, Any]) -> None:
    if "python" in state:
        random.setstate(state["python"])
    if "numpy" in state:
        np.random.set_state(state["numpy"])
    if "torch" in state:
        torch.set_rng_state(state["torch"].to("cpu", torch.uint8))
    if "cuda" in state and torch.cuda.is_available():
        cuda = list(state["cuda"])
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all([t.to("cpu", torch.uint8) for t in cuda])
        else:
            log.warning("training state has %d CUDA RNG states, this machine %d devices; not restored",
                        len(cuda), torch.cuda.device_count())


def save_training_state(
    path: str | os.PathLike,
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
    step: int | None = None,
    epoch: int | None = None,
    rng: bool = True,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Save everything needed to resume training, without pickle, atomically.

    Tensors (model weights ``model/<key>``, optimiser state ``optim/state/<param id>/<name>``,
    the torch RNG state ``rng/torch``) are stored in safetensors; the rest (optimiser
    ``param_groups``, scheduler ``state_dict()``, Python and NumPy RNG states, ``step``,
    ``epoch``, ``extra``) in the JSON sidecar ``path.with_suffix(".json")``, with tuples,
    integer keys and non-finite floats encoded so they load back exactly.

    Args:
        path: the weights file, e.g. ``run/state.safetensors``.
        model: the module being trained (all of its ``state_dict()`` is saved).
        optimizer: its ``state_dict()`` is saved.
        scheduler: an LR scheduler (anything with ``state_dict()``/``load_state_dict()``).
        step: global step, returned by :func:`load_training_state`.
        epoch: epoch, returned by :func:`load_training_state`.
        rng: save the Python, NumPy, torch (and initialised CUDA) RNG states.
        extra: JSON-able values, returned at the top level of :func:`load_training_state`'s
            result (e.g. ``{"stage": 1}``). ``step``/``epoch`` keys here are the same as the
            arguments of those names (they must agree if both are given); ``extra`` and
            ``meta`` are reserved.

    Returns:
        The path of the weights file.

    Raises:
        CheckpointError: a value cannot be stored without pickle, or ``extra`` uses a
            reserved key.
    """
    path = weights_path(path)
    extra = dict(extra or {})
    clash = _RESERVED_STATE_KEYS & set(extra)
    if clash:
        raise CheckpointError(f"extra may not use the reserved keys {sorted(clash)}")
    # ``extra={"epoch": ...}`` is the same as ``epoch=...``; both at once must agree
    if "step" in extra:
        v = extra.pop("step")
        if step is not None and step != v:
            raise CheckpointError(f"step={step} and extra['step']={v} disagree")
        step = v
    if "epoch" in extra:
        v = extra.pop("epoch")
        if epoch is not None and epoch != v:
            raise CheckpointError(f"epoch={epoch} and extra['epoch']={v} disagree")
        epoch = v
    inner = unwrap_model(model)
    tensors: dict[str, torch.Tensor] = {f"model/{k}": v for k, v in inner.state_dict().items()}
    state: dict[str, Any] = {}
    if optimizer is not None:
        state["optimizer"] = encode(optimizer.state_dict(), "optim", tensors)
    if scheduler is not None:
        state["scheduler"] = encode(scheduler.state_dict(), "sched", tensors)
    if rng:
        state["rng"] = encode(_rng_state(), "rng", tensors)
    meta = new_meta(KIND_STATE, path, inner, {
        "step": meta_value(step, "step"),
        "epoch": meta_value(epoch, "epoch"),
        "extra": meta_value(extra, "extra"),
        "state": state,
    })
    write_pair(path, prepare_tensors(tensors, "training state"), meta)
    log.debug("saved training state %s (step=%s, epoch=%s, extra=%s)", path, step, epoch, extra)
    return path


def load_training_state(
    path: str | os.PathLike,
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
    restore_rng: bool = True,
    map_location: str | torch.device | None = None,
    verify: bool = True,
) -> dict[str, Any]:
    """Restore a state written by :func:`save_training_state` into live objects.

    Args:
        path: the weights file.
        model: receives the weights (strict).
        optimizer: receives the optimiser state, if given (it must have the same parameter
            groups as when saved); state tensors follow the parameters' device and dtype.
        scheduler: receives the scheduler state, if given.
        restore_rng: restore the saved Python/NumPy/torch/CUDA RNG states.
        map_location: device to read tensors onto; default: the model's device.
        verify: check the sha256 recorded in the sidecar.

    Returns:
        ``{"step", "epoch", "extra", "meta", **extra}``: the saved step and epoch (``None`` if
        not given), the ``extra`` dict (also merged at the top level), and the full sidecar.

    Raises:
        CheckpointError: missing/foreign/truncated files, failed sha256 check, a model that
            does not fit, an optimiser or scheduler whose state does not fit.
    """
    path, meta = open_pair(path, KIND_STATE, verify, missing="no training state",
                           wrong_kind="not a training state; use load_checkpoint")
    inner = unwrap_model(model)
    if map_location is None:
        p = next(iter(inner.parameters()), None)
        map_location = p.device if p is not None else "cpu"
    tensors = read_safetensors(path, device_str(map_location))
    weights = {k[len("model/"):]: v for k, v in tensors.items() if k.startswith("model/")}
    load_state_dict(inner, weights, True, path)
    state = meta.get("state", {})
    if optimizer is not None:
        if "optimizer" not in state:
            raise CheckpointError(f"{path} holds no optimizer state")
        try:
            optimizer.load_state_dict(decode(state["optimizer"], tensors))
        except (ValueError, KeyError, RuntimeError) as e:
            raise CheckpointError(f"the optimizer state in {path} does not fit this optimizer: {e}") from None
    if scheduler is not None:
        if "scheduler" not in state:
            raise CheckpointError(f"{path} holds no scheduler state")
        try:
            scheduler.load_state_dict(decode(state["scheduler"], tensors))
        except (ValueError, KeyError, RuntimeError, TypeError) as e:
            raise CheckpointError(f"the scheduler state in {path} does not fit this scheduler: {e}") from None
    if restore_rng and "rng" in state:
        rng = decode(state["rng"], {k: v.cpu() for k, v in tensors.items() if k.startswith("rng/")})
        _set_rng_state(rng)
    extra = dict(meta.get("extra") or {})
    out: dict[str, Any] = {**extra, "step": meta.get("step"), "epoch": meta.get("epoch"), "extra": extra,
                           "meta": meta}
    log.debug("loaded training state %s", path)
    return out
