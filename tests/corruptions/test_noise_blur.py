"""Noise and blur corruptions: tables, determinism, batch independence, damage, references.

References are re-implemented here with SciPy / scikit-image / OpenCV calls exactly as the
ImageNet-C code (hendrycks/robustness, ``make_{imagenet,cifar,tinyimagenet}_c.py``) makes
them, and compared with birdkit's batched torch versions.
"""

from __future__ import annotations

import gzip
import itertools
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from birdkit.corruptions import _ops, corrupt, corruption_params
from birdkit.corruptions import blur as B
from birdkit.corruptions._base import CORRUPTIONS, FAMILIES, BatchRNG

cv2 = pytest.importorskip("cv2")
ndi = pytest.importorskip("scipy.ndimage")
skf = pytest.importorskip("skimage.filters")

NOISE = ("gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise")
BLUR = ("defocus_blur", "glass_blur", "motion_blur", "zoom_blur", "gaussian_blur")
NAMES = NOISE + BLUR
DETERMINISTIC = {"defocus_blur", "zoom_blur", "gaussian_blur"}
FASHION = Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")


def _arange(a, b, s):
    return tuple(np.arange(a, b, s).tolist())


# Copied from the reference scripts (hendrycks/robustness, ImageNet-C/create_c/).
_Z = _arange
REFERENCE_TABLES = {
    "imagenet": {
        "gaussian_noise": (0.08, 0.12, 0.18, 0.26, 0.38),
        "shot_noise": (60, 25, 12, 5, 3),
        "impulse_noise": (0.03, 0.06, 0.09, 0.17, 0.27),
        "speckle_noise": (0.15, 0.2, 0.35, 0.45, 0.6),
        "gaussian_blur": (1, 2, 3, 4, 6),
        "glass_blur": ((0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2)),
        "defocus_blur": ((3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5)),
        "motion_blur": ((10, 3), (15, 5), (15, 8), (15, 12), (20, 15)),
        "zoom_blur": (_Z(1, 1.11, 0.01), _Z(1, 1.16, 0.01), _Z(1, 1.21, 0.02), _Z(1, 1.26, 0.02), _Z(1, 1.31, 0.03)),
    },
    "cifar": {
        "gaussian_noise": (0.04, 0.06, 0.08, 0.09, 0.10),
        "shot_noise": (500, 250, 100, 75, 50),
        "impulse_noise": (0.01, 0.02, 0.03, 0.05, 0.07),
        "speckle_noise": (0.06, 0.1, 0.12, 0.16, 0.2),
        "gaussian_blur": (0.4, 0.6, 0.7, 0.8, 1),
        "glass_blur": ((0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)),
        "defocus_blur": ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)),
        "motion_blur": ((6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5)),
        "zoom_blur": (_Z(1, 1.06, 0.01), _Z(1, 1.11, 0.01), _Z(1, 1.16, 0.01), _Z(1, 1.21, 0.01), _Z(1, 1.26, 0.01)),
    },
    "tinyimagenet": {
        "gaussian_noise": (0.04, 0.08, 0.12, 0.15, 0.18),
        "shot_noise": (250, 100, 50, 30, 15),
        "impulse_noise": (0.01, 0.02, 0.05, 0.08, 0.14),
        "speckle_noise": (0.15, 0.2, 0.25, 0.3, 0.35),
        "gaussian_blur": (0.5, 0.75, 1, 1.25, 1.5),
        "glass_blur": ((0.1, 1, 1), (0.5, 1, 1), (0.6, 1, 2), (0.7, 2, 1), (0.9, 2, 2)),
        "defocus_blur": ((0.5, 0.6), (1, 0.1), (1.5, 0.1), (2.5, 0.01), (3, 0.1)),
        "motion_blur": ((10, 1), (10, 1.5), (10, 2), (10, 2.5), (12, 3)),
        "zoom_blur": (_Z(1, 1.06, 0.01), _Z(1, 1.11, 0.01), _Z(1, 1.16, 0.01), _Z(1, 1.21, 0.01), _Z(1, 1.26, 0.01)),
    },
}


# ------------------------------------------------------------------------------------------
# Images
# ------------------------------------------------------------------------------------------


