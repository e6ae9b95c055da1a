"""The weights file of a checkpoint: tensors to and from safetensors, and the checks that name
a foreign file.

Tensors are only ever read with safetensors, never unpickled. Before reading, :func:`sniff`
looks at the header so that an empty, truncated, ``torch.save`` (zip), legacy pickle or other
file is refused with a message saying which it is (docs/capture_and_checkpoints.md lists them).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from birdkit.errors import CheckpointError
from birdkit.io import sha256_bytes, write_bytes


def prepare_tensors(tensors: Mapping[str, Any], what: str) -> dict[str, torch.Tensor]:
    """Detached, contiguous CPU tensors, no two sharing memory (tied weights are cloned)."""
    out: dict[str, torch.Tensor] = {}
    seen_storage: set[tuple[str, int]] = set()
    for key, t in tensors.items():
        if not isinstance(t, torch.Tensor):
            raise CheckpointError(
                f"{what} entry {key!r} is a {type(t).__name__}, not a tensor; "
                "safetensors stores tensors only (move it to config/extra)"
            )
        t = t.detach()
        if t.device.type != "cpu":
            t = t.cpu()
        storage = (t.device.type, t.untyped_storage().data_ptr())
        full = t.is_contiguous() and t.storage_offset() == 0 and (
            t.numel() * t.element_size() == t.untyped_storage().nbytes()
        )
        if storage in seen_storage or not full:
            t = t.clone(memory_format=torch.contiguous_format)
        seen_storage.add(storage)
        out[key] = t
    return out


def write_safetensors(path: Path, tensors: dict[str, torch.Tensor], header: dict[str, str]) -> tuple[str, int]:
    """Write ``tensors`` atomically with ``header`` as safetensors metadata; return the file's
    sha256 and size.

    The file is serialised in memory and written by :func:`birdkit.io.write_bytes`, because
    ``safetensors.save_file`` creates its files with mode 0600, ignoring the umask."""
    data = save(tensors, metadata=header)
    write_bytes(path, data)
    return sha256_bytes(data), len(data)


def sniff(path: Path) -> None:
    """Raise CheckpointError unless ``path`` starts like a safetensors file."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise CheckpointError(f"{path} is not a safetensors file: only {size} bytes (empty or truncated)")
            n = int.from_bytes(head, "little")
            if n <= 0 or 8 + n > size:
                raise CheckpointError(_foreign_message(path, head, size, n))
            header = f.read(min(n, 100_000_000))
    except OSError as e:
        raise CheckpointError(f"cannot read checkpoint {path}: {e}") from None
    try:
        parsed = json.loads(header.decode("utf-8"))
        if not isinstance(parsed, dict):
            raise ValueError
    except (UnicodeDecodeError, ValueError):
        raise CheckpointError(_foreign_message(path, head, size, n)) from None
    ends = [v["data_offsets"][1] for k, v in parsed.items() if k != "__metadata__" and isinstance(v, dict)
            and "data_offsets" in v]
    if ends and 8 + n + max(ends) > size:
        raise CheckpointError(
            f"{path} is truncated: its header describes {8 + n + max(ends)} bytes but the file has {size}"
        )


def _foreign_message(path: Path, head: bytes, size: int, n: int) -> str:
    if head.startswith(b"PK\x03\x04"):
        kind = "a zip archive, as written by torch.save"
    elif head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        kind = "a Python pickle (e.g. a legacy torch.save file)"
    else:
        kind = "not a safetensors file (its 8-byte header length does not fit the file)"
        return f"{path} is {kind}: header length {n}, file size {size}"
    return (
        f"{path} is {kind}, not a safetensors file. birdkit never unpickles checkpoints (unpickling "
        "runs arbitrary code); convert it once, in a trusted environment, by loading it with "
        "torch.load(..., weights_only=True) and saving it with birdkit.save_checkpoint"
    )


def read_safetensors(path: Path, device: str) -> dict[str, torch.Tensor]:
    """All tensors of a safetensors file, read onto ``device`` after :func:`sniff`."""
    sniff(path)
    try:
        return load_file(str(path), device=device)
    except SafetensorError as e:
        raise CheckpointError(f"{path} is not a readable safetensors file: {e}") from None


def device_str(map_location: str | torch.device | None) -> str:
    """``map_location`` as a device string for safetensors (``None`` is the CPU)."""
    if map_location is None:
        return "cpu"
    return str(torch.device(map_location))
