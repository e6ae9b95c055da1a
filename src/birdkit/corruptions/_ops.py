"""The one filter engine of the corruptions: batched image operations in torch (no OpenCV/SciPy
at run time).

Every operation works on a whole batch at once and gives each image exactly the result it would
get alone, so a corrupted image never depends on the batch it is in (``docs/corruptions.md``,
determinism contract). These ways of applying a linear filter are used, one per kind of filter:

* separable filters and resampling (Gaussian blur, box sums, zooms, box resizes) are per-axis
  matrices ``y = M_h @ x @ M_w^T``, the boundary rule folded into ``M`` (:func:`separable`);
* small non-separable kernels whose results must be exact (3x3 Sobel and emboss) are sums of
  shifted copies of a padded batch, one fused multiply-add per non-zero tap (:func:`correlate2d`);
* large non-separable kernels (the defocus disk) are a few rank-1 kernels, each a pair of
  per-axis matrices as above, or, for large images, a product of spectra (:func:`correlate2d_fast`);
* per-image kernels (motion blur, one direction per image) are sums of gathered shifts
  (:func:`motion_blur`);
* per-image affine resampling (MNIST-C's shear, rotate, scale, translate) is one
  ``grid_sample`` over a float64 grid (:func:`affine_warp`);
* filters whose output is thresholded (the smoothing and Sobel of MNIST-C's Canny) are 1-D
  shift-and-add correlations in SciPy's own summation order (:func:`correlate1d`), so that
  exact ties break as in the reference.

Grouped convolutions with one group per image are avoided on purpose: PyTorch picks a different
algorithm for a different number of groups, so the float result of an image would depend on its
batch. All boundary rules go through :func:`boundary_index`.

Every operation runs on the device of its input. Constant matrices and spectra are built (and
cached) on the CPU in float64 and copied to that device; the few steps that run on the CPU
whatever the device (``motion_blur_taps``) say so.

The operations mirror the NumPy/SciPy/OpenCV/Pillow/ImageMagick calls of the reference corruption
code of Hendrycks & Dietterich, "Benchmarking Neural Network Robustness to Common Corruptions and
Perturbations" (ICLR 2019) and of MNIST-C (Mu & Gilmer 2019: scikit-image's ``warp`` and
``canny``); each docstring names the call it reproduces and how closely, and
``docs/corruptions_noise_blur.md``, ``docs/corruptions_weather_digital.md`` and
``docs/corruptions.md`` (MNIST-C family) give the tests.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

# --------------------------------------------------------------------------------------------
# Boundary rules and padding
# --------------------------------------------------------------------------------------------

#: Boundary rules, named as in ``scipy.ndimage``: ``reflect`` = ``dcba|abcd|dcba`` (half-sample
#: symmetric; OpenCV ``BORDER_REFLECT``), ``mirror`` = ``dcb|abcd|cba`` (OpenCV
#: ``BORDER_REFLECT_101``, OpenCV's default; NumPy's ``pad(mode='reflect')``), ``nearest`` =
#: ``aaa|abcd|ddd`` (``BORDER_REPLICATE``), ``wrap`` = ``abcd|abcd|abcd``.
BOUNDARY_MODES = ("reflect", "mirror", "nearest", "wrap")

#: :func:`torch.nn.functional.pad` modes equal to a boundary rule (for pads it accepts).
_TORCH_PAD = {"mirror": "reflect", "nearest": "replicate", "wrap": "circular"}


def boundary_index(idx: np.ndarray, n: int, mode: str) -> np.ndarray:
    """Map (possibly out-of-range) integer positions onto ``0..n-1`` under a boundary rule.

    Works for any distance outside the signal (the pattern repeats, as in OpenCV), unlike
    ``F.pad``.
    """
    idx = np.asarray(idx, dtype=np.int64)
    if mode == "nearest":
        return np.clip(idx, 0, n - 1)
    if mode == "wrap":
        return np.mod(idx, n)
    if mode == "reflect":
        j = np.mod(idx, 2 * n)
        return np.where(j >= n, 2 * n - 1 - j, j)
    if mode == "mirror":
        if n == 1:
            return np.zeros_like(idx)
        j = np.mod(idx, 2 * n - 2)
        return np.where(j >= n, 2 * n - 2 - j, j)
    raise ValueError(f"Expected a boundary mode in {BOUNDARY_MODES}, got {mode!r}")


def pad(x: torch.Tensor, pad_h: int, pad_w: int, mode: str) -> torch.Tensor:
    """Pad the last two dimensions of ``x`` (any leading shape) by ``pad_h`` rows and ``pad_w``
    columns on each side under a boundary rule (:data:`BOUNDARY_MODES`), for any pad size.

    ``F.pad`` is used where it implements the rule for that size; otherwise the rows and columns
    are gathered with :func:`boundary_index` (the same values, only slower)."""
    if not (pad_h or pad_w):
        return x
    shape = x.shape
    h, w = shape[-2:]
    x4 = x.reshape(-1, 1, h, w)
    torch_mode = _TORCH_PAD.get(mode)
    fits = {"replicate": True, "reflect": pad_h < h and pad_w < w, "circular": pad_h <= h and pad_w <= w}
    if torch_mode is not None and fits[torch_mode]:
        out = F.pad(x4, (pad_w, pad_w, pad_h, pad_h), mode=torch_mode)
    else:
        rows = boundary_index(np.arange(-pad_h, h + pad_h), h, mode)
        cols = boundary_index(np.arange(-pad_w, w + pad_w), w, mode)
        out = x4.index_select(-2, torch.as_tensor(rows, device=x.device))
        out = out.index_select(-1, torch.as_tensor(cols, device=x.device))
    return out.reshape(*shape[:-2], h + 2 * pad_h, w + 2 * pad_w)


# --------------------------------------------------------------------------------------------
# Kernels
# --------------------------------------------------------------------------------------------

#: ``scipy.ndimage``'s default Gaussian radius, in standard deviations.
GAUSSIAN_TRUNCATE = 4.0


def gaussian_kernel1d(sigma: float, truncate: float = GAUSSIAN_TRUNCATE, radius: int | None = None) -> np.ndarray:
    """Normalised float64 Gaussian weights ``exp(-x^2 / (2 sigma^2))`` on ``x = -radius..radius``.

    The default radius ``int(truncate * sigma + 0.5)`` is ``scipy.ndimage.gaussian_filter1d``'s;
    an explicit ``radius = (ksize - 1) // 2`` gives OpenCV's ``getGaussianKernel(ksize, sigma)``
    for ``sigma > 0``."""
    if radius is None:
        radius = int(truncate * float(sigma) + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    w = np.exp(-0.5 * (x / float(sigma)) ** 2)
    return w / w.sum()


#: The reference ``disk()`` draws disks of radius <= 8 on a fixed 17x17 grid.
_DISK_GRID_RADIUS = 8


@lru_cache(maxsize=64)
def _disk_kernel(radius: float, alias_blur: float) -> np.ndarray:
    if radius <= _DISK_GRID_RADIUS:
        support, ksize = np.arange(-_DISK_GRID_RADIUS, _DISK_GRID_RADIUS + 1), 3
    else:
        support, ksize = np.arange(-radius, radius + 1), 5
    xx, yy = np.meshgrid(support, support)
    aliased = ((xx**2 + yy**2) <= radius**2).astype(np.float64)
    aliased /= aliased.sum()
    # cv2.GaussianBlur(aliased, (ksize, ksize), alias_blur): OpenCV's kernel, reflect-101 border
    g = gaussian_kernel1d(alias_blur, radius=(ksize - 1) // 2)
    m = torch.from_numpy(correlate_matrix(len(support), g, "mirror"))
    k = separable(torch.from_numpy(aliased), m, m).numpy()
    # Drop all-zero outer rows/columns, symmetrically (the kernel is symmetric).
    nz = np.nonzero(np.abs(k).sum(axis=0) > 0)[0]
    m = min(nz[0], k.shape[0] - 1 - nz[-1])
    k = k[m : k.shape[0] - m, m : k.shape[1] - m]
    k.setflags(write=False)
    return k


def disk_kernel(radius: float, alias_blur: float) -> np.ndarray:
    """The ImageNet-C defocus kernel, an anti-aliased disk of ``radius`` pixels (the reference
    ``disk()``).

    The indicator of ``x^2 + y^2 <= radius^2`` on a 17x17 grid (radius <= 8) or a
    ``(2 radius + 1)``-wide grid, normalised to sum 1, then ``cv2.GaussianBlur`` with a 3x3
    (5x5 for radius > 8) kernel of standard deviation ``alias_blur`` and reflect-101 borders.
    Outer all-zero rows and columns are trimmed (the filter result is unchanged).

    Returns:
        A read-only float64 array with odd sides. It sums to 1, except where the disk touches
        the grid's edge (radius 8, and radius > 8): the reflect-101 border of the anti-alias
        blur then adds about 1% of mass, as in the reference.
    """
    return _disk_kernel(float(radius), float(alias_blur))


def motion_blur_taps(
    radius: int, sigma: float, angles_deg: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Taps of ImageMagick's ``MotionBlurImage(radius, sigma, angle)`` for per-image angles.

    ``width = 2 radius + 1`` one-sided Gaussian weights ``k_i = exp(-i^2 / (2 sigma^2))``,
    ``i = 0..width-1``, normalised to sum 1; tap ``i`` reads the pixel at
    ``(y + dy_i, x + dx_i)`` with ``dy_i = ceil(i sin(a) - 0.5)``, ``dx_i = ceil(i cos(a) - 0.5)``
    (as ``imagecorruptions._motion_blur``, the NumPy port of ImageMagick's kernel).

    Computed on the CPU in float64 whatever the device of ``angles_deg`` (the corruptions draw
    the angles there), so the integer offsets never depend on a device's ``sin``/``cos``.

    Returns:
        ``(weights (width,) float64, dy (N, width), dx (N, width))``, offsets int64, on the CPU.
    """
    width = 2 * int(radius) + 1
    i = np.arange(width, dtype=np.float64)
    k = np.exp(-(i**2) / (2.0 * float(sigma) ** 2))
    a = torch.deg2rad(angles_deg.detach().to("cpu", torch.float64))[:, None]
    it = torch.arange(width, dtype=torch.float64)[None, :]
    dy = torch.ceil(it * torch.sin(a) - 0.5).to(torch.int64)
    dx = torch.ceil(it * torch.cos(a) - 0.5).to(torch.int64)
    return torch.from_numpy(k / k.sum()), dy, dx


