"""Deterministic, stratified splits.

birdkit's four splits of every dataset:

* ``"train_full"``: the whole official training set;
* ``"val"``: ``val_fraction`` of *each class* of ``train_full``, chosen by ``seed``;
* ``"train"``: ``train_full`` minus ``"val"``;
* ``"test"``: the official test set.

Each class is shuffled by its own generator, seeded from ``(salt, seed, label)``. So the
held-out part of a class does not depend on which other classes are present: the validation
set of a class subset (``fashion-mnist-5-9``) is exactly the matching part of the full
dataset's validation set.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from birdkit.errors import BirdkitError

__all__ = ["SPLITS", "check_split", "stratified_split"]

#: The split names accepted by :func:`birdkit.data.create_dataset`.
SPLITS: tuple[str, ...] = ("train", "val", "train_full", "test")


def check_split(split: str) -> str:
    """Validate a split name.

    Raises:
        BirdkitError: listing the valid splits.
    """
    if split not in SPLITS:
        raise BirdkitError(f"Unknown split {split!r}. Valid splits: {', '.join(SPLITS)} "
                           "(train = train_full minus val; test = the official test set).")
    return split


def stratified_split(
    targets: torch.Tensor | np.ndarray | Sequence[int],
    fraction: float,
    seed: int = 0,
    *,
    salt: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Hold out ``fraction`` of every class, deterministically.

    Per class with ``n`` examples, ``floor(fraction * n + 0.5)`` of them are held out: the
    first ones of a permutation drawn by ``numpy.random.default_rng([salt, seed, label])``.

    Args:
        targets: integer labels (N,).
        fraction: share of each class to hold out, in [0, 1).
        seed: non-negative integer choosing the held-out examples.
        salt: separates independent uses of the same seed (birdkit uses 0 for validation
            splits and 1 for mnist5k's fixed train/test split).

    Returns:
        ``(kept, held)``: sorted int64 index tensors, disjoint, together ``range(N)``.

    Raises:
        BirdkitError: fraction outside [0, 1), negative or non-integer seed.
    """
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0.0 <= fraction < 1.0:
        raise BirdkitError(f"val_fraction must be a number in [0, 1), got {fraction!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise BirdkitError(f"seed must be a non-negative integer, got {seed!r}")
    t = targets.cpu().numpy() if isinstance(targets, torch.Tensor) else np.asarray(targets)
    t = t.astype(np.int64, copy=False)
    kept: list[np.ndarray] = []
    held: list[np.ndarray] = []
    for c in np.unique(t):
        idx = np.flatnonzero(t == c)
        perm = np.random.default_rng([int(salt), int(seed), int(c) % 2**64]).permutation(idx)
        k = int(np.floor(fraction * len(idx) + 0.5))
        held.append(perm[:k])
        kept.append(perm[k:])

    def cat(parts: list[np.ndarray]) -> torch.Tensor:
        return torch.from_numpy(np.sort(np.concatenate(parts)) if parts else np.empty(0, np.int64))

    return cat(kept), cat(held)
