"""Transferability: properties of a teacher, measured before any transfer, that predict how
well its behavior transfers (docs/method.md §4, docs/study.md).

* :mod:`birdkit.transferability.properties`: BIRD's three teacher properties (task relevance,
  complementary knowledge, behavioral relevance).
"""

from birdkit.transferability.properties import (
    AGGREGATIONS,
    REDUCTIONS,
    ProbeResult,
    TeacherProperties,
    behavioral_relevance,
    complementary_knowledge,
    linear_probe,
    robust_usefulness,
    teacher_properties,
)

__all__ = [
    "AGGREGATIONS", "REDUCTIONS", "ProbeResult", "TeacherProperties", "behavioral_relevance",
    "complementary_knowledge", "linear_probe", "robust_usefulness", "teacher_properties",
]
