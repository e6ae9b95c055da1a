"""Dataset classes shared by every birdkit dataset.

Every dataset yields ``(image, label)`` with ``image`` a ``uint8`` tensor ``(C, H, W)`` and
``label`` a Python ``int``, and carries its metadata: ``name``, ``split``, ``class_names``,
``num_classes``, ``in_chans``, ``image_size`` (H, W), ``mean`` and ``std`` (per-channel
floats for normalising images scaled to [0, 1]), ``source`` (where it was read from) and
``classes`` (the original label ids kept by a class subset, ``None`` for all classes) and
``indices`` (int64: each example's position in the official split it came from, so
``train`` and ``val`` can be traced back into ``train_full``; corruption seeds can use it).

Two kinds exist:

* :class:`TensorImageDataset` holds everything in memory as ``.images`` (uint8
  ``(N, C, H, W)``) and ``.targets`` (int64 ``(N,)``), so training code can slice batches
  without a ``DataLoader``.
* :class:`FileImageDataset` keeps a list of image files and decodes one per ``__getitem__``
  (Tiny-ImageNet, ImageFolder). It has ``.targets`` but deliberately no ``.images``;
  :func:`as_tensors` or :func:`to_memory` load it all.
"""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from birdkit.errors import BirdkitError, ShapeError, UnknownNameError

__all__ = [
    "IMG_EXTENSIONS", "FileImageDataset", "ImageDataset", "TensorImageDataset", "as_tensors",
    "compute_mean_std", "data_home", "decode_image", "resolve_classes", "to_memory",
]

log = logging.getLogger(__name__)

#: File name endings read as images by the folder-backed datasets (torchvision's list).
IMG_EXTENSIONS: tuple[str, ...] = (
    ".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp",
)




def data_home() -> Path:
    """birdkit's own data folder: ``$BIRDKIT_DATA`` if set, else ``~/.cache/birdkit``.

    Downloads (``download=True``) go here unless ``root=`` is given.
    """
    env = os.environ.get("BIRDKIT_DATA")
    return Path(env).expanduser() if env else Path("~/.cache/birdkit").expanduser()


def _as_index(indices: Any) -> torch.Tensor:
    idx = indices if isinstance(indices, torch.Tensor) else torch.as_tensor(np.asarray(indices))
    if len(idx) == 0:
        return torch.empty(0, dtype=torch.int64)
    if idx.dtype == torch.bool:
        idx = idx.nonzero().flatten()
    elif idx.is_floating_point() or idx.is_complex():
        raise BirdkitError(f"subset indices must be integers, got {idx.dtype}")
    return idx.to(torch.int64).flatten()


def resolve_classes(classes: Sequence[int | str], class_names: Sequence[str]) -> list[int]:
    """Turn a class subset (label ids or class names) into a list of label ids, validated.

    Args:
        classes: label ids (``[5, 6, 7]``) or class names (``["Sandal", "Shirt"]``), in the
            order that defines the new labels ``0..k-1``.
        class_names: the names of the dataset's current classes.

    Returns:
        The label ids, in the given order.

    Raises:
        BirdkitError: empty, duplicated, out-of-range or wrongly-typed entries.
        UnknownNameError: a class name that does not exist (with close matches).
    """
    n = len(class_names)
    if isinstance(classes, (str, bytes)) or not isinstance(classes, Sequence | torch.Tensor | np.ndarray):
        raise BirdkitError(f"classes must be a list of label ids 0..{n - 1} or class names, got {classes!r}")
    items = classes.tolist() if isinstance(classes, (torch.Tensor, np.ndarray)) else list(classes)
    if not items:
        raise BirdkitError("classes is empty: give at least one label id or class name")
    out: list[int] = []
    for c in items:
        if isinstance(c, str):
            if c not in class_names:
                raise UnknownNameError("class", c, class_names)
            out.append(list(class_names).index(c))
        elif isinstance(c, (int, np.integer)) and not isinstance(c, bool):
            if not 0 <= int(c) < n:
                raise BirdkitError(f"class id {int(c)} out of range: this dataset has classes 0..{n - 1}")
            out.append(int(c))
        else:
            raise BirdkitError(f"classes must contain label ids (int) or class names (str), got {c!r}")
    dup = sorted({c for c in out if out.count(c) > 1})
    if dup:
        raise BirdkitError(f"classes lists label(s) {dup} more than once")
    return out


