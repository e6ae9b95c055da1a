"""CIFAR-10 and CIFAR-100 (Krizhevsky 2009): 50,000 training and 10,000 test images,
32x32 RGB, 10 or 100 classes, read from the "python version" batches (torchvision's on-disk
format):

* ``cifar-10-batches-py/``: ``data_batch_1`` .. ``data_batch_5``, ``test_batch``,
  ``batches.meta`` (``label_names``);
* ``cifar-100-python/``: ``train``, ``test``, ``meta`` (``fine_label_names``); CIFAR-100 uses
  the 100 fine labels.

Each batch is a pickled dict with ``data`` (uint8 ``(N, 3072)``: the red, green, blue
32x32 planes of each image, row-major) and ``labels`` / ``fine_labels``. The pickles are
loaded with :class:`birdkit.data._safe_pickle.RestrictedUnpickler`, which refuses every
global except numpy's array reconstruction, so a malicious file cannot run code.

Looked for in ``root`` (``root/<folder>`` or ``root`` itself) if given, else in
``$BIRDKIT_DATA`` or ``~/.cache/birdkit``. ``download=True`` fetches torchvision's archive
(checked against its MD5) into that folder, without letting torchvision unpickle anything.

Normalisation (standard values, all training pixels in [0, 1]):
CIFAR-10 mean (0.4914, 0.4822, 0.4465), std (0.2470, 0.2435, 0.2616);
CIFAR-100 mean (0.5071, 0.4865, 0.4409), std (0.2673, 0.2564, 0.2762).
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchvision.datasets as tvd
from torchvision.datasets.utils import download_and_extract_archive

from birdkit.data._base import TensorImageDataset, data_home
from birdkit.data._factory import expand_root, first_existing, locate_or_download, register_dataset
from birdkit.data._safe_pickle import safe_load
from birdkit.errors import DataFormatError, DataNotFoundError, one_line

log = logging.getLogger(__name__)

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


class _Layout:
    def __init__(self, name: str, title: str, folder: str, train: Sequence[str], test: Sequence[str],
                 meta: str, names_key: str, labels_key: str, num_classes: int, tv_class: str,
                 mean: tuple[float, ...], std: tuple[float, ...]):
        self.name, self.title, self.folder = name, title, folder
        self.train, self.test, self.meta = tuple(train), tuple(test), meta
        self.names_key, self.labels_key, self.num_classes = names_key, labels_key, num_classes
        self.tv_class, self.mean, self.std = tv_class, mean, std

    @property
    def get(self) -> str:
        return (f"when online, `birdkit datasets --download {self.name}` or "
                f"`create_dataset('{self.name}', download=True)` (into $BIRDKIT_DATA or ~/.cache/birdkit); "
                f"or unpack torchvision's {self.folder} archive there or under a folder given as root=")

    def files(self) -> tuple[str, ...]:
        return self.train + self.test + (self.meta,)

    def candidates(self, root: str | os.PathLike[str] | None) -> list[Path]:
        if root is not None:
            r = expand_root(root)
            return [r / self.folder, r]
        return [data_home() / self.folder]

    def locate(self, root: str | os.PathLike[str] | None = None) -> tuple[Path | None, list[Path]]:
        looked = self.candidates(root)
        return first_existing(looked, lambda d: all((d / f).is_file() for f in self.files())), looked


CIFAR10 = _Layout("cifar10", "CIFAR-10", "cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)],
                  ["test_batch"], "batches.meta", "label_names", "labels", 10, "CIFAR10",
                  (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))
CIFAR100 = _Layout("cifar100", "CIFAR-100", "cifar-100-python", ["train"], ["test"], "meta",
                   "fine_label_names", "fine_labels", 100, "CIFAR100",
                   (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762))


def _str(v: Any) -> Any:
    return v.decode("latin1") if isinstance(v, bytes) else v


def read_batch(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Safely unpickle one CIFAR batch or meta file; ``bytes`` keys become ``str``.

    Raises:
        UnsafePickleError: the file references a global outside the allow-list.
        DataFormatError: not a dict pickle.
    """
    d = safe_load(path)
    if not isinstance(d, dict):
        raise DataFormatError(f"{path}: expected a pickled dict, got {type(d).__name__}")
    return {_str(k): v for k, v in d.items()}


