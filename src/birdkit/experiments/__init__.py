"""Experiments: the one runner of a teacher -> student pair and everything built on it
(``birdkit demo``, ``select``, ``study``, ``audit`` and the single-run jobs)."""

from birdkit.experiments import audit as _audit
from birdkit.experiments import demo as _demo
from birdkit.experiments import grid as _grid
from birdkit.experiments import jobs as _jobs
from birdkit.experiments import runner as _runner
from birdkit.experiments import select as _select
from birdkit.experiments import study as _study
from birdkit.experiments.audit import *  # noqa: F403
from birdkit.experiments.demo import *  # noqa: F403
from birdkit.experiments.grid import *  # noqa: F403
from birdkit.experiments.jobs import *  # noqa: F403
from birdkit.experiments.runner import *  # noqa: F403
from birdkit.experiments.select import *  # noqa: F403
from birdkit.experiments.study import *  # noqa: F403

__all__ = [*_audit.__all__, *_demo.__all__, *_grid.__all__, *_jobs.__all__, *_runner.__all__, *_select.__all__,
           *_study.__all__]
