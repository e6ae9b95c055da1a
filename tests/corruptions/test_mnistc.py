"""The MNIST-C family (Mu & Gilmer 2019): shear, scale, rotate, translate, stripe, dotted_line,
zigzag, canny_edges.

References, independent of birdkit's torch code:

* the affine corruptions against scikit-image's ``AffineTransform`` + ``warp`` (what MNIST-C
  calls), with the same parameter, MNIST-C's centring and the sign birdkit drew (replayed from a
  second ``BatchRNG`` with the same seeds);
* canny_edges against ``skimage.feature.canny`` with the same sigma and thresholds;
* stripe, dotted_line and zigzag against a plain-Python rendering of MNIST-C's line geometry
  written here from its description, and structural checks (which pixels may change, by how
  much, how many).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from birdkit.cli.cmd_corrupt import parse_corruptions
from birdkit.corruptions import (
    ALL_CORRUPTIONS,
    HELDOUT_CORRUPTIONS,
    MNISTC_CORRUPTIONS,
    TRAIN_CORRUPTIONS,
    _ops,
    corrupt,
    corruption_params,
    list_corruptions,
    mnistc,
)
from birdkit.corruptions._base import CORRUPTIONS, BatchRNG, image_seed
from birdkit.corruptions.materialize import load_corrupted, materialize
from birdkit.corruptions.preview import preview_grid
from birdkit.errors import UnknownNameError
from fakedata import fashion_mnist_test_images, smooth_float_images

skt = pytest.importorskip("skimage.transform")
skf = pytest.importorskip("skimage.feature")

NAMES = ("shear", "scale", "rotate", "translate", "stripe", "dotted_line", "zigzag", "canny_edges")
RANDOM = ("shear", "rotate", "translate", "dotted_line", "zigzag")
AFFINE = ("shear", "scale", "rotate", "translate")

#: MNIST-C's parameter of each corruption (its functions' default severity in corruptions.py):
#: shear/rotate severity 2 of (0.2, 0.4, ...), scale 1/0.7, translate 3 px, stripe 7 columns,
#: the lines' decay length 2.3, canny = bare edge map at sigma 1.
MNISTC_VALUES = {
    "shear": 0.4, "scale": 0.7, "rotate": 0.4, "translate": 3, "stripe": 7, "dotted_line": 2.3, "zigzag": 2.3,
    "canny_edges": (1.0, 1.0),
}


def smooth_images(n: int, h: int, w: int, c: int = 1, seed: int = 0) -> torch.Tensor:
    return smooth_float_images(n, h, w, c, seed)


@pytest.fixture(scope="module")
def fmnist() -> torch.Tensor:
    """300 Fashion-MNIST test images, float32 in [0, 1] (uint8 / 255)."""
    return fashion_mnist_test_images(300)


def replay(name: str, severity: int, indices, seed: int = 0) -> BatchRNG:
    """A second BatchRNG with the seeds ``corrupt`` gives these images: replays their draws."""
    return BatchRNG([image_seed(seed, i, name, severity) for i in indices])


def mad(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).abs().mean())


# --------------------------------------------------------------------------------------------
# registry, tables, groups
# --------------------------------------------------------------------------------------------


def test_names_groups_and_registry():
    assert MNISTC_CORRUPTIONS == NAMES
    assert set(NAMES) <= set(list_corruptions())
    assert not set(NAMES) & set(ALL_CORRUPTIONS)
    # the ImageNet-C groups are untouched
    assert (len(TRAIN_CORRUPTIONS), len(HELDOUT_CORRUPTIONS), len(ALL_CORRUPTIONS)) == (15, 4, 19)
    assert len(list_corruptions()) == 19 + 8
    assert set(list_corruptions()) == set(ALL_CORRUPTIONS) | set(NAMES)
    # the MNIST-C corruptions ImageNet-C already has stay ImageNet-C's (training) ones
    for shared in ("shot_noise", "impulse_noise", "glass_blur", "motion_blur", "brightness", "fog"):
        assert shared in TRAIN_CORRUPTIONS
    assert "spatter" in HELDOUT_CORRUPTIONS


def _key(p) -> tuple[float, ...]:
    """Table entries oriented so that larger means stronger."""
    return tuple(p) if isinstance(p, tuple) else (p,)


@pytest.mark.parametrize("name", NAMES)
def test_tables_mnistc_value_at_severity_3_and_monotone(name):
    tables = CORRUPTIONS.meta(name)["params"]
    assert set(tables) == {"mnist"}
    table = [corruption_params(name, s, "mnist") for s in range(1, 6)]
    assert table[2] == MNISTC_VALUES[name]
    keys = [_key(p) for p in table]
    if name == "scale":  # a zoom factor: smaller is stronger
        keys = [(-k[0],) for k in keys]
    for k0, k1 in itertools.pairwise(keys):
        assert all(b >= a for a, b in zip(k0, k1)) and k1 != k0, (name, table)


@pytest.mark.parametrize("name", NAMES)
def test_other_family_is_a_clear_one_line_error(name):
    for fam in ("cifar", "imagenet", "tinyimagenet"):
        with pytest.raises(UnknownNameError) as err:
            corruption_params(name, 3, fam)
        msg = str(err.value)
        assert "\n" not in msg and name in msg and fam in msg and "mnist" in msg
    with pytest.raises(UnknownNameError, match="Known: mnist"):
        corrupt(torch.rand(2, 3, 32, 32), name, 3)  # 32 px -> the cifar family by default


# --------------------------------------------------------------------------------------------
# contract: shape, dtype, range, determinism, batch independence, damage
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_shape_dtype_range(name):
    for c, (h, w) in ((1, (28, 28)), (3, (28, 28)), (1, (8, 8)), (3, (20, 27))):
        x = smooth_images(3, h, w, c, seed=h + c)
        for sev in (1, 3, 5):
            y = corrupt(x, name, sev)
            assert y.shape == x.shape and y.dtype == x.dtype and y.device == x.device
            assert torch.isfinite(y).all() and y.min() >= 0 and y.max() <= 1, (name, c, h, w, sev)
            if (h, w) == (28, 28):
                assert not torch.equal(y, x), f"{name} s{sev} is a no-op"
    x64 = smooth_images(2, 28, 28, 1, seed=1).double()
    assert corrupt(x64, name, 3).dtype == torch.float64


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_and_batch_independent(name, fmnist):
    x = fmnist[:12]
    idx = list(range(500, 512))
    for sev in (1, 5):
        full = corrupt(x, name, sev, seed=3, indices=idx)
        assert torch.equal(full, corrupt(x, name, sev, seed=3, indices=idx))
        sub = [7, 2, 9]
        assert torch.equal(corrupt(x[sub], name, sev, seed=3, indices=[idx[i] for i in sub]), full[sub])
        assert torch.equal(corrupt(x[4:5], name, sev, seed=3, indices=[idx[4]]), full[4:5])
        other = corrupt(x, name, sev, seed=4, indices=idx)
        if name in RANDOM:
            assert not torch.equal(other, full)
        else:
            assert torch.equal(other, full)


@pytest.mark.parametrize("name", RANDOM)
def test_random_draws_differ_between_images(name, fmnist):
    x = fmnist[:1].repeat(16, 1, 1, 1)
    y = corrupt(x, name, 3)
    assert len({tuple(img.flatten().tolist()) for img in y}) > 1, name


@pytest.mark.parametrize("name", NAMES)
def test_damage_grows_with_severity(name, fmnist):
    """Mean absolute change grows strictly with severity on 300 Fashion-MNIST images."""
    d = [mad(corrupt(fmnist, name, s), fmnist) for s in range(1, 6)]
    assert all(b > a for a, b in itertools.pairwise(d)), (name, d)
    assert d[0] > 0.005, (name, d)


# --------------------------------------------------------------------------------------------
# affine corruptions against scikit-image
# --------------------------------------------------------------------------------------------


def _centre_fixed(matrix: np.ndarray, side: int = 28) -> np.ndarray:
    """MNIST-C's centring: the translation ``13.5 * (1 - a1 - a2)`` (rows alike) that keeps
    the image centre fixed."""
    m = matrix.copy()
    ctr = (side - 1) / 2
    m[0, 2] = ctr * (1 - m[0, 0] - m[0, 1])
    m[1, 2] = ctr * (1 - m[1, 0] - m[1, 1])
    return m


def _skimage_affine(name: str, c: float, signs: np.ndarray):
    """The inverse map MNIST-C passes to ``warp`` for parameter ``c`` and the drawn signs."""
    if name == "rotate":
        return skt.AffineTransform(matrix=_centre_fixed(skt.AffineTransform(rotation=c * signs[0]).params))
    if name == "scale":
        return skt.AffineTransform(matrix=_centre_fixed(skt.AffineTransform(scale=(1 / c, 1 / c)).params))
    if name == "translate":
        return skt.AffineTransform(translation=(c * signs[0], c * signs[1]))
    # shear: AffineTransform(shear=s) as scikit-image defined it when MNIST-C was made (< 0.21):
    # [[1, -sin(s)], [0, cos(s)]]; today's AffineTransform(shear=s) is [[1, -tan(s)], [0, 1]].
    s = c * signs[0]
    old = np.array([[1.0, -math.sin(s), 0.0], [0.0, math.cos(s), 0.0], [0.0, 0.0, 1.0]])
    return skt.AffineTransform(matrix=_centre_fixed(old))


@pytest.mark.parametrize("name", AFFINE)
def test_affine_equals_skimage_warp(name, fmnist):
    """Same parameter and sign: equal to scikit-image's float64 bilinear ``warp`` (zeros outside)
    to float32 rounding, borders included (both blend the same four neighbours, out-of-image
    ones counting 0; birdkit samples in float64). Measured max |diff| 3e-8 (4e-15 for translate)."""
    x = fmnist[:64]
    idx = list(range(64))
    seen = set()
    worst = 0.0
    for sev in range(1, 6):
        c = corruption_params(name, sev, "mnist")
        y = corrupt(x, name, sev, indices=idx)
        k = 2 if name == "translate" else 1
        signs = (replay(name, sev, idx).randint(0, 2, k) * 2 - 1).numpy() if name != "scale" else np.ones((64, 1))
        for img, out, sg in zip(x, y, signs):
            ref = skt.warp(img[0].double().numpy(), inverse_map=_skimage_affine(name, float(c), sg))
            worst = max(worst, float(np.abs(out[0].double().numpy() - ref).max()))
            seen.add(tuple(sg.tolist()))
    assert worst < 1e-6, (name, worst)
    if name == "translate":
        assert seen == {(-1, -1), (-1, 1), (1, -1), (1, 1)}
    elif name != "scale":
        assert seen == {(-1,), (1,)}


def test_shear_is_mnistc_shear_not_todays_skimage_shear(fmnist):
    """The 2019 definition matters: with today's ``AffineTransform(shear=0.4)`` the result
    differs visibly (so the reference above is not vacuous)."""
    x = fmnist[:8]
    y = corrupt(x, "shear", 3, indices=range(8))
    signs = (replay("shear", 3, range(8)).randint(0, 2, 1) * 2 - 1).numpy()
    diffs = []
    for img, out, sg in zip(x, y, signs):
        today = _centre_fixed(skt.AffineTransform(shear=0.4 * sg[0]).params)
        ref = skt.warp(img[0].double().numpy(), inverse_map=skt.AffineTransform(matrix=today))
        diffs.append(np.abs(out[0].numpy() - ref).max())
    assert min(diffs) > 0.05


def test_translate_moves_content_by_whole_pixels():
    x = torch.zeros(32, 1, 28, 28)
    x[:, :, 10:18, 9:20] = torch.rand(32, 1, 8, 11, generator=torch.Generator().manual_seed(0))
    y = corrupt(x, "translate", 3, indices=range(32))
    sg = replay("translate", 3, range(32)).randint(0, 2, 2) * 2 - 1
    for img, out, (sx, sy) in zip(x, y, sg.tolist()):
        # output(col, row) = input(col + dx, row + dy): content moves by (-dx, -dy)
        assert torch.equal(out, torch.roll(img, shifts=(-3 * sy, -3 * sx), dims=(1, 2)))


# --------------------------------------------------------------------------------------------
# canny_edges against scikit-image
# --------------------------------------------------------------------------------------------


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def _tie_shapes() -> torch.Tensor:
    """Constant-valued shapes (squares, a disc, a cross, a thresholded garment): symmetric edges
    whose magnitudes tie exactly, so only the same arithmetic breaks the ties the same way."""
    x = torch.zeros(6, 1, 28, 28)
    x[0, :, 8:20, 8:20] = 1.0
    x[1, :, 3:25, 10:14] = 0.6
    x[1, :, 10:14, 3:25] = 0.6
    yy, xx = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    x[2, 0] = (((yy - 13.5) ** 2 + (xx - 13.5) ** 2) < 64).float()
    x[3, :, 1:27, 1:27] = 1.0  # touching the excluded border
    x[4, :, 5:9, 5:23] = 0.3
    x[4, :, 15:23, 5:9] = 0.3
    return x


@pytest.mark.parametrize("sigma", [1.0, 1.5, 2.0, 0.7])
def test_canny_equals_skimage(sigma, fmnist):
    """Edge maps of 300 Fashion-MNIST images, 64 smooth random images (all gradient directions)
    and constant-valued shapes (exact ties) against ``skimage.feature.canny(img, sigma, 0.1,
    0.2)``: identical (IoU 1, no pixel differs), ties included."""
    binary = (fmnist[:50] > 0.3).float()  # thresholded garments: flat regions, many ties
    for x in (fmnist, smooth_images(64, 28, 28, 1, seed=9), _tie_shapes(), binary):
        ours = _ops.canny_bilinear(x[:, 0], sigma, 0.1, 0.2).numpy()
        ref = np.stack([skf.canny(img[0].double().numpy(), sigma=sigma, low_threshold=0.1, high_threshold=0.2)
                        for img in x])
        assert ref.any()
        assert _iou(ours, ref) == 1.0 and np.array_equal(ours, ref), (sigma, int((ours != ref).sum()))


def test_correlate1d_is_scipy_bit_for_bit():
    ndi = pytest.importorskip("scipy.ndimage")
    x = torch.rand(3, 17, 23, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    xn = x.numpy()
    for sigma in (0.7, 1.0, 2.0):
        g = _ops.scipy_gaussian_weights(sigma)
        ours = _ops.correlate1d(_ops.correlate1d(x, g, -2, "constant"), g, -1, "constant")
        ref = np.stack([ndi.gaussian_filter(im, sigma, mode="constant") for im in xn])
        assert np.array_equal(ours.numpy(), ref), sigma
    for axis, dim, across in ((0, -2, -1), (1, -1, -2)):
        ours = _ops.correlate1d(_ops.correlate1d(x, np.array([-1.0, 0, 1]), dim, "reflect"),
                                np.array([1.0, 2, 1]), across, "reflect")
        assert np.array_equal(ours.numpy(), np.stack([ndi.sobel(im, axis=axis) for im in xn])), axis
    w = np.array([0.5, -1.0, 0.25, 2.0, 0.125])  # neither symmetric nor antisymmetric
    for mode in ("nearest", "mirror", "wrap", "reflect", "constant"):
        ours = _ops.correlate1d(x, w, -1, mode)
        ref = ndi.correlate1d(xn, w, axis=-1, mode=mode)
        assert np.array_equal(ours.numpy(), ref), mode


def test_canny_edges_severities(fmnist):
    """Severity 3 is MNIST-C's ``canny(x)`` (sigma 1) as a 0/1 image; 1-2 blend it with the
    image; 4-5 are bare edge maps at larger sigma."""
    x = fmnist[:40]
    for sev in range(1, 6):
        weight, sigma = corruption_params("canny_edges", sev, "mnist")
        edges = np.stack([skf.canny(img[0].double().numpy(), sigma=sigma) for img in x]).astype(np.float32)
        want = (1 - weight) * x[:, 0].numpy() + weight * edges
        np.testing.assert_allclose(corrupt(x, "canny_edges", sev)[:, 0].numpy(), want, atol=1e-6)
    y = corrupt(x, "canny_edges", 3)
    assert set(torch.unique(y).tolist()) == {0.0, 1.0}
    rgb = x.repeat(1, 3, 1, 1)  # gray RGB: edges of the luma on every channel, same as 1-channel
    np.testing.assert_allclose(corrupt(rgb, "canny_edges", 3).numpy(), y.repeat(1, 3, 1, 1).numpy(), atol=0)


def test_canny_square_outline():
    """A bright square on black: the edge map is a closed ring around it, nothing elsewhere."""
    x = torch.zeros(1, 1, 28, 28)
    x[:, :, 8:20, 8:20] = 1.0
    e = corrupt(x, "canny_edges", 3)[0, 0].bool()
    ref = skf.canny(x[0, 0].double().numpy())
    assert np.array_equal(e.numpy(), ref)
    assert e.sum() > 30 and not e[:6].any() and not e[22:].any() and not e[11:17, 11:17].any()


# --------------------------------------------------------------------------------------------
# stripe, dotted_line, zigzag
# --------------------------------------------------------------------------------------------


def test_stripe_inverts_exactly_the_side_columns(fmnist):
    x = fmnist[:20]
    for sev, k in zip(range(1, 6), (3, 5, 7, 9, 11)):
        y = corrupt(x, "stripe", sev)
        torch.testing.assert_close(y[..., :k], 1 - x[..., :k], atol=0, rtol=0)
        torch.testing.assert_close(y[..., 28 - k :], 1 - x[..., 28 - k :], atol=0, rtol=0)
        assert torch.equal(y[..., k : 28 - k], x[..., k : 28 - k])
    # MNIST-C: x[:, :7] and x[:, 21:] inverted
    y = corrupt(x, "stripe", 3)
    assert torch.equal(y[..., 7:21], x[..., 7:21]) and not torch.equal(y[..., 6], x[..., 6])


def _mnistc_line(c0: float, r0: float, c1: float, r1: float, width: float, size: int = 28) -> np.ndarray:
    """MNIST-C's line, written out pixel by pixel: intensity ``1 + log(1 - d / width)`` (>= 0)
    at vertical distance ``d`` from the line, on columns ``floor(c0) .. ceil(c1) - 1``."""
    out = np.zeros((size, size))
    if c1 == c0:
        return out
    for col in range(int(math.floor(c0)), min(int(math.ceil(c1)), size)):
        if col < 0:
            continue
        centre = r0 + (r1 - r0) / (c1 - c0) * (col - c0)
        for row in range(size):
            d = min(abs(row - centre), width - 1e-10)
            out[row, col] = min(max(1 + math.log(1 - d / width), 0.0), 1.0)
    return out


def _mnistc_zigzag_corners(r0: float, r1: float) -> list[tuple[float, float]]:
    """MNIST-C's zigzag corners for a 28-px image, from its description: teeth of length 2 and
    height 2 along the segment from (2, r0) to (25, r1), its odd end point, rotated into place."""
    a = b = 2.0
    theta = math.atan((r1 - r0) / 23.0)
    length = 23.0 / math.cos(theta)
    pts = [(0.0, 0.0)]
    teeth = int((length - a) // (2 * a)) + 1
    for i in range(teeth):
        pts.append(((2 * i + 1) * a, b if i % 2 == 0 else -b))
    q = 2 * a * (length // (2 * a))
    if length != q:
        pts.append((length, pts[-1][1] / (2 * (length - q))))
    return [(2 + u * math.cos(theta) - v * math.sin(theta), r0 + u * math.sin(theta) + v * math.cos(theta))
            for u, v in pts]


def test_dotted_line_equals_reference_and_structure(fmnist):
    x = torch.cat((fmnist[:24], torch.zeros(24, 1, 28, 28)))
    idx = list(range(48))
    dash_on = np.array([(c // 2) % 2 == 1 for c in range(28)]) & (np.arange(28) < 27)
    for sev in range(1, 6):
        width = corruption_params("dotted_line", sev, "mnist")
        y = corrupt(x, "dotted_line", sev, indices=idx)
        rows = replay("dotted_line", sev, idx).randint(0, 27, 2).tolist()
        for i, (img, out, (r0, r1)) in enumerate(zip(x, y, rows)):
            assert 0 <= r0 <= 26 and 0 <= r1 <= 26
            line = _mnistc_line(0, r0, 27, r1, width) * dash_on[None, :]
            np.testing.assert_allclose(out[0].numpy(), np.clip(img[0].numpy() + line, 0, 1), atol=1e-6)
            changed = (out[0] != img[0]).numpy()
            assert not changed[:, ~dash_on].any()  # only the dashes, never column 27
            centre = r0 + (r1 - r0) / 27 * np.arange(28)
            near = np.abs(np.arange(28)[:, None] - centre[None, :]) < width * (1 - 1 / math.e)
            assert not (changed & ~near).any()  # only within the line's reach
            assert (out[0] >= img[0]).all()  # a white line: values only grow
            if i >= 24:  # black image: 1-4 lit pixels in each of the 13 dashed columns
                lit = changed.sum(axis=0)[dash_on]
                assert lit.min() >= 1 and lit.max() <= 4, lit


def test_zigzag_equals_reference_and_structure(fmnist):
    x = torch.cat((fmnist[:24], torch.zeros(24, 1, 28, 28)))
    idx = list(range(48))
    inside = 0
    for sev in range(1, 6):
        width = corruption_params("zigzag", sev, "mnist")
        y = corrupt(x, "zigzag", sev, indices=idx)
        rng = replay("zigzag", sev, idx)
        r0s = rng.randint(0, 27, 1)[:, 0].tolist()
        drifts = rng.randint(-5, 5, 1)[:, 0].tolist()
        for i, (img, out, r0, dr) in enumerate(zip(x, y, r0s, drifts)):
            assert -5 <= dr <= 4
            corners = _mnistc_zigzag_corners(float(r0), float(r0 + dr))
            assert len(corners) == 8  # 28 px: the start, 6 teeth, the end point
            zz = sum(_mnistc_line(*p, *q, width) for p, q in itertools.pairwise(corners))
            np.testing.assert_allclose(out[0].numpy(), np.clip(img[0].numpy() + zz, 0, 1), atol=1e-6)
            changed = (out[0] != img[0]).numpy()
            assert not changed[:, :2].any() and not changed[:, 26:].any()  # columns 2..25 only
            assert (out[0] >= img[0]).all()
            if i >= 24 and 8 <= r0 <= 19:  # black image, zigzag inside the image: every column
                lit = changed.sum(axis=0)[2:25]  # it crosses has 1-8 lit pixels (two segments)
                assert lit.min() >= 1 and lit.max() <= 8, lit
                inside += 1
    assert inside >= 10


def test_zigzag_points_match_the_reference_geometry():
    r0 = torch.tensor([0.0, 13.0, 26.0, 7.0])
    r1 = r0 + torch.tensor([-5.0, 4.0, 0.0, 1.0])
    pts, valid = mnistc.zigzag_points(r0, r1, 28)
    for k in range(4):
        want = _mnistc_zigzag_corners(float(r0[k]), float(r1[k]))
        got = pts[k][valid[k]].tolist()
        np.testing.assert_allclose(np.array(got), np.array(want), atol=1e-12)


# --------------------------------------------------------------------------------------------
# the rest of the package accepts the new names
# --------------------------------------------------------------------------------------------


def test_materialize_preview_and_cli_accept_mnistc(tmp_path):
    images = (smooth_images(6, 28, 28, 1, seed=2) * 255).round().to(torch.uint8)
    labels = torch.arange(6)
    materialize((images, labels), "test", tmp_path, dataset_name="toy", corruptions=list(NAMES), severities=[3])
    for name in NAMES:
        got, lab = load_corrupted(tmp_path, "toy", "test", name, 3)
        want = (corrupt(images.float() / 255, name, 3, indices=range(6)) * 255).round().to(torch.uint8)
        assert torch.equal(got, want) and torch.equal(lab, labels)
    png = preview_grid(images[:2], tmp_path / "p.png", corruptions=list(NAMES), severities=[0, 3])
    assert png.exists()
    assert parse_corruptions("zigzag,shear,gaussian_noise") == ["gaussian_noise", "shear", "zigzag"]
    assert set(NAMES) <= set(parse_corruptions("*"))
    assert not set(NAMES) & set(parse_corruptions("all"))
