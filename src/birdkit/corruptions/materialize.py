"""Corrupted copies of a dataset split, written once and read many times (like CIFAR-10-C).

Layout of a *set* (one dataset split at one seed and family)::

    <out_dir>/<dataset>/<split>/manifest.json
    <out_dir>/<dataset>/<split>/<corruption>/s<k>.safetensors   # k = 1..5

Each ``.safetensors`` file holds ``images`` (uint8, ``(N, C, H, W)``, the corrupted float images
quantised as ``round(x * 255)``) and ``labels`` (int64, ``(N,)``), with one metadata entry,
``birdkit``, a JSON string naming the dataset, split, corruption, severity, seed and family (one
key, so that the bytes of a file are reproducible). ``manifest.json`` records the set's parameters (birdkit
version, dataset, split, seed, family, image shape, a SHA-256 of the clean source) and one
entry per finished file (path, SHA-256, byte size, shape, the severity-table entry used).

Robustness contract:

* every write is atomic (:func:`birdkit.io.atomic_path`: a temporary file in the same folder,
  moved over the target when complete);
* the manifest is rewritten after each finished file, so an interrupted run resumes where it
  stopped and never trusts a file the manifest does not vouch for;
* a file is reused only if its manifest entry matches the requested parameters and its bytes
  match the recorded SHA-256; anything else (missing, truncated, edited, stale parameters) is
  rebuilt from scratch, never half-read;
* :func:`load_corrupted` verifies the SHA-256 before returning tensors.

Images are corrupted with the dataset index as the per-image seed input (see
:func:`birdkit.corruptions.corrupt`), so a set does not depend on ``batch_size`` and the first
``n`` images of a ``limit=n`` set equal the first ``n`` of the full set.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

import birdkit
from birdkit.corruptions import (
    ALL_CORRUPTIONS,
    CORRUPTIONS,
    MNISTC_CORRUPTIONS,
    SEVERITIES,
    corrupt,
    corruption_params,
    default_family,
)
from birdkit.data import as_tensors, create_dataset
from birdkit.errors import BirdkitError, DataNotFoundError, IntegrityError, ShapeError
from birdkit.io import TEMP_PREFIX, jsonable, read_json, sha256_bytes, sha256_file, utc_now, write_bytes, write_json

log = logging.getLogger(__name__)

FORMAT = "birdkit-corrupted-set"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
ROUNDINGS = ("round", "floor")

__all__ = [
    "IntegrityError",
    "MaterializeEvent",
    "ProgressCallback",
    "load_corrupted",
    "load_source",
    "materialize",
    "read_manifest",
    "set_dir",
]


@dataclasses.dataclass(frozen=True)
class MaterializeEvent:
    """What :func:`materialize` reports to its progress callback.

    Attributes:
        kind: ``"plan"`` (once, before any work), ``"file_start"``, ``"batch"`` (after each
            corrupted batch of a file being built) or ``"file_done"`` (the file is written and
            recorded in the manifest).
        corruption, severity: the file concerned (``None`` for ``"plan"``).
        images_done: images of the current file done so far.
        num_images: images per file.
        files_done: files finished (built or reused) so far, including this one on ``file_done``.
        num_files: files in this run.
        status: ``"built"`` or ``"reused"`` on ``file_done`` (and on ``file_start``, what will
            happen); ``None`` otherwise.
        seconds: time spent building the current file so far (0 for reused files).
        path: the file's final path.
    """

    kind: str
    corruption: str | None
    severity: int | None
    images_done: int
    num_images: int
    files_done: int
    num_files: int
    status: str | None = None
    seconds: float = 0.0
    path: Path | None = None


ProgressCallback = Callable[[MaterializeEvent], None]


def set_dir(out_dir: str | os.PathLike[str], dataset: str, split: str) -> Path:
    """The folder of a set: ``out_dir/dataset/split``."""
    return Path(out_dir) / dataset / split


def _rel(corruption: str, severity: int) -> str:
    return f"{corruption}/s{severity}.safetensors"


# --------------------------------------------------------------------------- helpers

#: The temporaries :func:`birdkit.io.atomic_path` names ``.<target>.<TEMP_PREFIX>...``, in the
#: set folder and in its corruption folders.
_TEMPORARIES = (f".*.{TEMP_PREFIX}*", f"*/.*.{TEMP_PREFIX}*")


def _remove_stale_temporaries(root: Path) -> None:
    """Remove the temporary files a killed run left in a set folder (only birdkit.io's
    ``.<name>.<TEMP_PREFIX>...`` pattern)."""
    if not root.is_dir():
        return
    for tmp in [p for pattern in _TEMPORARIES for p in root.glob(pattern)]:
        with contextlib.suppress(OSError):
            tmp.unlink()
            log.debug("removed stale temporary %s", tmp)


def _params_key(corruption: str, severity: int, family: str) -> str:
    """The severity-table entry as canonical JSON (tuples as lists; anything else as its repr)."""
    entry = corruption_params(corruption, severity, family)
    return json.dumps(jsonable(entry, f"{corruption} severity {severity}", strict=False), sort_keys=True)


@contextlib.contextmanager
def _threads(num_threads: int | None) -> Iterator[None]:
    """Temporarily set torch's (and OpenCV's, when loaded) intra-op thread count."""
    if not num_threads:
        yield
        return
    old = torch.get_num_threads()
    cv2 = sys.modules.get("cv2")
    old_cv = cv2.getNumThreads() if cv2 is not None else None
    torch.set_num_threads(int(num_threads))
    if cv2 is not None:
        cv2.setNumThreads(int(num_threads))
    try:
        yield
    finally:
        torch.set_num_threads(old)
        if cv2 is not None and old_cv is not None:
            cv2.setNumThreads(old_cv)


def _quantize(x: torch.Tensor, rounding: str) -> torch.Tensor:
    x = x.mul(255.0)
    x = x.round_() if rounding == "round" else x.floor_()
    return x.clamp_(0.0, 255.0).to(torch.uint8)


# --------------------------------------------------------------------------- sources


def _open_dataset(name: str, split: str, root: str | os.PathLike[str] | None) -> Any:
    """Open a dataset by name (tests replace this hook to avoid disk data)."""
    return create_dataset(name, split=split, root=root)


def _dataset_arrays(ds: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """``(images uint8 (N, C, H, W), labels int64 (N,))`` of an in-memory or indexable dataset."""
    if isinstance(ds, (tuple, list)) and len(ds) == 2:
        images, labels = ds
    elif hasattr(ds, "images") and hasattr(ds, "targets"):
        images, labels = ds.images, ds.targets
    else:
        images, labels = as_tensors(ds)
    images = torch.as_tensor(np.asarray(images) if not isinstance(images, torch.Tensor) else images)
    labels = torch.as_tensor(np.asarray(labels) if not isinstance(labels, torch.Tensor) else labels)
    if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ShapeError(
            f"Expected dataset images as uint8 (N, C, H, W) with C in (1, 3), got {images.dtype} "
            f"{tuple(images.shape)}"
        )
    if labels.ndim != 1 or len(labels) != len(images):
        raise ShapeError(f"Expected {len(images)} labels of shape (N,), got {tuple(labels.shape)}")
    return images.contiguous(), labels.to(torch.int64).contiguous()


def load_source(
    dataset: str | Any,
    split: str = "test",
    *,
    root: str | os.PathLike[str] | None = None,
    limit: int | None = None,
    dataset_name: str | None = None,
) -> tuple[str, torch.Tensor, torch.Tensor]:
    """The clean images a set is built from: ``(name, images uint8 (N, C, H, W), labels int64)``.

    ``dataset`` is a name for :func:`birdkit.create_dataset`, a dataset object, or a pair
    ``(images, labels)`` (then ``dataset_name`` is required). ``limit`` keeps the first images.
    """
    if isinstance(dataset, str):
        ds = _open_dataset(dataset, split, root)
        name = dataset_name or getattr(ds, "name", None) or dataset
    else:
        ds = dataset
        name = dataset_name or getattr(ds, "name", None)
        if not name:
            raise BirdkitError("The dataset has no `name` attribute; pass dataset_name=")
    images, labels = _dataset_arrays(ds)
    if limit is not None:
        if limit < 1:
            raise BirdkitError(f"Expected limit >= 1, got {limit}")
        images, labels = images[:limit], labels[:limit]
    return str(name), images, labels


def _source_digest(images: torch.Tensor, labels: torch.Tensor) -> str:
    h = hashlib.sha256()
    h.update(str(tuple(images.shape)).encode())
    h.update(images.numpy().tobytes())
    h.update(labels.numpy().tobytes())
    return h.hexdigest()


def _resolve_corruptions(corruptions: Sequence[str] | str | None) -> list[str]:
    if corruptions is None:
        names = list(ALL_CORRUPTIONS)
    else:
        names = [corruptions] if isinstance(corruptions, str) else list(corruptions)
    if not names:
        raise BirdkitError("Expected at least one corruption name; list them with birdkit.list_corruptions()")
    for n in names:
        CORRUPTIONS.get(n)  # raises UnknownNameError with close matches
    return list(dict.fromkeys(names))


def _resolve_severities(severities: Sequence[int] | int) -> list[int]:
    sev = [severities] if isinstance(severities, int) else list(severities)
    bad = [s for s in sev if s not in SEVERITIES]
    if bad or not sev:
        raise BirdkitError(
            f"Expected severities in 1..5, got {sev!r}. Severity 0 is the clean data: read it with "
            "birdkit.create_dataset()."
        )
    return sorted(set(int(s) for s in sev))


# --------------------------------------------------------------------------- manifest


def read_manifest(out_dir: str | os.PathLike[str], dataset: str, split: str) -> dict[str, Any]:
    """The manifest of a set, as a dict. Raises :class:`DataNotFoundError` if there is none."""
    path = set_dir(out_dir, dataset, split) / MANIFEST
    try:
        return read_json(path)
    except FileNotFoundError:
        raise DataNotFoundError(
            f"No corrupted set at {path.parent} (no {MANIFEST}). Build it with: "
            f"birdkit corrupt --dataset {dataset} --split {split} --out {out_dir}"
        ) from None
    except json.JSONDecodeError as e:
        raise IntegrityError(f"{path} is not valid JSON ({e}); rebuild the set with `birdkit corrupt`") from None


def _write_manifest(root: Path, manifest: dict[str, Any]) -> None:
    manifest["updated"] = utc_now()
    order = {n: i for i, n in enumerate(ALL_CORRUPTIONS + MNISTC_CORRUPTIONS)}
    manifest["files"] = sorted(
        manifest["files"], key=lambda e: (order.get(e["corruption"], len(order)), e["corruption"], e["severity"])
    )
    write_json(root / MANIFEST, manifest, indent=1)


_SET_KEYS = ("format_version", "dataset", "split", "seed", "family", "rounding", "image_shape", "num_images",
             "source_sha256")


def _existing_manifest(root: Path) -> dict[str, Any] | None:
    path = root / MANIFEST
    if not path.exists():
        return None
    try:
        m = read_json(path)
    except (OSError, json.JSONDecodeError) as e:
        log.warning("ignoring unreadable manifest %s (%s); every file will be rebuilt", path, e)
        return None
    if not isinstance(m, dict) or m.get("format") != FORMAT or not isinstance(m.get("files"), list):
        log.warning("ignoring foreign manifest %s; every file will be rebuilt", path)
        return None
    return m


def _valid_entry(root: Path, entry: dict[str, Any] | None, params: str, shape: list[int], verify: bool) -> str | None:
    """``None`` if the file of ``entry`` can be reused, else why not."""
    if entry is None:
        return "not in manifest"
    if entry.get("params") != params:
        return "severity parameters changed"
    if entry.get("shape") != shape:
        return "shape changed"
    path = root / entry["path"]
    if not path.is_file():
        return "file missing"
    if path.stat().st_size != entry.get("bytes"):
        return "size differs from manifest"
    if verify and sha256_file(path) != entry.get("sha256"):
        return "checksum differs from manifest"
    return None


# --------------------------------------------------------------------------- main entry points


def materialize(
    dataset: str | Any,
    split: str = "test",
    out_dir: str | os.PathLike[str] = "data/corrupted",
    *,
    corruptions: Sequence[str] | str | None = None,
    severities: Sequence[int] | int = SEVERITIES,
    seed: int = 0,
    family: str | None = None,
    batch_size: int = 512,
    limit: int | None = None,
    root: str | os.PathLike[str] | None = None,
    dataset_name: str | None = None,
    rounding: str = "round",
    num_threads: int | None = None,
    overwrite: bool = False,
    verify: bool = True,
    progress: ProgressCallback | None = None,
) -> Path:
    """Write corrupted copies of a dataset split, one file per (corruption, severity).

    Args:
        dataset: a dataset name for :func:`birdkit.create_dataset`, or a dataset object with
            uint8 ``images`` ``(N, C, H, W)`` and ``targets`` (or any dataset
            :func:`birdkit.data.as_tensors` reads), or a pair ``(images, labels)``.
        split: the split name (used to open a named dataset, and in the output path).
        out_dir: root folder; the set goes to ``out_dir/<dataset>/<split>``.
        corruptions: names (default: all 19, training ones first).
        severities: severities 1-5 (0 is the clean data and is not written).
        seed: global seed; with the dataset index it fixes each image's randomness.
        family: severity-table family; default from the image size
            (:func:`birdkit.corruptions.default_family`).
        batch_size: images corrupted at once (memory/speed trade-off only; results do not
            depend on it).
        limit: keep only the first ``limit`` images (a quick subset).
        root: data root passed to :func:`birdkit.create_dataset` for a named dataset.
        dataset_name: name used in the path for a dataset object without a ``name`` attribute.
        rounding: ``"round"`` (default, ``round(x * 255)``) or ``"floor"`` (``np.uint8(x * 255)``
            truncation, as Hendrycks' ``make_cifar_c.py`` wrote CIFAR-10-C).
        num_threads: torch/OpenCV threads during the run (default: leave as is).
        overwrite: replace an existing set built with other set-level parameters (seed,
            family, image count, source data); without it such a set raises an error.
        verify: check the SHA-256 of existing files before reusing them.
        progress: called with a :class:`MaterializeEvent` at each step. An exception raised
            by the callback stops the run; finished files stay valid and are reused next time.

    Returns:
        The set folder ``out_dir/<dataset>/<split>``.

    Raises:
        UnknownNameError: unknown corruption or dataset name (with close matches).
        BirdkitError: an existing set at the same place has other set-level parameters
            and ``overwrite`` is false.
    """
    names = _resolve_corruptions(corruptions)
    sevs = _resolve_severities(severities)
    if rounding not in ROUNDINGS:
        raise BirdkitError(f"Expected rounding in {ROUNDINGS}, got {rounding!r}")
    if batch_size < 1:
        raise BirdkitError(f"Expected batch_size >= 1, got {batch_size}")

    ds_name, images, labels = load_source(dataset, split, root=root, limit=limit, dataset_name=dataset_name)
    n, c, h, w = images.shape
    family = family or default_family(h, w, c)
    for name in names:  # fail early on a family a corruption lacks
        corruption_params(name, sevs[0], family)

    root_dir = set_dir(out_dir, ds_name, split)
    root_dir.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(root_dir)

    wanted = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "dataset": ds_name,
        "split": split,
        "seed": int(seed),
        "family": family,
        "rounding": rounding,
        "image_shape": [c, h, w],
        "num_images": int(n),
        "source_sha256": _source_digest(images, labels),
    }
    old = _existing_manifest(root_dir)
    if old is not None and any(old.get(k) != wanted[k] for k in _SET_KEYS):
        diff = ", ".join(f"{k}: {old.get(k)!r} -> {wanted[k]!r}" for k in _SET_KEYS
                         if old.get(k) != wanted[k] and k != "source_sha256")
        if old.get("source_sha256") != wanted["source_sha256"] and old.get("num_images") == n:
            diff = (diff + ", " if diff else "") + "source images differ"
        if not overwrite:
            raise BirdkitError(
                f"{root_dir} already holds a corrupted set with other parameters ({diff}). "
                "Pass overwrite=True (CLI: --overwrite) to replace it, or choose another output folder."
            )
        log.info("replacing the set at %s (%s)", root_dir, diff)
        for entry in old["files"]:
            with contextlib.suppress(OSError):
                (root_dir / entry["path"]).unlink()
        old = None

    manifest: dict[str, Any] = dict(wanted)
    manifest["birdkit_version"] = birdkit.__version__
    manifest["created"] = old.get("created", utc_now()) if old else utc_now()
    manifest["files"] = list(old["files"]) if old else []
    entries = {e["path"]: e for e in manifest["files"]}

    jobs = [(name, s) for name in names for s in sevs]
    shape = [int(n), int(c), int(h), int(w)]
    emit = progress or (lambda ev: None)
    emit(MaterializeEvent("plan", None, None, 0, n, 0, len(jobs)))
    log.info("corrupting %d images of %s/%s: %d corruptions x %d severities -> %s",
             n, ds_name, split, len(names), len(sevs), root_dir)

    with _threads(num_threads):
        for done, (name, sev) in enumerate(jobs):
            rel = _rel(name, sev)
            path = root_dir / rel
            params = _params_key(name, sev, family)
            why = _valid_entry(root_dir, entries.get(rel), params, shape, verify)
            if why is None:
                log.debug("reusing %s", path)
                emit(MaterializeEvent("file_start", name, sev, 0, n, done, len(jobs), "reused", 0.0, path))
                emit(MaterializeEvent("file_done", name, sev, n, n, done + 1, len(jobs), "reused", 0.0, path))
                continue
            if rel in entries:
                log.info("rebuilding %s: %s", rel, why)
                manifest["files"] = [e for e in manifest["files"] if e["path"] != rel]
                entries.pop(rel)
            emit(MaterializeEvent("file_start", name, sev, 0, n, done, len(jobs), "built", 0.0, path))

            t0 = time.perf_counter()
            out = torch.empty((n, c, h, w), dtype=torch.uint8)
            for start in range(0, n, batch_size):
                stop = min(start + batch_size, n)
                x = images[start:stop].float().div_(255.0)
                y = corrupt(x, name, sev, seed=seed, indices=range(start, stop), family=family)
                out[start:stop] = _quantize(y, rounding)
                emit(MaterializeEvent("batch", name, sev, stop, n, done, len(jobs), "built",
                                      time.perf_counter() - t0, path))
            meta = {"dataset": ds_name, "split": split, "corruption": name, "severity": sev,
                    "seed": int(seed), "family": family, "rounding": rounding, "format": FORMAT}
            # One metadata key: safetensors writes its metadata map in hash order, so several keys
            # would make the bytes (and the checksum) differ from run to run.
            data = st_save({"images": out, "labels": labels}, metadata={"birdkit": json.dumps(meta, sort_keys=True)})
            write_bytes(path, data)
            seconds = time.perf_counter() - t0
            entry = {
                "path": rel,
                "corruption": name,
                "severity": sev,
                "params": params,
                "shape": shape,
                "bytes": len(data),
                "sha256": sha256_bytes(data),
                "seconds": round(seconds, 3),
                "created": utc_now(),
            }
            manifest["files"].append(entry)
            entries[rel] = entry
            _write_manifest(root_dir, manifest)
            log.debug("wrote %s (%.1f images/s)", path, n / max(seconds, 1e-9))
            emit(MaterializeEvent("file_done", name, sev, n, n, done + 1, len(jobs), "built", seconds, path))

    return root_dir


def load_corrupted(
    out_dir: str | os.PathLike[str],
    dataset: str,
    split: str,
    corruption: str,
    severity: int,
    *,
    verify: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Read one materialised file: ``(images uint8 (N, C, H, W), labels int64 (N,))``.

    The file's SHA-256 is checked against the manifest (``verify=False`` skips it).

    Raises:
        DataNotFoundError: no such set, or the set lacks this corruption/severity (the message
            gives the command that builds it).
        IntegrityError: the file does not match its manifest entry.
    """
    CORRUPTIONS.get(corruption)
    _resolve_severities([severity])
    manifest = read_manifest(out_dir, dataset, split)
    rel = _rel(corruption, severity)
    entry = next((e for e in manifest.get("files", []) if e.get("path") == rel), None)
    root_dir = set_dir(out_dir, dataset, split)
    if entry is None:
        raise DataNotFoundError(
            f"The set at {root_dir} has no {corruption} severity {severity}. Build it with: birdkit corrupt "
            f"--dataset {dataset} --split {split} --out {out_dir} --corruptions {corruption} --severities {severity}"
        )
    path = root_dir / rel
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise IntegrityError(
            f"{path} is listed in the manifest but missing; rerun `birdkit corrupt` to rebuild it"
        ) from None
    if len(data) != entry["bytes"] or (verify and sha256_bytes(data) != entry["sha256"]):
        raise IntegrityError(
            f"{path} does not match its manifest entry (truncated or modified); rerun `birdkit corrupt` "
            "with the same arguments to rebuild it"
        )
    tensors = st_load(data)
    images, labels = tensors["images"], tensors["labels"]
    if list(images.shape) != entry["shape"]:
        raise IntegrityError(f"{path}: images of shape {tuple(images.shape)}, manifest says {entry['shape']}")
    return images, labels
