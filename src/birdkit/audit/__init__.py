"""Behavior audit: what else a distillation carried besides the behavior asked for (docs/audit.md).

* :mod:`~birdkit.audit.behaviors`: behaviors planted in a teacher's data (a backdoor trigger, a
  shortcut cue), with their pixel patterns; a registry (``@register_behavior``).
* :mod:`~birdkit.audit.probes`: probes measure a behavior of a model (robustness, trigger and
  cue sensitivity, representation shift) as rates with their per-sample records; a registry
  (``@register_probe``), so a user adds a probe without touching the runner.
* :mod:`~birdkit.audit.summary`: the records, rates with intervals, planted - control contrasts
  and the gate of ``--fail-above``.
* :mod:`~birdkit.audit.report`: markdown and plots.
* :mod:`~birdkit.audit.subliminal`: Cloud et al.'s subliminal-learning check (MNIST, auxiliary
  logits, noise), vectorised over seeds.

The runner that trains teachers, controls and students is ``birdkit.experiments.audit``.
"""

from __future__ import annotations

from birdkit.audit import behaviors, probes, report, subliminal, summary
from birdkit.audit.behaviors import *  # noqa: F403
from birdkit.audit.probes import *  # noqa: F403
from birdkit.audit.report import *  # noqa: F403
from birdkit.audit.subliminal import *  # noqa: F403
from birdkit.audit.summary import *  # noqa: F403

__all__ = [*behaviors.__all__, *probes.__all__, *summary.__all__, *report.__all__, *subliminal.__all__]
