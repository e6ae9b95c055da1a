"""Every seed the training loop derives from a run's seed, in one place.

A run is reproducible and resumable because each epoch's randomness is a pure function of
(run seed, epoch): a resumed run draws exactly what an uninterrupted one would.

* ``epoch_seed``: the global torch RNG at the start of each epoch (dropout and anything else
  that draws from it);
* ``order_seed``: the generator of the epoch's shuffled data order;
* ``augment_draw_seed``: which corruption and severity each training image gets this epoch;
* ``augment_corruption_seed``: the randomness inside those corruptions (noise, splashes, ...).

The strides are primes larger than any epoch count, so two (seed, epoch) pairs never share a
seed within a run's budget.
"""

from __future__ import annotations

__all__ = ["AUGMENT_DRAW_OFFSET", "ORDER_STRIDE", "SEED_STRIDE", "augment_corruption_seed", "augment_draw_seed",
           "epoch_seed", "order_seed"]

SEED_STRIDE = 1_000_003
ORDER_STRIDE = 7_919
AUGMENT_DRAW_OFFSET = 17


def epoch_seed(seed: int, epoch: int) -> int:
    return seed * SEED_STRIDE + epoch


def order_seed(seed: int, epoch: int) -> int:
    return seed * ORDER_STRIDE + epoch


def augment_draw_seed(seed: int, epoch: int) -> int:
    return seed * SEED_STRIDE + epoch * ORDER_STRIDE + AUGMENT_DRAW_OFFSET


def augment_corruption_seed(seed: int, epoch: int) -> int:
    return seed * SEED_STRIDE + epoch
