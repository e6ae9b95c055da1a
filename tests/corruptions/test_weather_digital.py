"""Weather (snow, frost, fog, spatter) and digital (brightness, contrast, elastic_transform,
pixelate, jpeg_compression, saturate) corruptions and their shared operations.

Reference checks re-run the reference recipe (Hendrycks & Dietterich 2019 / imagecorruptions)
with NumPy, SciPy, scikit-image, OpenCV and Pillow on the *same random draws* as birdkit (a second
BatchRNG with the same seeds replays them).
"""

from __future__ import annotations

import io
import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from birdkit.corruptions import _ops, corrupt, corruption_params, digital, list_corruptions, weather
from birdkit.corruptions._base import FAMILIES, BatchRNG
from fakedata import fashion_mnist_test_images, smooth_float_images

WEATHER = ("snow", "frost", "fog", "spatter")
DIGITAL = ("brightness", "contrast", "elastic_transform", "pixelate", "jpeg_compression", "saturate")
NAMES = WEATHER + DIGITAL
RANDOM = ("snow", "frost", "fog", "spatter", "elastic_transform")  # the others are deterministic



def smooth_images(n: int, h: int, w: int, c: int = 3, seed: int = 0) -> torch.Tensor:
    return smooth_float_images(n, h, w, c, seed)


@pytest.fixture(scope="module")
def fmnist() -> torch.Tensor:
    """96 Fashion-MNIST test images, float32 in [0, 1]."""
    return fashion_mnist_test_images(96)


def mad(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().mean())


# --------------------------------------------------------------------------------------------
# registry and tables
# --------------------------------------------------------------------------------------------


def test_registered_with_every_family():
    assert set(NAMES) <= set(list_corruptions())
    for name in NAMES:
        for fam in FAMILIES:
            for sev in range(1, 6):
                corruption_params(name, sev, fam)


@pytest.mark.parametrize(
    "name,family,expected",
    [
        ("jpeg_compression", "imagenet", (25, 18, 15, 10, 7)),
        ("jpeg_compression", "cifar", (80, 65, 58, 50, 40)),
        ("jpeg_compression", "tinyimagenet", (65, 58, 50, 40, 25)),
        ("pixelate", "cifar", (0.95, 0.9, 0.85, 0.75, 0.65)),
        ("contrast", "cifar", (0.75, 0.5, 0.4, 0.3, 0.15)),
        ("brightness", "imagenet", (0.1, 0.2, 0.3, 0.4, 0.5)),
        ("saturate", "tinyimagenet", ((0.3, 0), (0.1, 0), (2, 0), (5, 0.1), (30, 0.2))),
        ("fog", "cifar", ((0.2, 3), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75))),
    ],
)
def test_reference_tables(name, family, expected):
    got = tuple(corruption_params(name, s, family) for s in range(1, 6))
    assert got == expected


def test_reference_tables_structured():
    assert corruption_params("snow", 5, "cifar") == (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8)
    assert corruption_params("spatter", 4, "imagenet") == (0.65, 0.3, 1, 0.65, 1.5, 1)
    assert corruption_params("frost", 3, "cifar")[:2] == (0.9, 0.4)
    assert corruption_params("elastic_transform", 2, "cifar") == pytest.approx((1.6, 6.4, 2.24))
    assert corruption_params("elastic_transform", 1, "imagenet") == pytest.approx((488, 170.8, 24.4))