def _parse_data(path: Path, d: dict[str, Any], labels_key: str, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    if "data" not in d or labels_key not in d:
        raise DataFormatError(f"{path}: expected keys 'data' and {labels_key!r}, found {sorted(map(str, d))}")
    x, y = d["data"], d[labels_key]
    if not isinstance(x, np.ndarray) or x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3 * 32 * 32:
        desc = f"{x.dtype} {x.shape}" if isinstance(x, np.ndarray) else type(x).__name__
        raise DataFormatError(f"{path}: 'data' must be a uint8 array (N, 3072), got {desc}")
    try:
        y = np.asarray(y, dtype=np.int64).reshape(-1)
    except (TypeError, ValueError):
        raise DataFormatError(f"{path}: {labels_key!r} must be a list of ints") from None
    if len(y) != len(x):
        raise DataFormatError(f"{path}: {len(x)} images but {len(y)} labels")
    if len(y) and (y.min() < 0 or y.max() >= num_classes):
        raise DataFormatError(f"{path}: labels must lie in 0..{num_classes - 1}, got {y.min()}..{y.max()}")
    return x.reshape(-1, 3, 32, 32), y


@functools.lru_cache(maxsize=4)
def _read(layout_name: str, folder: str, official: str, _stamp: tuple) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    layout = CIFAR10 if layout_name == "cifar10" else CIFAR100
    d = Path(folder)
    xs, ys = [], []
    for f in layout.train if official == "train" else layout.test:
        x, y = _parse_data(d / f, read_batch(d / f), layout.labels_key, layout.num_classes)
        xs.append(x)
        ys.append(y)
    meta = read_batch(d / layout.meta)
    names = meta.get(layout.names_key)
    if not isinstance(names, list) or len(names) != layout.num_classes:
        raise DataFormatError(f"{d / layout.meta}: expected {layout.num_classes} names under {layout.names_key!r}")
    x = torch.from_numpy(np.ascontiguousarray(np.concatenate(xs)))
    y = torch.from_numpy(np.concatenate(ys))
    return x, y, [str(_str(n)) for n in names]


def _download(layout: _Layout, target: Path) -> None:
    cls = getattr(tvd, layout.tv_class)
    log.info("downloading %s into %s", layout.title, target)
    try:
        download_and_extract_archive(cls.url, str(target), filename=cls.filename, md5=cls.tgz_md5)
    except Exception as e:  # noqa: BLE001 - network errors come in many types
        raise DataNotFoundError(f"{layout.title} download into {target} failed ({type(e).__name__}: {one_line(e)}). "
                                f"Get it: {layout.get}.") from None


def _loader(layout: _Layout):
    def load(official: str, *, root: str | os.PathLike[str] | None = None,
             download: bool = False) -> TensorImageDataset:
        found, looked = locate_or_download(layout.locate, functools.partial(_download, layout), root, download)
        if found is None:
            raise DataNotFoundError(
                f"{layout.title} not found: no folder with {', '.join(layout.files())}. Looked in: "
                + ", ".join(str(p) for p in looked) + f". Get it: {layout.get}."
            )
        stamp = tuple((f, (found / f).stat().st_mtime_ns, (found / f).stat().st_size) for f in layout.files())
        x, y, names = _read(layout.name, str(found), official, stamp)
        return TensorImageDataset(x.clone(), y.clone(), class_names=names, name=layout.name, split=official,
                                  mean=layout.mean, std=layout.std, source=str(found))

    load.__name__ = f"load_{layout.name}"
    load.__doc__ = f"The official {layout.title} ``train`` or ``test`` set, in memory (safe unpickling)."
    return load


load_cifar10 = _loader(CIFAR10)
load_cifar100 = _loader(CIFAR100)

for _layout, _load in ((CIFAR10, load_cifar10), (CIFAR100, load_cifar100)):
    register_dataset(
        _layout.name, _load, num_classes=_layout.num_classes, image_size=(32, 32), in_chans=3,
        mean=_layout.mean, std=_layout.std, get=_layout.get, locate=_layout.locate,
        command=f"birdkit datasets --download {_layout.name}  (online)",
        source=f"python pickle batches in {_layout.folder}/ under root, $BIRDKIT_DATA or ~/.cache/birdkit",
        sizes={"train": 50000, "test": 10000},
        description=f"{_layout.title}, 32x32 RGB, {_layout.num_classes} classes",
    )