def motion_blur_kernel(radius: int, sigma: float, angle_deg: float) -> torch.Tensor:
    """The 2-D correlation kernel of :func:`motion_blur` for one angle (side ``2 width + 1``),
    for reference and tests: ``conv2d`` with it and replicate padding equals :func:`motion_blur`
    (away from taps that ``stop_at_edge`` drops)."""
    k, dy, dx = motion_blur_taps(radius, sigma, torch.tensor([float(angle_deg)]))
    width = k.numel()
    ker = torch.zeros(2 * width + 1, 2 * width + 1, dtype=torch.float64)
    for i in range(width):
        ker[width + int(dy[0, i]), width + int(dx[0, i])] += k[i]
    return ker.float()


# --------------------------------------------------------------------------------------------
# Separable linear operators as matrices
# --------------------------------------------------------------------------------------------


def correlate_matrix(n: int, weights: np.ndarray, mode: str) -> np.ndarray:
    """The ``(n, n)`` float64 matrix ``M`` with ``M @ s == scipy.ndimage.correlate1d(s, weights,
    mode=mode)`` for a signal ``s`` of length ``n`` (centred kernel of odd length)."""
    weights = np.asarray(weights, dtype=np.float64)
    r = len(weights) // 2
    rows = np.arange(n)[:, None]
    cols = boundary_index(rows + np.arange(-r, len(weights) - r)[None, :], n, mode)
    m = np.zeros((n, n), dtype=np.float64)
    np.add.at(m, (np.broadcast_to(rows, cols.shape), cols), np.broadcast_to(weights, cols.shape))
    return m


@lru_cache(maxsize=256)
def gaussian_matrix(n: int, sigma: float, mode: str, truncate: float = GAUSSIAN_TRUNCATE) -> torch.Tensor:
    """The float32 ``(n, n)`` matrix of :func:`gaussian_kernel1d` correlation under ``mode``
    (the identity for ``sigma <= 0``)."""
    if sigma <= 0:
        return torch.eye(n)
    return torch.from_numpy(correlate_matrix(n, gaussian_kernel1d(sigma, truncate), mode)).float()


@lru_cache(maxsize=64)
def _correlate_matrix_t(n: int, weights: tuple[float, ...], mode: str) -> torch.Tensor:
    return torch.from_numpy(correlate_matrix(n, np.array(weights), mode)).float()


