"""Training: the one loop that serves every method, its corruption augmentation and its seeds."""

from birdkit.training import augment as _augment
from birdkit.training import seeds as _seeds
from birdkit.training import trainer as _trainer
from birdkit.training.augment import *  # noqa: F403
from birdkit.training.seeds import *  # noqa: F403
from birdkit.training.trainer import *  # noqa: F403

__all__ = [*_augment.__all__, *_seeds.__all__, *_trainer.__all__]
