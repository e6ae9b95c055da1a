"""Statistics for comparisons: intervals over seeds, paired comparisons, ratios, bootstraps,
rates and verdicts (see ``docs/statistics.md``).

* :mod:`~birdkit.stats.intervals`: Student-t interval of a mean, the verdict.
* :mod:`~birdkit.stats.paired`: per-seed paired differences and their comparison.
* :mod:`~birdkit.stats.ratio`: Fieller interval of a ratio of paired means (PGR).
* :mod:`~birdkit.stats.bootstrap`: one-sample and two-way (seeds x images) bootstrap.
* :mod:`~birdkit.stats.rates`: Wilson interval of a rate.
* :mod:`~birdkit.stats.auc`: the AUC of a score and its stratified bootstrap interval.
"""

from __future__ import annotations

from birdkit.stats import auc, bootstrap, intervals, paired, rates, ratio
from birdkit.stats.auc import *  # noqa: F403
from birdkit.stats.bootstrap import *  # noqa: F403
from birdkit.stats.intervals import *  # noqa: F403
from birdkit.stats.paired import *  # noqa: F403
from birdkit.stats.rates import *  # noqa: F403
from birdkit.stats.ratio import *  # noqa: F403

__all__ = [*auc.__all__, *intervals.__all__, *paired.__all__, *ratio.__all__, *bootstrap.__all__, *rates.__all__]
