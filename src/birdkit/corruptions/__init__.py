"""Image corruptions: the 15 ImageNet-C training corruptions, the 4 held-out ones and the 8
MNIST-C corruptions (a second held-out family, 28 px grayscale; :data:`MNISTC_CORRUPTIONS`).

``corrupt(images, name, severity, seed=..., indices=...)`` applies one corruption to a batch,
deterministically per image. Severity tables are kept per family of image size (CIFAR-10-C is
milder than ImageNet-C; 28 px grayscale has birdkit's own table): see ``docs/corruptions.md``.
The filters all corruptions share are in :mod:`birdkit.corruptions._ops`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

# Importing the implementation modules (blur, digital, mnistc, noise, weather) registers the corruptions.
from birdkit.corruptions import _base, blur, digital, mnistc, noise, weather  # noqa: F401
from birdkit.corruptions._base import (
    ALL_CORRUPTIONS,
    CORRUPTIONS,
    FAMILIES,
    HELDOUT_CORRUPTIONS,
    SEVERITIES,
    TRAIN_CORRUPTIONS,
    BatchRNG,
    corruption_params,
    default_family,
    image_seed,
)
from birdkit.corruptions.mnistc import MNISTC_CORRUPTIONS

__all__ = [
    "ALL_CORRUPTIONS", "FAMILIES", "HELDOUT_CORRUPTIONS", "MNISTC_CORRUPTIONS", "SEVERITIES", "TRAIN_CORRUPTIONS",
    "corrupt", "list_corruptions", "corruption_params", "default_family",
]


def list_corruptions(pattern: str | None = None) -> list[str]:
    """Registered corruption names, optionally filtered by a wildcard (``'*_noise'``)."""
    return CORRUPTIONS.names(pattern)


def corrupt(
    images: torch.Tensor,
    name: str,
    severity: int,
    *,
    seed: int = 0,
    indices: Sequence[int] | torch.Tensor | None = None,
    family: str | None = None,
) -> torch.Tensor:
    """Corrupt a batch of images.

    Args:
        images: float tensor ``(N, C, H, W)`` in [0, 1], C = 1 or 3. uint8 is not accepted.
        name: corruption name (see :func:`list_corruptions`).
        severity: 0 (returns the input unchanged) or 1-5.
        seed: global seed of the corrupted set.
        indices: dataset index of each image (default ``range(N)``); with ``seed`` they fix
            each image's randomness, so results do not depend on batching.
        family: parameter table (``imagenet``, ``cifar``, ``tinyimagenet``, ``mnist``);
            default chosen from the image size by :func:`default_family`.

    Returns:
        A float tensor of the same shape, dtype and device, values in [0, 1].
    """
    fn = CORRUPTIONS.get(name)
    _base.check_images(images)
    if severity == 0:
        return images.clone()
    n, c, h, w = images.shape
    family = family or default_family(h, w, c)
    params = corruption_params(name, severity, family)
    if indices is None:
        indices = range(n)
    indices = [int(i) for i in (indices.tolist() if isinstance(indices, torch.Tensor) else indices)]
    if len(indices) != n:
        raise _base.ShapeError(f"Expected {n} indices (one per image), got {len(indices)}")
    rng = BatchRNG([image_seed(seed, i, name, severity) for i in indices], device=images.device)
    dtype = images.dtype
    with torch.no_grad():
        out = fn(images.float(), params, rng)
    if out.shape != images.shape:
        raise _base.ShapeError(f"corruption {name!r} returned shape {tuple(out.shape)} for {tuple(images.shape)}")
    return out.clamp_(0.0, 1.0).to(dtype)