def _smooth(n, c, h, w, sigma, seed):
    """Natural-ish images: Gaussian-blurred white noise, stretched to [0, 1] per image."""
    z = np.random.default_rng(seed).normal(size=(n, c, h, w))
    z = ndi.gaussian_filter(z, (0, 0, sigma, sigma), mode="wrap")
    lo = z.min(axis=(1, 2, 3), keepdims=True)
    hi = z.max(axis=(1, 2, 3), keepdims=True)
    return torch.from_numpy(((z - lo) / (hi - lo)).astype(np.float32))


def _read_idx_images(path: Path, count: int) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        head = f.read(16)
        magic, n, rows, cols = (int.from_bytes(head[i : i + 4], "big") for i in range(0, 16, 4))
        assert magic == 2051
        data = f.read(count * rows * cols)
    return np.frombuffer(data, np.uint8).reshape(count, 1, rows, cols)


@pytest.fixture(scope="module")
def rgb32():
    return _smooth(8, 3, 32, 32, 1.0, seed=1)


@pytest.fixture(scope="module")
def fashion():
    if FASHION.exists():
        return torch.from_numpy(_read_idx_images(FASHION, 16).astype(np.float32) / 255.0)
    return _smooth(16, 1, 28, 28, 1.0, seed=2)  # pragma: no cover - data set absent


@pytest.fixture(scope="module")
def family_images(rgb32, fashion):
    return {
        "cifar": rgb32,
        "mnist": fashion,
        "tinyimagenet": _smooth(3, 3, 64, 64, 1.5, seed=3),
        "imagenet": _smooth(1, 3, 224, 224, 3.0, seed=4),
    }


def _hwc(t: torch.Tensor) -> np.ndarray:
    return t.permute(1, 2, 0).double().numpy()


# ------------------------------------------------------------------------------------------
# Registry and tables
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_tables_match_reference(name):
    tables = CORRUPTIONS.meta(name)["params"]
    assert set(tables) == set(FAMILIES)
    for fam, ref in REFERENCE_TABLES.items():
        assert tuple(tables[fam]) == ref[name], (name, fam)
    assert len(tables["mnist"]) == 5


# ------------------------------------------------------------------------------------------
# Shapes, dtype, range; determinism; batch independence
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_shape_dtype_range_any_size(name):
    g = torch.Generator().manual_seed(0)
    for c, (h, w) in [(1, (8, 8)), (3, (9, 13)), (1, (28, 28)), (3, (33, 31))]:
        x = torch.rand(2, c, h, w, generator=g)
        for fam in FAMILIES:
            for sev in (1, 5):
                y = corrupt(x, name, sev, family=fam)
                assert y.shape == x.shape and y.dtype == torch.float32 and y.device == x.device
                assert torch.isfinite(y).all() and y.min() >= 0 and y.max() <= 1, (name, fam, c, h, w)
    x64 = torch.rand(2, 3, 16, 16, generator=g, dtype=torch.float64)
    assert corrupt(x64, name, 3, family="cifar").dtype == torch.float64


@pytest.mark.parametrize("name", NAMES)
def test_determinism_and_seed(name, rgb32):
    a = corrupt(rgb32, name, 3, seed=5, indices=range(100, 108))
    b = corrupt(rgb32, name, 3, seed=5, indices=range(100, 108))
    c = corrupt(rgb32, name, 3, seed=6, indices=range(100, 108))
    assert torch.equal(a, b)
    assert not torch.equal(a, rgb32)
    if name in DETERMINISTIC:
        assert torch.equal(a, c)
    else:
        assert not torch.equal(a, c)
        # Different images of a batch get different noise (two copies of one image).
        twin = corrupt(rgb32[[0, 0]], name, 3, seed=5, indices=[0, 1])
        assert not torch.equal(twin[0], twin[1])


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("family", ["cifar", "mnist"])
def test_result_independent_of_batch(name, family, rgb32, fashion):
    x = rgb32 if family == "cifar" else fashion[:8]
    idx = list(range(40, 40 + len(x)))
    full = corrupt(x, name, 5, seed=3, indices=idx, family=family)
    perm = [5, 2, 7]
    sub = corrupt(x[perm], name, 5, seed=3, indices=[idx[i] for i in perm], family=family)
    assert torch.equal(full[perm], sub)
    one = corrupt(x[6:7], name, 5, seed=3, indices=[idx[6]], family=family)
    assert torch.equal(full[6:7], one)


