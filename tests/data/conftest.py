"""Writers of tiny datasets in the exact on-disk formats birdkit reads."""

from __future__ import annotations

import io
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest


class Py2StylePickler(pickle._Pickler):  # the pure-Python pickler lets us override bytes
    """Writes ``bytes`` as Python 2 ``str`` (BINSTRING opcodes), as in the official CIFAR files.

    With protocol 2, Python 3 would otherwise encode bytes through ``_codecs.encode``.
    """

    dispatch = dict(pickle._Pickler.dispatch)

    def save_py2_str(self, obj: bytes) -> None:
        n = len(obj)
        if n < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([n]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", n) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str


def py2_dumps(obj) -> bytes:
    """Pickle like Python 2 + numpy 1 did: protocol 2, byte strings as str, ``numpy.core`` path."""
    buf = io.BytesIO()
    Py2StylePickler(buf, protocol=2).dump(obj)
    return buf.getvalue().replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")


def cifar_images(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 3072), dtype=np.uint8)


@pytest.fixture
def cifar10_root(tmp_path: Path) -> dict:
    """cifar-10-batches-py with 3 images per training batch and 4 test images, py2-style pickles."""
    d = tmp_path / "cifar-10-batches-py"
    d.mkdir()
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]
    xs, ys = [], []
    for i in range(1, 6):
        x = cifar_images(3, i)
        y = [(3 * i + k) % 10 for k in range(3)]
        batch = {b"batch_label": b"training batch %d of 5" % i, b"labels": y, b"data": x,
                 b"filenames": [b"img_%d_%d.png" % (i, k) for k in range(3)]}
        (d / f"data_batch_{i}").write_bytes(py2_dumps(batch))
        xs.append(x)
        ys += y
    xt, yt = cifar_images(4, 99), [9, 0, 4, 4]
    (d / "test_batch").write_bytes(py2_dumps({b"batch_label": b"testing batch 1 of 1", b"labels": yt, b"data": xt,
                                              b"filenames": [b"t%d.png" % k for k in range(4)]}))
    (d / "batches.meta").write_bytes(py2_dumps({b"label_names": names, b"num_cases_per_batch": 10000,
                                                b"num_vis": 3072}))
    return {"root": tmp_path, "train": (np.concatenate(xs), np.array(ys)), "test": (xt, np.array(yt)),
            "names": [n.decode() for n in names]}


@pytest.fixture
def cifar100_root(tmp_path: Path) -> dict:
    """cifar-100-python with 20 training and 6 test images, Python 3 protocol-4 pickles."""
    d = tmp_path / "cifar-100-python"
    d.mkdir()
    x, y = cifar_images(20, 1), [(7 * k) % 100 for k in range(20)]
    xt, yt = cifar_images(6, 2), [99, 0, 50, 51, 3, 3]
    for name, xx, yy in (("train", x, y), ("test", xt, yt)):
        obj = {"filenames": [f"{name}{k}.png" for k in range(len(yy))], "batch_label": name,
               "fine_labels": yy, "coarse_labels": [v // 5 for v in yy], "data": xx}
        (d / name).write_bytes(pickle.dumps(obj, protocol=4))
    fine = [f"class{k:02d}" for k in range(100)]
    (d / "meta").write_bytes(pickle.dumps({"fine_label_names": fine,
                                           "coarse_label_names": [f"super{k}" for k in range(20)]}, protocol=4))
    return {"root": tmp_path, "train": (x, np.array(y)), "test": (xt, np.array(yt)), "names": fine}
