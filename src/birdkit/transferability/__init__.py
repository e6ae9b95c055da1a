"""Transferability: properties of a teacher, measured before any transfer, that predict how
well its behavior transfers (docs/method.md §4, docs/study.md).

* :mod:`birdkit.transferability.properties`: BIRD's three teacher properties (task relevance,
  complementary knowledge, behavioral relevance).
* :mod:`birdkit.transferability.fit`: the linear model of a study's outcome on the properties,
  grouped cross-validation, bootstrap intervals, rank correlations, a JSON model.
* :mod:`birdkit.transferability.rank`: candidate teachers ranked before any transfer.
* :mod:`birdkit.transferability.scores`: transferability baselines from the literature (LEEP,
  NCE, H-score, LogME).
"""

from birdkit.transferability import fit as _fit
from birdkit.transferability import properties as _properties
from birdkit.transferability import rank as _rank
from birdkit.transferability import scores as _scores
from birdkit.transferability.fit import *  # noqa: F403
from birdkit.transferability.properties import *  # noqa: F403
from birdkit.transferability.rank import *  # noqa: F403
from birdkit.transferability.scores import *  # noqa: F403

__all__ = [*_fit.__all__, *_properties.__all__, *_rank.__all__, *_scores.__all__]
