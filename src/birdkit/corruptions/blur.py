"""Blur corruptions: defocus, glass, motion, zoom (training) and gaussian blur (held out).

Batch-vectorised torch versions of the blur corruptions of ImageNet-C (Hendrycks & Dietterich,
"Benchmarking Neural Network Robustness to Common Corruptions and Perturbations", ICLR 2019).
The filters are those of the corruptions' filter engine, :mod:`birdkit.corruptions._ops`; each
function states where it differs from the reference code, and ``docs/corruptions_noise_blur.md``
collects the tables, the differences and the tests.

The ``mnist`` tables (28-px grayscale, birdkit's own) take Tiny-ImageNet-C's blur values, with
glass blur's ``(max_delta, iterations)`` made non-decreasing (rationale in
``docs/corruptions_noise_blur.md``).
"""

from __future__ import annotations

import numpy as np
import torch

from birdkit.corruptions import _ops
from birdkit.corruptions._base import BatchRNG, register_corruption

__all__ = ["defocus_blur", "gaussian_blur", "glass_blur", "motion_blur", "zoom_blur"]


@register_corruption(
    "gaussian_blur",
    params={
        "imagenet": (1, 2, 3, 4, 6),
        "cifar": (0.4, 0.6, 0.7, 0.8, 1.0),
        "tinyimagenet": (0.5, 0.75, 1.0, 1.25, 1.5),
        "mnist": (0.5, 0.75, 1.0, 1.25, 1.5),
    },
)
def gaussian_blur(x: torch.Tensor, sigma: float, rng: BatchRNG) -> torch.Tensor:
    """Gaussian blur ``G_sigma * x`` per channel (Hendrycks & Dietterich 2019): the reference
    ``skimage.filters.gaussian(x, sigma)``, truncated at 4 sigma, borders replicated.
    Deterministic; no difference to the reference beyond float32 arithmetic."""
    return _ops.gaussian_blur(x, sigma, mode="nearest").clamp_(0.0, 1.0)


@register_corruption(
    "defocus_blur",
    params={
        "imagenet": ((3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5)),
        "cifar": ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)),
        "tinyimagenet": ((0.5, 0.6), (1, 0.1), (1.5, 0.1), (2.5, 0.01), (3, 0.1)),
        "mnist": ((0.5, 0.6), (1, 0.1), (1.5, 0.1), (2.5, 0.01), (3, 0.1)),
    },
)
def defocus_blur(x: torch.Tensor, params: tuple[float, float], rng: BatchRNG) -> torch.Tensor:
    """Defocus blur ``disk(radius, alias_blur) * x`` per channel (Hendrycks & Dietterich 2019).

    The anti-aliased disk is :func:`~birdkit.corruptions._ops.disk_kernel`, applied with
    reflect-101 borders as the reference ``cv2.filter2D(x, -1, kernel)`` by
    :func:`~birdkit.corruptions._ops.correlate2d_fast` (the disk as a few rank-1 kernels, or an
    FFT for large images). Deterministic; no difference to the reference beyond float32
    arithmetic."""
    radius, alias_blur = params
    return _ops.correlate2d_fast(x, _ops.disk_kernel(radius, alias_blur), mode="mirror").clamp_(0.0, 1.0)


# --------------------------------------------------------------------------------------------
# Glass blur
# --------------------------------------------------------------------------------------------


def _glass_positions(h: int, w: int, d: int) -> np.ndarray:
    """Flat indices of the pixels the reference visits, in its order: ``h`` from ``H - d``
    down to ``d + 1``, within it ``w`` from ``W - d`` down to ``d + 1`` (descending)."""
    rows = np.arange(h - d, d, -1)
    cols = np.arange(w - d, d, -1)
    return (rows[:, None] * w + cols[None, :]).reshape(-1)


