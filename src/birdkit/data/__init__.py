"""Datasets: Fashion-MNIST (and its 0-4 / 5-9 halves), MNIST-5k, CIFAR-10/100, Tiny-ImageNet
and any ImageFolder tree, with birdkit's four splits and class subsets.

``create_dataset(name, split)`` returns an :class:`ImageDataset` whose items are
``(uint8 (C, H, W) image, int label)``; in-memory ones (:class:`TensorImageDataset`) also
expose ``.images`` / ``.targets`` for batch slicing. See ``docs/data.md``.
"""

from __future__ import annotations

# Importing the dataset modules registers them.
from birdkit.data import (  # noqa: F401
           _base,
           _factory,
           _safe_pickle,
           cifar,
           fashion_mnist,
           idx,
           imagefolder,
           mnist5k,
           splits,
           tensors,
           tinyimagenet,
)
from birdkit.data._base import *  # noqa: F403
from birdkit.data._factory import *  # noqa: F403
from birdkit.data._safe_pickle import *  # noqa: F403
from birdkit.data.idx import *  # noqa: F403
from birdkit.data.splits import *  # noqa: F403
from birdkit.data.tensors import *  # noqa: F403
from birdkit.errors import DataFormatError

__all__ = ["DataFormatError", *_base.__all__, *_factory.__all__, *_safe_pickle.__all__, *idx.__all__,
           *splits.__all__, *tensors.__all__]