# --------------------------------------------------------------------------------------------
# contract: shapes, dtype, range, determinism, batch independence
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("c", [1, 3])
def test_shape_dtype_range(name, c):
    for (h, w), fam in (((8, 8), None), ((19, 26), "cifar"), ((32, 32), None)):
        x = smooth_images(3, h, w, c, seed=h)
        for sev in (1, 5):
            y = corrupt(x, name, sev, family=fam)
            assert y.shape == x.shape and y.dtype == x.dtype and y.device == x.device
            assert torch.isfinite(y).all() and y.min() >= 0 and y.max() <= 1
            if h == 32:
                assert not torch.equal(y, x), f"{name} s{sev} {h}x{w} C={c} is a no-op"


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("c,size", [(3, 32), (1, 28)])
def test_deterministic_and_batch_independent(name, c, size):
    x = smooth_images(6, size, size, c, seed=3)
    idx = [10, 11, 12, 13, 14, 15]
    for sev in (2, 5):  # spatter: water at 2, mud at 5
        full = corrupt(x, name, sev, seed=7, indices=idx)
        assert torch.equal(full, corrupt(x, name, sev, seed=7, indices=idx))
        sub = [4, 0, 2]
        part = corrupt(x[sub], name, sev, seed=7, indices=[idx[i] for i in sub])
        assert torch.equal(part, full[sub]), "result depends on batch composition"
        other = corrupt(x, name, sev, seed=8, indices=idx)
        if name in RANDOM:
            for i in range(6):
                assert not torch.equal(other[i], full[i]), "different seed, same corruption"
        else:
            assert torch.equal(other, full)


def test_random_corruptions_differ_between_images():
    x = smooth_images(1, 32, 32).repeat(2, 1, 1, 1)
    for name in RANDOM:
        y = corrupt(x, name, 3)
        assert not torch.equal(y[0], y[1]), name


# --------------------------------------------------------------------------------------------
# damage grows with severity
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_mnist_table_damage_monotone(fmnist, name):
    """birdkit's own 28 px table: mean absolute change strictly grows with severity on real
    Fashion-MNIST images."""
    d = [mad(corrupt(fmnist, name, s), fmnist) for s in range(1, 6)]
    assert all(b > a for a, b in itertools.pairwise(d)), (name, d)
    assert d[0] > 0.004, (name, d)


# reference tables that are ordered in their parameters
_MONOTONE_REFERENCE = ("fog", "brightness", "contrast", "pixelate", "jpeg_compression")


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("family,size", [("cifar", 32), ("tinyimagenet", 64)])
def test_reference_table_damage(name, family, size):
    x = smooth_images(24, size, size, 3, seed=5)
    d = [mad(corrupt(x, name, s, family=family), x) for s in range(1, 6)]
    assert min(d) > 0.003, (name, d)
    if name == "elastic_transform":
        # Not ordered by pixel change: severity 1 is a pure affine jitter of 0.08 * size, later
        # severities trade it for local elastic warping (the reference's table).
        return
    assert d[4] > d[0], (name, d)
    if name in _MONOTONE_REFERENCE:
        assert all(b > a for a, b in itertools.pairwise(d)), (name, d)


@pytest.mark.parametrize("family", FAMILIES)
def test_saturate_not_a_noop_on_grayscale(fmnist, family):
    x = fmnist[:16]
    for sev in range(1, 6):
        y = corrupt(x, "saturate", sev, family=family)
        assert mad(y, x) > 0.02, (family, sev)


# --------------------------------------------------------------------------------------------
# colour space, brightness, contrast, saturate
# --------------------------------------------------------------------------------------------


def _special_rgb() -> torch.Tensor:
    x = smooth_images(2, 16, 16, 3, seed=11)
    x[0, :, 0, :] = x[0, :1, 0, :]  # gray pixels
    x[0, 1, 1, :] = x[0, 0, 1, :]  # R == G ties
    x[0, 2, 2, :] = x[0, 1, 2, :]  # G == B ties
    x[0, 2, 3, :] = x[0, 0, 3, :]  # R == B ties
    x[1, :, 0, :4] = 0.0
    x[1, :, 1, :4] = 1.0
    x[1, 0, 2, :] = 1.0
    return x


def test_rgb_hsv_match_skimage():
    color = pytest.importorskip("skimage.color")
    x = _special_rgb()
    xn = x.permute(0, 2, 3, 1).double().numpy()
    hsv = _ops.rgb_to_hsv(x)
    np.testing.assert_allclose(hsv.permute(0, 2, 3, 1).numpy(), color.rgb2hsv(xn), atol=1e-5)
    back = _ops.hsv_to_rgb(hsv)
    ref = color.hsv2rgb(hsv.permute(0, 2, 3, 1).double().numpy())
    np.testing.assert_allclose(back.permute(0, 2, 3, 1).numpy(), ref, atol=1e-5)
    np.testing.assert_allclose(back.numpy(), x.numpy(), atol=1e-5)


