"""Statistics for comparisons: intervals over seeds and verdicts (see ``docs/statistics.md``)."""

from birdkit.stats.intervals import Interval, mean_interval, verdict

__all__ = ["Interval", "mean_interval", "verdict"]
