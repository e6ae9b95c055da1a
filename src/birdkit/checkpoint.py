"""Safe checkpoints: safetensors weights plus a JSON sidecar; resumable training state without pickle.

Layout of a model checkpoint written by :func:`save_checkpoint` to ``run/model.safetensors``:

* ``run/model.safetensors``: the model's ``state_dict()`` (wrappers such as ``DataParallel``
  or ``torch.compile`` removed, so keys carry no ``module.``/``_orig_mod.`` prefix);
* ``run/model.json`` (``path.with_suffix(".json")``): format version, the model spec that
  rebuilds the architecture (``birdkit.create_model(**spec)``), config, metrics, extra
  information, birdkit/torch/safetensors versions, creation time (UTC, ISO 8601) and the
  sha256 of the weights file.

Loading never unpickles: weights are read with safetensors only, metadata with ``json``. A
missing, truncated, foreign (pickle, ``torch.save``, random bytes) or inconsistent file
raises :class:`~birdkit.errors.CheckpointError` that says which and why.

Every file is written atomically: to a temporary file in the same directory, flushed and
fsynced, then ``os.replace``d over the target, so a crash leaves the previous checkpoint
intact. The weights are written first, the sidecar last; a weights file whose sidecar still
describes the previous version fails the sha256 check instead of loading silently.

Training state (:func:`save_training_state`) uses the same two-file layout: every tensor
(model weights under ``model/``, optimiser state under ``optim/``, e.g.
``optim/state/3/momentum_buffer``, the torch RNG state under ``rng/``) goes to safetensors;
everything else (optimiser ``param_groups``, scheduler state, Python and NumPy RNG states,
step, epoch, extra) goes to the JSON sidecar.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import hashlib
import json
import logging
import math
import os
import random
import secrets
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from birdkit.errors import CheckpointError

__all__ = [
    "FORMAT_VERSION",
    "load_checkpoint",
    "load_training_state",
    "read_checkpoint_meta",
    "save_checkpoint",
    "save_training_state",
    "sidecar_path",
]

log = logging.getLogger(__name__)

FORMAT = "birdkit-checkpoint"
FORMAT_VERSION = 1
_KIND_MODEL = "model"
_KIND_STATE = "training_state"
_RESERVED_STATE_KEYS = frozenset({"extra", "meta"})


# ---------------------------------------------------------------------------------------------
# paths and atomic writes
# ---------------------------------------------------------------------------------------------
def sidecar_path(path: str | os.PathLike) -> Path:
    """The JSON sidecar of a weights file: ``path.with_suffix(".json")``.

    ``run/model.safetensors`` -> ``run/model.json``; ``run/ckpt`` -> ``run/ckpt.json``.
    """
    return Path(path).with_suffix(".json")


def _weights_path(path: str | os.PathLike) -> Path:
    p = Path(path)
    if p.suffix == ".json":
        raise CheckpointError(
            f"{p} ends in .json, the suffix of the metadata sidecar; "
            "give the weights file (e.g. 'model.safetensors')"
        )
    return p


@contextlib.contextmanager
def _atomic_target(path: Path) -> Iterator[Path]:
    """Yield an unused temporary path next to ``path`` for the caller to write; on success fsync
    it and move it over ``path`` (atomic on POSIX and Windows); on failure delete it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # a fresh name, not a pre-created file (mkstemp would make it 0600 instead of following umask)
    tmp_path = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp"
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as f:
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
        _fsync_dir(path.parent)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        raise


def _fsync_dir(directory: Path) -> None:
    if sys.platform.startswith("win"):  # pragma: no cover - directories cannot be opened there
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some file systems refuse
        pass
    finally:
        os.close(fd)


def _write_json_atomic(path: Path, obj: Any) -> None:
    text = json.dumps(obj, indent=2, sort_keys=False, allow_nan=True) + "\n"
    with _atomic_target(path) as tmp, open(tmp, "x", encoding="utf-8") as f:
        f.write(text)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------
# tensors <-> safetensors
# ---------------------------------------------------------------------------------------------
def _unwrap(model: nn.Module) -> nn.Module:
    from birdkit.features.capture import unwrap_model

    return unwrap_model(model)


