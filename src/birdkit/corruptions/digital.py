"""Digital corruptions: brightness, contrast, elastic_transform, pixelate, jpeg_compression,
saturate (Hendrycks & Dietterich 2019).

Torch versions of the digital corruptions of D. Hendrycks and T. Dietterich, "Benchmarking
Neural Network Robustness to Common Corruptions and Perturbations", ICLR 2019; the ``imagenet``,
``cifar`` and ``tinyimagenet`` tables are copied from the paper's ``make_imagenet_c.py``,
``make_cifar_c.py`` and ``make_tinyimagenet_c.py``. The ``mnist`` tables (28 px grayscale) are
birdkit's own; the rationale and the differences to the reference are in
``docs/corruptions_weather_digital.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import torch
import torch.nn.functional as F
from torchvision.io import decode_jpeg, encode_jpeg

from birdkit.corruptions import _ops
from birdkit.corruptions._base import BatchRNG, register_corruption

# --------------------------------------------------------------------------------------------
# brightness, contrast, saturate
# --------------------------------------------------------------------------------------------

def _map_hsv(x: torch.Tensor, channel: int, fn: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """RGB images with one HSV channel (0 = H, 1 = S, 2 = V) replaced by ``clip(fn(channel))``,
    as the reference's ``skimage.color.rgb2hsv`` / ``hsv2rgb`` round trip."""
    hsv = _ops.rgb_to_hsv(x)
    hsv[:, channel : channel + 1] = fn(hsv[:, channel : channel + 1]).clamp(0.0, 1.0)
    return _ops.hsv_to_rgb(hsv).clamp_(0.0, 1.0)


_BRIGHTNESS = {
    "imagenet": (0.1, 0.2, 0.3, 0.4, 0.5),
    "cifar": (0.05, 0.1, 0.15, 0.2, 0.3),
    "tinyimagenet": (0.1, 0.2, 0.3, 0.4, 0.5),
    # CIFAR-10-C's table.
    "mnist": (0.05, 0.1, 0.15, 0.2, 0.3),
}


@register_corruption("brightness", params=_BRIGHTNESS)
def brightness(x: torch.Tensor, c: float, rng: BatchRNG) -> torch.Tensor:
    """Brightness: HSV value ``V <- clip(V + c, 0, 1)``, hue and saturation kept (as the
    reference, which uses ``skimage.color.rgb2hsv``/``hsv2rgb``; same formulas here in torch).
    For 1-channel images ``clip(x + c)``, which is the same operation (gray has S = 0)."""
    if x.shape[1] == 1:
        return (x + c).clamp_(0.0, 1.0)
    return _map_hsv(x, 2, lambda v: v + c)


_CONTRAST = {
    "imagenet": (0.4, 0.3, 0.2, 0.1, 0.05),
    "cifar": (0.75, 0.5, 0.4, 0.3, 0.15),
    "tinyimagenet": (0.4, 0.3, 0.2, 0.1, 0.05),
    # CIFAR-10-C's table.
    "mnist": (0.75, 0.5, 0.4, 0.3, 0.15),
}


@register_corruption("contrast", params=_CONTRAST)
def contrast(x: torch.Tensor, c: float, rng: BatchRNG) -> torch.Tensor:
    """Contrast: ``(x - mean) * c + mean`` with the per-image, per-channel mean over pixels (as the
    reference's ``np.mean(x, axis=(0, 1))``). The mean is accumulated in float64."""
    mean = x.double().mean(dim=(2, 3), keepdim=True).to(x.dtype)
    return ((x - mean) * c + mean).clamp_(0.0, 1.0)