class ImageDataset(torch.utils.data.Dataset):
    """Base class: an indexable labelled image set with its metadata.

    Args:
        class_names: one name per label ``0..num_classes-1``.
        name: registry name (``"fashion-mnist"``).
        split: ``"train"``, ``"val"``, ``"train_full"`` or ``"test"``.
        in_chans: channels of every image.
        image_size: ``(H, W)`` of every image.
        mean: per-channel mean of [0, 1]-scaled images, for normalisation.
        std: per-channel standard deviation of [0, 1]-scaled images.
        source: where the data was read from (a path or a description).
        classes: original label ids kept by a class subset (``None``: all classes).
        indices: position of each example in its official split (default ``0..N-1``).
    """

    targets: torch.Tensor
    indices: torch.Tensor

    def __init__(
        self,
        *,
        class_names: Sequence[str],
        name: str,
        split: str,
        in_chans: int,
        image_size: tuple[int, int],
        mean: Sequence[float],
        std: Sequence[float],
        source: str | None = None,
        classes: Sequence[int] | None = None,
        indices: torch.Tensor | Sequence[int] | None = None,
    ):
        self.class_names = [str(c) for c in class_names]
        self.name = name
        self.split = split
        self.in_chans = int(in_chans)
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self.source = source
        self.classes = tuple(int(c) for c in classes) if classes is not None else None
        if len(self.mean) != self.in_chans or len(self.std) != self.in_chans:
            raise ShapeError(f"mean/std need {self.in_chans} channel values, got {self.mean}, {self.std}")
        n = len(self.targets)
        self.indices = torch.arange(n) if indices is None else torch.as_tensor(indices, dtype=torch.int64).flatten()
        if len(self.indices) != n:
            raise ShapeError(f"Expected {n} indices, got {len(self.indices)}")

    @property
    def num_classes(self) -> int:
        """Number of classes (labels are ``0..num_classes-1``)."""
        return len(self.class_names)

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _take(self, idx: torch.Tensor) -> ImageDataset:  # pragma: no cover - abstract
        raise NotImplementedError

    def subset(self, indices: Sequence[int] | torch.Tensor | np.ndarray) -> ImageDataset:
        """A dataset of the same kind holding the examples at ``indices`` (in that order)."""
        idx = _as_index(indices)
        if len(idx) and (int(idx.min()) < -len(self) or int(idx.max()) >= len(self)):
            raise BirdkitError(f"subset indices out of range for a dataset of {len(self)} examples")
        return self._take(idx % max(len(self), 1))

    def select_classes(self, classes: Sequence[int | str]) -> ImageDataset:
        """Keep only ``classes`` and relabel them ``0..k-1`` in the given order.

        Example order is kept; ``class_names`` follow the new labels and ``classes`` records
        the original label ids (composed through earlier subsets).
        """
        keep = resolve_classes(classes, self.class_names)
        lut = torch.full((self.num_classes,), -1, dtype=torch.int64)
        lut[torch.tensor(keep)] = torch.arange(len(keep))
        idx = (lut[self.targets] >= 0).nonzero().flatten()
        out = self._take(idx)
        out.targets = lut[out.targets]
        out.class_names = [self.class_names[c] for c in keep]
        out.classes = tuple(self.classes[c] for c in keep) if self.classes is not None else tuple(keep)
        return out

    def class_counts(self) -> list[int]:
        """Number of examples per label."""
        return torch.bincount(self.targets, minlength=self.num_classes).tolist()

    def _copy_meta(self) -> ImageDataset:
        out = copy.copy(self)
        out.class_names = list(self.class_names)
        return out

    def __repr__(self) -> str:
        c, (h, w) = self.in_chans, self.image_size
        return (f"{type(self).__name__}(name={self.name!r}, split={self.split!r}, n={len(self)}, "
                f"num_classes={self.num_classes}, image={c}x{h}x{w})")


