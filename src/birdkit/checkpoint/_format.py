"""The two-file layout shared by model checkpoints and training states.

A checkpoint is a safetensors weights file plus a JSON sidecar next to it
(``path.with_suffix(".json")``). This module names the pair, builds the sidecar's common
fields, writes the pair (weights first, sidecar last, each atomically through
:mod:`birdkit.io`) and opens it again with every check: a foreign weights file, a missing or
foreign sidecar, a newer format version, the wrong kind, a size or sha256 that does not match.
Because the sidecar records the sha256 of the weights, a crash between the two writes leaves a
pair that fails verification instead of loading silently. The fields are documented in
docs/capture_and_checkpoints.md.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import safetensors
import torch
from torch import nn

from birdkit import __version__
from birdkit.checkpoint._safetensors import sniff, write_safetensors
from birdkit.errors import CheckpointError
from birdkit.io import jsonable, read_json, sha256_file, utc_now, write_json

FORMAT = "birdkit-checkpoint"
FORMAT_VERSION = 1
KIND_MODEL = "model"
KIND_STATE = "training_state"


def sidecar_path(path: str | os.PathLike) -> Path:
    """The JSON sidecar of a weights file: ``path.with_suffix(".json")``.

    ``run/model.safetensors`` -> ``run/model.json``; ``run/ckpt`` -> ``run/ckpt.json``.
    """
    return Path(path).with_suffix(".json")


def weights_path(path: str | os.PathLike) -> Path:
    """``path`` as the weights file; a ``.json`` path would be its own sidecar, so it is refused."""
    p = Path(path)
    if p.suffix == ".json":
        raise CheckpointError(
            f"{p} ends in .json, the suffix of the metadata sidecar; "
            "give the weights file (e.g. 'model.safetensors')"
        )
    return p


def meta_value(obj: Any, where: str) -> Any:
    """``obj`` as plain JSON data for the sidecar (:func:`birdkit.io.jsonable`); a value JSON
    cannot store is a CheckpointError naming ``where``."""
    try:
        return jsonable(obj, where)
    except TypeError as e:
        raise CheckpointError(str(e)) from None


def _versions() -> dict[str, str]:
    return {
        "birdkit": __version__,
        "torch": torch.__version__,
        "safetensors": getattr(safetensors, "__version__", "unknown"),
        "python": ".".join(map(str, sys.version_info[:3])),
    }


def new_meta(kind: str, path: Path, model: nn.Module, fields: Mapping[str, Any]) -> dict[str, Any]:
    """The sidecar of a new pair: format, kind, file and model class, ``fields`` (already plain
    JSON), then the library versions and the creation time (UTC)."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "weights_file": path.name,
        "model_class": f"{type(model).__module__}.{type(model).__qualname__}",
        **fields,
        "versions": _versions(),
        "created": utc_now(),
    }


def write_pair(path: Path, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    """Write ``tensors`` (prepared) to ``path``, record their sha256 and size in ``meta``, then
    write ``meta`` to the sidecar."""
    header = {"format": FORMAT, "format_version": str(FORMAT_VERSION), "kind": meta["kind"]}
    meta["sha256"], meta["num_bytes"] = write_safetensors(path, tensors, header)
    write_json(sidecar_path(path), meta)


def read_checkpoint_meta(path: str | os.PathLike) -> dict[str, Any]:
    """The JSON sidecar of a checkpoint or training state, without touching the weights.

    Args:
        path: the weights file (``model.safetensors``) or the sidecar itself (``model.json``).

    Returns:
        The metadata dict (``format_version``, ``kind``, ``spec``, ``config``, ``metrics``,
        ``extra``, ``versions``, ``created``, ``sha256``, ...).

    Raises:
        CheckpointError: the sidecar is missing, not JSON, or not a birdkit sidecar.
    """
    p = Path(path)
    side = p if p.suffix == ".json" else sidecar_path(p)
    if not side.exists():
        weights = p.with_suffix(".safetensors") if p.suffix == ".json" else p
        raise CheckpointError(
            f"the metadata sidecar {side} is missing (expected next to {weights.name}); a birdkit "
            "checkpoint is two files, written by birdkit.save_checkpoint / save_training_state"
        )
    try:
        meta = read_json(side)
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise CheckpointError(f"the metadata sidecar {side} is not valid JSON: {e}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{side} is not a birdkit checkpoint sidecar (no \"format\": {FORMAT!r})")
    version = meta.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(
            f"{side} has format version {version!r}; this birdkit reads up to {FORMAT_VERSION} "
            "(upgrade birdkit)"
        )
    return meta


def open_pair(path: str | os.PathLike, kind: str, verify: bool, *, missing: str,
              wrong_kind: str) -> tuple[Path, dict[str, Any]]:
    """Check the pair at ``path`` before its tensors are read; return the weights path and the sidecar.

    In order: the weights file exists (else ``"{missing} at {path}"``), looks like safetensors
    (foreign files are named as such before anything else), has a valid sidecar of ``kind``
    (else ``"{path} holds '<kind>', {wrong_kind}"``) and, with ``verify``, the recorded size
    and sha256."""
    path = weights_path(path)
    if not path.exists():
        raise CheckpointError(f"{missing} at {path}")
    sniff(path)
    meta = read_checkpoint_meta(path)
    if meta.get("kind") != kind:
        raise CheckpointError(f"{path} holds {meta.get('kind')!r}, {wrong_kind}")
    _check_file(path, meta, verify)
    return path, meta


def _check_file(path: Path, meta: dict[str, Any], verify: bool) -> None:
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {path}")
    if not verify:
        return
    expected = meta.get("sha256")
    if not expected:
        raise CheckpointError(f"{sidecar_path(path)} records no sha256; pass verify=False to load anyway")
    size = path.stat().st_size
    if meta.get("num_bytes") is not None and size != meta["num_bytes"]:
        raise CheckpointError(
            f"{path} has {size} bytes but its sidecar records {meta['num_bytes']}: the weights file is "
            "truncated or was replaced (sha256 check failed)"
        )
    actual = sha256_file(path)
    if actual != expected:
        raise CheckpointError(
            f"sha256 of {path} is {actual[:12]}... but its sidecar records {expected[:12]}...: the "
            "weights file is corrupted or was modified after saving"
        )