# (saturation factor, saturation offset)
_SATURATE = {
    "imagenet": ((0.3, 0), (0.1, 0), (2, 0), (5, 0.1), (20, 0.2)),
    "cifar": ((0.3, 0), (0.1, 0), (1.5, 0), (2, 0.1), (2.5, 0.2)),
    "tinyimagenet": ((0.3, 0), (0.1, 0), (2, 0), (5, 0.1), (30, 0.2)),
    # Designed for 1-channel images through the synthetic saturation of `saturate` (see its
    # docstring): one direction only (over-saturation), so damage grows with severity.
    "mnist": ((1.5, 0), (2, 0), (2.5, 0.05), (3, 0.1), (4, 0.2)),
}


@register_corruption("saturate", params=_SATURATE)
def saturate(x: torch.Tensor, c: tuple, rng: BatchRNG) -> torch.Tensor:
    """Saturate: HSV saturation ``S <- clip(S * k + o, 0, 1)`` (as the reference, via
    ``skimage.color`` formulas re-implemented in torch).

    1-channel images have no saturation (the reference's gray path is a no-op). birdkit applies
    the same mapping to a *synthetic* saturation: each gray pixel is read as the minimum channel
    of a colour whose maximum channel is the image's brightest value ``V``, i.e.
    ``S = 1 - x / V`` (what HSV gives for such a pixel), then ``x <- V * (1 - clip(S * k + o))``.
    ``k < 1`` washes the image out towards ``V``, ``k > 1`` and ``o > 0`` crush the darker half
    of the range to 0 and stretch the bright end: the intensity effect that over-saturation has
    on the weakest channel of a colour image. Like HSV saturation it is invariant to scaling the
    image.
    """
    k, o = c
    if x.shape[1] == 1:
        v = x.amax(dim=(2, 3), keepdim=True)
        vs = torch.where(v > 0, v, torch.ones_like(v))
        s = (1.0 - x / vs) * k + o
        return (v * (1.0 - s.clamp(0.0, 1.0))).clamp_(0.0, 1.0)
    return _map_hsv(x, 1, lambda sat: sat * k + o)


# --------------------------------------------------------------------------------------------
# elastic_transform
# --------------------------------------------------------------------------------------------

# (alpha: displacement scale, sigma: displacement smoothing, affine: corner jitter), in pixels.
_ELASTIC = {
    # 244 (sic, the reference's constant; "should have been 224, but ultimately nothing is incorrect")
    "imagenet": (
        (244 * 2, 244 * 0.7, 244 * 0.1),
        (244 * 2, 244 * 0.08, 244 * 0.2),
        (244 * 0.05, 244 * 0.01, 244 * 0.02),
        (244 * 0.07, 244 * 0.01, 244 * 0.02),
        (244 * 0.12, 244 * 0.01, 244 * 0.02),
    ),
    "cifar": (
        (32 * 0, 32 * 0, 32 * 0.08),
        (32 * 0.05, 32 * 0.2, 32 * 0.07),
        (32 * 0.08, 32 * 0.06, 32 * 0.06),
        (32 * 0.1, 32 * 0.04, 32 * 0.05),
        (32 * 0.1, 32 * 0.03, 32 * 0.03),
    ),
    "tinyimagenet": (
        (64 * 0, 64 * 0, 64 * 0.08),
        (64 * 0.05, 64 * 0.3, 64 * 0.06),
        (64 * 0.1, 64 * 0.08, 64 * 0.06),
        (64 * 0.1, 64 * 0.03, 64 * 0.03),
        (64 * 0.16, 64 * 0.03, 64 * 0.02),
    ),
    # Simard et al. (2003)'s MNIST elastic distortion (sigma 4, alpha up to 34) with a small
    # growing affine jitter: every component grows with severity.
    "mnist": ((10, 4, 0.5), (16, 4, 1.0), (22, 4, 1.5), (28, 4, 2.0), (34, 4, 2.5)),
}


#: Floor of |det| of the control-point matrix (three collinear jittered points).
_MIN_DET = 1e-12