def separable(x: torch.Tensor, mh: torch.Tensor, mw: torch.Tensor) -> torch.Tensor:
    """``mh @ x @ mw^T`` over the last two dimensions of ``x`` (``(..., H, W)``): the columns
    are filtered first, then the rows."""
    mh = mh.to(device=x.device, dtype=x.dtype)
    mw = mw.to(device=x.device, dtype=x.dtype)
    return torch.matmul(mh, torch.matmul(x, mw.transpose(0, 1)))


def gaussian_blur(
    x: torch.Tensor,
    sigma: float | tuple[float, float],
    mode: str = "nearest",
    truncate: float = GAUSSIAN_TRUNCATE,
) -> torch.Tensor:
    """Gaussian filter over the last two dimensions, as ``skimage.filters.gaussian`` /
    ``scipy.ndimage.gaussian_filter`` (same radius, weights and boundary rule; float32 weights).

    Args:
        x: ``(..., H, W)`` tensor.
        sigma: standard deviation in pixels, or ``(sigma_y, sigma_x)``; 0 leaves a dimension as is.
        mode: boundary rule (see :data:`BOUNDARY_MODES`); skimage's default is ``nearest``.
        truncate: kernel radius in standard deviations (SciPy's default 4).
    """
    sy, sx = (sigma, sigma) if np.isscalar(sigma) else sigma
    h, w = x.shape[-2:]
    return separable(
        x, gaussian_matrix(h, float(sy), mode, float(truncate)), gaussian_matrix(w, float(sx), mode, float(truncate))
    )


def box_sum3(x: torch.Tensor, mode: str = "mirror") -> torch.Tensor:
    """Unnormalised 3x3 box sum over the last two dimensions (exact for integer-valued input);
    divide by 9 for ``cv2.blur(x, (3, 3))`` (whose default border is ``mirror``)."""
    h, w = x.shape[-2:]
    ones = (1.0, 1.0, 1.0)
    return separable(x, _correlate_matrix_t(h, ones, mode), _correlate_matrix_t(w, ones, mode))


# --------------------------------------------------------------------------------------------
# Non-separable kernels: shift-and-add (exact), rank-1 matrix pairs or FFT (large kernels)
# --------------------------------------------------------------------------------------------