@pytest.mark.parametrize("family", ["imagenet", "cifar"])
def test_brightness_and_saturate_match_skimage_formula(family):
    color = pytest.importorskip("skimage.color")
    x = _special_rgb()
    xn = x.permute(0, 2, 3, 1).double().numpy()
    for sev in range(1, 6):
        c = corruption_params("brightness", sev, family)
        hsv = color.rgb2hsv(xn)
        hsv[..., 2] = np.clip(hsv[..., 2] + c, 0, 1)
        ref = np.clip(color.hsv2rgb(hsv), 0, 1)
        got = corrupt(x, "brightness", sev, family=family).permute(0, 2, 3, 1).numpy()
        np.testing.assert_allclose(got, ref, atol=1e-5)
        k, o = corruption_params("saturate", sev, family)
        hsv = color.rgb2hsv(xn)
        hsv[..., 1] = np.clip(hsv[..., 1] * k + o, 0, 1)
        ref = np.clip(color.hsv2rgb(hsv), 0, 1)
        got = corrupt(x, "saturate", sev, family=family).permute(0, 2, 3, 1).numpy()
        np.testing.assert_allclose(got, ref, atol=1e-5)


def test_brightness_gray_is_hsv_of_gray():
    g = smooth_images(2, 12, 12, 1)
    y1 = corrupt(g, "brightness", 4, family="cifar")
    y3 = corrupt(g.repeat(1, 3, 1, 1), "brightness", 4, family="cifar")
    torch.testing.assert_close(y3, y1.repeat(1, 3, 1, 1), atol=1e-6, rtol=0)


def test_saturate_gray_synthetic_formula(fmnist):
    x = fmnist[:8].double().numpy()
    for sev in range(1, 6):
        k, o = corruption_params("saturate", sev, "mnist")
        v = x.max(axis=(2, 3), keepdims=True)
        s = np.clip((1 - x / v) * k + o, 0, 1)
        ref = v * (1 - s)
        got = corrupt(fmnist[:8], "saturate", sev).double().numpy()
        np.testing.assert_allclose(got, ref, atol=1e-6)
    # scale invariance, as HSV saturation
    y = corrupt(0.5 * fmnist[:8], "saturate", 3)
    torch.testing.assert_close(y, 0.5 * corrupt(fmnist[:8], "saturate", 3), atol=1e-6, rtol=0)


def test_contrast_formula():
    x = smooth_images(3, 20, 24, 3, seed=2)
    for fam in ("imagenet", "cifar"):
        for sev in range(1, 6):
            c = corruption_params("contrast", sev, fam)
            xn = x.double().numpy()
            m = xn.mean(axis=(2, 3), keepdims=True)
            ref = np.clip((xn - m) * c + m, 0, 1)
            np.testing.assert_allclose(corrupt(x, "contrast", sev, family=fam).numpy(), ref, atol=1e-6)


# --------------------------------------------------------------------------------------------
# pixelate, jpeg
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size,family", [(32, "cifar"), (28, "mnist"), (64, "tinyimagenet"), (224, "imagenet")])
def test_pixelate_matches_pil_box(size, family):
    Image = pytest.importorskip("PIL.Image")
    x = smooth_images(2, size, size, 1, seed=size)
    for sev in (1, 5):
        c = corruption_params("pixelate", sev, family)
        small = (int(size * c), int(size * c))
        ref = []
        for im in x[:, 0].numpy():
            p = Image.fromarray(im.astype(np.float32), mode="F").resize(small, Image.BOX)
            ref.append(np.array(p.resize((size, size), Image.BOX)))
        got = corrupt(x, "pixelate", sev, family=family)[:, 0].numpy()
        np.testing.assert_allclose(got, np.stack(ref), atol=1e-5)
    # 8-bit Pillow rounds between its passes: within two levels
    x8 = torch.round(smooth_images(2, size, size, 3, seed=1) * 255) / 255
    c = corruption_params("pixelate", 5, family)
    ref = []
    for im in (x8 * 255).round().byte().permute(0, 2, 3, 1).numpy():
        p = Image.fromarray(im).resize((int(size * c),) * 2, Image.BOX).resize((size, size), Image.BOX)
        ref.append(np.asarray(p, dtype=np.float32) / 255)
    got = corrupt(x8, "pixelate", 5, family=family).permute(0, 2, 3, 1).numpy()
    assert np.abs(got - np.stack(ref)).max() <= 2.01 / 255