def _affine_inverse(p1: torch.Tensor, p2: torch.Tensor) -> torch.Tensor:
    """The ``(N, 2, 3)`` affine maps sending the three points ``p2[n]`` to ``p1`` (float64):
    ``cv2.getAffineTransform(p1, p2)`` inverted, i.e. the map ``cv2.warpAffine`` samples with."""
    n = p2.shape[0]
    ones = torch.ones(n, 3, 1, dtype=p2.dtype, device=p2.device)
    m = torch.cat((p2, ones), dim=2)  # rows (x, y, 1) of the three points
    # adjugate inverse of each 3x3 (batch-independent arithmetic)
    a, b, c = m[:, 0, 0], m[:, 0, 1], m[:, 0, 2]
    d, e, f = m[:, 1, 0], m[:, 1, 1], m[:, 1, 2]
    g, h, i = m[:, 2, 0], m[:, 2, 1], m[:, 2, 2]
    co = torch.stack(
        (e * i - f * h, -(d * i - f * g), d * h - e * g,
         -(b * i - c * h), a * i - c * g, -(a * h - b * g),
         b * f - c * e, -(a * f - c * d), a * e - b * d), dim=1,
    ).view(n, 3, 3)
    det = a * co[:, 0, 0] + b * co[:, 0, 1] + c * co[:, 0, 2]
    det = torch.where(det.abs() < _MIN_DET, torch.full_like(det, _MIN_DET), det)  # collinear draw
    inv = co.transpose(1, 2) / det[:, None, None]  # inv(m)
    # A @ [x, y, 1]^T = p1 for the three points:  A = p1^T @ inv(m)^T
    return torch.matmul(p1.t().unsqueeze(0).expand(n, 2, 3), inv.transpose(1, 2))


@register_corruption("elastic_transform", params=_ELASTIC)
def elastic_transform(x: torch.Tensor, c: tuple, rng: BatchRNG) -> torch.Tensor:
    """Elastic transform: a random affine warp followed by a smooth random displacement field.

    As the reference: three points around the centre (``centre +- min(H, W) // 3``) are jittered
    by ``U(-affine, affine)`` and the image warped by the affine map they define (bilinear,
    ``BORDER_REFLECT_101``); then displacement fields ``dx, dy = alpha * G_sigma * U(-1, 1)``
    (Gaussian smoothing with truncate 3 and reflected borders) and bilinear resampling at
    ``(y + dy, x + dx)`` with half-sample reflection (``scipy.ndimage.map_coordinates``,
    ``mode='reflect'``). Both resamplings use ``grid_sample``.

    With the same uniform draws this reproduces the reference (OpenCV + SciPy) to about 1e-6.
    Difference: for non-square images the points are placed with ``x`` along the width (the
    reference builds them from ``(H, W)`` but OpenCV reads them as ``(x, y)``; the same for
    square images).
    """
    alpha, sigma, affine = c
    n, ch, h, w = x.shape
    dev = x.device
    u = rng.rand(6 + 2 * h * w).to(torch.float64)
    cy, cx, sq = h // 2, w // 2, min(h, w) // 3
    p1 = torch.tensor([[cx + sq, cy + sq], [cx + sq, cy - sq], [cx - sq, cy - sq]], dtype=torch.float64, device=dev)
    p2 = p1.unsqueeze(0) + (u[:, :6] * 2.0 - 1.0).view(n, 3, 2) * affine
    a = _affine_inverse(p1, p2)  # (N, 2, 3): output pixel -> source pixel
    ys = torch.arange(h, device=dev, dtype=torch.float64)
    xs = torch.arange(w, device=dev, dtype=torch.float64)
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    sx = a[:, 0, 0, None, None] * xx + a[:, 0, 1, None, None] * yy + a[:, 0, 2, None, None]
    sy = a[:, 1, 0, None, None] * xx + a[:, 1, 1, None, None] * yy + a[:, 1, 2, None, None]
    grid = torch.stack((sx * (2.0 / max(w - 1, 1)) - 1.0, sy * (2.0 / max(h - 1, 1)) - 1.0), dim=-1)
    x = F.grid_sample(x, grid.to(x.dtype), mode="bilinear", padding_mode="reflection", align_corners=True)
    if alpha == 0:
        return x.clamp_(0.0, 1.0)
    field = (u[:, 6:].view(n, 2, h, w) * 2.0 - 1.0).to(x.dtype)
    field = _ops.gaussian_blur(field, float(sigma), mode="reflect", truncate=3.0) * alpha
    gx = (xx.to(x.dtype) + field[:, 0] + 0.5) * (2.0 / w) - 1.0
    gy = (yy.to(x.dtype) + field[:, 1] + 0.5) * (2.0 / h) - 1.0
    x = F.grid_sample(x, torch.stack((gx, gy), dim=-1), mode="bilinear", padding_mode="reflection", align_corners=False)
    return x.clamp_(0.0, 1.0)