def correlate2d(x: torch.Tensor, kernel: np.ndarray | list[list[float]], mode: str = "mirror") -> torch.Tensor:
    """Correlate the last two dimensions of ``x`` with a 2-D kernel (odd sides, anchored at the
    centre): ``cv2.filter2D`` semantics, whose default border is ``mirror`` (reflect-101).

    Computed as one fused multiply-add ``out += k[u, v] * shift_{u,v}(pad(x))`` per non-zero tap,
    in row-major tap order (exact for integer-valued images and kernels)."""
    kernel = np.asarray(kernel, dtype=np.float64)
    kh, kw = kernel.shape
    h, w = x.shape[-2:]
    xp = pad(x, (kh - 1) // 2, (kw - 1) // 2, mode)
    out = torch.zeros_like(x)
    for u, v in zip(*np.nonzero(kernel), strict=True):
        out.add_(xp[..., u : u + h, v : v + w], alpha=float(kernel[u, v]))
    return out


#: Cost model of :func:`correlate2d_fast`: per output pixel, the matrices take ``r (H + W)``
#: multiply-adds and the FFT about ``FFT_COST * log2(Lh Lw) * Lh Lw / (H W)`` on its padded
#: ``Lh x Lw`` grid; the cheaper is used. Fitted on a 2-core AVX-512 CPU (28-224 px images,
#: disk radii 1.5-10): the two times agree within about 30% where the estimates are equal.
FFT_COST = 24.0

#: Singular values below this fraction of the largest are dropped (float64 round-off of zero).
_RANK_TOL = 1e-12


def _kernel_key(kernel: np.ndarray) -> tuple[tuple[int, ...], bytes]:
    k = np.ascontiguousarray(kernel, dtype=np.float64)
    return k.shape, k.tobytes()


def _kernel_from_key(key: tuple[tuple[int, ...], bytes]) -> np.ndarray:
    return np.frombuffer(key[1], dtype=np.float64).reshape(key[0])


@lru_cache(maxsize=64)
def _rank1_terms(key: tuple[tuple[int, ...], bytes]) -> tuple[np.ndarray, np.ndarray]:
    u, s, vt = np.linalg.svd(_kernel_from_key(key))
    r = max(1, int(np.sum(s > _RANK_TOL * s[0]))) if s[0] > 0 else 1
    return u[:, :r].T * s[:r, None], vt[:r]


def kernel_rank1_terms(kernel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A 2-D kernel as a sum of outer products, ``kernel = sum_k outer(cols[k], rows[k])`` (its
    SVD, the numerically zero terms dropped): float64 ``cols (r, kh)`` and ``rows (r, kw)``.
    A disk of radius ``R`` has rank about ``R / 2 + 2`` (5 for ImageNet-C's radius 6)."""
    return _rank1_terms(_kernel_key(kernel))


@lru_cache(maxsize=128)
def _rank1_matrices(
    key: tuple[tuple[int, ...], bytes], h: int, w: int, mode: str, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    cols, rows = _rank1_terms(key)
    a = np.concatenate([correlate_matrix(h, c, mode) for c in cols], axis=1)  # (H, r H)
    b = np.concatenate([correlate_matrix(w, r, mode).T for r in rows], axis=1)  # (W, r W)
    return torch.from_numpy(a).to(dtype), torch.from_numpy(b).to(dtype)


def _fft_length(n: int) -> int:
    """The smallest ``2^a 3^b 5^c >= n`` (fast FFT sizes)."""
    best = next_power_of_2(n)
    p3 = 1
    while p3 < best:
        p35 = p3
        while p35 < best:
            m = p35
            while m < n:
                m *= 2
            best = min(best, m)
            p35 *= 5
        p3 *= 3
    return best


@lru_cache(maxsize=64)
def _kernel_spectrum(key: tuple[tuple[int, ...], bytes], lh: int, lw: int, dtype: torch.dtype) -> torch.Tensor:
    # correlation = convolution with the flipped kernel; the spectrum is computed in float64
    spec = np.fft.rfft2(_kernel_from_key(key)[::-1, ::-1], s=(lh, lw))
    return torch.from_numpy(spec).to(torch.complex128 if dtype == torch.float64 else torch.complex64)


def _fft_shape(kernel_shape: tuple[int, ...], h: int, w: int) -> tuple[int, int]:
    return _fft_length(h + kernel_shape[0] - 1), _fft_length(w + kernel_shape[1] - 1)


def correlate2d_fast_method(kernel: np.ndarray, h: int, w: int) -> str:
    """The way :func:`correlate2d_fast` filters ``H x W`` images with ``kernel`` by default:
    ``"matrices"`` or ``"fft"``, the cheaper by the cost model of :data:`FFT_COST`."""
    key = _kernel_key(kernel)
    lh, lw = _fft_shape(key[0], h, w)
    fft_cost = FFT_COST * math.log2(lh * lw) * lh * lw / (h * w)
    return "matrices" if _rank1_terms(key)[0].shape[0] * (h + w) <= fft_cost else "fft"


def correlate2d_fast(
    x: torch.Tensor, kernel: np.ndarray, mode: str = "mirror", method: str | None = None
) -> torch.Tensor:
    """:func:`correlate2d` for large float kernels (the defocus disk), equal to it up to float
    rounding (sums in another order; not for results that are thresholded or must be exact).

    Two ways, both batch-independent (each image's arithmetic does not depend on its batch):

    * ``"matrices"``: the kernel as a sum of ``r`` rank-1 kernels (:func:`kernel_rank1_terms`),
      each a pair of per-axis matrices with the boundary rule folded in, as :func:`separable`:
      ``y = sum_k A_k x B_k^T``, two matrix products in all. Cost ``r (H + W)`` per pixel, not
      ``kh kw``: ImageNet-C's 15x15 disk (radius 6) has rank 5.
    * ``"fft"``: pad by the boundary rule, multiply spectra (``rfft2`` at a 5-smooth size;
      the kernel's spectrum in float64, rounded once), keep the valid part. Cost
      ``O(log(HW))`` per pixel, for large images and kernels.

    ``method=None`` takes the cheaper by the cost model of :data:`FFT_COST`
    (:func:`correlate2d_fast_method`): the matrices for ImageNet-C's disks on 32 px images,
    the FFT for most of them on 64 px and larger images.

    Float32 or float64 ``x`` of shape ``(..., H, W)``, any device; the cached matrices and
    spectra are built on the CPU and copied to ``x``'s device per call.
    """
    kernel = np.asarray(kernel, dtype=np.float64)
    kh, kw = kernel.shape
    if kh % 2 == 0 or kw % 2 == 0:
        raise ValueError(f"Expected a kernel with odd sides, got {kernel.shape}")
    key = _kernel_key(kernel)
    h, w = x.shape[-2:]
    if method is None:
        method = correlate2d_fast_method(kernel, h, w)
    if method == "matrices":
        a, b = (m.to(x.device) for m in _rank1_matrices(key, h, w, mode, x.dtype))
        r = a.shape[1] // h
        z = torch.matmul(x, b)  # (..., H, r W): the r row filters
        z = z.unflatten(-1, (r, w)).transpose(-3, -2).reshape(*x.shape[:-2], r * h, w)
        return torch.matmul(a, z)  # (..., H, W): the column filters, summed over the r terms
    if method == "fft":
        lh, lw = _fft_shape(kernel.shape, h, w)
        spec = _kernel_spectrum(key, lh, lw, x.dtype).to(x.device)
        y = torch.fft.irfft2(torch.fft.rfft2(pad(x, kh // 2, kw // 2, mode), s=(lh, lw)) * spec, s=(lh, lw))
        return y[..., kh - 1 : kh - 1 + h, kw - 1 : kw - 1 + w].contiguous()
    raise ValueError(f"Expected method 'matrices', 'fft' or None, got {method!r}")


# --------------------------------------------------------------------------------------------
# Per-image kernels: motion blur
# --------------------------------------------------------------------------------------------


def motion_blur(
    x: torch.Tensor, radius: int, sigma: float, angles_deg: torch.Tensor, *, stop_at_edge: bool = False
) -> torch.Tensor:
    """One-sided motion blur along a per-image angle: ImageMagick's ``MotionBlurImage``.

    ``out[y, x] = sum_i k_i * img[y + dy_i, x + dx_i]`` with the taps of
    :func:`motion_blur_taps`, edge pixels repeated (ImageMagick's edge virtual pixels). With
    ``stop_at_edge``, the taps from the first one whose offset reaches the image size on are
    dropped without renormalising (the ``break`` of ``imagecorruptions._motion_blur``).

    Equal to a grouped convolution with one dense line kernel per image
    (:func:`motion_blur_kernel`), computed as one fused multiply-add per tap of gathered shifts,
    which is exact, and independent of the batch.

    Args:
        x: ``(N, ..., H, W)``; ``angles_deg[n]`` applies to every channel of image ``n``.
        radius, sigma: ImageMagick's parameters, in pixels.
        angles_deg: ``(N,)`` angles in degrees (0 = towards +x, positive turns towards +y).

    Returns:
        The blurred tensor, same shape (not clipped).
    """
    n, h, w = x.shape[0], x.shape[-2], x.shape[-1]
    c = x[0].numel() // (h * w)
    k, dy, dx = motion_blur_taps(radius, sigma, angles_deg)
    wts = k[None, :].expand(n, -1)
    n_taps = k.numel()
    if stop_at_edge:
        keep = torch.cumprod(((dy.abs() < h) & (dx.abs() < w)).to(torch.int64), dim=1).bool()
        wts = wts * keep
        n_taps = int(keep.any(dim=0).sum())  # taps after the last kept one contribute nothing
    p = n_taps - 1  # the largest offset of a used tap
    wp = w + 2 * p
    flat = pad(x.reshape(n * c, h, w), p, p, "nearest").reshape(n * c, -1)
    rows, cols = torch.arange(h, device=x.device), torch.arange(w, device=x.device)
    base = ((rows[:, None] + p) * wp + cols[None, :] + p).reshape(1, h * w)
    # One row of indices and weights per (image, channel): a contiguous index gathers ~2x faster
    # than an index expanded over channels.
    shift = (dy * wp + dx).repeat_interleave(c, dim=0).to(x.device)  # (N * C, width)
    wts = wts.repeat_interleave(c, dim=0).to(device=x.device, dtype=x.dtype)
    out = torch.zeros(n * c, h * w, dtype=x.dtype, device=x.device)
    for i in range(n_taps):
        out.addcmul_(flat.gather(1, base + shift[:, i : i + 1]), wts[:, i : i + 1])
    return out.reshape(x.shape)


# --------------------------------------------------------------------------------------------
# Resampling
# --------------------------------------------------------------------------------------------


def clipped_zoom(x: torch.Tensor, zoom: float) -> torch.Tensor:
    """The reference ``clipped_zoom`` (``make_imagenet_c.py``) of ``(N, C, H, W)`` images, per
    axis: crop the central ``ceil(H / zoom)`` rows at ``(H - ch) // 2``, resize them to
    ``round(ch * zoom)`` with ``scipy.ndimage.zoom(order=1)`` geometry (corner-aligned linear
    interpolation, i.e. ``align_corners=True``), keep ``H`` rows from ``(out - H) // 2``;
    columns likewise. ``zoom <= 1`` returns ``x``."""
    if zoom <= 1.0:
        return x
    h, w = x.shape[-2:]
    ch, cw = int(math.ceil(h / zoom)), int(math.ceil(w / zoom))
    top, left = (h - ch) // 2, (w - cw) // 2
    oh, ow = int(round(ch * zoom)), int(round(cw * zoom))
    crop = x[..., top : top + ch, left : left + cw]
    if (oh, ow) == (ch, cw):
        z = crop
    else:  # channels-last input: the bilinear kernel vectorises over channels (faster for C=3)
        crop = crop.contiguous(memory_format=torch.channels_last)
        z = F.interpolate(crop, size=(oh, ow), mode="bilinear", align_corners=True)
    th, tw = (oh - h) // 2, (ow - w) // 2
    return z[..., th : th + h, tw : tw + w]


@lru_cache(maxsize=256)
def pil_box_resize_matrix(n_in: int, n_out: int) -> torch.Tensor:
    """``(n_out, n_in)`` matrix of Pillow's ``Image.BOX`` resampling along one axis
    (``precompute_coeffs`` in ``libImaging/Resample.c``): output ``o`` has centre
    ``c = (o + 0.5) * s`` with ``s = n_in / n_out`` and averages with equal weights the inputs
    ``i`` whose ``(i + 0.5 - c) / max(s, 1)`` lies in (-0.5, 0.5]. Pillow applies these weights
    in fixed point to 8-bit images (rounding between its two passes); on mode ``F`` images it
    agrees with this matrix to float precision."""
    scale = n_in / n_out
    m = np.zeros((n_out, n_in), dtype=np.float64)
    filterscale = max(scale, 1.0)
    support = 0.5 * filterscale
    for o in range(n_out):
        center = (o + 0.5) * scale
        xmin = max(int(center - support + 0.5), 0)
        xmax = min(int(center + support + 0.5), n_in)
        arg = (np.arange(xmin, xmax) - center + 0.5) / filterscale
        w = ((arg > -0.5) & (arg <= 0.5)).astype(np.float64)
        if w.sum() > 0:
            m[o, xmin:xmax] = w / w.sum()
    return torch.from_numpy(m).float()


def affine_warp(x: torch.Tensor, inverse_maps: torch.Tensor) -> torch.Tensor:
    """Resample each image through its own affine map: ``skimage.transform.warp(img,
    inverse_map=AffineTransform(matrix=A), order=1, mode='constant', cval=0)``.

    Output pixel ``(col, row)`` takes the bilinear interpolation of the input at
    ``A_n @ (col, row, 1)``, pixels outside the image counting as 0 (``grid_sample`` with
    ``padding_mode='zeros', align_corners=True``, which blends the same four neighbours with the
    same weights as scikit-image's bilinear ``_warp_fast``). The sampling grid and the
    interpolation run in float64 and the result is rounded to ``x``'s dtype, so it matches
    scikit-image's float64 warp to that rounding, borders included. Batch-independent: each
    image is sampled only at its own grid.

    Args:
        x: ``(N, C, H, W)``.
        inverse_maps: ``(N, 2, 3)`` pixel-space maps (output ``(col, row)`` -> input
            ``(col, row)``), the first two rows of scikit-image's ``params``; on any device
            (moved to ``x``'s).

    Returns:
        The warped batch, same shape, dtype and device (not clipped; bilinear weights keep [0, 1]).
    """
    n, _, h, w = x.shape
    a = inverse_maps.to(device=x.device, dtype=torch.float64)
    yy, xx = torch.meshgrid(
        torch.arange(h, device=x.device, dtype=torch.float64),
        torch.arange(w, device=x.device, dtype=torch.float64),
        indexing="ij",
    )
    sx = a[:, 0, 0, None, None] * xx + a[:, 0, 1, None, None] * yy + a[:, 0, 2, None, None]
    sy = a[:, 1, 0, None, None] * xx + a[:, 1, 1, None, None] * yy + a[:, 1, 2, None, None]
    grid = torch.stack((sx * (2.0 / max(w - 1, 1)) - 1.0, sy * (2.0 / max(h - 1, 1)) - 1.0), dim=-1)
    out = F.grid_sample(x.double(), grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    return out.to(x.dtype)


# --------------------------------------------------------------------------------------------
# Colour
# --------------------------------------------------------------------------------------------

#: ITU-R BT.601 luma weights, as ``cv2.COLOR_RGB2GRAY`` and PIL's ``convert('L')``.
LUMA = (0.299, 0.587, 0.114)


def rgb_to_gray(x: torch.Tensor) -> torch.Tensor:
    """``(N, 3, H, W)`` RGB -> ``(N, 1, H, W)`` luma (0.299 R + 0.587 G + 0.114 B)."""
    return LUMA[0] * x[:, 0:1] + LUMA[1] * x[:, 1:2] + LUMA[2] * x[:, 2:3]


def rgb_to_hsv(x: torch.Tensor) -> torch.Tensor:
    """RGB -> HSV on ``(N, 3, H, W)`` in [0, 1], as ``skimage.color.rgb2hsv`` (hue in [0, 1);
    hue and saturation 0 where max == min; ties for the max channel resolved blue > green >
    red, as skimage's successive assignments do)."""
    r, g, b = x.unbind(1)
    v = torch.maximum(torch.maximum(r, g), b)
    delta = v - torch.minimum(torch.minimum(r, g), b)
    gray = (delta == 0).to(x.dtype)
    bmax = (b == v).to(x.dtype)
    gmax = (g == v).to(x.dtype) * (1.0 - bmax)
    rmax = 1.0 - bmax - gmax
    # exactly one of the three terms is non-zero, so the sums are exact
    num = rmax * (g - b) + gmax * (b - r) + bmax * (r - g)
    h = (2.0 * gmax + 4.0 * bmax + num / (delta + gray)) / 6.0
    h = (h + (h < 0).to(x.dtype)) * (1.0 - gray)
    s = delta / (v + (v == 0).to(x.dtype))
    return torch.stack((h, s, v), dim=1)


def hsv_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """HSV -> RGB on ``(N, 3, H, W)``, as ``skimage.color.hsv2rgb`` (sector ``floor(6 h) mod 6``)."""
    h, s, v = x[:, 0], x[:, 1], x[:, 2]
    hi = torch.floor(h * 6.0)
    f = h * 6.0 - hi
    p = v * (1.0 - s)
    q = v * (1.0 - f * s)
    t = v * (1.0 - (1.0 - f) * s)
    hi = torch.remainder(hi, 6).to(torch.int64)
    # rows: sector 0..5; columns: the value each of R, G, B takes in that sector
    cand = torch.stack((v, q, p, p, t, v, t, v, v, q, p, p, p, p, t, v, v, q), dim=1)
    cand = cand.view(x.shape[0], 3, 6, *x.shape[2:])
    return torch.gather(cand, 2, hi.unsqueeze(1).unsqueeze(2).expand(-1, 3, 1, -1, -1)).squeeze(2)


# --------------------------------------------------------------------------------------------
# Procedural fields
# --------------------------------------------------------------------------------------------


def next_power_of_2(n: int) -> int:
    return 1 if n <= 1 else 1 << (int(n) - 1).bit_length()


def plasma_fractal(uniform: torch.Tensor, mapsize: int, wibbledecay: float) -> torch.Tensor:
    """Diamond-square plasma fractals, one per row of ``uniform``, as the reference
    ``plasma_fractal`` (FLHerne's ``diamondsquare.py``): toroidal grid, corner ``[0, 0] = 0``,
    each new point the mean of its 4 neighbours plus ``wibble * U(-wibble, wibble)``, ``wibble``
    starting at 100 and divided by ``wibbledecay`` per level, result scaled to [0, 1].

    Args:
        uniform: ``(N, mapsize**2 - 1)`` draws from U[0, 1), consumed in the reference's order
            (per level: square centres, then the two diamond sets, row-major).
        mapsize: side, a power of two.
        wibbledecay: roughness decay per level (larger = smoother).

    Returns:
        ``(N, mapsize, mapsize)`` float tensor in [0, 1].
    """
    if mapsize & (mapsize - 1):
        raise ValueError(f"mapsize must be a power of two, got {mapsize}")
    n = uniform.shape[0]
    u = uniform.to(torch.float64)
    m = torch.zeros(n, mapsize, mapsize, dtype=torch.float64, device=uniform.device)
    step, wibble, pos = mapsize, 100.0, 0

    def draw(k: int) -> torch.Tensor:
        nonlocal pos
        out = (u[:, pos : pos + k * k] * 2.0 - 1.0).view(n, k, k) * (wibble * wibble)
        pos += k * k
        return out

    while step >= 2:
        half, k = step // 2, mapsize // step
        corner = m[:, 0::step, 0::step]
        sq = corner + torch.roll(corner, -1, 1)
        sq = sq + torch.roll(sq, -1, 2)
        m[:, half::step, half::step] = sq / 4 + draw(k)
        dr = m[:, half::step, half::step]
        ul = m[:, 0::step, 0::step]
        lt = (dr + torch.roll(dr, 1, 1)) + (ul + torch.roll(ul, -1, 2))
        m[:, 0::step, half::step] = lt / 4 + draw(k)
        td = (dr + torch.roll(dr, 1, 2)) + (ul + torch.roll(ul, -1, 1))
        m[:, half::step, 0::step] = td / 4 + draw(k)
        step //= 2
        wibble /= wibbledecay
    lo = m.amin(dim=(1, 2), keepdim=True)
    m = m - lo
    hi = m.amax(dim=(1, 2), keepdim=True)
    return (m / torch.where(hi > 0, hi, torch.ones_like(hi))).float()


# --------------------------------------------------------------------------------------------
# Edges and distances (spatter; MNIST-C's canny_edges)
# --------------------------------------------------------------------------------------------

_TG22 = 13573  # int(tan(22.5 deg) * 2**15 + 0.5), OpenCV's Canny
_SOBEL_X = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])  # OpenCV's 3x3 Sobel, d/dx


def canny(img: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """Canny edges of integer-valued ``(N, H, W)`` images, as ``cv2.Canny(img_u8, low, high)``
    (aperture 3, L1 gradient): Sobel with replicated borders, non-maximum suppression with
    OpenCV's fixed-point 22.5/67.5 degree sectors and tie rules, hysteresis over 8-neighbours.

    Returns:
        Boolean edge map ``(N, H, W)``.
    """
    n, h, w = img.shape
    x = img.to(torch.float32)
    gx = correlate2d(x, _SOBEL_X, mode="nearest")
    gy = correlate2d(x, _SOBEL_X.T, mode="nearest")
    gxi, gyi = gx.to(torch.int64), gy.to(torch.int64)
    mag = gxi.abs() + gyi.abs()
    mp = F.pad(mag, (1, 1, 1, 1))  # magnitude is 0 outside the image

    def nb(di: int, dj: int) -> torch.Tensor:
        return mp[:, 1 + di : 1 + di + h, 1 + dj : 1 + dj + w]

    ax, ay = gxi.abs(), gyi.abs() << 15
    tg22 = ax * _TG22
    tg67 = tg22 + (ax << 16)
    horiz = ay < tg22
    vert = (~horiz) & (ay > tg67)
    diag = (~horiz) & (~vert)
    same_sign = (gxi ^ gyi) >= 0
    keep_h = (mag > nb(0, -1)) & (mag >= nb(0, 1))
    keep_v = (mag > nb(-1, 0)) & (mag >= nb(1, 0))
    keep_d = torch.where(same_sign, (mag > nb(-1, -1)) & (mag > nb(1, 1)), (mag > nb(-1, 1)) & (mag > nb(1, -1)))
    nms = (horiz & keep_h) | (vert & keep_v) | (diag & keep_d)
    lo, hi = math.floor(low), math.floor(high)
    if lo > hi:
        lo, hi = hi, lo
    weak = nms & (mag > lo)
    return hysteresis(weak, weak & (mag > hi))


def hysteresis(weak: torch.Tensor, strong: torch.Tensor) -> torch.Tensor:
    """Canny's edge tracking on ``(N, H, W)`` boolean maps: the ``weak`` pixels 8-connected
    (through weak pixels) to a ``strong`` one, i.e. the connected components of ``weak`` that
    contain a strong pixel (``ndi.label(weak, np.ones((3, 3)))`` as scikit-image, or OpenCV's
    stack-based tracking). Grown by repeated 3x3 dilations until nothing changes."""
    edges = strong & weak
    while True:
        grown = dilate3x3(edges) & weak
        if torch.equal(grown, edges):
            return edges
        edges = grown


def scipy_gaussian_weights(sigma: float, truncate: float = GAUSSIAN_TRUNCATE) -> np.ndarray:
    """``scipy.ndimage.gaussian_filter1d``'s weights bit for bit: ``exp(-0.5 / sigma^2 * x^2)``
    on ``x = -r..r``, ``r = int(truncate * sigma + 0.5)``, divided by their sum (the same values
    as :func:`gaussian_kernel1d` up to the last bit, computed in SciPy's order)."""
    sigma = float(sigma)
    radius = int(truncate * sigma + 0.5)
    x = np.arange(-radius, radius + 1)
    phi = np.exp(-0.5 / (sigma * sigma) * x**2)
    return phi / phi.sum()


def correlate1d(x: torch.Tensor, weights: np.ndarray, dim: int, mode: str) -> torch.Tensor:
    """``scipy.ndimage.correlate1d(x, weights, axis=dim, mode=mode)`` along dimension ``dim`` (-1
    or -2) of a float64 tensor, in SciPy's own summation order, so that thresholded results
    (Canny) tie-break exactly as SciPy does: a symmetric kernel (odd length) sums
    ``x_0 w_0 + (x_-r + x_r) w_r + ... + (x_-1 + x_1) w_1`` (outermost pair first), an
    antisymmetric one the differences ``(x_-k - x_k) w_-k`` likewise, any other kernel the taps
    from the last, then left to right (``NI_Correlate1D``; no fused multiply-add, as SciPy's
    x86-64 builds).

    ``mode``: a boundary rule of :data:`BOUNDARY_MODES` or ``"constant"`` (zeros outside)."""
    w = np.asarray(weights, dtype=np.float64)
    r = len(w) // 2
    length = x.shape[dim]
    ph, pw = (r, 0) if dim in (-2, x.ndim - 2) else (0, r)
    if mode == "constant":
        xp = F.pad(x, (pw, pw, ph, ph))
    else:
        xp = pad(x, ph, pw, mode)

    def tap(k: int) -> torch.Tensor:
        return xp.narrow(dim, r + k, length)

    odd = len(w) % 2 == 1
    eps = np.finfo(np.float64).eps
    symmetric = odd and all(abs(w[r + k] - w[r - k]) <= eps for k in range(1, r + 1))
    antisymmetric = odd and not symmetric and all(abs(w[r + k] + w[r - k]) <= eps for k in range(1, r + 1))
    if symmetric or antisymmetric:
        out = tap(0) * float(w[r])
        for k in range(r, 0, -1):
            pair = tap(-k) + tap(k) if symmetric else tap(-k) - tap(k)
            out = out + pair * float(w[r - k])
        return out
    last = len(w) - 1 - r
    out = tap(last) * float(w[-1])
    for j in range(len(w) - 1):
        out = out + tap(j - r) * float(w[j])
    return out


_SOBEL_DIFF = np.array([-1.0, 0.0, 1.0])
_SOBEL_SMOOTH = np.array([1.0, 2.0, 1.0])


def canny_bilinear(img: torch.Tensor, sigma: float, low: float, high: float) -> torch.Tensor:
    """Canny edges of ``(N, H, W)`` images in [0, 1], as ``skimage.feature.canny(img, sigma,
    low, high)`` with its defaults (``mode='constant'``, no mask), all in float64:

    1. Gaussian smoothing ``ndi.gaussian_filter`` (radius ``int(4 sigma + 0.5)``, rows then
       columns) with zeros outside the image, divided by the smoothed all-ones image plus
       float64 eps (scikit-image's "bleed-over" correction);
    2. Sobel gradients ``ndi.sobel`` (derivative ``[-1, 0, 1]`` along the axis, then smoothing
       ``[1, 2, 1]`` across it, half-sample reflected borders) and their Euclidean magnitude;
    3. non-maximum suppression with bilinear interpolation between the two neighbours on each
       side along the gradient (scikit-image's ``_nonmaximum_suppression_bilinear``: the same
       four sectors, tie rules and weights), the one-pixel image border excluded, magnitude
       ``>= low`` (``low`` rounded to float32, as the Cython routine's ``float`` argument);
    4. hysteresis (:func:`hysteresis`): weak = the kept maxima, strong = kept maxima with
       magnitude ``>= high``.

    The filters are :func:`correlate1d`, which sums in SciPy's order, and the suppression
    compares exactly what the Cython routine compares, so exact ties (a constant-valued shape
    gives many) are broken as scikit-image breaks them: the edge maps are identical
    (docs/corruptions.md, MNIST-C family).

    Returns:
        Boolean edge map ``(N, H, W)``.
    """
    n, h, w = img.shape
    dev = img.device
    x = img.to(torch.float64)
    g = scipy_gaussian_weights(sigma)
    num = correlate1d(correlate1d(x, g, -2, "constant"), g, -1, "constant")
    ones = torch.ones(1, h, w, dtype=torch.float64, device=dev)
    bleed = correlate1d(correlate1d(ones, g, -2, "constant"), g, -1, "constant") + float(np.finfo(np.float64).eps)
    smoothed = num / bleed
    gi = correlate1d(correlate1d(smoothed, _SOBEL_DIFF, -2, "reflect"), _SOBEL_SMOOTH, -1, "reflect")  # isobel
    gj = correlate1d(correlate1d(smoothed, _SOBEL_DIFF, -1, "reflect"), _SOBEL_SMOOTH, -2, "reflect")  # jsobel
    mag = torch.sqrt(gi * gi + gj * gj)
    mp = F.pad(mag, (1, 1, 1, 1))

    def nb(di: int, dj: int) -> torch.Tensor:
        return mp[:, 1 + di : 1 + di + h, 1 + dj : 1 + dj + w]

    ai, aj = gi.abs(), gj.abs()
    same_sign = ((gi >= 0) & (gj >= 0)) | ((gi <= 0) & (gj <= 0))
    case_a = same_sign & (ai > aj)  # mostly along rows, gradient in the first/third quadrant
    case_b = same_sign & ~(ai > aj)
    case_d = ~same_sign & ~(ai < aj)  # (the fourth case, ~same_sign & (ai < aj), is the default below)
    w_ji = aj / torch.where(ai > 0, ai, torch.ones_like(ai))
    w_ij = ai / torch.where(aj > 0, aj, torch.ones_like(aj))
    wt = torch.where(case_a | case_d, w_ji, w_ij)
    n11 = torch.where(case_a, nb(1, 0), torch.where(case_d, nb(-1, 0), nb(0, 1)))
    n12 = torch.where(case_a | case_b, nb(1, 1), nb(-1, 1))
    n21 = torch.where(case_a, nb(-1, 0), torch.where(case_d, nb(1, 0), nb(0, -1)))
    n22 = torch.where(case_a | case_b, nb(-1, -1), nb(1, -1))
    low32 = float(np.float32(low if low != 0 else 1e-14))
    interior = torch.zeros(h, w, dtype=torch.bool, device=dev)
    interior[1:-1, 1:-1] = True
    keep = interior & (mag >= low32)
    keep &= (n12 * wt + n11 * (1.0 - wt)) <= mag
    keep &= (n22 * wt + n21 * (1.0 - wt)) <= mag
    return hysteresis(keep, keep & (mag >= float(high)))


def dilate3x3(mask: torch.Tensor) -> torch.Tensor:
    """Binary dilation of ``(N, H, W)`` boolean maps with a 3x3 square (outside = False)."""
    n, h, w = mask.shape
    p = torch.zeros(n, h + 2, w + 2, dtype=torch.bool, device=mask.device)
    p[:, 1:-1, 1:-1] = mask
    r = p[:, :, :-2] | p[:, :, 1:-1] | p[:, :, 2:]
    return r[:, :-2] | r[:, 1:-1] | r[:, 2:]


# OpenCV's 5x5 chamfer weights for DIST_L2 (axial, diagonal, knight move), as float32 values
_CH_HV = 1.0
_CH_DIAG = float(np.float32(1.4))
_CH_LONG = float(np.float32(2.1969))


def chamfer_distance_5x5(mask: torch.Tensor) -> torch.Tensor:
    """Distance from every pixel to the nearest ``True`` pixel of ``mask`` (``(N, H, W)``), as
    ``cv2.distanceTransform(~mask, cv2.DIST_L2, 5)``: OpenCV's two-pass 5x5 chamfer transform
    (axial 1, diagonal 1.4, knight move 2.1969), which approximates the Euclidean distance
    (relative error < 2%).

    Each raster pass is vectorised over images and columns: the dependence on the previous
    pixel of the same row, ``f(j) = min(c(j), f(j - 1) + 1)``, is a running minimum
    ``j + cummin(c(k) - k)``. Sums are formed in float64 and rounded to float32 at the end, so
    results can differ from OpenCV (float32 running sums; 16-bit fixed point before OpenCV 5) in
    the last bits. Images without any ``True`` pixel get ``inf``.
    """
    n, h, w = mask.shape
    dev = mask.device
    inf = float("inf")
    t = torch.full((n, h + 4, w + 4), inf, dtype=torch.float64, device=dev)
    src = mask.to(torch.bool)
    ramp = torch.arange(w + 1, device=dev, dtype=torch.float64) * _CH_HV
    init = torch.full((n, 1), inf, dtype=torch.float64, device=dev)
    L, D, HV = _CH_LONG, _CH_DIAG, _CH_HV
    for i in range(h):
        r = i + 2
        up2, up1 = t[:, r - 2], t[:, r - 1]
        c = torch.minimum(up2[:, 1 : w + 1] + L, up2[:, 3 : w + 3] + L)
        c = torch.minimum(c, up1[:, 0:w] + L)
        c = torch.minimum(c, up1[:, 1 : w + 1] + D)
        c = torch.minimum(c, up1[:, 2 : w + 2] + HV)
        c = torch.minimum(c, up1[:, 3 : w + 3] + D)
        c = torch.minimum(c, up1[:, 4 : w + 4] + L)
        c = torch.where(src[:, i], torch.zeros_like(c), c)
        f = torch.cummin(torch.cat((init, c), dim=1) - ramp, dim=1).values + ramp
        t[:, r, 2 : w + 2] = f[:, 1:]
    for i in range(h - 1, -1, -1):
        r = i + 2
        dn2, dn1 = t[:, r + 2], t[:, r + 1]
        c = t[:, r, 2 : w + 2]
        c = torch.minimum(c, dn2[:, 3 : w + 3] + L)
        c = torch.minimum(c, dn2[:, 1 : w + 1] + L)
        c = torch.minimum(c, dn1[:, 4 : w + 4] + L)
        c = torch.minimum(c, dn1[:, 3 : w + 3] + D)
        c = torch.minimum(c, dn1[:, 2 : w + 2] + HV)
        c = torch.minimum(c, dn1[:, 1 : w + 1] + D)
        c = torch.minimum(c, dn1[:, 0:w] + L)
        # right to left: g(j) = min(c(j), g(j + 1) + 1); the column right of the image is inf
        seq = torch.flip(torch.cat((c, init), dim=1), dims=(1,)) - ramp
        t[:, r, 2 : w + 2] = torch.flip(torch.cummin(seq, dim=1).values + ramp, dims=(1,))[:, :w]
    return t[:, 2 : h + 2, 2 : w + 2].to(torch.float32)


def equalize_hist_u8(x: torch.Tensor) -> torch.Tensor:
    """``cv2.equalizeHist`` of integer-valued ``(N, H, W)`` images in 0..255, per image:
    ``lut[v] = round((cdf(v) - count(vmin)) * (255 / (total - count(vmin))))`` in float32 (so
    ``lut[vmin] = 0``); an image with a single value is returned unchanged."""
    n, h, w = x.shape
    xi = x.to(torch.int64).clamp_(0, 255).view(n, -1)
    hist = torch.zeros(n, 256, dtype=torch.int64, device=x.device).scatter_add_(1, xi, torch.ones_like(xi))
    vmin = xi.amin(dim=1, keepdim=True)
    h0 = torch.gather(hist, 1, vmin)
    total = h * w
    cdf = torch.cumsum(hist, dim=1) - h0
    scale = 255.0 / (total - h0).clamp(min=1).to(torch.float32)
    lut = torch.round(cdf.to(torch.float32) * scale).clamp_(0, 255)
    out = torch.gather(lut, 1, xi).view(n, h, w)
    single = (h0 == total).view(n, 1, 1)
    return torch.where(single, x.to(torch.float32), out)
