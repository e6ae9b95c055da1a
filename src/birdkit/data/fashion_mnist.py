"""Fashion-MNIST (Xiao et al. 2017): 60,000 training and 10,000 test images, 28x28 grayscale,
10 classes of clothing. Also the named class subsets ``fashion-mnist-0-4`` and
``fashion-mnist-5-9``.

Read from the four IDX files (gzipped or raw), looked for in this order:

1. ``root`` if given (also ``root/FashionMNIST/raw``, torchvision's layout, and
   ``root/fashion-mnist``), and nowhere else;
2. ``/usr/share/datasets/fashion-mnist`` (Debian/Ubuntu package ``dataset-fashion-mnist``);
3. birdkit's data folder (``$BIRDKIT_DATA`` or ``~/.cache/birdkit``): ``fashion-mnist/``,
   ``FashionMNIST/raw/`` (where ``download=True`` puts them) or the folder itself.

Normalisation: mean 0.2860, std 0.3530 (all pixels of the 60,000 training images, scaled to
[0, 1]; the standard published values, re-computed by the tests).
"""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path

import numpy as np
import torch
from torchvision.datasets import FashionMNIST

from birdkit.data._base import TensorImageDataset, data_home
from birdkit.data._factory import expand_root, first_existing, locate_or_download, register_dataset
from birdkit.data.idx import read_idx
from birdkit.errors import DataFormatError, DataNotFoundError, ShapeError, one_line

log = logging.getLogger(__name__)

SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
MEAN, STD = (0.2860,), (0.3530,)
GET = ("`sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu, installs to "
       f"{SYSTEM_DIR}); or, when online, `birdkit datasets --download fashion-mnist` / "
       "`create_dataset('fashion-mnist', download=True)`; or put the four IDX files (gz or raw) "
       "in a folder and pass root= or set $BIRDKIT_DATA")
_FILES = {
    ("train", "images"): ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    ("train", "labels"): ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    ("test", "images"): ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
    ("test", "labels"): ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
}


def idx_file(folder: Path, official: str, kind: str) -> Path | None:
    """The IDX file of ``official`` (``train``/``test``) ``kind`` (``images``/``labels``) in
    ``folder``: raw preferred over ``.gz``."""
    for stem in _FILES[(official, kind)]:
        for name in (stem, stem + ".gz"):
            p = folder / name
            if p.is_file():
                return p
    return None


def _complete(folder: Path) -> bool:
    return all(idx_file(folder, o, k) is not None for o, k in _FILES)


def candidates(root: str | os.PathLike[str] | None) -> list[Path]:
    """The folders searched, in order."""
    if root is not None:
        r = expand_root(root)
        return [r, r / "FashionMNIST" / "raw", r / "fashion-mnist"]
    home = data_home()
    return [SYSTEM_DIR, home / "fashion-mnist", home / "FashionMNIST" / "raw", home]


def locate(root: str | os.PathLike[str] | None = None) -> tuple[Path | None, list[Path]]:
    """``(folder holding all four IDX files or None, folders searched)``."""
    looked = candidates(root)
    return first_existing(looked, _complete), looked


@functools.lru_cache(maxsize=4)
def _read_pair(images: str, labels: str, _stamp: tuple) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = read_idx(images), read_idx(labels)
    if x.ndim != 3 or x.dtype != np.uint8:
        raise DataFormatError(f"{images}: expected uint8 images (N, H, W), got {x.dtype} {x.shape}")
    if y.ndim != 1 or y.dtype != np.uint8:
        raise DataFormatError(f"{labels}: expected uint8 labels (N,), got {y.dtype} {y.shape}")
    if len(x) != len(y):
        raise ShapeError(f"{images} has {len(x)} images but {labels} has {len(y)} labels")
    return torch.from_numpy(x).unsqueeze(1), torch.from_numpy(y.astype(np.int64))


def read_idx_pair(images: Path, labels: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Images ``uint8 (N, 1, H, W)`` and labels ``int64 (N,)`` from two IDX files (cached by
    path, size and modification time; the caller gets fresh copies)."""
    stamp = tuple((p.stat().st_mtime_ns, p.stat().st_size) for p in (images, labels))
    x, y = _read_pair(str(images), str(labels), stamp)
    return x.clone(), y.clone()


def _download(target: Path) -> None:
    log.info("downloading Fashion-MNIST into %s", target / "FashionMNIST" / "raw")
    try:
        FashionMNIST(str(target), train=True, download=True)
    except Exception as e:  # noqa: BLE001 - network errors come in many types
        raise DataNotFoundError(f"Fashion-MNIST download into {target} failed ({type(e).__name__}: {one_line(e)}). "
                                f"Get it with {GET}.") from None


def load(official: str, *, root: str | os.PathLike[str] | None = None, download: bool = False) -> TensorImageDataset:
    """The official Fashion-MNIST ``train`` or ``test`` set, in memory.

    Raises:
        DataNotFoundError: not found (and not downloadable).
    """
    found, looked = locate_or_download(locate, _download, root, download)
    if found is None:
        raise DataNotFoundError(
            "Fashion-MNIST not found: no folder with train-images-idx3-ubyte, train-labels-idx1-ubyte, "
            "t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (each raw or .gz). Looked in: "
            + ", ".join(str(p) for p in looked) + f". Get it with {GET}."
        )
    images, labels = idx_file(found, official, "images"), idx_file(found, official, "labels")
    assert images is not None and labels is not None
    x, y = read_idx_pair(images, labels)
    if len(y) and int(y.max()) >= len(CLASS_NAMES):
        raise DataFormatError(f"{labels}: label {int(y.max())} out of range 0..9")
    return TensorImageDataset(x, y, class_names=CLASS_NAMES, name="fashion-mnist", split=official,
                              mean=MEAN, std=STD, source=str(found))


_COMMON = dict(image_size=(28, 28), in_chans=1, mean=MEAN, std=STD, get=GET, locate=locate,
               command="sudo apt-get install dataset-fashion-mnist",
               source=f"IDX files (gz or raw): {SYSTEM_DIR}, else $BIRDKIT_DATA or ~/.cache/birdkit")
register_dataset("fashion-mnist", load, num_classes=10, sizes={"train": 60000, "test": 10000},
                 description="Fashion-MNIST, 10 clothing classes", **_COMMON)
register_dataset("fashion-mnist-0-4", load, num_classes=5, sizes={"train": 30000, "test": 5000},
                 parent="fashion-mnist", classes=(0, 1, 2, 3, 4),
                 description="Fashion-MNIST classes 0-4 (T-shirt/top .. Coat), labels 0-4", **_COMMON)
register_dataset("fashion-mnist-5-9", load, num_classes=5, sizes={"train": 30000, "test": 5000},
                 parent="fashion-mnist", classes=(5, 6, 7, 8, 9),
                 description="Fashion-MNIST classes 5-9 (Sandal .. Ankle boot), relabelled 0-4", **_COMMON)