def _local_shuffle(x: torch.Tensor, max_delta: int, offsets: torch.Tensor) -> torch.Tensor:
    """The reference's pixel "swap" sweeps, computed exactly with gathers.

    The reference's ``x[h, w], x[h', w'] = x[h', w'], x[h, w]`` on an ``(H, W, 3)`` array does
    not swap: the right-hand ``x[h, w]`` is a view, so after the first assignment the second
    writes the new value back. Each visited pixel ``p`` (in the order of
    :func:`_glass_positions`) thus *copies* the current value at ``q = p + (dy, dx)``. That
    value is already overwritten when ``q`` was visited before ``p`` (``q`` in the visited set
    with a larger flat index), so the copy follows a chain ``p -> q -> q' -> ...`` back to the
    first pixel not yet visited, whose start-of-sweep value is taken. Flat indices strictly
    increase along a chain, so the chains are resolved by pointer doubling (``log2`` of the
    longest chain gathers) for all pixels and images at once; the result equals the sequential
    sweep for the same offsets.

    Args:
        x: ``(N, C, H, W)``.
        max_delta: ``d``.
        offsets: ``(N, iterations, P, 2)`` integer ``(dy, dx)`` in ``[-d, d - 1]``, one per
            visited position (``P`` of them) in visiting order.
    """
    n, c, h, w = x.shape
    dev = x.device
    pos = torch.as_tensor(_glass_positions(h, w, int(max_delta)), device=dev)
    visited = torch.zeros(h * w, dtype=torch.bool, device=dev)
    visited[pos] = True
    ident = torch.arange(h * w, device=dev).expand(n, h * w)
    flat = x.reshape(n, c, h * w)
    for it in range(offsets.shape[1]):
        off = offsets[:, it].to(dev)
        q = pos[None, :] + off[..., 0] * w + off[..., 1]  # (N, P)
        chained = visited[q] & (q > pos[None, :])
        nxt = ident.clone()
        nxt[:, pos] = torch.where(chained, q, pos[None, :].expand_as(q))
        src = ident.clone()
        src[:, pos] = q
        while True:
            jumped = nxt.gather(1, nxt)
            if torch.equal(jumped, nxt):
                break
            nxt = jumped
        idx = src.gather(1, nxt)
        flat = flat.gather(2, idx[:, None, :].expand(n, c, h * w))
    return flat.reshape(n, c, h, w)


@register_corruption(
    "glass_blur",
    params={
        "imagenet": ((0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2)),
        "cifar": ((0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)),
        "tinyimagenet": ((0.1, 1, 1), (0.5, 1, 1), (0.6, 1, 2), (0.7, 2, 1), (0.9, 2, 2)),
        "mnist": ((0.1, 1, 1), (0.5, 1, 1), (0.6, 1, 2), (0.7, 2, 2), (0.9, 2, 3)),
    },
)
def glass_blur(x: torch.Tensor, params: tuple[float, int, int], rng: BatchRNG) -> torch.Tensor:
    """Glass blur ``G_sigma * scramble(uint8(G_sigma * x))`` (Hendrycks & Dietterich 2019).

    ``params = (sigma, max_delta, iterations)``. As the reference: blur (replicated borders),
    store as uint8 (truncation), ``iterations`` sweeps over the interior pixels from bottom-right
    to top-left, each pixel taking the current value of the pixel at a random offset in
    ``[-max_delta, max_delta - 1]^2``, blur again.

    The reference's loop reads as a swap but copies on an ``(H, W, 3)`` array (see
    :func:`_local_shuffle`); the published ImageNet-C, CIFAR-10-C and Tiny-ImageNet-C images
    were made that way, and so is this, for grayscale images too. The sequential Python sweep
    is replaced by an exact vectorised equivalent; offsets come from ``rng.randint`` instead of
    NumPy's global generator.
    """
    sigma, max_delta, iterations = float(params[0]), int(params[1]), int(params[2])
    n, c, h, w = x.shape
    n_pos = max(h - 2 * max_delta, 0) * max(w - 2 * max_delta, 0)
    y = torch.floor(_ops.gaussian_blur(x, sigma, mode="nearest").clamp_(0.0, 1.0) * 255.0).div_(255.0)
    if iterations > 0 and n_pos > 0:
        offsets = rng.randint(-max_delta, max_delta, iterations, n_pos, 2)  # (N, it, P, (dy, dx))
        y = _local_shuffle(y, max_delta, offsets)
    return _ops.gaussian_blur(y, sigma, mode="nearest").clamp_(0.0, 1.0)


