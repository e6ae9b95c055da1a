"""MNIST-C's corruptions that ImageNet-C lacks: a second held-out family for 28x28 grayscale.

Mu & Gilmer, "MNIST-C: A Robustness Benchmark for Computer Vision" (arXiv 1906.02337) corrupt
MNIST with 15 corruptions; 7 of them (shot and impulse noise, glass and motion blur, brightness,
fog, spatter) are ImageNet-C's and already registered (and used in training here). The other 8
are registered here and listed in :data:`MNISTC_CORRUPTIONS`: four affine maps (shear, scale,
rotate, translate, with scikit-image's bilinear ``warp``), three line overlays (stripe,
dotted_line, zigzag) and the Canny edge map (scikit-image's ``canny``). They are held out: never
used for training, model selection or augmentation.

MNIST-C defines one parameter per corruption. The registry wants five severities per family, so
each ``mnist`` table puts MNIST-C's parameter at severity 3, with milder values at 1-2 and
stronger ones at 4-5 (damage grows with severity). Only the ``mnist`` family exists: the
corruptions are MNIST-C's, designed for 28-px digits. Tables, MNIST-C's values, the tests and the
differences to MNIST-C's code are in ``docs/corruptions.md`` ("MNIST-C family").

All functions take and return ``(N, C, H, W)`` batches in [0, 1]; randomness (a sign, a line's
rows) is drawn per image from its :class:`~birdkit.corruptions._base.BatchRNG` stream, as MNIST-C
draws them per image from NumPy's global generator. Filters and resampling come from
:mod:`birdkit.corruptions._ops`.
"""

from __future__ import annotations

import torch

from birdkit.corruptions import _ops
from birdkit.corruptions._base import BatchRNG, register_corruption

__all__ = [
    "MNISTC_CORRUPTIONS", "canny_edges", "dotted_line", "line_field", "rotate", "scale", "shear",
    "stripe", "stripe_width", "translate", "zigzag", "zigzag_points",
]

#: The 8 MNIST-C corruptions not in ImageNet-C, held out (Mu & Gilmer 2019; docs/corruptions.md).
MNISTC_CORRUPTIONS: tuple[str, ...] = (
    "shear", "scale", "rotate", "translate", "stripe", "dotted_line", "zigzag", "canny_edges",
)

#: MNIST-C's geometry is written for 28-px images; pixel-valued parameters refer to that size.
MNIST_SIDE = 28


# --------------------------------------------------------------------------------------------
# Affine: shear, rotate, scale, translate
# --------------------------------------------------------------------------------------------


def _random_signs(rng: BatchRNG, k: int) -> torch.Tensor:
    """``(N, k)`` float64 signs, -1 or +1 with probability 1/2 each (MNIST-C's
    ``np.random.choice([-1, 1], k)``), from each image's stream. On the CPU: the affine maps are
    built there and :func:`_ops.affine_warp` moves them to the images' device."""
    return (rng.randint(0, 2, k, device="cpu") * 2 - 1).to(torch.float64)


