"""Tiny datasets in the real on-disk formats (CIFAR pickled batches, tiny-imagenet-200 folders),
for end-to-end tests of the paper's pair configs without the real data."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
from PIL import Image


def _images(n: int, seed: int, side: int) -> np.ndarray:
    """Smooth-ish random images with a class-free structure, uint8 (n, side, side, 3)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, size=(n, side // 4, side // 4, 3), dtype=np.uint8)
    return base.repeat(4, axis=1).repeat(4, axis=2)


def write_cifar10(root: Path, per_class: int = 6, test_per_class: int = 2) -> Path:
    d = root / "cifar-10-batches-py"
    d.mkdir(parents=True)
    y = np.repeat(np.arange(10), per_class)
    x = _images(len(y), 0, 32).transpose(0, 3, 1, 2).reshape(len(y), -1)
    for i, part in enumerate(np.array_split(np.arange(len(y)), 5), start=1):
        obj = {"batch_label": f"training batch {i} of 5", "labels": y[part].tolist(), "data": x[part],
               "filenames": [f"{k}.png" for k in part]}
        (d / f"data_batch_{i}").write_bytes(pickle.dumps(obj, protocol=4))
    yt = np.repeat(np.arange(10), test_per_class)
    xt = _images(len(yt), 1, 32).transpose(0, 3, 1, 2).reshape(len(yt), -1)
    (d / "test_batch").write_bytes(pickle.dumps({"batch_label": "test", "labels": yt.tolist(), "data": xt,
                                                 "filenames": [f"t{k}.png" for k in range(len(yt))]}, protocol=4))
    (d / "batches.meta").write_bytes(pickle.dumps({"label_names": [f"c{k}" for k in range(10)]}, protocol=4))
    return root


def write_cifar100(root: Path, per_class: int = 3, test_per_class: int = 1) -> Path:
    d = root / "cifar-100-python"
    d.mkdir(parents=True)
    for name, n, seed in (("train", per_class, 2), ("test", test_per_class, 3)):
        y = np.repeat(np.arange(100), n)
        x = _images(len(y), seed, 32).transpose(0, 3, 1, 2).reshape(len(y), -1)
        obj = {"filenames": [f"{name}{k}.png" for k in range(len(y))], "batch_label": name,
               "fine_labels": y.tolist(), "coarse_labels": (y // 5).tolist(), "data": x}
        (d / name).write_bytes(pickle.dumps(obj, protocol=4))
    (d / "meta").write_bytes(pickle.dumps({"fine_label_names": [f"f{k}" for k in range(100)],
                                           "coarse_label_names": [f"s{k}" for k in range(20)]}, protocol=4))
    return root


def write_tinyimagenet(root: Path, classes: int = 4, per_class: int = 6, val_per_class: int = 2) -> Path:
    d = root / "tiny-imagenet-200"
    wnids = [f"n{k:08d}" for k in range(classes)]
    (d / "val" / "images").mkdir(parents=True)
    (d / "wnids.txt").write_text("\n".join(wnids) + "\n")
    (d / "words.txt").write_text("".join(f"{w}\tthing {k}\n" for k, w in enumerate(wnids)))
    imgs = _images(classes * (per_class + val_per_class), 4, 64)
    lines, i = [], 0
    for w in wnids:
        (d / "train" / w / "images").mkdir(parents=True)
        for k in range(per_class):
            Image.fromarray(imgs[i]).save(d / "train" / w / "images" / f"{w}_{k}.JPEG", quality=95)
            i += 1
        for k in range(val_per_class):
            name = f"val_{w}_{k}.JPEG"
            Image.fromarray(imgs[i]).save(d / "val" / "images" / name, quality=95)
            lines.append(f"{name}\t{w}\t0\t0\t63\t63")
            i += 1
    (d / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    return root


#: Fashion-MNIST's test images as the Debian package installs them
FMNIST_TEST = Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")


def smooth_float_images(n: int, h: int, w: int, c: int = 3, seed: int = 0):
    """Smooth random float images (n, c, h, w) in [0, 1]: bilinear upsampling of 4x coarser noise."""
    import torch
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(seed)
    z = torch.rand(n, c, h // 4 + 2, w // 4 + 2, generator=g)
    return F.interpolate(z, size=(h, w), mode="bilinear", align_corners=False)


def fashion_mnist_test_images(n: int):
    """The first ``n`` Fashion-MNIST test images, float32 (n, 1, 28, 28) in [0, 1] (uint8 / 255);
    the calling test is skipped where the dataset is not installed."""
    import gzip

    import pytest
    import torch

    if not FMNIST_TEST.exists():
        pytest.skip(f"Fashion-MNIST test images not found at {FMNIST_TEST}")
    with gzip.open(FMNIST_TEST) as f:
        raw = f.read()
    count, h, w = (int.from_bytes(raw[4 * i : 4 * i + 4], "big") for i in (1, 2, 3))
    assert int.from_bytes(raw[:4], "big") == 2051 and (h, w) == (28, 28)
    imgs = np.frombuffer(raw, np.uint8, offset=16).reshape(count, 1, h, w)[:n]
    return torch.from_numpy(imgs.astype(np.float32) / 255.0)