# ------------------------------------------------------------------------------------------
# Damage grows with severity
# ------------------------------------------------------------------------------------------


def _key(name, p):
    """Damage-relevant parameters, oriented so that larger means more damage."""
    if name == "shot_noise":
        return (-p,)
    if name == "zoom_blur":
        return (max(p),)
    if name == "motion_blur":  # the radius only truncates the Gaussian tail beyond ~3 sigma
        return (min(p[0], 3 * p[1]), p[1])
    return tuple(p) if isinstance(p, tuple) else (p,)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("name", NAMES)
def test_damage_grows_with_severity(name, family, family_images):
    x = family_images[family]
    dmg = [
        (corrupt(x, name, s, seed=0, family=family) - x).abs().mean().item() for s in range(1, 6)
    ]
    keys = [_key(name, corruption_params(name, s, family)) for s in range(1, 6)]
    monotone = all(all(b >= a for a, b in zip(k0, k1, strict=True)) for k0, k1 in itertools.pairwise(keys))
    assert dmg[4] > dmg[0] * 1.05, (name, family, dmg)
    if family == "mnist":  # birdkit's own table is designed to make damage grow at every step
        assert all(b > a for a, b in itertools.pairwise(dmg)), (name, family, dmg)
    elif monotone:
        for s in range(4):
            if keys[s + 1] != keys[s]:
                assert dmg[s + 1] > dmg[s], (name, family, s + 1, dmg)
            else:
                assert dmg[s + 1] > 0.97 * dmg[s], (name, family, s + 1, dmg)


# ------------------------------------------------------------------------------------------
# Noise: statistics against the definitions
# ------------------------------------------------------------------------------------------


def _const(v, n=16, c=3, h=32, w=32):
    return torch.full((n, c, h, w), float(v))


@pytest.mark.parametrize("family", ["cifar", "tinyimagenet"])
def test_gaussian_noise_std(family):
    x = _const(0.5)
    for s in range(1, 6):
        c = corruption_params("gaussian_noise", s, family)
        r = corrupt(x, "gaussian_noise", s, family=family) - x
        assert abs(r.mean().item()) < 0.003
        assert r.std().item() == pytest.approx(c, rel=0.03)
        # independent per channel
        ch = r.reshape(16, 3, -1)
        corr = torch.corrcoef(torch.stack([ch[:, 0].flatten(), ch[:, 1].flatten()]))[0, 1]
        assert abs(corr.item()) < 0.03


def test_speckle_noise_std_and_black_stays_black():
    x = _const(0.5)
    for s in range(1, 6):
        c = corruption_params("speckle_noise", s, "cifar")
        r = corrupt(x, "speckle_noise", s, family="cifar") - x
        assert abs(r.mean().item()) < 0.003
        assert r.std().item() == pytest.approx(0.5 * c, rel=0.03)
    zero = torch.zeros(2, 3, 16, 16)
    assert torch.equal(corrupt(zero, "speckle_noise", 5, family="imagenet"), zero)


@pytest.mark.parametrize("family", ["cifar", "tinyimagenet"])
def test_shot_noise_mean_and_variance(family):
    x = _const(0.3)
    for s in range(1, 6):
        c = corruption_params("shot_noise", s, family)
        y = corrupt(x, "shot_noise", s, family=family)
        assert y.mean().item() == pytest.approx(0.3, rel=0.01)
        assert y.var().item() == pytest.approx(0.3 / c, rel=0.05)
        counts = y * c
        assert torch.allclose(counts, counts.round(), atol=1e-3)


def test_impulse_noise_fraction():
    x = _const(0.5)
    for fam in ("cifar", "imagenet"):
        for s in range(1, 6):
            a = corruption_params("impulse_noise", s, fam)
            y = corrupt(x, "impulse_noise", s, family=fam)
            n = y.numel()
            salt = (y == 1).float().mean().item()
            pepper = (y == 0).float().mean().item()
            se = math.sqrt(a * (1 - a) / n)
            assert salt + pepper == pytest.approx(a, abs=5 * se)
            assert salt == pytest.approx(a / 2, abs=5 * se) and pepper == pytest.approx(a / 2, abs=5 * se)
            assert torch.all((y == 0) | (y == 1) | (y == 0.5))


# ------------------------------------------------------------------------------------------
# Blurs: against the reference calls
# ------------------------------------------------------------------------------------------


