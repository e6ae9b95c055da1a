"""Robustness evaluation: accuracy per corruption x severity, robust accuracy, PGR.

Conventions (BIRD paper; docs/method.md §3):

* *robust accuracy (held-out)*: mean accuracy over the 4 held-out corruptions x severities
  1-5 (the paper's figure). ``robust_heldout_with_clean`` also mixes in severity 0 (clean)
  once per corruption, as the authors' evaluation script does; both are reported, labelled.
* *robust accuracy (training corruptions)*: the same over the 15 training corruptions.
* PGR (performance gap recovered) = (robust_method - robust_none) / (robust_oracle - robust_none).

The corrupted test images are built once per (corruption, severity) and shared by every model
evaluated (``CorruptedTestSet``), deterministically from a seed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence

import torch
from torch import nn

from birdkit.corruptions import HELDOUT_CORRUPTIONS, TRAIN_CORRUPTIONS, corrupt
from birdkit.features import predict

__all__ = ["CorruptedTestSet", "evaluate_robustness", "pgr", "predict", "summarize"]

log = logging.getLogger(__name__)


class CorruptedTestSet:
    """Lazily corrupted copies of a test set, quantised to uint8 like CIFAR-10-C, cached in memory.

    Args:
        images: uint8 (N, C, H, W) clean test images; targets: int64 (N,).
        seed: corruption seed (fixed across models so all see the same corrupted images).
        family: corruption parameter family (default from the image size).
    """

    def __init__(self, images: torch.Tensor, targets: torch.Tensor, *, seed: int = 0, family: str | None = None,
                 batch_size: int = 1024):
        self.images, self.targets = images, targets
        self.seed, self.family, self.batch_size = seed, family, batch_size
        self._cache: dict[tuple[str, int], torch.Tensor] = {}

    def get(self, corruption: str, severity: int) -> torch.Tensor:
        if severity == 0:
            return self.images
        key = (corruption, severity)
        if key not in self._cache:
            parts = []
            for i in range(0, len(self.images), self.batch_size):
                x = self.images[i:i + self.batch_size].float().div_(255)
                y = corrupt(x, corruption, severity, seed=self.seed,
                            indices=torch.arange(i, i + len(x)), family=self.family)
                parts.append(y.mul_(255).round_().to(torch.uint8))
            self._cache[key] = torch.cat(parts)
        return self._cache[key]


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
    """Tidy rows ``{model, corruption, severity, split, accuracy, n}``; one clean row (severity 0)."""
    held = set(HELDOUT_CORRUPTIONS)
    clean = (predict(model, testset.images, normalize, batch_size, device) == testset.targets).float().mean().item()
    rows = [{"model": model_name, "corruption": "clean", "severity": 0, "split": "clean", "accuracy": clean,
             "n": len(testset.targets)}]
    for c in corruptions:
        for s in severities:
            acc = (predict(model, testset.get(c, s), normalize, batch_size, device) == testset.targets).float().mean()
            rows.append({"model": model_name, "corruption": c, "severity": s,
                         "split": "heldout" if c in held else "train", "accuracy": acc.item(),
                         "n": len(testset.targets)})
    return rows


def summarize(rows: list[dict]) -> dict[str, float]:
    """Clean and robust accuracies from tidy rows (see module docstring)."""
    clean = [r["accuracy"] for r in rows if r["severity"] == 0]
    out = {"clean_acc": clean[0] if clean else float("nan")}
    for split in ("heldout", "train"):
        acc = [r["accuracy"] for r in rows if r["split"] == split and r["severity"] > 0]
        n_corr = len({r["corruption"] for r in rows if r["split"] == split})
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