def _centred(linear: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """``(N, 2, 3)`` inverse maps with the ``(N, 2, 2)`` linear parts ``linear`` that keep the
    image centre ``((W - 1) / 2, (H - 1) / 2)`` fixed (MNIST-C's translation
    ``13.5 * (1 - a1 - a2)`` for 28 px)."""
    centre = torch.tensor([(w - 1) / 2.0, (h - 1) / 2.0], dtype=torch.float64)
    shift = centre - linear @ centre
    return torch.cat((linear, shift[..., None]), dim=2)


# Severity 3 is MNIST-C's own parameter (its functions' default severity); 1-2 milder, 4-5 stronger.
_SHEAR = {
    # shear angle (radians), random sign; MNIST-C: 0.4 (its table 0.2-1.0, default entry 0.4).
    # 0.2, 0.6 and 0.8 are entries of MNIST-C's table too.
    "mnist": (0.2, 0.3, 0.4, 0.6, 0.8),
}


@register_corruption("shear", params=_SHEAR)
def shear(x: torch.Tensor, c: float, rng: BatchRNG) -> torch.Tensor:
    """Shear about the image centre by ``+-c`` radians (random sign per image), MNIST-C's
    ``warp(x, inverse_map=AffineTransform(shear=+-c, translation=t))`` (docs/corruptions.md).

    The inverse map's linear part is ``[[1, -sin(s)], [0, cos(s)]]``: scikit-image's
    ``AffineTransform(shear=s)`` of 2019, with which MNIST-C was made (scikit-image 0.21 changed
    it to ``[[1, -tan(s)], [0, 1]]``). Bilinear, zeros outside (:func:`_ops.affine_warp`)."""
    n, _, h, w = x.shape
    s = float(c) * _random_signs(rng, 1)[:, 0]
    lin = torch.zeros(n, 2, 2, dtype=torch.float64)
    lin[:, 0, 0] = 1.0
    lin[:, 0, 1] = -torch.sin(s)
    lin[:, 1, 1] = torch.cos(s)
    return _ops.affine_warp(x, _centred(lin, h, w)).clamp_(0.0, 1.0)


_ROTATE = {
    # rotation (radians), random sign; MNIST-C: 0.4 (about 23 degrees; its table 0.2-1.0).
    "mnist": (0.2, 0.3, 0.4, 0.6, 0.8),
}


@register_corruption("rotate", params=_ROTATE)
def rotate(x: torch.Tensor, c: float, rng: BatchRNG) -> torch.Tensor:
    """Rotation about the image centre by ``+-c`` radians (random sign per image), MNIST-C's
    ``warp(x, inverse_map=AffineTransform(rotation=+-c, translation=t))``: inverse map
    ``[[cos, -sin], [sin, cos]]``, bilinear, zeros outside (docs/corruptions.md)."""
    n, _, h, w = x.shape
    a = float(c) * _random_signs(rng, 1)[:, 0]
    cos, sin = torch.cos(a), torch.sin(a)
    lin = torch.stack((torch.stack((cos, -sin), 1), torch.stack((sin, cos), 1)), 1)
    return _ops.affine_warp(x, _centred(lin, h, w)).clamp_(0.0, 1.0)


_SCALE = {
    # zoom factor (< 1 shrinks); MNIST-C: 0.7. The table is MNIST-C's own (inverse-map scales
    # 1/0.9 ... 1/0.5), whose default severity is already 3.
    "mnist": (0.9, 0.8, 0.7, 0.6, 0.5),
}


@register_corruption("scale", params=_SCALE)
def scale(x: torch.Tensor, c: float, rng: BatchRNG) -> torch.Tensor:
    """Shrink about the image centre by the factor ``c``, MNIST-C's ``warp(x,
    inverse_map=AffineTransform(scale=(1/c, 1/c), translation=t))``: bilinear, zeros outside
    (docs/corruptions.md). Deterministic."""
    n, _, h, w = x.shape
    lin = torch.eye(2, dtype=torch.float64).expand(n, 2, 2) * (1.0 / float(c))
    return _ops.affine_warp(x, _centred(lin, h, w)).clamp_(0.0, 1.0)


_TRANSLATE = {
    # shift (pixels) along each axis, random sign per axis; MNIST-C: 3. The table is MNIST-C's
    # own (1-5 px), whose default severity is already 3.
    "mnist": (1, 2, 3, 4, 5),
}


@register_corruption("translate", params=_TRANSLATE)
def translate(x: torch.Tensor, c: float, rng: BatchRNG) -> torch.Tensor:
    """Shift by ``c`` pixels along both axes with independent random signs, MNIST-C's ``warp(x,
    inverse_map=AffineTransform(translation=(+-c, +-c)))``: the output at ``(col, row)`` is the
    input at ``(col + dx, row + dy)``, zeros outside (docs/corruptions.md)."""
    n = x.shape[0]
    signs = _random_signs(rng, 2)  # (dx, dy)
    maps = torch.zeros(n, 2, 3, dtype=torch.float64)
    maps[:, 0, 0] = maps[:, 1, 1] = 1.0
    maps[:, :, 2] = float(c) * signs
    return _ops.affine_warp(x, maps).clamp_(0.0, 1.0)


# --------------------------------------------------------------------------------------------
# Line overlays: stripe, dotted_line, zigzag
# --------------------------------------------------------------------------------------------

_STRIPE = {
    # columns inverted on each side, at 28 px (scaled with the width); MNIST-C: 7 (x[:, :7] and
    # x[:, 21:] inverted, a quarter of the width each).
    "mnist": (3, 5, 7, 9, 11),
}


def stripe_width(c: float, width: int) -> int:
    """Columns inverted on each side of a ``width``-px image for the table entry ``c``
    (``c`` at 28 px, scaled and rounded, at most half the width)."""
    return min(int(round(float(c) * width / MNIST_SIDE)), width // 2)


@register_corruption("stripe", params=_STRIPE)
def stripe(x: torch.Tensor, c: float, rng: BatchRNG) -> torch.Tensor:
    """Invert (``1 - x``) the ``k`` leftmost and ``k`` rightmost columns, ``k`` =
    :func:`stripe_width` (MNIST-C's stripe: ``k = 7`` at 28 px). Deterministic."""
    k = stripe_width(c, x.shape[-1])
    y = x.clone()
    if k > 0:
        y[..., :k] = 1.0 - x[..., :k]
        y[..., -k:] = 1.0 - x[..., -k:]
    return y


#: MNIST-C's line intensity at vertical distance ``d`` is ``log(1 - d / width) + 1`` (clipped to
#: [0, 1]), so it vanishes at ``d = width * (1 - 1/e)``; the distance is capped just below
#: ``width`` to keep the logarithm finite.
_LINE_CAP = 1e-10


def line_field(
    c0: torch.Tensor, r0: torch.Tensor, c1: torch.Tensor, r1: torch.Tensor, width: float, h: int, w: int
) -> torch.Tensor:
    """MNIST-C's anti-aliased line through ``(c0, r0)`` and ``(c1, r1)`` (column, row), one per
    image: ``(N, H, W)`` float64 intensities ``clip(log(1 - d / width) + 1, 0, 1)`` with ``d`` the
    *vertical* distance of pixel ``(row, col)`` to the line, on columns
    ``floor(c0) <= col < ceil(c1)`` only; all zero where ``c1 == c0``.

    Args:
        c0, r0, c1, r1: ``(N,)`` float64 end points.
        width: MNIST-C's decay length (2.3); intensity is > 0 within ``0.632 width`` rows.
        h, w: image size.
    """
    dev = c0.device
    cols = torch.arange(w, dtype=torch.float64, device=dev)[None, None, :]
    rows = torch.arange(h, dtype=torch.float64, device=dev)[None, :, None]
    c0, r0, c1, r1 = (t.to(torch.float64)[:, None, None] for t in (c0, r0, c1, r1))
    run = c1 - c0
    slope = (r1 - r0) / torch.where(run != 0, run, torch.ones_like(run))
    centre = slope * (cols - c0) + r0
    d = (rows - centre).abs().clamp(max=float(width) - _LINE_CAP)
    v = (torch.log(1.0 - d / float(width)) + 1.0).clamp(0.0, 1.0)
    on = (cols >= torch.floor(c0)) & (cols < torch.ceil(c1)) & (run != 0)
    return torch.where(on, v, torch.zeros_like(v))


def _overlay(x: torch.Tensor, field: torch.Tensor) -> torch.Tensor:
    """``clip(x + field)`` on every channel (a white line), summed in float64."""
    return (x.double() + field[:, None]).clamp_(0.0, 1.0).to(x.dtype)


_LINE_WIDTH = {
    # the line's decay length (pixels at 28 px): intensity > 0 within 0.632 * width rows of the
    # line; MNIST-C: 2.3 (a line about 3 px thick).
    "mnist": (1.5, 1.9, 2.3, 2.7, 3.1),
}

#: MNIST-C's dashes: 2 columns off, 2 on, starting with off at column 0.
DASH = 2


@register_corruption("dotted_line", params=_LINE_WIDTH)
def dotted_line(x: torch.Tensor, width: float, rng: BatchRNG) -> torch.Tensor:
    """A dashed white line across the image (MNIST-C's dotted_line): from ``(0, r0)`` to
    ``(W - 1, r1)`` with ``r0, r1`` uniform in ``0..H - 2`` per image, drawn by
    :func:`line_field` with decay length ``width``, then columns ``[0, 2), [4, 6), ...``
    blanked; ``clip(x + line)``. Column ``W - 1`` stays blank, as in MNIST-C (its line stops
    before the end column)."""
    n, _, h, w = x.shape
    r = rng.randint(0, h - 1, 2).to(device=x.device, dtype=torch.float64)
    zero = torch.zeros(n, dtype=torch.float64, device=x.device)
    field = line_field(zero, r[:, 0], zero + (w - 1), r[:, 1], width, h, w)
    dash_on = (torch.arange(w, device=x.device) // DASH) % 2 == 1
    return _overlay(x, field * dash_on.to(field.dtype))


#: MNIST-C's zigzag: teeth of length ``a`` along the line and amplitude ``b`` across it (pixels),
#: from column 2 to column ``W - 3``; the end row differs from the start row by -5..4.
ZIG_LENGTH, ZIG_AMPLITUDE, ZIG_MARGIN, ZIG_DRIFT = 2.0, 2.0, 2, 5


def zigzag_points(r0: torch.Tensor, r1: torch.Tensor, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The corners of MNIST-C's zigzag for start rows ``r0`` and end rows ``r1`` (``(N,)``).

    In a frame along the segment from ``(c0, r0)`` to ``(c1, r1)`` (``c0 = 2``, ``c1 = W - 3``,
    angle ``t = atan((r1 - r0) / (c1 - c0))``, length ``d = (c1 - c0) / cos t``) the corners are
    ``(0, 0)``, ``((2i + 1) a, (-1)^i b)`` for ``i = 0 .. floor((d - a) / 2a)``, and, when
    ``d`` is not a multiple of ``2a``, a last one at ``(d, v / (2 (d - q)))`` with ``v`` the
    last corner's offset and ``q = 2a floor(d / 2a)`` (MNIST-C's end point, kept as it is).
    They are rotated by ``t`` and moved to ``(c0, r0)``.

    Returns:
        ``(points (N, P, 2) float64 (col, row), valid (N, P) bool)``; the valid points of an
        image are a prefix, consecutive valid points are the segments to draw.
    """
    a, b = ZIG_LENGTH, ZIG_AMPLITUDE
    c0, c1 = float(ZIG_MARGIN), float(max(w - 1 - ZIG_MARGIN, ZIG_MARGIN + 1))
    r0, r1 = r0.to(torch.float64), r1.to(torch.float64)
    dev = r0.device
    theta = torch.atan((r1 - r0) / (c1 - c0))
    d = (c1 - c0) / torch.cos(theta)
    n_teeth = (torch.floor((d - a) / (2 * a)) + 1).clamp(min=0).to(torch.int64)  # (N,)
    max_teeth = int(n_teeth.max()) if n_teeth.numel() else 0
    i = torch.arange(max_teeth, dtype=torch.float64, device=dev)
    u = torch.cat((torch.zeros(1, dtype=torch.float64, device=dev), (2 * i + 1) * a))
    v = torch.cat((torch.zeros(1, dtype=torch.float64, device=dev), b * (1.0 - 2.0 * (i % 2))))
    u, v = u.expand(len(d), -1), v.expand(len(d), -1)
    valid = torch.arange(max_teeth + 1, device=dev)[None, :] <= n_teeth[:, None]
    # the end point goes right after the last tooth: write it at index n_teeth + 1
    q = 2 * a * torch.floor(d / (2 * a))
    has_end = d != q
    last_v = torch.where(n_teeth > 0, b * (1.0 - 2.0 * ((n_teeth - 1) % 2)).to(torch.float64), torch.zeros_like(d))
    end_v = last_v / torch.where(has_end, 2 * (d - q), torch.ones_like(d))
    u = torch.cat((u, torch.zeros_like(d)[:, None]), dim=1)
    v = torch.cat((v, torch.zeros_like(d)[:, None]), dim=1)
    valid = torch.cat((valid, torch.zeros_like(valid[:, :1])), dim=1)
    end_at = (n_teeth + 1)[:, None]
    u = u.scatter(1, end_at, d[:, None])
    v = v.scatter(1, end_at, end_v[:, None])
    valid = valid.scatter(1, end_at, has_end[:, None])
    cos, sin = torch.cos(theta)[:, None], torch.sin(theta)[:, None]
    cols = cos * u - sin * v + c0
    rows = sin * u + cos * v + r0[:, None]
    return torch.stack((cols, rows), dim=-1), valid


@register_corruption("zigzag", params=_LINE_WIDTH)
def zigzag(x: torch.Tensor, width: float, rng: BatchRNG) -> torch.Tensor:
    """A white zigzag across the image (MNIST-C's zigzag): start row ``r0`` uniform in
    ``0..H - 2``, end row ``r0 + U{-5..4}``, corners from :func:`zigzag_points`, each segment
    drawn by :func:`line_field` with decay length ``width``; ``clip(x + sum of segments)``
    (MNIST-C clips after each segment, which is the same for non-negative segments)."""
    n, _, h, w = x.shape
    # the corners are computed on the CPU (their count sets a loop length) and then moved
    r0 = rng.randint(0, h - 1, 1, device="cpu")[:, 0].to(torch.float64)
    r1 = r0 + rng.randint(-ZIG_DRIFT, ZIG_DRIFT, 1, device="cpu")[:, 0].to(torch.float64)
    pts, valid = zigzag_points(r0, r1, w)
    pts, valid = pts.to(x.device), valid.to(x.device)
    field = torch.zeros(n, h, w, dtype=torch.float64, device=x.device)
    for k in range(1, pts.shape[1]):
        seg = line_field(pts[:, k - 1, 0], pts[:, k - 1, 1], pts[:, k, 0], pts[:, k, 1], width, h, w)
        field += seg * valid[:, k, None, None].to(seg.dtype)
    return _overlay(x, field)


# --------------------------------------------------------------------------------------------
# canny_edges
# --------------------------------------------------------------------------------------------

#: scikit-image's default Canny thresholds on float images (10% and 20% of the range), MNIST-C's.
CANNY_LOW, CANNY_HIGH = 0.1, 0.2

_CANNY = {
    # (weight of the edge map, Gaussian sigma): y = (1 - weight) x + weight * edges.
    # MNIST-C: (1, 1), the bare edge map of skimage.feature.canny(x) (sigma 1). Milder levels
    # keep a faded copy of the image under the edges; stronger ones smooth more before edge
    # detection (fewer, coarser edges).
    "mnist": ((0.5, 1.0), (0.75, 1.0), (1.0, 1.0), (1.0, 1.5), (1.0, 2.0)),
}


@register_corruption("canny_edges", params=_CANNY)
def canny_edges(x: torch.Tensor, params: tuple[float, float], rng: BatchRNG) -> torch.Tensor:
    """The image replaced by (at severities 1-2: blended with) its binary Canny edge map, as
    MNIST-C's ``skimage.feature.canny(x)`` (:func:`_ops.canny_bilinear`, thresholds 0.1 / 0.2,
    float64). 3-channel images: edges of the luma, on every channel. Deterministic."""
    weight, sigma = float(params[0]), float(params[1])
    gray = x if x.shape[1] == 1 else _ops.rgb_to_gray(x)
    edges = _ops.canny_bilinear(gray[:, 0], sigma, CANNY_LOW, CANNY_HIGH).to(x.dtype)[:, None]
    if weight >= 1.0:
        return edges.expand_as(x).clone()
    return ((1.0 - weight) * x + weight * edges).clamp_(0.0, 1.0)