class TensorImageDataset(ImageDataset):
    """An in-memory dataset: ``images`` uint8 ``(N, C, H, W)``, ``targets`` int64 ``(N,)``.

    Args:
        images: uint8 tensor ``(N, C, H, W)`` (a numpy array is converted).
        targets: integer labels ``(N,)`` in ``0..len(class_names)-1``.
        class_names: one name per label; default ``"0".."k-1"`` from the largest label.
        name: dataset name. Defaults to ``"tensors"``.
        split: split name. Defaults to ``"train_full"``.
        mean: per-channel mean of [0, 1] images; computed from ``images`` when ``None``.
        std: per-channel std of [0, 1] images; computed from ``images`` when ``None``.
        source: where the data came from.
        classes: original label ids of a class subset.
        indices: position of each example in its official split (default ``0..N-1``).

    Raises:
        ShapeError: wrong dtype, rank, or mismatched lengths; labels out of range.
    """

    def __init__(
        self,
        images: torch.Tensor | np.ndarray,
        targets: torch.Tensor | np.ndarray | Sequence[int],
        *,
        class_names: Sequence[str] | None = None,
        name: str = "tensors",
        split: str = "train_full",
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        source: str | None = None,
        classes: Sequence[int] | None = None,
        indices: torch.Tensor | Sequence[int] | None = None,
    ):
        images = torch.as_tensor(images)
        targets = torch.as_tensor(np.asarray(targets) if not isinstance(targets, torch.Tensor) else targets)
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ShapeError(f"Expected uint8 images (N, C, H, W), got {images.dtype} {tuple(images.shape)}")
        if targets.ndim != 1 or len(targets) != len(images):
            raise ShapeError(f"Expected {len(images)} targets (N,), got shape {tuple(targets.shape)}")
        if targets.is_floating_point() or targets.dtype == torch.bool:
            raise ShapeError(f"targets must be integers, got {targets.dtype}")
        targets = targets.to(torch.int64)
        if class_names is None:
            k = int(targets.max()) + 1 if len(targets) else 0
            class_names = [str(i) for i in range(k)]
        if len(targets) and (int(targets.min()) < 0 or int(targets.max()) >= len(class_names)):
            raise ShapeError(f"labels must lie in 0..{len(class_names) - 1}, got "
                             f"{int(targets.min())}..{int(targets.max())}")
        if mean is None or std is None:
            m, s = compute_mean_std(images)
            mean = m if mean is None else mean
            std = s if std is None else std
        self.images = images
        self.targets = targets
        super().__init__(class_names=class_names, name=name, split=split, in_chans=images.shape[1],
                         image_size=(images.shape[2], images.shape[3]), mean=mean, std=std,
                         source=source, classes=classes, indices=indices)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.images[index], int(self.targets[index])

    def _take(self, idx: torch.Tensor) -> TensorImageDataset:
        out = self._copy_meta()
        out.images = self.images.index_select(0, idx)
        out.targets = self.targets.index_select(0, idx)
        out.indices = self.indices.index_select(0, idx)
        return out


class FileImageDataset(ImageDataset):
    """A lazy dataset over image files, decoded with Pillow on each ``__getitem__``.

    Args:
        samples: ``(path, label)`` pairs.
        class_names: one name per label.
        image_size: ``(H, W)`` every image must have (after resizing, if ``resize``).
        in_chans: 1 (decoded as Pillow mode ``"L"``) or 3 (mode ``"RGB"``).
        resize: resize every image to ``image_size`` (bilinear) instead of requiring it.
        **meta: ``name``, ``split``, ``mean``, ``std``, ``source``, ``classes``, ``indices`` as for
            :class:`ImageDataset`.

    Raises:
        ShapeError: (on access) an image whose size differs from ``image_size``.
    """

    def __init__(
        self,
        samples: Sequence[tuple[str | os.PathLike[str], int]],
        *,
        class_names: Sequence[str],
        image_size: tuple[int, int],
        in_chans: int = 3,
        resize: bool = False,
        **meta: Any,
    ):
        if in_chans not in (1, 3):
            raise BirdkitError(f"in_chans must be 1 or 3, got {in_chans}")
        self.paths = [str(p) for p, _ in samples]
        self.targets = torch.tensor([int(t) for _, t in samples], dtype=torch.int64)
        self.resize = bool(resize)
        super().__init__(class_names=class_names, image_size=image_size, in_chans=in_chans, **meta)

    def load_image(self, path: str) -> torch.Tensor:
        """Decode one file into a uint8 ``(C, H, W)`` tensor of this dataset's size and mode."""
        return decode_image(path, self.in_chans, self.image_size, resize=self.resize)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.load_image(self.paths[index]), int(self.targets[index])

    def _take(self, idx: torch.Tensor) -> FileImageDataset:
        out = self._copy_meta()
        out.paths = [self.paths[i] for i in idx.tolist()]
        out.targets = self.targets.index_select(0, idx)
        out.indices = self.indices.index_select(0, idx)
        return out


def decode_image(path: str | os.PathLike[str], in_chans: int, image_size: tuple[int, int] | None,
                 *, resize: bool = False) -> torch.Tensor:
    """Read an image file as a uint8 ``(C, H, W)`` tensor.

    Args:
        path: image file.
        in_chans: 1 (grayscale, Pillow ``"L"``) or 3 (``"RGB"``); other modes are converted.
        image_size: required ``(H, W)``, or ``None`` for any.
        resize: resize to ``image_size`` (bilinear) instead of requiring it.

    Raises:
        ShapeError: the image is not ``image_size`` and ``resize`` is off.
    """
    with Image.open(path) as im:
        im = im.convert("L" if in_chans == 1 else "RGB")
        if resize and image_size is not None and im.size != (image_size[1], image_size[0]):
            im = im.resize((image_size[1], image_size[0]), Image.Resampling.BILINEAR)
        arr = np.asarray(im, dtype=np.uint8)
    if image_size is not None and arr.shape[:2] != tuple(image_size):
        raise ShapeError(f"{path}: image is {arr.shape[0]}x{arr.shape[1]}, expected "
                         f"{image_size[0]}x{image_size[1]}; pass image_size= to resize all images")
    t = torch.from_numpy(arr.copy())
    return t.unsqueeze(0) if t.ndim == 2 else t.permute(2, 0, 1).contiguous()