def _all_params(name):
    return [(fam, p) for fam in FAMILIES for p in CORRUPTIONS.meta(name)["params"][fam]]


def test_gaussian_blur_equals_scipy_and_skimage(rgb32, fashion):
    for fam, sigma in _all_params("gaussian_blur"):
        for x in (rgb32[:2], fashion[:2]):
            sev = 1 + CORRUPTIONS.meta("gaussian_blur")["params"][fam].index(sigma)
            y = corrupt(x, "gaussian_blur", sev, family=fam)
            for img, out in zip(x, y, strict=True):
                ref = ndi.gaussian_filter(img.double().numpy(), (0, sigma, sigma), mode="nearest", truncate=4.0)
                np.testing.assert_allclose(out.numpy(), np.clip(ref, 0, 1), atol=2e-6)
                ref_sk = skf.gaussian(_hwc(img), sigma=sigma, channel_axis=-1)  # the reference call
                np.testing.assert_allclose(out.permute(1, 2, 0).numpy(), np.clip(ref_sk, 0, 1), atol=2e-6)


def _reference_disk(radius, alias_blur=0.1, dtype=np.float32):
    # Verbatim from make_imagenet_c.py.
    if radius <= 8:
        L = np.arange(-8, 8 + 1)
        ksize = (3, 3)
    else:
        L = np.arange(-radius, radius + 1)
        ksize = (5, 5)
    X, Y = np.meshgrid(L, L)
    aliased_disk = np.array((X**2 + Y**2) <= radius**2, dtype=dtype)
    aliased_disk /= np.sum(aliased_disk)
    return cv2.GaussianBlur(aliased_disk, ksize=ksize, sigmaX=alias_blur)


def test_defocus_blur_equals_cv2_disk_filter(rgb32, fashion):
    odd = _smooth(1, 3, 9, 12, 1.0, seed=9)  # kernel larger than the image: repeated reflection
    for fam, p in _all_params("defocus_blur"):
        k = _reference_disk(*p).astype(np.float64)
        ours = _ops.disk_kernel(*p)
        m = (k.shape[0] - ours.shape[0]) // 2
        np.testing.assert_allclose(ours, k[m : k.shape[0] - m, m : k.shape[0] - m], atol=1e-7)
        assert np.abs(k).sum() == pytest.approx(np.abs(ours).sum(), abs=1e-6)  # only zeros trimmed
        for x in (rgb32[:2], fashion[:2], odd):
            y = B.defocus_blur(x, p, None)
            for img, out in zip(x, y, strict=True):
                ref = np.stack([cv2.filter2D(ch.double().numpy(), -1, k) for ch in img])
                np.testing.assert_allclose(out.numpy(), np.clip(ref, 0, 1), atol=2e-6, err_msg=str((fam, p)))


@pytest.mark.parametrize("method", ["matrices", "fft", None])
def test_correlate2d_fast_equals_scipy_correlate(method):
    """Both ways of the large-kernel filter against ``scipy.ndimage.correlate`` (float64), for
    every boundary rule, a non-symmetric kernel of odd unequal sides, disks, and an image
    smaller than the kernel (repeated reflection)."""
    rng = np.random.default_rng(3)
    kernels = [rng.normal(size=(5, 7)), _ops.disk_kernel(6, 0.5), _ops.disk_kernel(10, 0.5), np.ones((1, 3))]
    images = [_smooth(2, 3, 32, 32, 1.0, seed=5), _smooth(1, 1, 64, 48, 2.0, seed=6), _smooth(1, 2, 9, 12, 1.0, seed=7)]
    for k in kernels:
        for x in images:
            for mode in ("mirror", "reflect", "nearest", "wrap"):
                ref = ndi.correlate(x.double().numpy(), k[None, None], mode=mode)
                for dtype, atol in ((torch.float32, 2e-6 * np.abs(k).sum()), (torch.float64, 1e-12)):
                    y = _ops.correlate2d_fast(x.to(dtype), k, mode=mode, method=method)
                    assert y.dtype == dtype and y.shape == x.shape
                    np.testing.assert_allclose(y.double().numpy(), ref, atol=atol, err_msg=str((k.shape, mode)))