@pytest.mark.parametrize("c", [3, 1])
def test_jpeg_close_to_pil(c):
    """Same libjpeg defaults as Pillow (IJG tables, 4:2:0). Tolerance allows for a different
    libjpeg build (DCT rounding): mean < 0.5 / 255, max <= 8 / 255 (identical on the pinned
    stack)."""
    Image = pytest.importorskip("PIL.Image")
    x = torch.round(smooth_images(6, 32, 32, c, seed=4) * 255) / 255
    for sev in (1, 3, 5):
        q = corruption_params("jpeg_compression", sev, "cifar")
        ref = []
        for im in (x * 255).round().byte().numpy():
            pil = Image.fromarray(im[0], "L").convert("RGB") if c == 1 else Image.fromarray(im.transpose(1, 2, 0))
            buf = io.BytesIO()
            pil.save(buf, "JPEG", quality=q)
            out = Image.open(buf)
            arr = np.asarray(out.convert("L"))[None] if c == 1 else np.asarray(out).transpose(2, 0, 1)
            ref.append(arr.astype(np.float32) / 255)
        d = np.abs(corrupt(x, "jpeg_compression", sev, family="cifar").numpy() - np.stack(ref))
        assert d.mean() < 0.5 / 255 and d.max() <= 8 / 255, (sev, d.mean(), d.max())


# --------------------------------------------------------------------------------------------
# elastic_transform
# --------------------------------------------------------------------------------------------


def _elastic_reference(image: np.ndarray, c, u: np.ndarray) -> np.ndarray:
    cv2 = pytest.importorskip("cv2")
    ndi = pytest.importorskip("scipy.ndimage")
    filters = pytest.importorskip("skimage.filters")
    image = image.astype(np.float32)
    h, w, ch = image.shape
    center = np.float32((h, w)) // 2
    sq = min(h, w) // 3
    pts1 = np.float32([center + sq, [center[0] + sq, center[1] - sq], center - sq])
    pts2 = pts1 + ((u[:6] * 2 - 1) * c[2]).reshape(3, 2).astype(np.float32)
    image = cv2.warpAffine(image, cv2.getAffineTransform(pts1, pts2), (w, h), borderMode=cv2.BORDER_REFLECT_101)
    if image.ndim == 2:
        image = image[..., None]
    noise = u[6:].reshape(2, h, w) * 2 - 1
    dx = filters.gaussian(noise[0], c[1], mode="reflect", truncate=3) * c[0]
    dy = filters.gaussian(noise[1], c[1], mode="reflect", truncate=3) * c[0]
    yy, xx = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    out = np.stack(
        [ndi.map_coordinates(image[..., k], (yy + dy, xx + dx), order=1, mode="reflect") for k in range(ch)], -1
    )
    return np.clip(out, 0, 1)


@pytest.mark.parametrize("family,size", [("cifar", 32), ("tinyimagenet", 64), ("mnist", 28)])
def test_elastic_matches_reference(family, size):
    x = smooth_images(3, size, size, 3, seed=6)
    seeds = [101, 102, 103]
    for sev in (1, 2, 5):
        c = corruption_params("elastic_transform", sev, family)
        got = digital.elastic_transform(x, c, BatchRNG(seeds)).numpy()
        u = BatchRNG(seeds).rand(6 + 2 * size * size).double().numpy()
        ref = np.stack([_elastic_reference(im.transpose(1, 2, 0), c, uu) for im, uu in zip(x.numpy(), u, strict=True)])
        np.testing.assert_allclose(got, ref.transpose(0, 3, 1, 2), atol=1e-4)


# --------------------------------------------------------------------------------------------
# fog
# --------------------------------------------------------------------------------------------