def as_tensors(ds: Any, *, num_workers: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """All images and labels of a dataset as ``(images uint8 (N, C, H, W), targets int64 (N,))``.

    In-memory datasets return their own tensors (no copy); file-backed ones are decoded in
    full (Tiny-ImageNet's 100,000 training images take about 1.2 GB and a minute or so).

    Args:
        ds: a :class:`TensorImageDataset`, or any dataset yielding ``(uint8 (C, H, W), label)``.
        num_workers: worker processes for decoding (via a ``DataLoader``); 0 decodes here.

    Raises:
        ShapeError: images of different sizes or not uint8.
    """
    if isinstance(ds, TensorImageDataset):
        return ds.images, ds.targets
    if hasattr(ds, "images") and hasattr(ds, "targets"):
        return torch.as_tensor(ds.images), torch.as_tensor(ds.targets).long()
    n = len(ds)
    if n == 0:
        c = getattr(ds, "in_chans", 1)
        h, w = getattr(ds, "image_size", (0, 0))
        return torch.empty((0, c, h, w), dtype=torch.uint8), torch.empty(0, dtype=torch.int64)
    log.info("loading %d images of %s into memory", n, getattr(ds, "name", type(ds).__name__))
    if num_workers > 0:
        loader = torch.utils.data.DataLoader(ds, batch_size=256, num_workers=num_workers, shuffle=False)
        xs, ys = [], []
        for x, y in loader:
            xs.append(x)
            ys.append(y)
        images, targets = torch.cat(xs), torch.cat(ys).long()
    else:
        first, _ = ds[0]
        first = torch.as_tensor(first)
        images = torch.empty((n, *first.shape), dtype=first.dtype)
        targets = torch.empty(n, dtype=torch.int64)
        step = max(1, n // 10)
        for i in range(n):
            x, y = ds[i]
            x = torch.as_tensor(x)
            if x.shape != first.shape:
                raise ShapeError(f"image {i} has shape {tuple(x.shape)}, image 0 has {tuple(first.shape)}")
            images[i] = x
            targets[i] = int(y)
            if (i + 1) % step == 0:
                log.debug("decoded %d/%d images", i + 1, n)
    if images.dtype != torch.uint8 or images.ndim != 4:
        raise ShapeError(f"Expected uint8 images (C, H, W), got {images.dtype} {tuple(images.shape[1:])}")
    return images, targets


def to_memory(ds: ImageDataset, *, num_workers: int = 0) -> TensorImageDataset:
    """An in-memory copy of any :class:`ImageDataset`, with the same metadata."""
    if isinstance(ds, TensorImageDataset):
        return ds
    images, targets = as_tensors(ds, num_workers=num_workers)
    return TensorImageDataset(images, targets, class_names=ds.class_names, name=ds.name, split=ds.split,
                              mean=ds.mean, std=ds.std, source=ds.source, classes=ds.classes, indices=ds.indices)


def compute_mean_std(
    images: torch.Tensor | ImageDataset, batch: int = 4096
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and standard deviation of [0, 1]-scaled images, over all pixels.

    This is the convention of birdkit's constants (e.g. Fashion-MNIST 0.2860 / 0.3530):
    the population std over every pixel of the set, not the mean of per-image stds.

    Args:
        images: uint8 ``(N, C, H, W)`` tensor, or a dataset (loaded with :func:`as_tensors`).
        batch: images per chunk (bounds memory).
    """
    if not isinstance(images, torch.Tensor):
        images, _ = as_tensors(images)
    c = images.shape[1]
    if len(images) == 0:
        return tuple([0.0] * c), tuple([1.0] * c)
    s = torch.zeros(c, dtype=torch.float64)
    s2 = torch.zeros(c, dtype=torch.float64)
    for i in range(0, len(images), batch):
        x = images[i:i + batch].to(torch.float64).div_(255.0)
        s += x.sum(dim=(0, 2, 3))
        s2 += x.square().sum(dim=(0, 2, 3))
    n = images.shape[0] * images.shape[2] * images.shape[3]
    mean = s / n
    std = (s2 / n - mean.square()).clamp_min(0).sqrt()
    return tuple(round(float(m), 6) for m in mean), tuple(round(float(v), 6) for v in std)
