"""The dataset registry and ``create_dataset``.

A dataset module registers a *loader* ``load(official, *, root, download, **options)`` that
returns the whole official ``"train"`` or ``"test"`` set as an :class:`ImageDataset`, with
metadata: class count, image size, channels, normalisation constants, where it is read from
and the command that gets it. :func:`create_dataset` turns that into birdkit's four splits
(``train``, ``val``, ``train_full``, ``test``) and applies class subsets.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from birdkit._registry import Registry
from birdkit.data._base import ImageDataset, data_home, to_memory
from birdkit.data.splits import SPLITS, check_split, stratified_split
from birdkit.errors import BirdkitError

log = logging.getLogger(__name__)

Loader = Callable[..., ImageDataset]
#: ``locate(root) -> (folder or file found, or None; the places looked at)``
Locator = Callable[[str | os.PathLike[str] | None], tuple[Path | None, list[Path]]]

#: name -> loader; the metadata of each is in ``DATASETS.meta(name)``.
DATASETS: Registry[Loader] = Registry("dataset")


def register_dataset(
    name: str,
    loader: Loader,
    *,
    num_classes: int | None,
    image_size: tuple[int, int] | None,
    in_chans: int | None,
    mean: tuple[float, ...] | None,
    std: tuple[float, ...] | None,
    source: str,
    get: str,
    locate: Locator,
    command: str | None = None,
    sizes: dict[str, int] | None = None,
    options: Sequence[str] = (),
    parent: str | None = None,
    classes: Sequence[int] | None = None,
    description: str = "",
) -> None:
    """Register a dataset (or a named class subset of one, with ``parent`` and ``classes``).

    Args:
        name: registry name.
        loader: ``load(official, *, root, download, **options) -> ImageDataset`` with
            ``official`` ``"train"`` or ``"test"``.
        num_classes: classes (``None``: depends on the data, e.g. ``imagefolder``).
        image_size: ``(H, W)`` or ``None`` when it depends on the data.
        in_chans: channels or ``None``.
        mean: normalisation mean per channel (``None``: depends on the data).
        std: normalisation std per channel.
        source: human description of where it is read from.
        get: the command(s) that put it on disk, in full.
        command: the one short command shown in listings (default: ``get``).
        locate: finds the data on disk: ``locate(root) -> (found or None, places looked)``.
        sizes: official split sizes (``{"train": 60000, "test": 10000}``).
        options: extra keyword options the loader accepts.
        parent: for a named subset, the dataset it is cut from.
        classes: for a named subset, the parent's label ids it keeps (new labels follow this order).
        description: one line for listings.
    """
    DATASETS.add(
        name, loader, num_classes=num_classes, image_size=image_size, in_chans=in_chans, mean=mean,
        std=std, source=source, get=get, command=command or get, locate=locate, sizes=dict(sizes or {}),
        options=tuple(options), parent=parent, classes=tuple(classes) if classes is not None else None,
        description=description,
    )


def list_datasets(pattern: str | None = None) -> list[str]:
    """Registered dataset names, optionally filtered by a shell wildcard (``'fashion*'``)."""
    return DATASETS.names(pattern)


def dataset_info(name: str, root: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """What birdkit knows about a dataset without loading it.

    Args:
        name: registry name.
        root: folder to look in instead of the default places.

    Returns:
        A dict with ``name``, ``num_classes``, ``image_size``, ``in_chans``, ``mean``, ``std``,
        ``source`` (where it is read from), ``sizes`` (official split sizes), ``on_disk``,
        ``location`` (the path found, or ``None``), ``looked`` (places searched), ``get``
        (how to get it, in full), ``command`` (the short command that gets it),
        ``parent``/``classes`` for named subsets, ``options``.

    Raises:
        UnknownNameError: unknown name (with close matches).
    """
    DATASETS.get(name)
    m = DATASETS.meta(name)
    found, looked = m["locate"](root)
    return {
        "name": name,
        "num_classes": m["num_classes"],
        "image_size": m["image_size"],
        "in_chans": m["in_chans"],
        "mean": m["mean"],
        "std": m["std"],
        "source": m["source"],
        "sizes": dict(m["sizes"]),
        "on_disk": found is not None,
        "location": str(found) if found is not None else None,
        "looked": [str(p) for p in looked],
        "get": m["get"],
        "command": m["command"],
        "parent": m["parent"],
        "classes": m["classes"],
        "options": m["options"],
        "description": m["description"],
    }


def create_dataset(
    name: str,
    split: str = "train",
    *,
    root: str | os.PathLike[str] | None = None,
    classes: Sequence[int | str] | None = None,
    download: bool = False,
    val_fraction: float = 0.1,
    seed: int = 0,
    **options: Any,
) -> ImageDataset:
    """Open a dataset split.

    Args:
        name: registry name, see :func:`list_datasets` (``"fashion-mnist"``, ``"cifar10"``, ...).
        split: ``"train"`` (official training set minus the validation part), ``"val"``
            (``val_fraction`` of each class of the training set, chosen by ``seed``),
            ``"train_full"`` (the whole official training set) or ``"test"`` (the official
            test set).
        root: folder to read from instead of the default places (and to download into).
        classes: keep only these classes (label ids or class names) and relabel them
            ``0..k-1`` in the given order; for a named subset, ids refer to its own labels.
        download: fetch the data when it is not on disk (needs internet; Fashion-MNIST,
            CIFAR and Tiny-ImageNet).
        val_fraction: share of each class held back as ``"val"``, in [0, 1).
        seed: non-negative integer choosing the validation examples.
        **options: dataset-specific options (``imagefolder``: ``image_size``, ``channels``,
            ``mean``, ``std``, ``in_memory``; ``tinyimagenet``: ``in_memory``). ``in_memory=True``
            decodes a file-backed split after splitting and class selection and returns a
            :class:`TensorImageDataset`.

    Returns:
        An :class:`ImageDataset` yielding ``(uint8 (C, H, W) image, int label)``.

    Raises:
        UnknownNameError: unknown dataset (with close matches) or class name.
        DataNotFoundError: the data is not on disk and cannot be fetched; the message names
            the command that gets it and where birdkit looked.
        BirdkitError: bad split, classes, val_fraction, seed or option.
    """
    load = DATASETS.get(name)
    meta = DATASETS.meta(name)
    check_split(split)
    unknown = sorted(set(options) - set(meta["options"]))
    if unknown:
        valid = ", ".join(meta["options"]) or "none"
        raise BirdkitError(f"Unknown option(s) {unknown} for dataset {name!r}; its options: {valid}")
    if split in ("train", "val"):
        # validates val_fraction and seed even before loading
        stratified_split([], val_fraction, seed)
        if split == "val" and val_fraction == 0:
            raise BirdkitError("split='val' with val_fraction=0 is empty; use a val_fraction in (0, 1)")

    in_memory = bool(options.pop("in_memory", False))
    ds = load("test" if split == "test" else "train", root=root, download=download, **options)
    if split in ("train", "val"):
        kept, held = stratified_split(ds.targets, val_fraction, seed)
        ds = ds.subset(kept if split == "train" else held)
    if meta["classes"] is not None:
        ds = ds.select_classes(meta["classes"])
    if classes is not None:
        ds = ds.select_classes(classes)
    ds.name, ds.split = name, split
    if in_memory:
        ds = to_memory(ds)
    log.info("%s[%s]: %d images, %d classes, %dx%dx%d, from %s", name, split, len(ds), ds.num_classes,
             ds.in_chans, *ds.image_size, ds.source)
    return ds


def locate_or_download(locate: Locator, download_to: Callable[[Path], None], root: str | os.PathLike[str] | None,
                       download: bool) -> tuple[Path | None, list[Path]]:
    """``locate(root)``; when nothing is found and ``download`` is set, ``download_to`` the root
    (or birdkit's data home) first, then look again."""
    found, looked = locate(root)
    if found is None and download:
        download_to(expand_root(root) if root is not None else data_home())
        found, looked = locate(root)
    return found, looked


def first_existing(candidates: Sequence[Path], check: Callable[[Path], bool]) -> Path | None:
    """The first candidate folder for which ``check`` holds."""
    for c in candidates:
        try:
            if check(c):
                return c
        except OSError:  # unreadable folder: skip it
            continue
    return None


def expand_root(root: str | os.PathLike[str]) -> Path:
    """``root`` as an absolute path with ``~`` expanded."""
    return Path(root).expanduser().absolute()


__all__ = ["DATASETS", "SPLITS", "create_dataset", "dataset_info", "list_datasets", "locate_or_download",
           "register_dataset"]