def _prepare_tensors(tensors: Mapping[str, Any], what: str) -> dict[str, torch.Tensor]:
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


def _write_safetensors(path: Path, tensors: dict[str, torch.Tensor], header: dict[str, str]) -> tuple[str, int]:
    from safetensors.torch import save

    # serialise in memory and write the bytes ourselves: safetensors.save_file creates its
    # files with mode 0600, ignoring the umask
    data = save(tensors, metadata=header)
    with _atomic_target(path) as tmp, open(tmp, "xb") as f:
        view = memoryview(data)
        for i in range(0, len(view), 1 << 24):
            f.write(view[i:i + (1 << 24)])
    return hashlib.sha256(data).hexdigest(), len(data)


def _sniff(path: Path) -> None:
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


def _read_safetensors(path: Path, device: str) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    _sniff(path)
    try:
        return load_file(str(path), device=device)
    except SafetensorError as e:
        raise CheckpointError(f"{path} is not a readable safetensors file: {e}") from None


def _device_str(map_location: str | torch.device | None) -> str:
    if map_location is None:
        return "cpu"
    return str(torch.device(map_location))


# ---------------------------------------------------------------------------------------------
# JSON encoding of nested states (optimiser, scheduler, RNG)
# ---------------------------------------------------------------------------------------------
def _jsonable(obj: Any, where: str) -> Any:
    """Plain JSON data for metadata fields (config/metrics/extra/spec)."""
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, float):
        return obj
    if hasattr(obj, "model_dump"):  # pydantic
        return _jsonable(obj.model_dump(mode="json"), where)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return _jsonable(dataclasses.asdict(obj), where)
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, torch.Tensor):
        if obj.numel() == 1:
            return obj.item()
        return obj.tolist()
    if hasattr(obj, "tolist") and hasattr(obj, "dtype"):  # numpy arrays and scalars
        return obj.tolist()
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v, f"{where}.{k}") for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [_jsonable(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    if isinstance(obj, (torch.dtype, torch.device)):
        return str(obj)
    raise CheckpointError(f"{where} holds a {type(obj).__name__} ({obj!r:.80}), which JSON cannot store")


def _encode(obj: Any, key: str, tensors: dict[str, torch.Tensor]) -> Any:
    """Exact, reversible JSON form of a nested state; tensors go to ``tensors`` under ``key``."""
    if isinstance(obj, torch.Tensor):
        if key in tensors:
            raise CheckpointError(f"two tensors map to the same key {key!r}")
        tensors[key] = obj
        return {"__tensor__": key}
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, int):
        return obj
    if isinstance(obj, float):
        if math.isfinite(obj):
            return obj
        return {"__float__": repr(obj)}
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, f"{key}/{i}", tensors) for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [_encode(v, f"{key}/{i}", tensors) for i, v in enumerate(obj)]
    if isinstance(obj, Mapping):
        if all(isinstance(k, str) for k in obj) and not any(k.startswith("__") and k.endswith("__") for k in obj):
            return {k: _encode(v, f"{key}/{k}", tensors) for k, v in obj.items()}
        items = []
        for k, v in obj.items():
            if not isinstance(k, (str, int, bool, float)) and k is not None:
                raise CheckpointError(f"{key} has a {type(k).__name__} key; only str/int keys are stored")
            items.append([k, _encode(v, f"{key}/{k}", tensors)])
        return {"__dict__": items}
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy is a dependency
        np = None
    if np is not None:
        if isinstance(obj, np.ndarray):
            return {"__ndarray__": obj.tolist(), "dtype": str(obj.dtype), "shape": list(obj.shape)}
        if isinstance(obj, np.generic):
            return {"__npscalar__": obj.item(), "dtype": str(obj.dtype)}
    raise CheckpointError(f"{key} holds a {type(obj).__name__}, which cannot be stored without pickle")


