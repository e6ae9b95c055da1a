"""Losses: differentiable objectives built on :mod:`birdkit.functional`.

* :class:`CKALoss`: ``1 - CKA(x, y)``, the representation-structure term of BIRD.
"""

from __future__ import annotations

from birdkit.losses.cka import CKALoss

__all__ = ["CKALoss"]
