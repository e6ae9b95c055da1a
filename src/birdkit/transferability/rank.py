"""Which candidate teacher to transfer from, before paying for any transfer (``birdkit rank-teachers``).

Each candidate's three properties and four baselines are measured on the student's data
(:func:`~birdkit.transferability.properties.teacher_properties`); candidates are then ordered by

* a fitted study model (:func:`~birdkit.transferability.fit.fit_rows`, saved as ``fit.json``): its
  predicted outcome, when one is given; else
* the **default rule**: the mean over the three properties of their z-scores across the candidates
  (each property standardised over the candidates, equal weights; a property that does not vary
  contributes 0). It needs no study, assumes each property helps, as BIRD's fit finds for task
  relevance and complementary knowledge, and says nothing about the size of the effect.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from torch import nn

from birdkit.data import TensorData
from birdkit.transferability.fit import PROPERTIES, predict
from birdkit.transferability.properties import teacher_properties

__all__ = ["DEFAULT_RULE", "rank_teachers"]

DEFAULT_RULE = "mean z-score of task relevance, complementary knowledge and behavioral relevance over the candidates"


def rank_teachers(student: nn.Module, teachers: Mapping[str, nn.Module], train: TensorData, heldout: TensorData, *,
                  fit: Mapping[str, Any] | None = None, **property_options: Any) -> list[dict[str, Any]]:
    """One row per candidate, best first: its properties, baselines, score and rank. ``score`` is
    the fit's prediction of its target when ``fit`` is given, else the default rule's z-score."""
    rows = []
    for name, teacher in teachers.items():
        p = teacher_properties(teacher, student, train, heldout, **property_options)
        rows.append({"teacher": name, **{k: getattr(p, k) for k in PROPERTIES}, **p.baselines,
                     "student_probe_accuracy": p.student_probe_accuracy})
    if fit is not None:
        scores = predict(fit, rows)
        how = f"predicted {fit['target']}"
    else:
        x = np.array([[r[k] for k in PROPERTIES] for r in rows], dtype=float)
        sd = x.std(0)
        z = np.where(sd > 0, (x - x.mean(0)) / np.where(sd > 0, sd, 1), 0.0)
        scores = z.mean(1)
        how = "default rule"
    for r, s in zip(rows, scores):
        r["score"], r["scored_by"] = float(s), how
    rows.sort(key=lambda r: -r["score"])
    for i, r in enumerate(rows, 1):
        r["rank"] = i
    return rows