def _decode(obj: Any, tensors: Mapping[str, torch.Tensor]) -> Any:
    if isinstance(obj, list):
        return [_decode(v, tensors) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if "__tensor__" in obj:
        key = obj["__tensor__"]
        if key not in tensors:
            raise CheckpointError(f"the state refers to tensor {key!r}, which the weights file lacks")
        return tensors[key]
    if "__tuple__" in obj:
        return tuple(_decode(v, tensors) for v in obj["__tuple__"])
    if "__float__" in obj:
        return float(obj["__float__"])
    if "__dict__" in obj:
        return {k: _decode(v, tensors) for k, v in obj["__dict__"]}
    if "__ndarray__" in obj:
        import numpy as np

        return np.asarray(obj["__ndarray__"], dtype=obj["dtype"]).reshape(obj["shape"])
    if "__npscalar__" in obj:
        import numpy as np

        return np.dtype(obj["dtype"]).type(obj["__npscalar__"])
    return {k: _decode(v, tensors) for k, v in obj.items()}


# ---------------------------------------------------------------------------------------------
# metadata
# ---------------------------------------------------------------------------------------------
def _versions() -> dict[str, str]:
    import safetensors

    import birdkit

    return {
        "birdkit": birdkit.__version__,
        "torch": torch.__version__,
        "safetensors": getattr(safetensors, "__version__", "unknown"),
        "python": ".".join(map(str, sys.version_info[:3])),
    }


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


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
        meta = json.loads(side.read_text(encoding="utf-8"))
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
    actual = _sha256(path)
    if actual != expected:
        raise CheckpointError(
            f"sha256 of {path} is {actual[:12]}... but its sidecar records {expected[:12]}...: the "
            "weights file is corrupted or was modified after saving"
        )


def _load_state_dict(model: nn.Module, state: Mapping[str, torch.Tensor], strict: bool, path: Path,
                     what: str = "model") -> None:
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    mismatched = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs {what} {tuple(own[k].shape)}"
        for k in own
        if k in state and isinstance(own[k], torch.Tensor) and tuple(own[k].shape) != tuple(state[k].shape)
    ]

    def few(items: list[str]) -> str:
        return ", ".join(items[:5]) + (f" (+{len(items) - 5} more)" if len(items) > 5 else "")

    problems = []
    if mismatched:
        problems.append(f"shape mismatch for {few(mismatched)}")
    if strict and missing:
        problems.append(f"missing keys {few(missing)}")
    if strict and unexpected:
        problems.append(f"unexpected keys {few(unexpected)}")
    if problems:
        raise CheckpointError(
            f"{path} does not fit this {what} ({type(model).__name__}): the architecture differs; "
            + "; ".join(problems)
        )
    result = model.load_state_dict(dict(state), strict=strict)
    if not strict and (result.missing_keys or result.unexpected_keys):
        log.warning("loaded %s with strict=False: %d missing, %d unexpected keys",
                    path, len(result.missing_keys), len(result.unexpected_keys))


# ---------------------------------------------------------------------------------------------
# model checkpoints
# ---------------------------------------------------------------------------------------------
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
    path = _weights_path(path)
    inner = _unwrap(model)
    if spec is None:
        spec = getattr(inner, "birdkit_spec", None)
    meta: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": _KIND_MODEL,
        "weights_file": path.name,
        "model_class": f"{type(inner).__module__}.{type(inner).__qualname__}",
        "spec": _jsonable(dict(spec), "spec") if spec is not None else None,
        "config": _jsonable(config, "config"),
        "metrics": _jsonable(dict(metrics), "metrics") if metrics is not None else {},
        "extra": _jsonable(dict(extra), "extra") if extra is not None else {},
        "versions": _versions(),
        "created": _now(),
    }
    tensors = _prepare_tensors(inner.state_dict(), "state_dict")
    meta["num_tensors"] = len(tensors)
    meta["num_params"] = sum(p.numel() for p in inner.parameters())
    header = {"format": FORMAT, "format_version": str(FORMAT_VERSION), "kind": _KIND_MODEL}
    meta["sha256"], meta["num_bytes"] = _write_safetensors(path, tensors, header)
    _write_json_atomic(sidecar_path(path), meta)
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
    path = _weights_path(path)
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {path}")
    _sniff(path)  # foreign files are named as such before anything else
    meta = read_checkpoint_meta(path)
    if meta.get("kind") != _KIND_MODEL:
        raise CheckpointError(f"{path} holds {meta.get('kind')!r}, not a model checkpoint; use load_training_state")
    _check_file(path, meta, verify)
    device = _device_str(map_location)
    state = _read_safetensors(path, device)
    if model is None:
        spec = meta.get("spec")
        if not spec:
            raise CheckpointError(
                f"{path} records no model spec, so the architecture cannot be rebuilt; pass model=..."
            )
        try:
            from birdkit.models import create_model
        except ImportError as e:  # pragma: no cover - birdkit.models is part of the package
            raise CheckpointError(f"cannot rebuild the model of {path}: {e}") from None
        model = create_model(**spec)
        model.eval()
        if device != "cpu":
            model.to(device)
    _load_state_dict(_unwrap(model), state, strict, path)
    log.info("loaded checkpoint %s", path)
    return model, meta