def _plasma_loop(u: np.ndarray, size: int, decay: float) -> np.ndarray:
    """Toroidal diamond-square written pixel by pixel: each new point is the mean of its four
    neighbours (square step: the 4 corners; diamond step: the 2 corners and 2 centres around
    it) plus wibble^2 * (2u - 1); noise consumed per level as squares, top, left, row-major."""
    m = np.zeros((size, size))
    pos, step, wibble = 0, size, 100.0
    while step >= 2:
        half = step // 2
        new = {}
        for i in range(0, size, step):
            for j in range(0, size, step):
                i2, j2 = (i + step) % size, (j + step) % size
                s = m[i, j] + m[i2, j] + m[i, j2] + m[i2, j2]
                new[(i + half, j + half)] = s / 4
        for key in sorted(new):
            m[key] = new[key] + (u[pos] * 2 - 1) * wibble * wibble
            pos += 1
        evens, odds = range(0, size, step), range(half, size, step)
        for rows, cols in ((evens, odds), (odds, evens)):
            vals = {}
            for i in rows:
                for j in cols:
                    up, down, left, right = (i - half) % size, (i + half) % size, (j - half) % size, (j + half) % size
                    s = m[up, j] + m[down, j] + m[i, left] + m[i, right]
                    vals[(i, j)] = s / 4
            for key in sorted(vals):
                m[key] = vals[key] + (u[pos] * 2 - 1) * wibble * wibble
                pos += 1
        step //= 2
        wibble /= decay
    m -= m.min()
    return m / m.max()


