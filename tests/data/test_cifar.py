"""CIFAR-10/100 from tiny batches in the exact on-disk format, and the restricted unpickler."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import torch

from birdkit.data import DataFormatError, UnsafePickleError, create_dataset, dataset_info, safe_load
from birdkit.errors import DataNotFoundError


def test_cifar10_py2_batches(cifar10_root):
    x, y = cifar10_root["train"]
    full = create_dataset("cifar10", "train_full", root=cifar10_root["root"])
    assert len(full) == 15 and full.images.dtype == torch.uint8 and full.images.shape[1:] == (3, 32, 32)
    assert torch.equal(full.images, torch.from_numpy(x.reshape(-1, 3, 32, 32)))
    assert full.targets.tolist() == y.tolist()
    # plane layout: the first 1024 bytes of a row are the red channel, row-major
    img, label = full[4]
    assert torch.equal(img[0].flatten(), torch.from_numpy(x[4, :1024])) and label == y[4]
    assert torch.equal(img[2, 31], torch.from_numpy(x[4, 3072 - 32:]))
    assert full.class_names == cifar10_root["names"]
    assert full.mean == (0.4914, 0.4822, 0.4465) and full.std == (0.2470, 0.2435, 0.2616)
    test = create_dataset("cifar10", "test", root=cifar10_root["root"] / "cifar-10-batches-py")
    xt, yt = cifar10_root["test"]
    assert torch.equal(test.images, torch.from_numpy(xt.reshape(-1, 3, 32, 32)))
    assert test.targets.tolist() == yt.tolist()
    sub = create_dataset("cifar10", "test", root=cifar10_root["root"], classes=["deer", "truck"])
    assert sub.targets.tolist() == [1, 0, 0] and torch.equal(sub.images, test.images[[0, 2, 3]])
    assert dataset_info("cifar10", root=cifar10_root["root"])["on_disk"]


def test_cifar100_fine_labels(cifar100_root):
    x, y = cifar100_root["train"]
    full = create_dataset("cifar100", "train_full", root=cifar100_root["root"])
    assert torch.equal(full.images, torch.from_numpy(x.reshape(-1, 3, 32, 32)))
    assert full.targets.tolist() == y.tolist() and full.num_classes == 100
    assert full.class_names == cifar100_root["names"]
    test = create_dataset("cifar100", "test", root=cifar100_root["root"])
    assert test.targets.tolist() == cifar100_root["test"][1].tolist()
    assert torch.equal(test.images, torch.from_numpy(cifar100_root["test"][0].reshape(-1, 3, 32, 32)))


class _Evil:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


def test_malicious_pickle_refused(tmp_path, cifar10_root):
    marker = tmp_path / "pwned"
    d = cifar10_root["root"] / "cifar-10-batches-py"
    (d / "data_batch_3").write_bytes(pickle.dumps({"data": _Evil(marker), "labels": [0]}, protocol=2))
    with pytest.raises(UnsafePickleError, match=r"refusing to unpickle the global (posix|os|nt)\.system"):
        create_dataset("cifar10", "train_full", root=cifar10_root["root"])
    assert not marker.exists()
    for obj in (eval, getattr, __import__("builtins").exec):
        p = tmp_path / "x.pkl"
        p.write_bytes(pickle.dumps({"f": obj}, protocol=4))
        with pytest.raises(UnsafePickleError, match="refusing"):
            safe_load(p)
    # not the numpy functions next door either
    p.write_bytes(pickle.dumps({"f": np.load}, protocol=4))
    with pytest.raises(UnsafePickleError):
        safe_load(p)
    assert isinstance(UnsafePickleError("x"), pickle.UnpicklingError)


def test_protocol5_and_garbage(tmp_path):
    p = tmp_path / "p5"
    p.write_bytes(pickle.dumps({"data": np.zeros((1, 3072), np.uint8)}, protocol=5))
    with pytest.raises(UnsafePickleError, match="_frombuffer"):
        safe_load(p)
    p.write_bytes(b"not a pickle at all")
    with pytest.raises(DataFormatError, match="not a readable CIFAR pickle"):
        safe_load(p)


def test_bad_batch_content(cifar100_root):
    d = cifar100_root["root"] / "cifar-100-python"
    (d / "test").write_bytes(pickle.dumps({"data": np.zeros((2, 100), np.uint8), "fine_labels": [0, 1]}, protocol=4))
    with pytest.raises(DataFormatError, match=r"uint8 array \(N, 3072\)"):
        create_dataset("cifar100", "test", root=cifar100_root["root"])
    (d / "test").write_bytes(pickle.dumps({"data": np.zeros((2, 3072), np.uint8), "labels": [0, 1]}, protocol=4))
    with pytest.raises(DataFormatError, match="fine_labels"):
        create_dataset("cifar100", "test", root=cifar100_root["root"])


def test_cifar_missing(tmp_path, cifar10_root):
    with pytest.raises(DataNotFoundError, match="--download cifar100") as e:
        create_dataset("cifar100", root=tmp_path / "nothing")
    assert "cifar-100-python" in str(e.value)
    os.remove(cifar10_root["root"] / "cifar-10-batches-py" / "test_batch")
    with pytest.raises(DataNotFoundError, match="test_batch"):
        create_dataset("cifar10", "test", root=cifar10_root["root"])
