"""Corruption augmentation for the robust teacher and the oracle.

Per epoch, every training image index draws (apply?, corruption, severity) from a generator
seeded by (seed, epoch): the draw depends on the image, not on batch order, and a resumed
run draws exactly what an uninterrupted one would. A batch is then corrupted group by group
(one vectorised ``corrupt`` call per (corruption, severity) present).
"""

from __future__ import annotations

import torch

from birdkit.config import AugmentConfig
from birdkit.corruptions import TRAIN_CORRUPTIONS, corrupt, list_corruptions
from birdkit.errors import UnknownNameError
from birdkit.training.seeds import augment_corruption_seed, augment_draw_seed

__all__ = ["CorruptionAugment"]


class CorruptionAugment:
    """Per-image corruption draws for one epoch (:meth:`set_epoch`), applied to batches by index.

    Args:
        cfg: which corruptions, severities and probability.
        num_samples: size of the training set (one draw per image index).
        seed: the run's seed.
        family: corruption parameter family (default: from the image size).
    """

    def __init__(self, cfg: AugmentConfig, num_samples: int, seed: int = 0, family: str | None = None):
        names = list(TRAIN_CORRUPTIONS) if cfg.corruptions == "train" else list(cfg.corruptions)
        known = set(list_corruptions())
        for n in names:
            if n not in known:
                raise UnknownNameError("corruption", n, known)
        self.names = names
        self.severities = torch.tensor(cfg.severities)
        self.p = cfg.p
        self.n = num_samples
        self.seed = seed
        self.family = family
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        g = torch.Generator().manual_seed(augment_draw_seed(self.seed, epoch))
        self.epoch = epoch
        self.which = torch.randint(len(self.names), (self.n,), generator=g)
        self.sev = self.severities[torch.randint(len(self.severities), (self.n,), generator=g)]
        self.sev[torch.rand(self.n, generator=g) >= self.p] = 0

    def __call__(self, x: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        """Corrupt float images ``x`` (N, C, H, W) in [0, 1] whose dataset indices are ``indices``."""
        which, sev = self.which[indices], self.sev[indices]
        out = x.clone()
        for c in which.unique().tolist():
            for s in sev[which == c].unique().tolist():
                if s == 0:
                    continue
                m = (which == c) & (sev == s)
                out[m] = corrupt(x[m], self.names[c], int(s), seed=augment_corruption_seed(self.seed, self.epoch),
                                 indices=indices[m], family=self.family)
        return out
