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
from birdkit.methods import bird, hints, lwf, probe, task  # noqa: F401
from birdkit.methods._base import Stage, TransferMethod, freeze, teacher_with_new_head
from birdkit.methods._factory import (
    METHODS,
    benchmark_methods,
    create_method,
    list_methods,
    method_class,
    method_info,
    register_method,
    tunable_methods,
)
from birdkit.methods._pairs import forward_pairs, resolve_pairs

__all__ = [
    "METHODS", "Stage", "TransferMethod", "benchmark_methods", "create_method", "forward_pairs", "freeze",
    "list_methods", "method_class", "method_info", "register_method", "resolve_pairs", "teacher_with_new_head",
    "tunable_methods",
]