def test_plasma_fractal_matches_loop():
    u = torch.rand(2, 16 * 16 - 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    got = _ops.plasma_fractal(u, 16, 1.75).double().numpy()
    ref = np.stack([_plasma_loop(uu, 16, 1.75) for uu in u.numpy()])
    np.testing.assert_allclose(got, ref, atol=1e-6)


def test_fog_matches_reference():
    x = smooth_images(3, 28, 28, 3, seed=8)
    seeds = [5, 6, 7]
    c = corruption_params("fog", 4, "cifar")
    got = weather.fog(x, c, BatchRNG(seeds)).double().numpy()
    u = BatchRNG(seeds).rand(32 * 32 - 1).double().numpy()
    for im, uu, g in zip(x.double().numpy(), u, got, strict=True):
        vmax = im.max()
        ref = np.clip((im + c[0] * _plasma_loop(uu, 32, c[1])[:28, :28]) * vmax / (vmax + c[0]), 0, 1)
        np.testing.assert_allclose(g, ref, atol=1e-5)


# --------------------------------------------------------------------------------------------
# snow
# --------------------------------------------------------------------------------------------


def _shift_ref(image: np.ndarray, dx: int, dy: int) -> np.ndarray:
    h, w = image.shape
    rows = np.clip(np.arange(h) - dy, 0, h - 1)
    cols = np.clip(np.arange(w) - dx, 0, w - 1)
    return image[rows][:, cols]


def _motion_blur_ref(x: np.ndarray, radius: int, sigma: float, angle: float) -> np.ndarray:
    width = 2 * radius + 1
    k = np.exp(-np.arange(width) ** 2 / (2 * sigma**2))
    k /= k.sum()
    out = np.zeros_like(x)
    for i in range(width):
        dy = -math.ceil(i * math.sin(math.radians(angle)) - 0.5)
        dx = -math.ceil(i * math.cos(math.radians(angle)) - 0.5)
        if abs(dy) >= x.shape[0] or abs(dx) >= x.shape[1]:
            break
        out = out + k[i] * _shift_ref(x, dx, dy)
    return out


def _clipped_zoom_ref(img: np.ndarray, z: float) -> np.ndarray:
    ndi = pytest.importorskip("scipy.ndimage")
    h = img.shape[0]
    ch = int(np.ceil(h / z))
    top = (h - ch) // 2
    out = ndi.zoom(img[top : top + ch, top : top + ch], (z, z), order=1)
    t = (out.shape[0] - h) // 2
    return out[t : t + h, t : t + h]


def test_motion_blur_equals_grouped_conv_with_kernel():
    x = smooth_images(4, 24, 24, 1, seed=9)[:, 0]
    angles = torch.tensor([-130.0, -91.0, -60.0, -45.0])
    got = _ops.motion_blur(x, 5, 2.5, angles)
    kers = torch.stack([_ops.motion_blur_kernel(5, 2.5, float(a)) for a in angles]).unsqueeze(1)
    r = kers.shape[-1] // 2
    pad = F.pad(x.unsqueeze(0), (r, r, r, r), mode="replicate")
    ref = F.conv2d(pad, kers, groups=4)[0]
    torch.testing.assert_close(got, ref, atol=1e-5, rtol=0)


def test_motion_blur_matches_shift_reference():
    x = smooth_images(3, 20, 13, 1, seed=10)[:, 0]
    angles = torch.tensor([-120.0, -75.0, 30.0])
    got = _ops.motion_blur(x, 10, 4, angles, stop_at_edge=True).double().numpy()  # long taps leave the image: break
    ref = np.stack([_motion_blur_ref(im, 10, 4, float(a)) for im, a in zip(x.double().numpy(), angles, strict=True)])
    np.testing.assert_allclose(got, ref, atol=1e-5)


@pytest.mark.parametrize("n,z", [(32, 1.75), (32, 2.25), (28, 1.25), (64, 4.5)])
def test_clipped_zoom_matches_scipy(n, z):
    a = torch.randn(2, n, n, generator=torch.Generator().manual_seed(n))
    got = _ops.clipped_zoom(a.unsqueeze(1), z).squeeze(1).double().numpy()
    ref = np.stack([_clipped_zoom_ref(im, z) for im in a.double().numpy()])
    np.testing.assert_allclose(got, ref, atol=1e-5)


@pytest.mark.parametrize("family,size,c", [("cifar", 32, 3), ("tinyimagenet", 64, 3), ("mnist", 28, 1)])
def test_snow_matches_reference(family, size, c):
    x = smooth_images(2, size, size, c, seed=12)
    seeds = [21, 22]
    for sev in (3, 5):
        p = corruption_params("snow", sev, family)
        got = weather.snow(x, p, BatchRNG(seeds)).double().numpy()
        rng = BatchRNG(seeds)
        z, u = rng.randn(size, size).double().numpy(), rng.rand(1).double().numpy()[:, 0]
        for im, zz, uu, g in zip(x.double().numpy(), z, u, got, strict=True):
            layer = p[0] + p[1] * zz
            layer = _clipped_zoom_ref(layer, p[2]) if p[2] > 1 else layer
            layer = np.clip(np.where(layer < p[3], 0, layer), 0, 1)
            layer = np.round(_motion_blur_ref(layer, p[4], p[5], -135 + 90 * uu) * 255) / 255
            gray = im[0] if c == 1 else 0.299 * im[0] + 0.587 * im[1] + 0.114 * im[2]
            im = p[6] * im + (1 - p[6]) * np.maximum(im, gray * 1.5 + 0.5)
            ref = np.clip(im + layer + np.rot90(layer, 2), 0, 1)
            np.testing.assert_allclose(g, ref, atol=1e-5)


# --------------------------------------------------------------------------------------------
# spatter and its OpenCV equivalents
# --------------------------------------------------------------------------------------------


EMBOSS = [[-2, -1, 0], [-1, 1, 1], [0, 1, 2]]  # the reference's filter2D kernel


def _liquid_u8(n: int, h: int, w: int, sigma: float, thresh: float, seed: int) -> torch.Tensor:
    z = torch.randn(n, h, w, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    ll = _ops.gaussian_blur(0.65 + 0.3 * z, sigma)
    ll = torch.where(ll < thresh, torch.zeros_like(ll), ll)
    return torch.floor((ll * 255).clamp(0, 255))


def test_canny_matches_opencv():
    cv2 = pytest.importorskip("cv2")
    blurred = _ops.gaussian_blur(_liquid_u8(4, 19, 27, 0.5, 0.0, 1), 1.0).round()
    imgs = list(_liquid_u8(8, 32, 32, 1.0, 0.69, 0)) + list(blurred)
    for im in imgs:
        ref = cv2.Canny(im.numpy().astype(np.uint8), 50, 150) > 0
        got = _ops.canny(im[None], 50, 150)[0].numpy()
        assert ref.sum() > 10
        np.testing.assert_array_equal(got, ref)


def test_equalize_and_filters_match_opencv():
    cv2 = pytest.importorskip("cv2")
    g = torch.Generator().manual_seed(3)
    v = torch.randint(0, 21, (6, 32, 32), generator=g).float()
    v[0] = 7.0  # a single value
    ref = np.stack([cv2.equalizeHist(a.astype(np.uint8)) for a in v.numpy()])
    np.testing.assert_array_equal(_ops.equalize_hist_u8(v).numpy(), ref)
    u = torch.randint(0, 256, (4, 24, 30), generator=g).float()
    emb = np.array(EMBOSS)
    ref = np.stack([cv2.filter2D(a.astype(np.uint8), cv2.CV_8U, emb) for a in u.numpy()])
    np.testing.assert_array_equal(_ops.correlate2d(u, EMBOSS).clamp(0, 255).numpy(), ref)
    ref = np.stack([cv2.blur(a.astype(np.uint8), (3, 3)) for a in u.numpy()])
    np.testing.assert_array_equal(torch.round(_ops.box_sum3(u.double()) / 9).numpy(), ref)


def test_chamfer_distance_matches_opencv():
    cv2 = pytest.importorskip("cv2")
    g = torch.Generator().manual_seed(4)
    for dens, shape in ((0.02, (6, 32, 32)), (0.2, (4, 20, 27)), (0.002, (2, 64, 64))):
        m = torch.rand(*shape, generator=g) < dens
        ref = np.stack([cv2.distanceTransform(np.where(a, 0, 255).astype(np.uint8), cv2.DIST_L2, 5) for a in m.numpy()])
        np.testing.assert_allclose(_ops.chamfer_distance_5x5(m).numpy(), ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("mode", ["reflect", "nearest", "mirror", "wrap"])
def test_gaussian_blur_matches_scipy(mode):
    ndi = pytest.importorskip("scipy.ndimage")
    a = torch.rand(2, 24, 31, generator=torch.Generator().manual_seed(5))
    for sigma, truncate in ((0.7, 4.0), (3.0, 4.0), (40.0, 3.0)):  # 40: kernel far wider than the image
        got = _ops.gaussian_blur(a, sigma, mode=mode, truncate=truncate).numpy()
        ref = np.stack(
            [ndi.gaussian_filter(im.astype(np.float64), sigma, mode=mode, truncate=truncate) for im in a.numpy()]
        )
        np.testing.assert_allclose(got, ref, atol=1e-5)


def _spatter_reference(x: np.ndarray, c, z: np.ndarray) -> np.ndarray:
    cv2 = pytest.importorskip("cv2")
    filters = pytest.importorskip("skimage.filters")
    liquid = filters.gaussian(c[0] + c[1] * z, sigma=c[2])
    liquid[liquid < c[3]] = 0
    if c[5] == 0:
        l8 = (np.clip(liquid, 0, 1) * 255).astype(np.uint8)  # the reference wraps values > 1
        dist = 255 - cv2.Canny(l8, 50, 150)
        dist = cv2.distanceTransform(dist, cv2.DIST_L2, 5)
        _, dist = cv2.threshold(dist, 20, 20, cv2.THRESH_TRUNC)
        dist = cv2.blur(dist, (3, 3)).astype(np.uint8)
        dist = cv2.equalizeHist(dist)
        dist = cv2.filter2D(dist, cv2.CV_8U, np.array(EMBOSS))
        dist = cv2.blur(dist, (3, 3)).astype(np.float32)
        m = l8 * dist
        m = m / m.max() * c[4]
        return np.clip(x + m[..., None] * np.array([175, 238, 238]) / 255.0, 0, 1)
    m = np.where(liquid > c[3], 1, 0)
    m = filters.gaussian(m.astype(np.float32), sigma=c[4])
    m[m < 0.8] = 0
    return np.clip(x * (1 - m[..., None]) + np.array([63, 42, 20]) / 255.0 * m[..., None], 0, 1)


@pytest.mark.parametrize("family,size", [("cifar", 32), ("tinyimagenet", 64)])
def test_spatter_matches_reference(family, size):
    x = smooth_images(8, size, size, 3, seed=13)
    seeds = list(range(30, 38))
    for sev in range(1, 6):
        c = corruption_params("spatter", sev, family)
        got = weather.spatter(x, c, BatchRNG(seeds)).numpy()
        z = BatchRNG(seeds).randn(size, size).double().numpy()
        ref = np.stack([_spatter_reference(im.transpose(1, 2, 0), c, zz) for im, zz in zip(x.numpy(), z, strict=True)])
        d = np.abs(got - ref.transpose(0, 3, 1, 2))
        # identical up to float rounding, except where a rounding lands on an 8-bit boundary
        assert (d > 1 / 255).mean() < 0.005, (sev, (d > 1 / 255).mean())
        assert np.median(d) < 1e-6


def test_spatter_grayscale_uses_luma():
    x = smooth_images(2, 32, 32, 1, seed=14)
    seeds = [1, 2]
    for sev in (2, 5):
        c = corruption_params("spatter", sev, "cifar")
        y1 = weather.spatter(x, c, BatchRNG(seeds))
        y3 = weather.spatter(x.repeat(1, 3, 1, 1), c, BatchRNG(seeds))
        # inside the drops, gray = luma of the coloured result (where no channel clipped)
        mask = (y3 < 1).all(1, keepdim=True) & (y1 != x)
        assert mask.sum() > 10
        torch.testing.assert_close(y1[mask], _ops.rgb_to_gray(y3)[mask], atol=1e-5, rtol=0)


# --------------------------------------------------------------------------------------------
# frost
# --------------------------------------------------------------------------------------------


def test_frost_texture_statistics():
    """Per photograph palette: the texture's luma mean and within-image spread follow the
    measured statistics; finer structure at smaller scale."""
    n = 64
    ratios = {}
    for scale, size in ((0.2, 32), (1.0, 96)):
        z = torch.randn(n, weather.frost_draws(size, size), generator=torch.Generator().manual_seed(0))
        rgb, luma = weather.frost_texture(z, size, size, scale)
        assert rgb.shape == (n, 3, size, size) and luma.shape == (n, 1, size, size)
        photo = (2.5 * (1 + torch.erf(z[:, -2] / math.sqrt(2)))).floor().clamp(0, 4).long()
        lum = luma[:, 0].double()
        for p, pal in enumerate(weather._FROST_PALETTES):
            sel = lum[photo == p]
            if len(sel) < 3:
                continue
            assert abs(float(sel.mean()) - pal["mean"]) < 0.05
            assert abs(float(sel.std(dim=(1, 2)).mean()) - pal["std_w"]) < 0.015
        c = lum - lum.mean(dim=(1, 2), keepdim=True)
        grad = ((c[:, :, 1:] - c[:, :, :-1]).abs().mean() + (c[:, 1:] - c[:, :-1]).abs().mean()) / 2
        ratios[scale] = float(grad / c.std(dim=(1, 2)).mean())
    # photographs: 0.74-0.93 at scale 0.2, 0.43-0.58 at full size
    assert 0.7 < ratios[0.2] < 0.95 and 0.4 < ratios[1.0] < 0.65, ratios


def test_frost_blend_formula():
    x = smooth_images(2, 32, 32, 3, seed=15)
    c = corruption_params("frost", 4, "cifar")
    got = weather.frost(x, c, BatchRNG([3, 4]))
    rgb, luma = weather.frost_texture(BatchRNG([3, 4]).randn(weather.frost_draws(32, 32)), 32, 32, c[2])
    torch.testing.assert_close(got, (c[0] * x + c[1] * rgb).clamp(0, 1))
    got1 = weather.frost(x[:, :1], c, BatchRNG([3, 4]))
    torch.testing.assert_close(got1, (c[0] * x[:, :1] + c[1] * luma).clamp(0, 1))
