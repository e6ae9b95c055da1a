"""Datasets: Fashion-MNIST (and its 0-4 / 5-9 halves), MNIST-5k, CIFAR-10/100, Tiny-ImageNet
and any ImageFolder tree, with birdkit's four splits and class subsets.

``create_dataset(name, split)`` returns an :class:`ImageDataset` whose items are
``(uint8 (C, H, W) image, int label)``; in-memory ones (:class:`TensorImageDataset`) also
expose ``.images`` / ``.targets`` for batch slicing. See ``docs/data.md``.
"""

from __future__ import annotations

# Importing the dataset modules registers them.
from birdkit.data import cifar, fashion_mnist, imagefolder, mnist5k, tinyimagenet  # noqa: E402,F401
from birdkit.data._base import (
    IMG_EXTENSIONS,
    FileImageDataset,
    ImageDataset,
    TensorImageDataset,
    as_tensors,
    compute_mean_std,
    data_home,
    resolve_classes,
    to_memory,
)
from birdkit.data._factory import DATASETS, create_dataset, dataset_info, list_datasets, register_dataset
from birdkit.data._safe_pickle import RestrictedUnpickler, UnsafePickleError, safe_load
from birdkit.data.idx import read_idx, write_idx
from birdkit.data.splits import SPLITS, stratified_split
from birdkit.data.tensors import SUBSET_SEED, TensorData, adapt_images, describe_images, load_split
from birdkit.errors import DataFormatError

__all__ = [
    "DATASETS", "IMG_EXTENSIONS", "SPLITS", "SUBSET_SEED", "TensorData", "adapt_images", "describe_images",
    "load_split",
    "DataFormatError", "FileImageDataset", "ImageDataset", "RestrictedUnpickler", "TensorImageDataset",
    "UnsafePickleError",
    "as_tensors", "compute_mean_std", "create_dataset", "data_home", "dataset_info", "list_datasets",
    "read_idx", "register_dataset", "resolve_classes", "safe_load", "stratified_split", "to_memory",
    "write_idx",
]
