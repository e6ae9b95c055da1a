"""Batched inference over in-memory uint8 images: the one loop behind accuracy, predictions,
pooled features and CKA between networks.

:func:`batched_forward` runs a model in eval mode under ``no_grad`` over consecutive slices of
a uint8 ``(N, C, H, W)`` tensor (scaled to [0, 1] and normalised batch by batch, so a whole
test set is never held in float), yields each batch's logits and, when ``layers`` are given,
their pooled outputs (:func:`~birdkit.features.capture`), and restores the model's training
flag afterwards, even when the caller stops early.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import torch
from torch import nn

from birdkit.features.capture import PoolSpec, capture, validate_layers

__all__ = ["Normalize", "accuracy", "batched_forward", "pooled_features", "predict"]

Normalize = Callable[[torch.Tensor], torch.Tensor]


def batched_forward(
    model: nn.Module,
    images: torch.Tensor,
    normalize: Normalize,
    *,
    batch_size: int = 512,
    device: str | torch.device = "cpu",
    layers: Sequence[str] = (),
    pool: PoolSpec = "avg",
    stop: int | None = None,
) -> Iterator[tuple[torch.Tensor, dict[str, torch.Tensor]]]:
    """Yield ``(logits, {layer: pooled features})`` per batch of ``images[:stop]`` (eval mode,
    no gradients; outputs stay on ``device``).

    Args:
        model: the network; its training flag is restored when the iteration ends.
        images: uint8 ``(N, C, H, W)``.
        normalize: [0, 1] floats -> model input (e.g. ``TensorData.normalize``).
        batch_size: images per forward pass.
        device: where the batches run.
        layers: layers to read (validated before the first batch).
        pool: how layer outputs are pooled (``capture``'s ``pool``).
        stop: only the first ``stop`` images.
    """
    if layers:
        validate_layers(model, list(layers))
    end = len(images) if stop is None else min(stop, len(images))
    was = model.training
    model.eval()
    try:
        for i in range(0, end, batch_size):
            # no_grad is entered and left within each batch: a grad-mode context held across the
            # yield would leak into the caller and, with interleaved iterators, outlive them
            with torch.no_grad():
                x = normalize(images[i:min(i + batch_size, end)].to(device).float().div_(255))
                if layers:
                    with capture(model, list(layers), pool=pool) as feats:
                        out = model(x)
                        got = {name: feats[name] for name in layers}
                else:
                    out, got = model(x), {}
            yield out, got
    finally:
        model.train(was)


def predict(model: nn.Module, images: torch.Tensor, normalize: Normalize, batch_size: int = 512,
            device: str | torch.device = "cpu") -> torch.Tensor:
    """Predicted labels (int64, on the CPU) for uint8 images."""
    preds = [out.argmax(1).cpu() for out, _ in batched_forward(model, images, normalize, batch_size=batch_size,
                                                                 device=device)]
    return torch.cat(preds) if preds else torch.empty(0, dtype=torch.long)


def accuracy(model: nn.Module, images: torch.Tensor, targets: torch.Tensor, normalize: Normalize,
             batch_size: int = 512, device: str | torch.device = "cpu") -> float:
    """Top-1 accuracy of ``model`` on uint8 ``images`` with labels ``targets``."""
    correct = (predict(model, images, normalize, batch_size, device) == targets.cpu()).sum().item()
    return correct / max(1, len(targets))


def pooled_features(model: nn.Module, images: torch.Tensor, normalize: Normalize, layer: str, *,
                    batch_size: int = 512, device: str | torch.device = "cpu") -> torch.Tensor:
    """Average-pooled outputs of ``layer`` for uint8 images, float32 ``(N, p)`` on the CPU."""
    out = [f[layer].float().flatten(1).cpu() for _, f in batched_forward(
        model, images, normalize, batch_size=batch_size, device=device, layers=[layer])]
    return torch.cat(out) if out else torch.empty(0)
