"""Transferability: properties of a teacher, measured before any transfer, that predict how
well its behavior transfers (docs/method.md §4, docs/study.md).

* :mod:`birdkit.transferability.properties`: BIRD's three teacher properties (task relevance,
  complementary knowledge, behavioral relevance).
"""

from birdkit.transferability import properties as _properties
from birdkit.transferability.properties import *  # noqa: F403

__all__ = [*_properties.__all__]
