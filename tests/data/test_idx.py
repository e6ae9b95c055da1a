"""IDX reader/writer, and Fashion-MNIST read from tiny IDX files in a chosen root."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch

from birdkit.data import DataFormatError, create_dataset, read_idx, write_idx
from birdkit.errors import ShapeError


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
def test_roundtrip(tmp_path, dtype, name):
    a = (np.arange(2 * 3 * 4) - 7).astype(dtype).reshape(2, 3, 4)
    if dtype == np.uint8:
        a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4) * 10
    p = write_idx(tmp_path / name, a)
    assert (p.read_bytes()[:2] == b"\x1f\x8b") == name.endswith(".gz")
    b = read_idx(p)
    assert b.dtype == np.dtype(dtype) and b.shape == a.shape and np.array_equal(a, b)


def test_header_bytes_are_standard(tmp_path):
    labels = np.array([9, 0, 3], dtype=np.uint8)
    raw = write_idx(tmp_path / "l", labels).read_bytes()
    assert raw == b"\x00\x00\x08\x01" + b"\x00\x00\x00\x03" + bytes([9, 0, 3])
    f32 = write_idx(tmp_path / "f", np.array([1.5], dtype=np.float32)).read_bytes()
    assert f32 == b"\x00\x00\x0d\x01\x00\x00\x00\x01" + np.array([1.5], ">f4").tobytes()
    # gzip recognised by content, not by name
    (tmp_path / "g").write_bytes(gzip.compress(raw))
    assert np.array_equal(read_idx(tmp_path / "g"), labels)


def test_bad_files(tmp_path):
    (tmp_path / "x").write_bytes(b"PK\x03\x04whatever")
    with pytest.raises(DataFormatError, match="not an IDX file"):
        read_idx(tmp_path / "x")
    (tmp_path / "t").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x05\x01\x02")
    with pytest.raises(DataFormatError, match="header says"):
        read_idx(tmp_path / "t")
    (tmp_path / "c").write_bytes(b"\x00\x00\x07\x01\x00\x00\x00\x01\x01")
    with pytest.raises(DataFormatError, match="element type"):
        read_idx(tmp_path / "c")
    with pytest.raises(DataFormatError, match="cannot store"):
        write_idx(tmp_path / "b", np.array([True]))


def _write_fmnist(folder, gz: bool, n_train=20, n_test=10, seed=0):
    rng = np.random.default_rng(seed)
    ext = ".gz" if gz else ""
    data = {}
    for split, stem, n in (("train", "train", n_train), ("test", "t10k", n_test)):
        x = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        y = (np.arange(n) % 10).astype(np.uint8)
        write_idx(folder / f"{stem}-images-idx3-ubyte{ext}", x)
        write_idx(folder / f"{stem}-labels-idx1-ubyte{ext}", y)
        data[split] = (x, y)
    return data


@pytest.mark.parametrize("gz", [True, False])
def test_fashion_mnist_from_root(tmp_path, gz):
    data = _write_fmnist(tmp_path, gz)
    full = create_dataset("fashion-mnist", "train_full", root=tmp_path)
    assert full.source == str(tmp_path.absolute())
    assert torch.equal(full.images, torch.from_numpy(data["train"][0]).unsqueeze(1))
    assert full.targets.tolist() == data["train"][1].tolist()
    test = create_dataset("fashion-mnist", "test", root=tmp_path)
    assert torch.equal(test.images[:, 0], torch.from_numpy(data["test"][0]))
    val = create_dataset("fashion-mnist", "val", root=tmp_path, val_fraction=0.5)
    assert val.class_counts() == [1] * 10
    assert torch.equal(val.images, full.images[val.indices])


def test_fashion_mnist_torchvision_layout(tmp_path):
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    data = _write_fmnist(raw, gz=True)
    ds = create_dataset("fashion-mnist-5-9", "train_full", root=tmp_path)
    keep = data["train"][1] >= 5
    assert torch.equal(ds.images[:, 0], torch.from_numpy(data["train"][0][keep]))
    assert ds.targets.tolist() == (data["train"][1][keep] - 5).tolist()


def test_mismatched_counts(tmp_path):
    _write_fmnist(tmp_path, gz=False)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(3, np.uint8))
    with pytest.raises(ShapeError, match="10 images but"):
        create_dataset("fashion-mnist", "test", root=tmp_path)