def test_correlate2d_fast_rank_and_batch_independence():
    k = _ops.disk_kernel(6, 0.5)
    cols, rows = _ops.kernel_rank1_terms(k)
    assert cols.shape == (5, 15) and rows.shape == (5, 15)  # ImageNet-C's radius-6 disk has rank 5
    np.testing.assert_allclose(cols.T @ rows, k, atol=1e-15)
    x = _smooth(6, 3, 64, 64, 2.0, seed=8)
    for method in ("matrices", "fft"):
        full = _ops.correlate2d_fast(x, k, method=method)
        assert torch.equal(full[[4, 1]], _ops.correlate2d_fast(x[[4, 1]], k, method=method))
        assert torch.equal(full[2:3], _ops.correlate2d_fast(x[2:3], k, method=method))
    with pytest.raises(ValueError, match="method"):
        _ops.correlate2d_fast(x, k, method="conv")
    with pytest.raises(ValueError, match="odd"):
        _ops.correlate2d_fast(x, np.ones((2, 3)))


def test_defocus_blur_batch_independent_on_both_ways():
    """64 px with the tinyimagenet table: severity 1 uses the matrices, 5 the FFT."""
    x = _smooth(5, 3, 64, 64, 2.0, seed=9)
    for sev, method in ((1, "matrices"), (5, "fft")):
        assert _ops.correlate2d_fast_method(_ops.disk_kernel(*corruption_params("defocus_blur", sev, "tinyimagenet")),
                                            64, 64) == method
        full = corrupt(x, "defocus_blur", sev, family="tinyimagenet")
        assert torch.equal(full[[3, 0]], corrupt(x[[3, 0]], "defocus_blur", sev, family="tinyimagenet"))
        assert torch.equal(full[1:2], corrupt(x[1:2], "defocus_blur", sev, family="tinyimagenet"))


def _reference_clipped_zoom(img, zoom_factor):
    # Verbatim from make_imagenet_c.py (square HWC images).
    h = img.shape[0]
    ch = int(np.ceil(h / zoom_factor))
    top = (h - ch) // 2
    img = ndi.zoom(img[top : top + ch, top : top + ch], (zoom_factor, zoom_factor, 1), order=1)
    trim_top = (img.shape[0] - h) // 2
    return img[trim_top : trim_top + h, trim_top : trim_top + h]


def test_zoom_blur_equals_reference(family_images):
    for fam, zooms in _all_params("zoom_blur"):
        x = family_images[fam][:2]
        y = B.zoom_blur(x, zooms, None)
        for img, out in zip(x, y, strict=True):
            im = _hwc(img)
            ref = (im + sum(_reference_clipped_zoom(im, z) for z in zooms)) / (len(zooms) + 1)
            np.testing.assert_allclose(out.permute(1, 2, 0).numpy(), np.clip(ref, 0, 1), atol=2e-6)


def _reference_motion_blur(x, radius, sigma, angle):
    """ImageMagick's MotionBlurImage as ported by the imagecorruptions package (HWC)."""
    width = radius * 2 + 1
    k = np.exp(-(np.arange(width) ** 2) / (2 * sigma**2))
    k /= k.sum()
    py, px = width * np.sin(np.deg2rad(angle)), width * np.cos(np.deg2rad(angle))
    hyp = math.hypot(py, px)
    out = np.zeros_like(x)
    for i in range(width):
        dy = math.ceil((i * py) / hyp - 0.5)
        dx = math.ceil((i * px) / hyp - 0.5)
        rows = np.clip(np.arange(x.shape[0]) + dy, 0, x.shape[0] - 1)
        cols = np.clip(np.arange(x.shape[1]) + dx, 0, x.shape[1] - 1)
        out += k[i] * x[rows][:, cols]
    return out


def test_motion_blur_equals_imagemagick_kernel_and_grouped_conv(rgb32):
    x = rgb32[:4]
    angles = torch.tensor([-45.0, -12.3, 0.0, 44.9], dtype=torch.float64)
    for _fam, (r, s) in _all_params("motion_blur"):
        y = _ops.motion_blur(x, r, s, angles)
        for img, out, a in zip(x, y, angles.tolist(), strict=True):
            ref = _reference_motion_blur(_hwc(img), r, s, a)
            np.testing.assert_allclose(out.permute(1, 2, 0).numpy(), ref, atol=2e-6)
    # Same as a grouped convolution with a dense per-image line kernel.
    r, s = 9, 2.5
    w, dy, dx = _ops.motion_blur_taps(r, s, angles)
    p = 2 * r
    kern = torch.zeros(4, 2 * p + 1, 2 * p + 1)
    for n in range(4):
        for i, wt in enumerate(w.tolist()):
            kern[n, p + dy[n, i], p + dx[n, i]] += wt
    weight = kern.repeat_interleave(3, 0)[:, None]
    xp = torch.nn.functional.pad(x.reshape(1, 12, 32, 32), (p, p, p, p), mode="replicate")
    conv = torch.nn.functional.conv2d(xp, weight, groups=12).reshape(4, 3, 32, 32)
    torch.testing.assert_close(_ops.motion_blur(x, r, s, angles), conv, atol=2e-6, rtol=0)


