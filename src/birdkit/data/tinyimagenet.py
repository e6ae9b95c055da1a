"""Tiny-ImageNet (the CS231n "tiny-imagenet-200" release): 200 ImageNet classes, 64x64 RGB,
500 training images per class (100,000) and 50 validation images per class (10,000).

The labels of the official *test* images were never published, so birdkit uses the official
**validation** images as its ``"test"`` split; birdkit's own ``"val"`` split is held out of
the training images like for every other dataset.

Layout (the standard one, ``tiny-imagenet-200/``)::

    wnids.txt                    200 WordNet ids, one per line
    words.txt                    "<wnid>\\t<names, comma separated>" (optional)
    train/<wnid>/images/*.JPEG
    val/images/*.JPEG
    val/val_annotations.txt      "<file>\\t<wnid>\\t<x0>\\t<y0>\\t<x1>\\t<y1>"

Label ``i`` is the ``i``-th wnid in *sorted* order (what ``torchvision.datasets.ImageFolder``
gives on ``train/``); ``class_names`` are the first name of each wnid in ``words.txt`` (the
wnid itself when missing). Images are decoded lazily (grayscale JPEGs are converted to RGB);
``create_dataset(..., in_memory=True)`` decodes the chosen split up front (about 1.2 GB
for the training set).

Looked for in ``root`` (``root/tiny-imagenet-200`` or ``root`` itself), else ``$BIRDKIT_DATA``
or ``~/.cache/birdkit``. ``download=True`` fetches and unzips the CS231n archive there.

Normalisation: mean (0.4802, 0.4481, 0.3975), std (0.2770, 0.2691, 0.2821): the published
per-channel mean and the std over all training pixels (the convention of the other
datasets; the also-circulating (0.2302, 0.2265, 0.2262) averages per-image stds).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from torchvision.datasets.utils import download_and_extract_archive

from birdkit.data._base import IMG_EXTENSIONS, FileImageDataset, data_home
from birdkit.data._factory import expand_root, first_existing, locate_or_download, register_dataset
from birdkit.errors import DataFormatError, DataNotFoundError, one_line

log = logging.getLogger(__name__)

FOLDER = "tiny-imagenet-200"
URL = "http://cs231n.stanford.edu/tiny-imagenet-200.zip"
MEAN, STD = (0.4802, 0.4481, 0.3975), (0.2770, 0.2691, 0.2821)
GET = (f"when online, `birdkit datasets --download tinyimagenet` or `create_dataset('tinyimagenet', "
       f"download=True)` (fetches {URL} into $BIRDKIT_DATA or ~/.cache/birdkit); or unzip that archive "
       "there or under a folder given as root=")


def _complete(d: Path) -> bool:
    return (d / "wnids.txt").is_file() and (d / "train").is_dir() and (d / "val" / "val_annotations.txt").is_file()


def locate(root: str | os.PathLike[str] | None = None) -> tuple[Path | None, list[Path]]:
    """``(the tiny-imagenet-200 folder or None, folders searched)``."""
    if root is not None:
        r = expand_root(root)
        looked = [r / FOLDER, r]
    else:
        looked = [data_home() / FOLDER]
    return first_existing(looked, _complete), looked


def _is_image(name: str) -> bool:
    return name.lower().endswith(IMG_EXTENSIONS)


def read_wnids(folder: Path) -> tuple[list[str], list[str]]:
    """``(sorted wnids, class names)`` of a tiny-imagenet-200 folder."""
    wnids = sorted({w.strip() for w in (folder / "wnids.txt").read_text().splitlines() if w.strip()})
    if not wnids:
        raise DataFormatError(f"{folder / 'wnids.txt'} lists no classes")
    words: dict[str, str] = {}
    if (folder / "words.txt").is_file():
        for line in (folder / "words.txt").read_text(encoding="utf-8", errors="replace").splitlines():
            wnid, _, text = line.partition("\t")
            if text:
                words[wnid.strip()] = text.split(",")[0].strip()
    return wnids, [words.get(w, w) for w in wnids]


def train_samples(folder: Path, wnids: list[str]) -> list[tuple[str, int]]:
    """``(path, label)`` of every training image, class by class, files sorted by name."""
    samples: list[tuple[str, int]] = []
    for label, wnid in enumerate(wnids):
        d = folder / "train" / wnid / "images"
        if not d.is_dir():
            raise DataFormatError(f"{d} is missing (wnid {wnid} is listed in wnids.txt)")
        files = sorted(e.name for e in os.scandir(d) if e.is_file() and _is_image(e.name))
        samples += [(str(d / f), label) for f in files]
    return samples


def val_samples(folder: Path, wnids: list[str]) -> list[tuple[str, int]]:
    """``(path, label)`` of every official validation image, in annotation-file order."""
    index = {w: i for i, w in enumerate(wnids)}
    ann = folder / "val" / "val_annotations.txt"
    samples: list[tuple[str, int]] = []
    for n, line in enumerate(ann.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) < 2 or parts[1].strip() not in index:
            raise DataFormatError(f"{ann}:{n}: expected '<file>\\t<wnid from wnids.txt>...', got {line!r}")
        samples.append((str(folder / "val" / "images" / parts[0].strip()), index[parts[1].strip()]))
    return samples


def _download(target: Path) -> None:
    log.info("downloading Tiny-ImageNet (about 240 MB) into %s", target)
    try:
        download_and_extract_archive(URL, str(target), filename="tiny-imagenet-200.zip")
    except Exception as e:  # noqa: BLE001 - network errors come in many types
        raise DataNotFoundError(f"Tiny-ImageNet download into {target} failed ({type(e).__name__}: {one_line(e)}). "
                                f"Get it: {GET}.") from None


def load(official: str, *, root: str | os.PathLike[str] | None = None, download: bool = False) -> FileImageDataset:
    """The Tiny-ImageNet training images (``train``) or official validation images (``test``).

    Args:
        official: ``"train"`` or ``"test"``.
        root: folder holding ``tiny-imagenet-200`` (or that folder).
        download: fetch the archive when missing.

    Raises:
        DataNotFoundError: not found (and not downloadable).
        DataFormatError: a broken layout (missing class folder, bad annotation line).
    """
    found, looked = locate_or_download(locate, _download, root, download)
    if found is None:
        raise DataNotFoundError(
            "Tiny-ImageNet not found: no tiny-imagenet-200 folder with wnids.txt, train/ and "
            "val/val_annotations.txt. Looked in: " + ", ".join(str(p) for p in looked) + f". Get it: {GET}."
        )
    wnids, names = read_wnids(found)
    samples = train_samples(found, wnids) if official == "train" else val_samples(found, wnids)
    return FileImageDataset(samples, class_names=names, image_size=(64, 64), in_chans=3, name="tinyimagenet",
                            split=official, mean=MEAN, std=STD, source=str(found))


register_dataset(
    "tinyimagenet", load, num_classes=200, image_size=(64, 64), in_chans=3, mean=MEAN, std=STD,
    source="JPEG folders of tiny-imagenet-200/ under root, $BIRDKIT_DATA or ~/.cache/birdkit",
    get=GET, locate=locate, command="birdkit datasets --download tinyimagenet  (online)",
    sizes={"train": 100000, "test": 10000}, options=("in_memory",),
    description="Tiny-ImageNet, 64x64 RGB, 200 classes; official val used as test",
)