# --------------------------------------------------------------------------------------------
# pixelate
# --------------------------------------------------------------------------------------------

_PIXELATE = {
    "imagenet": (0.6, 0.5, 0.4, 0.3, 0.25),
    "cifar": (0.95, 0.9, 0.85, 0.75, 0.65),
    "tinyimagenet": (0.9, 0.8, 0.7, 0.6, 0.5),
    # CIFAR-10-C's factors (28 px -> 26, 25, 23, 21, 18 px).
    "mnist": (0.95, 0.9, 0.85, 0.75, 0.65),
}


@lru_cache(maxsize=128)
def _pixelate_matrix(n: int, factor: float) -> torch.Tensor:
    small = max(1, int(n * factor))
    down = _ops.pil_box_resize_matrix(n, small).double()
    up = _ops.pil_box_resize_matrix(small, n).double()
    return (up @ down).float()


@register_corruption("pixelate", params=_PIXELATE)
def pixelate(x: torch.Tensor, c: float, rng: BatchRNG) -> torch.Tensor:
    """Pixelate: Pillow ``BOX`` resize to ``int(W * c) x int(H * c)`` and ``BOX`` resize back
    (as the ImageNet-C/CIFAR-10-C code; ``imagecorruptions`` uses ``NEAREST`` for the way back,
    which selects the same pixels). Both resizes are one matrix per axis, reproducing Pillow's
    coefficients; unlike Pillow on 8-bit images, nothing is rounded to 8 bits."""
    h, w = x.shape[-2:]
    return _ops.separable(x, _pixelate_matrix(h, float(c)), _pixelate_matrix(w, float(c))).clamp_(0.0, 1.0)


# --------------------------------------------------------------------------------------------
# jpeg_compression
# --------------------------------------------------------------------------------------------

_JPEG = {
    "imagenet": (25, 18, 15, 10, 7),
    "cifar": (80, 65, 58, 50, 40),
    "tinyimagenet": (65, 58, 50, 40, 25),
    # CIFAR-10-C's qualities.
    "mnist": (80, 65, 58, 50, 40),
}


@register_corruption("jpeg_compression", params=_JPEG)
def jpeg_compression(x: torch.Tensor, c: int, rng: BatchRNG) -> torch.Tensor:
    """JPEG: encode at quality ``c`` and decode (libjpeg via ``torchvision.io``, standard IJG
    tables, 4:2:0 chroma subsampling; the reference uses Pillow's encoder with the same
    defaults). The image is first rounded to 8 bits, as the reference's PIL input. 1-channel
    images are coded as grayscale JPEG (``imagecorruptions`` converts L -> RGB -> JPEG -> L,
    which codes the same luma plane). Runs on the CPU whatever ``x``'s device (libjpeg; a GPU
    codec such as nvJPEG writes other bytes): the 8-bit images go to the CPU and the decoded
    ones back to ``x``'s device, so the result is the same on every device."""
    u8 = torch.round(x.detach().clamp(0.0, 1.0) * 255.0).to(torch.uint8).cpu()
    decoded = decode_jpeg(encode_jpeg(list(u8.unbind(0)), quality=int(c)))
    return torch.stack(decoded).to(device=x.device, dtype=x.dtype) / 255.0