# --------------------------------------------------------------------------------------------
# Motion blur, zoom blur
# --------------------------------------------------------------------------------------------

#: The reference draws the motion direction uniformly in [-MAX_ANGLE, MAX_ANGLE] degrees.
MOTION_MAX_ANGLE = 45.0


@register_corruption(
    "motion_blur",
    params={
        "imagenet": ((10, 3), (15, 5), (15, 8), (15, 12), (20, 15)),
        "cifar": ((6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5)),
        "tinyimagenet": ((10, 1), (10, 1.5), (10, 2), (10, 2.5), (12, 3)),
        "mnist": ((10, 1), (10, 1.5), (10, 2), (10, 2.5), (12, 3)),
    },
)
def motion_blur(x: torch.Tensor, params: tuple[int, float], rng: BatchRNG) -> torch.Tensor:
    """Motion blur ``sum_i k_i x(p + i u_a)`` along a random direction (Hendrycks & Dietterich
    2019): ImageMagick's ``MotionBlurImage(radius, sigma, angle)``, angle uniform in [-45, 45]
    degrees per image, borders replicated (:func:`~birdkit.corruptions._ops.motion_blur`).

    Differences: the reference blurs an 8-bit PNG in ImageMagick and reads 8 bits back, here
    the filter runs in float32; grayscale images stay 1-channel; the ``imagecorruptions``
    port's cut of taps at the image size is not applied (ImageMagick has none)."""
    radius, sigma = params
    # on the CPU: the angles only shape the taps, computed there (see _ops.motion_blur_taps)
    angles = rng.rand(1, device="cpu")[:, 0].double() * (2.0 * MOTION_MAX_ANGLE) - MOTION_MAX_ANGLE
    return _ops.motion_blur(x, int(radius), float(sigma), angles).clamp_(0.0, 1.0)


def _zooms(start: float, stop: float, step: float) -> tuple[float, ...]:
    # np.arange exactly as the reference (same float values, same count).
    return tuple(np.arange(start, stop, step).tolist())


_ZOOM_CIFAR = (
    _zooms(1, 1.06, 0.01),
    _zooms(1, 1.11, 0.01),
    _zooms(1, 1.16, 0.01),
    _zooms(1, 1.21, 0.01),
    _zooms(1, 1.26, 0.01),
)


@register_corruption(
    "zoom_blur",
    params={
        "imagenet": (
            _zooms(1, 1.11, 0.01),
            _zooms(1, 1.16, 0.01),
            _zooms(1, 1.21, 0.02),
            _zooms(1, 1.26, 0.02),
            _zooms(1, 1.31, 0.03),
        ),
        "cifar": _ZOOM_CIFAR,
        "tinyimagenet": _ZOOM_CIFAR,
        "mnist": _ZOOM_CIFAR,
    },
)
def zoom_blur(x: torch.Tensor, zooms: tuple[float, ...], rng: BatchRNG) -> torch.Tensor:
    """Zoom blur ``(x + sum_z clipped_zoom(x, z)) / (len(zooms) + 1)`` (Hendrycks & Dietterich
    2019), ``zooms`` the reference's ``np.arange`` factors and ``clipped_zoom`` that of
    ``make_imagenet_c.py`` (:func:`~birdkit.corruptions._ops.clipped_zoom`). Deterministic.

    Differences: none beyond float32 arithmetic for square images; non-square ones (which the
    reference does not handle) are cropped and zoomed per axis. (``imagecorruptions`` trims the
    zoomed image at the top-left instead of the centre.)"""
    out = x.clone()
    for z in zooms:
        out.add_(_ops.clipped_zoom(x, float(z)))
    return out.div_(len(zooms) + 1).clamp_(0.0, 1.0)
