"""Machinery shared by all corruptions: the registry, per-image deterministic RNG, families.

A corruption is a function ``fn(x, params, rng) -> y`` where

* ``x`` is a float32 batch ``(N, C, H, W)`` with values in [0, 1] (C = 1 or 3),
* ``params`` is the entry of the corruption's severity table for the image family and
  severity (any Python object: a float, a tuple, a dict),
* ``rng`` is a :class:`BatchRNG` whose streams are seeded per image from
  ``(seed, image index, corruption name, severity)``: the same image gets the same
  corruption whatever batch it is in or wherever it sits in it,
* ``y`` has the shape of ``x``, values in [0, 1].

Each corruption registers with its tables, one per *family* of image size::

    @register_corruption("gaussian_noise", params={"imagenet": (...5 values...), "cifar": (...)})
    def gaussian_noise(x, c, rng): ...
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from birdkit._registry import Registry
from birdkit.errors import BirdkitError, ShapeError, UnknownNameError

CorruptionFn = Callable[[torch.Tensor, Any, "BatchRNG"], torch.Tensor]

CORRUPTIONS: Registry[CorruptionFn] = Registry(
    "corruption", list_hint="List them with `birdkit.list_corruptions()`."
)

#: The 15 ImageNet-C corruptions used for training (Hendrycks & Dietterich 2019).
TRAIN_CORRUPTIONS: tuple[str, ...] = (
    "gaussian_noise", "shot_noise", "impulse_noise",
    "defocus_blur", "glass_blur", "motion_blur", "zoom_blur",
    "snow", "frost", "fog", "brightness",
    "contrast", "elastic_transform", "pixelate", "jpeg_compression",
)
#: The 4 held-out corruptions, never seen in training or model selection (BIRD; see docs/corruptions.md).
HELDOUT_CORRUPTIONS: tuple[str, ...] = ("speckle_noise", "gaussian_blur", "spatter", "saturate")
ALL_CORRUPTIONS: tuple[str, ...] = TRAIN_CORRUPTIONS + HELDOUT_CORRUPTIONS

#: Parameter families. ``imagenet``: ImageNet-C (224 px); ``cifar``: CIFAR-10-C (32 px);
#: ``tinyimagenet``: Tiny-ImageNet-C (64 px); ``mnist``: birdkit's table for 28 px grayscale.
FAMILIES: tuple[str, ...] = ("imagenet", "cifar", "tinyimagenet", "mnist")
SEVERITIES: tuple[int, ...] = (1, 2, 3, 4, 5)


def register_corruption(name: str, params: dict[str, Sequence[Any]]) -> Callable[[CorruptionFn], CorruptionFn]:
    """Register a corruption with its severity tables (5 entries per family)."""
    for fam, table in params.items():
        if fam not in FAMILIES:
            raise ValueError(f"{name}: unknown family {fam!r}; expected one of {FAMILIES}")
        if len(table) != 5:
            raise ValueError(f"{name}/{fam}: expected 5 severity entries, got {len(table)}")
    return CORRUPTIONS.register(name, params=params)


def default_family(height: int, width: int, channels: int) -> str:
    """The parameter family for an image size: 28 px -> mnist, 32 -> cifar, 64 -> tinyimagenet,
    >= 160 -> imagenet. Other sizes must name a family explicitly."""
    side = max(height, width)
    if side <= 28:
        return "mnist"
    if side <= 32:
        return "cifar"
    if side <= 64:
        return "tinyimagenet"
    if side >= 160:
        return "imagenet"
    raise BirdkitError(
        f"No default corruption family for {height}x{width} images; pass family= one of {FAMILIES}."
    )


def corruption_params(name: str, severity: int, family: str) -> Any:
    """The table entry of ``name`` at ``severity`` (1-5) for ``family``."""
    tables = CORRUPTIONS.meta(name)["params"]
    if family not in tables:
        raise UnknownNameError(f"family for corruption {name!r}", family, tables)
    if severity not in SEVERITIES:
        raise BirdkitError(f"Expected severity in 1..5 (0 = clean), got {severity!r}")
    return tables[family][severity - 1]


def image_seed(seed: int, index: int, name: str, severity: int) -> int:
    """A 63-bit seed from (seed, image index, corruption, severity); stable across runs and
    platforms (BLAKE2b, not Python's salted ``hash``)."""
    h = hashlib.blake2b(f"{seed}|{index}|{name}|{severity}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "little") >> 1


#: XOR-ed into an image's seed for its NumPy stream, so that the NumPy and torch streams of one
#: image differ (any fixed constant would do; this one is the multiplier of ``java.util.Random``).
NUMPY_STREAM_SALT = 0x5DEECE66D


class BatchRNG:
    """Independent random streams, one per image of a batch.

    Draws are made per image with that image's own generator, then stacked, so a result never
    depends on batch composition. Both torch (``randn``, ``rand``, ``randint``) and NumPy
    (``np_generators``) streams are offered; the two are independent of each other.

    The torch generators are CPU generators (a ``torch.Generator`` belongs to one device, and
    CPU and CUDA generators give different numbers for one seed): every draw is made on the CPU
    and then moved to ``device`` (the batch's, by default; ``device="cpu"`` keeps it on the CPU
    for draws that only shape a kernel or a map). So a seed gives the same numbers on every
    device, and a corruption the same result up to float arithmetic.
    """

    def __init__(self, seeds: Sequence[int], device: torch.device | str = "cpu"):
        self.seeds = [int(s) for s in seeds]
        self.device = torch.device(device)
        self._gens: list[torch.Generator] | None = None
        self._np: list[np.random.Generator] | None = None

    def __len__(self) -> int:
        return len(self.seeds)

    @property
    def generators(self) -> list[torch.Generator]:
        if self._gens is None:
            self._gens = [torch.Generator().manual_seed(s) for s in self.seeds]
        return self._gens

    @property
    def np_generators(self) -> list[np.random.Generator]:
        if self._np is None:
            self._np = [np.random.default_rng(s ^ NUMPY_STREAM_SALT) for s in self.seeds]
        return self._np

    def _stack(
        self, draw: Callable[[torch.Generator], torch.Tensor], device: torch.device | str | None
    ) -> torch.Tensor:
        return torch.stack([draw(g) for g in self.generators]).to(self.device if device is None else device)

    def randn(self, *shape: int, device: torch.device | str | None = None) -> torch.Tensor:
        """Standard normal draws of shape ``(N, *shape)``, on ``device`` (default: the batch's)."""
        return self._stack(lambda g: torch.randn(shape, generator=g), device)

    def rand(self, *shape: int, device: torch.device | str | None = None) -> torch.Tensor:
        """Uniform [0, 1) draws of shape ``(N, *shape)``, on ``device`` (default: the batch's)."""
        return self._stack(lambda g: torch.rand(shape, generator=g), device)

    def randn_like(self, x: torch.Tensor) -> torch.Tensor:
        """Standard normal draws of the shape of the batch ``x`` (one image per stream), on its
        device and dtype: independent noise per pixel and channel."""
        return self.randn(*x.shape[1:], device=x.device).to(dtype=x.dtype)

    def rand_like(self, x: torch.Tensor) -> torch.Tensor:
        """Uniform [0, 1) draws of the shape of the batch ``x``, on its device and dtype."""
        return self.rand(*x.shape[1:], device=x.device).to(dtype=x.dtype)

    def randint(self, low: int, high: int, *shape: int, device: torch.device | str | None = None) -> torch.Tensor:
        """Integers uniform in ``[low, high)`` of shape ``(N, *shape)`` (int64), on ``device``
        (default: the batch's)."""
        return self._stack(lambda g: torch.randint(low, high, shape, generator=g), device)

    def poisson(self, rates: torch.Tensor) -> torch.Tensor:
        """Poisson draws with per-element ``rates`` of shape ``(N, ...)``, on the device of ``rates``.

        The draws need the images' CPU generators, so rates on another device are copied to the
        CPU and the counts back (unavoidable for device-independent numbers: ``torch.poisson``
        on CUDA only takes a CUDA generator)."""
        draws = [torch.poisson(r, generator=g) for r, g in zip(rates.cpu(), self.generators, strict=True)]
        return torch.stack(draws).to(rates.device)


def check_images(x: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"Expected a torch.Tensor of images, got {type(x).__name__}")
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ShapeError(f"Expected images of shape (N, C, H, W) with C in (1, 3), got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ShapeError(f"Expected floating-point images in [0, 1], got dtype {x.dtype}; divide uint8 by 255")