# ---------------------------------------------------------------------------------------------
# training state
# ---------------------------------------------------------------------------------------------
def _rng_state() -> dict[str, Any]:
    import numpy as np

    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(legacy=False),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = list(torch.cuda.get_rng_state_all())
    return state


def _set_rng_state(state: Mapping[str, Any]) -> None:
    import numpy as np

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
    path = _weights_path(path)
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
    inner = _unwrap(model)
    tensors: dict[str, torch.Tensor] = {f"model/{k}": v for k, v in inner.state_dict().items()}
    state: dict[str, Any] = {}
    if optimizer is not None:
        state["optimizer"] = _encode(optimizer.state_dict(), "optim", tensors)
    if scheduler is not None:
        state["scheduler"] = _encode(scheduler.state_dict(), "sched", tensors)
    if rng:
        state["rng"] = _encode(_rng_state(), "rng", tensors)
    meta: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": _KIND_STATE,
        "weights_file": path.name,
        "model_class": f"{type(inner).__module__}.{type(inner).__qualname__}",
        "step": _jsonable(step, "step"),
        "epoch": _jsonable(epoch, "epoch"),
        "extra": _jsonable(extra, "extra"),
        "state": state,
        "versions": _versions(),
        "created": _now(),
    }
    prepared = _prepare_tensors(tensors, "training state")
    header = {"format": FORMAT, "format_version": str(FORMAT_VERSION), "kind": _KIND_STATE}
    meta["sha256"], meta["num_bytes"] = _write_safetensors(path, prepared, header)
    _write_json_atomic(sidecar_path(path), meta)
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
    path = _weights_path(path)
    if not path.exists():
        raise CheckpointError(f"no training state at {path}")
    _sniff(path)
    meta = read_checkpoint_meta(path)
    if meta.get("kind") != _KIND_STATE:
        raise CheckpointError(f"{path} holds {meta.get('kind')!r}, not a training state; use load_checkpoint")
    _check_file(path, meta, verify)
    inner = _unwrap(model)
    if map_location is None:
        p = next(iter(inner.parameters()), None)
        map_location = p.device if p is not None else "cpu"
    tensors = _read_safetensors(path, _device_str(map_location))
    weights = {k[len("model/"):]: v for k, v in tensors.items() if k.startswith("model/")}
    _load_state_dict(inner, weights, True, path)
    state = meta.get("state", {})
    if optimizer is not None:
        if "optimizer" not in state:
            raise CheckpointError(f"{path} holds no optimizer state")
        try:
            optimizer.load_state_dict(_decode(state["optimizer"], tensors))
        except (ValueError, KeyError, RuntimeError) as e:
            raise CheckpointError(f"the optimizer state in {path} does not fit this optimizer: {e}") from None
    if scheduler is not None:
        if "scheduler" not in state:
            raise CheckpointError(f"{path} holds no scheduler state")
        try:
            scheduler.load_state_dict(_decode(state["scheduler"], tensors))
        except (ValueError, KeyError, RuntimeError, TypeError) as e:
            raise CheckpointError(f"the scheduler state in {path} does not fit this scheduler: {e}") from None
    if restore_rng and "rng" in state:
        rng = _decode(state["rng"], {k: v.cpu() for k, v in tensors.items() if k.startswith("rng/")})
        _set_rng_state(rng)
    extra = dict(meta.get("extra") or {})
    out: dict[str, Any] = {**extra, "step": meta.get("step"), "epoch": meta.get("epoch"), "extra": extra,
                           "meta": meta}
    log.debug("loaded training state %s", path)
    return out
