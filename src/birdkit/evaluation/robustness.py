"""Robustness evaluation: accuracy per corruption x severity, robust accuracy, PGR.

Conventions (BIRD paper; docs/method.md §3):

* *robust accuracy (held-out)*: mean accuracy over the 4 held-out corruptions x severities
  1-5 (the paper's figure). ``robust_heldout_with_clean`` also mixes in severity 0 (clean)
  once per corruption, as the authors' evaluation script does; both are reported, labelled.
* *robust accuracy (training corruptions)*: the same over the 15 training corruptions.
* *robust accuracy (MNIST-C)*: the same over MNIST-C's 8 corruptions that are not ImageNet-C's
  (28 px grayscale pairs; a second held-out family, never used in training or selection).
* PGR (performance gap recovered) = (robust_method - robust_none) / (robust_oracle - robust_none).

The corrupted test images are built once per (corruption, severity), deterministically from a
seed, shared by every model evaluated (``CorruptedTestSet``) and, with ``cache=True``, by every
later run on the machine.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import nn

import birdkit.corruptions
from birdkit.corruptions import HELDOUT_CORRUPTIONS, MNISTC_CORRUPTIONS, TRAIN_CORRUPTIONS, corrupt
from birdkit.features import predict
from birdkit.io import cache_dir, write_bytes

__all__ = ["CorruptedTestSet", "evaluate_models", "evaluate_robustness", "pgr", "predict", "split_of", "summarize"]

log = logging.getLogger(__name__)

@functools.cache
def corruption_code() -> str:
    """SHA-256 of the corruption code (every ``birdkit/corruptions/*.py``): part of the cache key,
    so a changed corruption never reads images the old code made (read once, only when a cache
    is used)."""
    files = sorted(Path(birdkit.corruptions.__file__).parent.glob("*.py"))
    return hashlib.sha256(b"".join(p.read_bytes() for p in files)).hexdigest()[:16]


class CorruptedTestSet:
    """Corrupted copies of a test set, quantised to uint8 like CIFAR-10-C, built once.

    Each (corruption, severity) is built on first use and kept in memory; with ``cache`` it is
    also stored under :func:`birdkit.io.cache_dir` (``corrupted/<key>/``), keyed by a SHA-256 of
    the clean images, the seed, the family and the corruption code, so every later run on this
    machine (other seeds, methods, commands) reads it instead of corrupting again.

    Args:
        images: uint8 (N, C, H, W) clean test images; targets: int64 (N,).
        seed: corruption seed (fixed across models so all see the same corrupted images).
        family: corruption parameter family (default from the image size).
        cache: also keep the corrupted sets on disk (machine-wide).
    """

    def __init__(self, images: torch.Tensor, targets: torch.Tensor, *, seed: int = 0, family: str | None = None,
                 batch_size: int = 1024, cache: bool = False):
        self.images, self.targets = images, targets
        self.seed, self.family, self.batch_size = seed, family, batch_size
        self._cache: dict[tuple[str, int], torch.Tensor] = {}
        self.disk = cache_dir("corrupted", self._key()) if cache else None
        self.build_seconds = 0.0

    def _key(self) -> str:
        h = hashlib.sha256()
        h.update(f"{tuple(self.images.shape)}|{self.seed}|{self.family}|{corruption_code()}".encode())
        h.update(self.images.contiguous().numpy().tobytes())
        h.update(self.targets.contiguous().numpy().tobytes())
        return h.hexdigest()[:24]

    def get(self, corruption: str, severity: int) -> torch.Tensor:
        if severity == 0:
            return self.images
        key = (corruption, severity)
        if key not in self._cache:
            self._cache[key] = self._load(corruption, severity)
        return self._cache[key]

    def _load(self, corruption: str, severity: int) -> torch.Tensor:
        path = self.disk / f"{corruption}-s{severity}.safetensors" if self.disk else None
        if path is not None and path.exists():
            try:
                x = st_load(path.read_bytes())["images"]
                if x.shape == self.images.shape and x.dtype == torch.uint8:
                    return x
            except Exception as e:  # noqa: BLE001 - any unreadable cache file is rebuilt, never trusted
                log.warning("rebuilding unreadable cache file %s (%s)", path, e)
        t0 = time.perf_counter()
        parts = []
        for i in range(0, len(self.images), self.batch_size):
            x = self.images[i:i + self.batch_size].float().div_(255)
            y = corrupt(x, corruption, severity, seed=self.seed, indices=torch.arange(i, i + len(x)),
                        family=self.family)
            parts.append(y.mul_(255).round_().to(torch.uint8))
        out = torch.cat(parts) if parts else self.images.clone()
        self.build_seconds += time.perf_counter() - t0
        if path is not None:
            write_bytes(path, st_save({"images": out.contiguous()}))
        return out


def split_of(corruption: str) -> str:
    """``heldout`` (ImageNet-C held-out), ``mnistc`` (MNIST-C, held-out) or ``train``."""
    if corruption in HELDOUT_CORRUPTIONS:
        return "heldout"
    if corruption in MNISTC_CORRUPTIONS:
        return "mnistc"
    return "train"


def evaluate_models(
    models: Mapping[str, nn.Module],
    testset: CorruptedTestSet,
    normalize: Callable[[torch.Tensor], torch.Tensor],
    *,
    corruptions: Iterable[str] = HELDOUT_CORRUPTIONS + TRAIN_CORRUPTIONS,
    severities: Sequence[int] = (1, 2, 3, 4, 5),
    clean: bool = True,
    batch_size: int = 512,
    device: str = "cpu",
    predictions: dict[str, torch.Tensor] | None = None,
    seconds: dict[str, float] | None = None,
) -> list[dict]:
    """Tidy rows ``{model, corruption, severity, split, accuracy, n}`` of every model.

    Each corrupted set is fetched once and run through every model before the next one, so
    the corruption (or cache read) is shared by all models. ``predictions`` (if given) receives
    each model's predicted labels per condition under ``"model|corruption|severity"`` (uint8 when
    the labels fit), ``seconds`` each model's total inference time."""
    conditions = ([("clean", 0)] if clean else []) + [(c, s) for c in corruptions for s in severities]
    # channels-last copies: the same network, 1.4-2.2x faster convolutions on CPU (docs/performance.md)
    models = {name: copy.deepcopy(m).to(memory_format=torch.channels_last) for name, m in models.items()}
    rows = []
    for c, s in conditions:
        images = testset.get(c, s)
        for name, model in models.items():
            t0 = time.perf_counter()
            pred = predict(model, images, normalize, batch_size, device)
            if seconds is not None:
                seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - t0
            if predictions is not None:
                predictions[f"{name}|{c}|{s}"] = pred.to(torch.uint8) if len(pred) and int(pred.max()) < 256 else pred
            rows.append({"model": name, "corruption": c, "severity": s,
                         "split": "clean" if s == 0 else split_of(c),
                         "accuracy": (pred == testset.targets).float().mean().item(), "n": len(testset.targets)})
    return rows


def evaluate_robustness(
    model: nn.Module,
    testset: CorruptedTestSet,
    normalize: Callable[[torch.Tensor], torch.Tensor],
    *,
    corruptions: Iterable[str] = HELDOUT_CORRUPTIONS + TRAIN_CORRUPTIONS,
    severities: Sequence[int] = (1, 2, 3, 4, 5),
    batch_size: int = 512,
    device: str = "cpu",
    model_name: str = "model",
) -> list[dict]:
    """Tidy rows ``{model, corruption, severity, split, accuracy, n}`` of one model; one clean
    row (severity 0) first (:func:`evaluate_models` for several)."""
    return evaluate_models({model_name: model}, testset, normalize, corruptions=corruptions,
                           severities=severities, batch_size=batch_size, device=device)


def summarize(rows: list[dict]) -> dict[str, float]:
    """Clean and robust accuracies from tidy rows (see module docstring)."""
    clean = [r["accuracy"] for r in rows if r["severity"] == 0]
    out = {"clean_acc": clean[0] if clean else float("nan")}
    for split in ("heldout", "train", "mnistc"):
        acc = [r["accuracy"] for r in rows if r["split"] == split and r["severity"] > 0]
        n_corr = len({r["corruption"] for r in rows if r["split"] == split})
        if split == "mnistc" and not acc:
            continue
        out[f"robust_{split}"] = sum(acc) / len(acc) if acc else float("nan")
        # the authors' variant: severity 0 counted once per corruption alongside 1..5
        out[f"robust_{split}_with_clean"] = ((sum(acc) + n_corr * out["clean_acc"]) / (len(acc) + n_corr)
                                             if acc else float("nan"))
    return out


def pgr(robust_method: float, robust_none: float, robust_oracle: float) -> float:
    """Performance gap recovered: (method - none) / (oracle - none); NaN when the gap is ~0."""
    gap = robust_oracle - robust_none
    if abs(gap) < 1e-12:
        return float("nan")
    return (robust_method - robust_none) / gap
