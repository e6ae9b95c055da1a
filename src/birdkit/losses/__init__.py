"""Losses: differentiable objectives built on :mod:`birdkit.functional`.

* :class:`CKALoss`: ``1 - CKA(x, y)``, the representation-structure term of BIRD.
* :class:`FeatureQueue`: the recent samples' detached features, so that the CKA term can be
  computed on more rows than one batch (BIRD's ``queue_size``).
* ``birdkit.losses.torchdistill`` (not imported here: it needs ``pip install birdkit[torchdistill]``):
  ``BIRDCKALoss``, BIRD's term registered as a torchdistill loss (docs/integrations.md).
"""

from __future__ import annotations

from birdkit.losses.cka import CKALoss
from birdkit.losses.queue import FeatureQueue, fifo_push

__all__ = ["CKALoss", "FeatureQueue", "fifo_push"]
