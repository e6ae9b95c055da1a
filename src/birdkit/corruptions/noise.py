"""Noise corruptions: gaussian, shot, impulse (training) and speckle noise (held out).

Torch re-implementations of the noise corruptions of ImageNet-C (Hendrycks & Dietterich,
"Benchmarking Neural Network Robustness to Common Corruptions and Perturbations", ICLR 2019;
reference code ``hendrycks/robustness``, ``ImageNet-C/create_c/make_{imagenet,cifar,
tinyimagenet}_c.py``). The noise is drawn per image from that image's own stream of the
:class:`~birdkit.corruptions._base.BatchRNG` (never from the global torch generator), so the
result depends only on ``(seed, image index, corruption, severity)``. Noise is independent per
pixel and per channel, as in the reference.

The ``mnist`` tables take the ImageNet-C values: the noise parameters are per pixel, so they
do not depend on image size, and on high-contrast 28-px grayscale digits and garments the
milder CIFAR-10-C values barely change the images (see ``docs/corruptions_noise_blur.md``).
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
    """Additive Gaussian noise (Hendrycks & Dietterich 2019): ``clip(x + N(0, c^2), 0, 1)``.

    Same operation as the reference; the noise comes from ``rng.randn``. No difference to the
    reference beyond float32 arithmetic and the random generator.

    Args:
        x: images ``(N, C, H, W)`` in [0, 1].
        c: noise standard deviation.
        rng: per-image random streams.

    Returns:
        The noisy images in [0, 1].
    """
    noise = rng.randn(*x.shape[1:]).to(device=x.device, dtype=x.dtype)
    return x.add(noise, alpha=float(c)).clamp_(0.0, 1.0)


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
    """Poisson (shot) noise (Hendrycks & Dietterich 2019): ``clip(Poisson(c x) / c, 0, 1)``.

    ``c`` is the photon count of a white pixel: smaller ``c`` is stronger noise (mean ``x``,
    variance ``x / c``). Same operation as the reference; draws come from ``rng.poisson``.

    Args:
        x: images ``(N, C, H, W)`` in [0, 1].
        c: photon count scale (> 0).
        rng: per-image random streams.

    Returns:
        The noisy images in [0, 1].
    """
    c = float(c)
    counts = rng.poisson(x * c).to(device=x.device, dtype=x.dtype)
    return counts.div_(c).clamp_(0.0, 1.0)


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
    """Salt-and-pepper noise (Hendrycks & Dietterich 2019).

    Each value (pixel and channel independently) is replaced with probability ``amount``,
    half of the time by 0 (pepper) and half by 1 (salt); this is the distribution of the
    reference ``skimage.util.random_noise(x, mode='s&p', amount=amount)`` (salt_vs_pepper 0.5)
    in current scikit-image. One uniform draw per value from ``rng.rand`` decides:
    ``u < amount / 2`` -> 0, ``amount / 2 <= u < amount`` -> 1.

    Difference to the reference: the scikit-image release that produced ImageNet-C and
    CIFAR-10-C (0.13/0.14) placed ``ceil(amount * size / 2)`` salt and as many pepper values at
    coordinates drawn with ``randint(0, dim - 1)`` per axis, with replacement: the last row,
    last column and last channel (blue) were never hit, and the replaced fraction was slightly
    below ``amount``. That artefact is not reproduced.

    Args:
        x: images ``(N, C, H, W)`` in [0, 1].
        amount: fraction of values replaced.
        rng: per-image random streams.

    Returns:
        The noisy images in [0, 1].
    """
    a = float(amount)
    u = rng.rand(*x.shape[1:]).to(device=x.device, dtype=x.dtype)
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
    """Multiplicative (speckle) noise (Hendrycks & Dietterich 2019): ``clip(x + x N(0, c^2), 0, 1)``.

    Same operation as the reference; the noise comes from ``rng.randn``. Black pixels stay
    black.

    Args:
        x: images ``(N, C, H, W)`` in [0, 1].
        c: standard deviation of the multiplicative noise.
        rng: per-image random streams.

    Returns:
        The noisy images in [0, 1].
    """
    noise = rng.randn(*x.shape[1:]).to(device=x.device, dtype=x.dtype)
    return x.addcmul(x, noise, value=float(c)).clamp_(0.0, 1.0)
