"""Transfer methods: BIRD and every baseline of the paper, behind one registry (docs/methods.md).

| name   | starts from        | trains                         | objective |
|--------|--------------------|--------------------------------|-----------|
| none   | clean student      | nothing                        | -         |
| task   | given model        | all                            | CE        |
| oracle | scratch            | all, corruption augmentation   | CE        |
| ft     | robust teacher     | all, new head                  | CE        |
| lp     | robust teacher     | new head only (frozen features)| CE        |
| lpft   | robust teacher     | head, then all at lr x 0.1     | CE        |
| lwf    | robust teacher     | all, new + old head            | CE + KD_T(old head, teacher) |
| hints  | clean student      | all + linear regressor         | (1-a) CE + a L2(W v, u) |
| bird   | clean student      | all                            | (1-a) CE + a (1 - CKA(u, v)) |

Each class declares what it needs (see :mod:`birdkit.methods._base`); ``create_method``,
``list_methods``, ``benchmark_methods`` and ``tunable_methods`` derive from the registry.
"""

from __future__ import annotations

# Importing the method modules registers them, in the order of the paper's tables.
from birdkit.methods import _base, _factory, _pairs

from birdkit.methods import task, probe, lwf, hints, bird  # noqa: F401  (isort: skip: the order is the registry's)
from birdkit.methods._base import *  # noqa: F403
from birdkit.methods._factory import *  # noqa: F403
from birdkit.methods._pairs import *  # noqa: F403

__all__ = [*_base.__all__, *_factory.__all__, *_pairs.__all__]
