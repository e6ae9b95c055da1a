"""In-memory splits for training and evaluation, and ``load_split``: a :class:`DataConfig` to tensors.

Training and evaluation work on uint8 image tensors held in memory (:class:`TensorData`):
batches are sliced, converted to [0, 1] floats, corrupted where asked and normalised with the
training split's constants. ``load_split`` opens a split with the dataset's own options, cuts
a fixed random subset when a sample limit is given, and converts the images to the channels and
size the config asks for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from birdkit.config import DataConfig
from birdkit.data._base import as_tensors, compute_mean_std
from birdkit.data._factory import DATASETS, create_dataset
from birdkit.errors import ShapeError

__all__ = ["SUBSET_SEED", "TensorData", "adapt_images", "describe_images", "load_split"]

#: seed of the random subset kept when a split is limited to ``limit`` images: the same subset
#: for every run, seed and method, so that their results are comparable
SUBSET_SEED = 1234
#: ITU-R BT.601 luma weights (R, G, B), the ones Pillow's "L" conversion uses
LUMA = (0.299, 0.587, 0.114)


@dataclass
class TensorData:
    """An in-memory split: uint8 images (N, C, H, W) and int64 targets, with normalisation."""

    images: torch.Tensor
    targets: torch.Tensor
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __post_init__(self) -> None:
        if self.images.ndim != 4 or self.images.dtype != torch.uint8:
            raise ShapeError(f"Expected uint8 images (N, C, H, W), got {self.images.dtype} {tuple(self.images.shape)}")
        if self.targets.shape != (len(self.images),):
            raise ShapeError(f"Expected {len(self.images)} targets, got shape {tuple(self.targets.shape)}")
        if len(self.mean) != self.images.shape[1] or len(self.std) != self.images.shape[1]:
            raise ShapeError(f"mean/std need {self.images.shape[1]} channel values, got {self.mean}, {self.std}")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def channels(self) -> int:
        return int(self.images.shape[1])

    @property
    def img_size(self) -> int:
        return int(self.images.shape[-1])

    @property
    def num_classes(self) -> int:
        return len(self.targets.unique())

    @classmethod
    def from_dataset(cls, ds: Any, limit: int | None = None, mean=None, std=None) -> TensorData:
        """All of ``ds`` in memory, or a fixed random subset of ``limit`` images (``SUBSET_SEED``)."""
        images, targets = as_tensors(ds)
        if limit is not None and limit < len(images):
            g = torch.Generator().manual_seed(SUBSET_SEED)
            keep = torch.randperm(len(images), generator=g)[:limit].sort().values
            images, targets = images[keep], targets[keep]
        return cls(images, targets.long(), tuple(mean or ds.mean), tuple(std or ds.std))

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """[0, 1] floats -> normalised model input."""
        m = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        s = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        return (x - m) / s


def describe_images(channels: int, size: int | tuple[int, int]) -> str:
    """``"1-channel 28x28"``, for messages."""
    h, w = (size, size) if isinstance(size, int) else size
    return f"{channels}-channel {h}x{w}"


def adapt_images(images: torch.Tensor, channels: int | None = None, size: int | None = None) -> torch.Tensor:
    """uint8 images converted to ``channels`` (1 -> 3 repeats the gray channel, 3 -> 1 takes
    BT.601 luma) and resized to ``size`` x ``size`` (bilinear, antialiased when shrinking);
    unchanged where they already fit."""
    c, h, w = images.shape[1:]
    if channels is not None and channels != c:
        if (c, channels) == (1, 3):
            images = images.expand(-1, 3, -1, -1).contiguous()
        elif (c, channels) == (3, 1):
            weights = torch.tensor(LUMA, dtype=torch.float32).view(1, 3, 1, 1)
            images = (images.float() * weights).sum(1, keepdim=True).round_().clamp_(0, 255).to(torch.uint8)
        else:
            raise ShapeError(f"cannot convert {c}-channel images to {channels} channels (only 1 <-> 3)")
    if size is not None and (h, w) != (size, size):
        x = F.interpolate(images.float(), size=(size, size), mode="bilinear", align_corners=False,
                          antialias=size < max(h, w))
        images = x.round_().clamp_(0, 255).to(torch.uint8)
    return images


def load_split(cfg: DataConfig, split: str, limit: int | None = None,
               norm_from: TensorData | None = None) -> TensorData:
    """The ``split`` of ``cfg`` in memory (a fixed subset of ``limit`` images when given).

    An image folder decodes at ``cfg.channels`` / ``cfg.img_size``; other datasets are
    converted (:func:`adapt_images`). Normalisation constants come from ``norm_from`` (pass the
    training split when loading validation or test data), else from the dataset, or, for
    converted images, from the converted images themselves."""
    options = DATASETS.meta(cfg.dataset)["options"]
    native = {k: v for k, v in (("channels", cfg.channels), ("image_size", cfg.img_size))
              if v is not None and k in options}
    ds = create_dataset(cfg.dataset, split, root=cfg.root, classes=cfg.classes, val_fraction=cfg.val_fraction,
                        **native)
    data = TensorData.from_dataset(ds, limit)
    images = adapt_images(data.images, cfg.channels, cfg.img_size)
    if norm_from is not None:
        return TensorData(images, data.targets, norm_from.mean, norm_from.std)
    if images is data.images:
        return data
    mean, std = compute_mean_std(images)
    return TensorData(images, data.targets, mean, tuple(max(s, 1e-3) for s in std))
