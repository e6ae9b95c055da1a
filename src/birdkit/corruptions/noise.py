"""Noise corruptions: gaussian, shot, impulse (training) and speckle noise (held out).

Torch versions of the noise corruptions of ImageNet-C (Hendrycks & Dietterich, "Benchmarking
Neural Network Robustness to Common Corruptions and Perturbations", ICLR 2019). The noise is
independent per pixel and channel, as in the reference, and drawn from each image's own stream
of the :class:`~birdkit.corruptions._base.BatchRNG` (never from a global generator), so it
depends only on ``(seed, image index, corruption, severity)``.

The ``mnist`` tables take the ImageNet-C values: the noise parameters are per pixel, so they do
not depend on image size, and on high-contrast 28-px grayscale images the milder CIFAR-10-C
values barely change them (``docs/corruptions_noise_blur.md``).
"""

from __future__ import annotations

import torch

from birdkit.corruptions._base import BatchRNG, register_corruption

__all__ = ["gaussian_noise", "impulse_noise", "shot_noise", "speckle_noise"]


@register_corruption(
    "gaussian_noise",
    params={
        "imagenet": (0.08, 0.12, 0.18, 0.26, 0.38),
        "cifar": (0.04, 0.06, 0.08, 0.09, 0.10),
        "tinyimagenet": (0.04, 0.08, 0.12, 0.15, 0.18),
        "mnist": (0.08, 0.12, 0.18, 0.26, 0.38),
    },
)
def gaussian_noise(x: torch.Tensor, c: float, rng: BatchRNG) -> torch.Tensor:
    """Additive Gaussian noise ``clip(x + c N(0, 1), 0, 1)`` (Hendrycks & Dietterich 2019); no
    difference to the reference beyond float32 arithmetic and the generator."""
    return x.add(rng.randn_like(x), alpha=float(c)).clamp_(0.0, 1.0)


@register_corruption(
    "shot_noise",
    params={
        "imagenet": (60, 25, 12, 5, 3),
        "cifar": (500, 250, 100, 75, 50),
        "tinyimagenet": (250, 100, 50, 30, 15),
        "mnist": (60, 25, 12, 5, 3),
    },
)
def shot_noise(x: torch.Tensor, c: float, rng: BatchRNG) -> torch.Tensor:
    """Poisson (shot) noise ``clip(Poisson(c x) / c, 0, 1)`` (Hendrycks & Dietterich 2019).

    ``c`` is the photon count of a white pixel (mean ``x``, variance ``x / c``: smaller ``c`` is
    stronger noise); the draws come from ``rng.poisson``, on the CPU: for images on another device
    the rates are copied to the CPU and the counts back, so a seed gives the same counts on every
    device (``BatchRNG.poisson``)."""
    c = float(c)
    return rng.poisson(x * c).to(dtype=x.dtype).div_(c).clamp_(0.0, 1.0)


@register_corruption(
    "impulse_noise",
    params={
        "imagenet": (0.03, 0.06, 0.09, 0.17, 0.27),
        "cifar": (0.01, 0.02, 0.03, 0.05, 0.07),
        "tinyimagenet": (0.01, 0.02, 0.05, 0.08, 0.14),
        "mnist": (0.03, 0.06, 0.09, 0.17, 0.27),
    },
)
def impulse_noise(x: torch.Tensor, amount: float, rng: BatchRNG) -> torch.Tensor:
    """Salt-and-pepper noise (Hendrycks & Dietterich 2019): each value is replaced with
    probability ``amount``, half of the time by 0 and half by 1; one uniform draw ``u`` per value
    decides (``u < amount / 2`` -> 0, ``amount / 2 <= u < amount`` -> 1). This is the distribution
    of ``skimage.util.random_noise(x, mode='s&p', amount=amount)`` in current scikit-image.

    Difference: the scikit-image release that made ImageNet-C and CIFAR-10-C (0.13/0.14) placed
    a fixed count of salt and pepper values at coordinates that never hit the last row, column or
    channel, slightly below ``amount`` in all; that artefact is not reproduced."""
    a = float(amount)
    u = rng.rand_like(x)
    out = x.clone()
    out[u < a] = 1.0
    out[u < 0.5 * a] = 0.0
    return out


@register_corruption(
    "speckle_noise",
    params={
        "imagenet": (0.15, 0.2, 0.35, 0.45, 0.6),
        "cifar": (0.06, 0.1, 0.12, 0.16, 0.2),
        "tinyimagenet": (0.15, 0.2, 0.25, 0.3, 0.35),
        "mnist": (0.15, 0.2, 0.35, 0.45, 0.6),
    },
)
def speckle_noise(x: torch.Tensor, c: float, rng: BatchRNG) -> torch.Tensor:
    """Multiplicative (speckle) noise ``clip(x + c x N(0, 1), 0, 1)`` (Hendrycks & Dietterich
    2019): black pixels stay black. No difference to the reference beyond float32 arithmetic and
    the generator."""
    return x.addcmul(x, rng.randn_like(x), value=float(c)).clamp_(0.0, 1.0)