def test_motion_blur_angles_are_per_image_within_45_degrees():
    n, size = 48, 41
    x = torch.zeros(n, 1, size, size)
    x[:, :, size // 2, size // 2] = 1.0
    y = corrupt(x, "motion_blur", 5, family="cifar", indices=range(n))
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    m = y[:, 0].sum((1, 2))
    cy = (y[:, 0] * yy).sum((1, 2)) / m - size // 2
    cx = (y[:, 0] * xx).sum((1, 2)) / m - size // 2
    # Output pixel (y, x) averages the input along (y, x) + t (sin a, cos a), t >= 0, so a dot
    # is smeared towards -(sin a, cos a).
    ang = torch.rad2deg(torch.atan2(-cy, -cx))
    assert (cx < 0).all()
    assert ang.abs().max() < 47
    assert ang.max() - ang.min() > 45  # spread over the range, one angle per image


def _reference_sweep(img_hwc_u8, d, offsets):
    """The reference's glass-blur loop on an (H, W, C) uint8 array, with given offsets."""
    x = img_hwc_u8.copy()
    H, W = x.shape[:2]
    for it in range(offsets.shape[0]):
        k = 0
        for h in range(H - d, d, -1):
            for w in range(W - d, d, -1):
                dy, dx = offsets[it, k]
                k += 1
                h_prime, w_prime = h + dy, w + dx
                # swap (verbatim; on an HWC array this copies, see blur._local_shuffle)
                x[h, w], x[h_prime, w_prime] = x[h_prime, w_prime], x[h, w]
    return x


@pytest.mark.parametrize("shape,d,iterations", [((3, 3, 16, 16), 1, 2), ((2, 1, 12, 15), 2, 2), ((2, 3, 14, 14), 4, 1)])
def test_glass_shuffle_equals_sequential_reference(shape, d, iterations):
    g = torch.Generator().manual_seed(1)
    x8 = torch.randint(0, 256, shape, generator=g, dtype=torch.uint8)
    n, c, h, w = shape
    offsets = torch.randint(-d, d, (n, iterations, (h - 2 * d) * (w - 2 * d), 2), generator=g)
    ours = B._local_shuffle(x8.double(), d, offsets)
    for i in range(n):
        ref = _reference_sweep(x8[i].permute(1, 2, 0).numpy(), d, offsets[i].numpy())
        np.testing.assert_array_equal(ours[i].permute(1, 2, 0).numpy(), ref.astype(np.float64))


def test_glass_blur_equals_reference_with_same_offsets(family_images):
    seeds = [7, 8]
    for fam in ("cifar", "mnist", "tinyimagenet"):
        x = family_images[fam][:2]
        n, c, h, w = x.shape
        for sigma, d, its in CORRUPTIONS.meta("glass_blur")["params"][fam]:
            y = B.glass_blur(x, (sigma, d, its), BatchRNG(seeds))
            offs = BatchRNG(seeds).randint(-d, d, its, (h - 2 * d) * (w - 2 * d), 2).numpy()
            for img, out, o in zip(x, y, offs, strict=True):
                u8 = np.uint8(skf.gaussian(_hwc(img), sigma=sigma, channel_axis=-1) * 255)
                ref = np.clip(skf.gaussian(_reference_sweep(u8, d, o) / 255.0, sigma=sigma, channel_axis=-1), 0, 1)
                diff = np.abs(out.permute(1, 2, 0).numpy() - ref)
                # float32 vs float64 blurs may flip a rare uint8 truncation by one level.
                assert diff.mean() < 1e-4 and (diff > 1e-5).mean() < 0.02, (fam, sigma, d, its)
