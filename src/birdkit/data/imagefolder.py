"""``imagefolder``: any torchvision-style ImageFolder tree given as ``root``.

Two layouts::

    root/train/<class>/**/*.png      root/<class>/**/*.png
    root/test/<class>/**/*.png       (no test split)

With a ``train/`` folder, birdkit's ``train_full`` is ``root/train`` (``train``/``val`` are
split from it) and ``test`` is ``root/test``, or ``root/val`` when there is no ``test/``
(ImageNet's layout). Without one, ``root`` itself is ``train_full`` and ``split="test"``
raises :class:`DataNotFoundError`.

Classes are the sorted sub-folder names of the training folder (as in torchvision); the test
folder may lack classes but not add new ones. Files are found recursively with the usual
image extensions, sorted by path.

Options (``create_dataset("imagefolder", root=..., **options)``):

* ``image_size``: int or ``(H, W)``; images are resized to it (bilinear). Default: keep
  the size, which must then be the same for all images (that of the first training image).
* ``channels``: 3 (RGB, default) or 1 (grayscale, Pillow's ``"L"`` conversion).
* ``mean``, ``std``: normalisation constants. Default: ImageNet's (0.485, 0.456, 0.406) /
  (0.229, 0.224, 0.225) for RGB and 0.5 / 0.5 for grayscale; compute your own with
  :func:`birdkit.data.compute_mean_std` on the ``train`` split.
* ``in_memory``: decode the split up front (:class:`TensorImageDataset`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from PIL import Image

from birdkit.data._base import IMG_EXTENSIONS, FileImageDataset
from birdkit.data._factory import expand_root, register_dataset
from birdkit.errors import BirdkitError, DataFormatError, DataNotFoundError

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
GRAY_MEAN, GRAY_STD = (0.5,), (0.5,)
GET = ("pass root= a folder with train/<class>/<images> and test/<class>/<images> "
       "(or class folders directly, then without a test split)")


def _class_dirs(folder: Path) -> list[str]:
    return sorted(e.name for e in os.scandir(folder) if e.is_dir() and not e.name.startswith("."))


def layout(root: str | os.PathLike[str]) -> tuple[Path, Path | None]:
    """``(training folder, test folder or None)`` of an ImageFolder root."""
    r = expand_root(root)
    if (r / "train").is_dir():
        for name in ("test", "val"):
            if (r / name).is_dir():
                return r / "train", r / name
        return r / "train", None
    return r, None


def locate(root: str | os.PathLike[str] | None = None) -> tuple[Path | None, list[Path]]:
    """``(the root if it holds class folders, else None; [root])``; no root: ``(None, [])``."""
    if root is None:
        return None, []
    r = expand_root(root)
    try:
        train, _ = layout(r)
        ok = train.is_dir() and bool(_class_dirs(train))
    except OSError:
        ok = False
    return (r if ok else None), [r]


def find_samples(folder: Path, class_names: Sequence[str]) -> list[tuple[str, int]]:
    """``(path, label)`` of all images under ``folder/<class>/`` (recursive, sorted)."""
    samples: list[tuple[str, int]] = []
    empty = []
    for label, cls in enumerate(class_names):
        d = folder / cls
        if not d.is_dir():
            continue
        files = sorted(
            os.path.join(dp, f)
            for dp, _, fs in os.walk(d, followlinks=True)
            for f in fs
            if f.lower().endswith(IMG_EXTENSIONS)
        )
        if not files:
            empty.append(cls)
        samples += [(f, label) for f in files]
    if empty:
        raise DataFormatError(f"{folder}: no image files ({', '.join(IMG_EXTENSIONS)}) in class folder(s) "
                              + ", ".join(empty))
    return samples


def _size(image_size: int | Sequence[int] | None) -> tuple[int, int] | None:
    if image_size is None:
        return None
    if isinstance(image_size, int) and not isinstance(image_size, bool):
        image_size = (image_size, image_size)
    size = tuple(image_size)
    if len(size) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size):
        raise BirdkitError(f"image_size must be a positive int or (H, W), got {image_size!r}")
    return (size[0], size[1])


def load(
    official: str,
    *,
    root: str | os.PathLike[str] | None = None,
    download: bool = False,
    image_size: int | Sequence[int] | None = None,
    channels: int = 3,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> FileImageDataset:
    """The training or test folder of an ImageFolder root, decoded lazily.

    Raises:
        DataNotFoundError: no root, no class folders, or no test folder for ``"test"``.
        DataFormatError: a class folder without images, or test classes unknown to training.
        BirdkitError: bad ``image_size`` or ``channels``.
    """
    if root is None:
        raise DataNotFoundError(f"imagefolder reads a folder you name: {GET}.")
    if channels not in (1, 3):
        raise BirdkitError(f"channels must be 1 or 3, got {channels!r}")
    size = _size(image_size)
    found, looked = locate(root)
    if found is None:
        raise DataNotFoundError(f"imagefolder: {looked[0]} has no class folders (nor train/<class>/). {GET}.")
    train_dir, test_dir = layout(found)
    class_names = _class_dirs(train_dir)
    if official == "test":
        if test_dir is None:
            raise DataNotFoundError(f"imagefolder: {found} has no test/ (or val/) folder next to train/, so there "
                                    "is no test split; use split='train', 'val' or 'train_full', or " + GET)
        extra = sorted(set(_class_dirs(test_dir)) - set(class_names))
        if extra:
            raise DataFormatError(f"{test_dir}: class folder(s) {extra} do not exist in {train_dir}")
        folder = test_dir
    else:
        folder = train_dir
    samples = find_samples(folder, class_names)
    resize = size is not None
    if size is None:
        ref = find_samples(train_dir, class_names)[0][0] if official == "test" else (samples[0][0] if samples else None)
        if ref is None:
            raise DataFormatError(f"{folder}: no images")
        with Image.open(ref) as im:
            size = (im.height, im.width)
    if mean is None or std is None:
        mean = mean or (IMAGENET_MEAN if channels == 3 else GRAY_MEAN)
        std = std or (IMAGENET_STD if channels == 3 else GRAY_STD)
    return FileImageDataset(samples, class_names=class_names, image_size=size, in_chans=channels, resize=resize,
                            name="imagefolder", split=official, mean=tuple(mean), std=tuple(std),
                            source=str(folder))


register_dataset(
    "imagefolder", load, num_classes=None, image_size=None, in_chans=None, mean=None, std=None,
    source="root=: <root>/train/<class>/* and <root>/test/<class>/* (or <root>/<class>/*)",
    get=GET, locate=locate, command="pass root= (CLI: --root)",
    options=("image_size", "channels", "mean", "std", "in_memory"),
    description="any torchvision-style ImageFolder tree (root= required)",
)
