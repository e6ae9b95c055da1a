"""Hyperparameter selection for the transfer methods, on validation data and the *training*
corruptions only.

For each method, each point of a small grid (learning rate for all methods; alpha for BIRD and
Hints: each method class declares which it has, ``tunable``) is trained with the pair's transfer
budget from the same teacher and student, then scored on the student's *validation* split: mean
accuracy over the 15 training corruptions (severities 1, 3, 5). The held-out corruptions are
never computed here, so the final tables stay untouched by the choice (docs/method.md §3, §6).

After the grid, BIRD's layer pair is searched the same way (coordinate search: at BIRD's chosen
lr and alpha, each stage-end teacher x student candidate trained with the full transfer budget;
see :mod:`birdkit.selection.layers`). Hints gets the same pair, as in the paper's protocol
(Hints at the *same* layers as BIRD, so the comparison isolates how the layer is supervised).
"""

from __future__ import annotations

import itertools
import json
import logging
import math
from pathlib import Path

from torch import nn

from birdkit.config import LayerPair, MethodConfig, PairConfig, TrainConfig
from birdkit.corruptions import HELDOUT_CORRUPTIONS, TRAIN_CORRUPTIONS
from birdkit.data import TensorData
from birdkit.errors import UnknownNameError
from birdkit.evaluation.robustness import CorruptedTestSet
from birdkit.methods import method_class, tunable_methods
from birdkit.selection._score import score_row, selection_score, train_and_score
from birdkit.selection.layers import VALIDATION_CORRUPTION_SEED, search_layers
from birdkit.training import NonFiniteLossError

__all__ = ["AXES", "LRS", "VARIANTS", "chosen_rows", "default_grid", "select_hparams"]

log = logging.getLogger(__name__)

#: learning rates from a fifth of the authors' default (0.005) to 320x it, wide enough that a
#: method's choice does not sit on an edge of the grid for want of a value beyond it (BENCHMARKS.md
#: reports where one still does). Diverging points are recorded as such and never chosen.
LRS = [0.001, 0.005, 0.02, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6]
#: the values tried for each tunable hyperparameter
AXES: dict[str, list] = {"lr": LRS, "alpha": [0.5, 0.9]}


#: BIRD variants tried after the grid and the layer search (at BIRD's chosen lr, alpha and layer
#: pair; docs/method.md §6): debiased CKA, a feature queue, the two best layer pairs together,
#: and debiased CKA with a queue. ``two-pairs`` is filled in from the layer search.
VARIANTS: dict[str, dict] = {
    "debiased": {"debiased": True},
    "queue": {"queue_size": 1024},
    "two-pairs": {},
    "debiased-queue": {"debiased": True, "queue_size": 1024},
}


def default_grid(methods: list[str] | None = None) -> dict[str, dict[str, list]]:
    """The grid of each method (default: every tunable benchmark method): the values of
    :data:`AXES` for each hyperparameter the method class declares ``tunable``."""
    names = methods or tunable_methods()
    for m in names:
        if m not in tunable_methods():
            raise UnknownNameError("transfer method to select", m, tunable_methods())
    return {m: {k: AXES[k] for k in method_class(m).tunable} for m in names}


def _tag(point: dict) -> str:
    """A grid point as a directory name: ``lr0.02_alpha0.5``."""
    return "_".join(f"{k}{v}" for k, v in point.items())


def _candidate(cfg: PairConfig, method: str, point: dict) -> tuple[MethodConfig, TrainConfig]:
    """The method config and transfer budget of one grid point: the pair's shared method section
    (not the method's overrides, which are what selection chooses) with the point's values."""
    mcfg = cfg.model_copy(update={"overrides": {}}).method_config(method, **point)
    tc = cfg.transfer_train.model_copy(update={"tensorboard": False}).with_lr(point.get("lr"))
    return mcfg, tc


def select_hparams(cfg: PairConfig, *, teacher: nn.Module, student: nn.Module, train: TensorData,
                   val: TensorData, run_dir: str | Path, grid: dict[str, dict[str, list]] | None = None,
                   severities=(1, 3, 5), layer_search: bool = True, layer_candidates: int = 2, seeds: int = 1,
                   rule: str = "mean", variants: bool = False, progress=None) -> tuple[dict, list[dict]]:
    """Grid-search each method's transfer hyperparameters from ``teacher`` and ``student`` on the
    student's ``train`` split, scoring on ``val`` (validation images, training corruptions).
    Candidates train in ``run_dir/hparams/`` and ``run_dir/layers/``. Returns (best overrides per
    method, all rows).

    With ``layer_search`` and BIRD in the grid, BIRD's layer pair is then chosen among the
    deepest ``layer_candidates`` stage ends of each network (rows with ``method="bird-layers"``)
    and written to ``best["bird"]["layers"]`` and, when Hints is in the grid, to
    ``best["hints"]["layers"]``.

    ``seeds > 1`` trains every grid point (and every layer candidate) with that many transfer
    seeds and scores them by ``rule`` (:func:`selection_score`): at large learning rates a single
    run can be a lucky draw that does not reproduce; the rows then also carry the seeds' std and
    the rule's ``score``.

    With ``variants`` (and BIRD selected), each BIRD variant of :data:`VARIANTS` is then trained at
    BIRD's chosen point and layers (rows ``method="bird-variant"``); the best one by the same rule,
    if it beats vanilla BIRD's score, is returned as ``best["variants"]["bird-best"]``, else the
    best variant is still returned so the benchmark reports it beside vanilla BIRD."""
    selection_score([0.0], rule)  # an unknown rule is refused before any training
    assert not set(TRAIN_CORRUPTIONS) & set(HELDOUT_CORRUPTIONS)
    run_dir = Path(run_dir)
    vset = CorruptedTestSet(val.images, val.targets, seed=VALIDATION_CORRUPTION_SEED, cache=True)
    grid = grid or default_grid()
    rows, best = [], {}
    for method, axes in grid.items():
        keys = list(axes)
        for values in itertools.product(*(axes[k] for k in keys)):
            point = dict(zip(keys, values))
            mcfg, tc = _candidate(cfg, method, point)
            tag = _tag(point)
            if progress:
                progress({"event": "stage", "name": f"select {method} {tag}"})
            try:
                scores = train_and_score(mcfg, teacher=teacher, student=student, train=train, val_set=vset,
                                         normalize=val.normalize, cfg=tc,
                                         run_dir=run_dir / "hparams" / f"{method}_{tag}", seeds=seeds,
                                         severities=severities, progress=progress)
            except NonFiniteLossError as e:  # a diverging grid point is a result, not a crash
                log.warning("%s %s diverged: %s", method, point, e)
                rows.append({"method": method, **point, "val_clean": math.nan, "val_robust_train": math.nan,
                             "score": math.nan, **({"seeds": seeds} if seeds > 1 else {})})
                continue
            rows.append(score_row({"method": method, **point}, scores, rule))
            log.info("%s %s: val clean %.4f, val robust (training corruptions) %.4f", method, point,
                     rows[-1]["val_clean"], rows[-1]["val_robust_train"])
        mine = [r for r in rows if r["method"] == method]
        if all(math.isnan(r["score"]) for r in mine):
            raise NonFiniteLossError(f"every grid point of {method} diverged: {[dict(r) for r in mine]}")
        top = max(mine, key=lambda r: -math.inf if math.isnan(r["score"]) else r["score"])
        best[method] = {k: top[k] for k in keys}
    if layer_search and "bird" in best:
        point = best["bird"]
        mcfg, tc = _candidate(cfg, "bird", point)
        pair, lrows = search_layers(mcfg, teacher=teacher, student=student, train=train, val=val, cfg=tc,
                                    run_dir=run_dir / "layers" / _tag(point), k=layer_candidates, epochs=tc.epochs,
                                    val_samples=len(val), severities=severities, seeds=seeds, rule=rule,
                                    progress=progress)
        rows += [{"method": "bird-layers", **point, "teacher_layer": r["teacher"], "student_layer": r["student"],
                  **{k: v for k, v in r.items() if k not in ("teacher", "student")}}
                 for r in lrows]
        chosen = [pair.model_dump()]
        best["bird"]["layers"] = chosen
        if "hints" in best:
            best["hints"]["layers"] = chosen
        if variants:
            top2 = sorted(lrows, key=lambda r: -r["score"])[:2]
            two = [LayerPair(teacher=r["teacher"], student=r["student"]).model_dump() for r in top2]
            vrows = []
            for vname, fields in VARIANTS.items():
                fields = {"layers": two} if vname == "two-pairs" else {**fields, "layers": chosen}
                if vname == "two-pairs" and len(two) < 2:
                    continue
                mcfg, tc = _candidate(cfg, "bird", {**point, **fields})
                if progress:
                    progress({"event": "stage", "name": f"select bird variant {vname}"})
                try:
                    scores = train_and_score(mcfg, teacher=teacher, student=student, train=train, val_set=vset,
                                             normalize=val.normalize, cfg=tc, run_dir=run_dir / "variants" / vname,
                                             seeds=seeds, severities=severities, progress=progress)
                except NonFiniteLossError as e:
                    log.warning("bird variant %s diverged: %s", vname, e)
                    continue
                vrows.append((fields, score_row({"method": "bird-variant", "variant": vname, **point,
                                                  "variant_fields": json.dumps(fields)}, scores, rule)))
            rows += [r for _, r in vrows]
            if vrows:
                fields, top = max(vrows, key=lambda fr: fr[1]["score"])
                best["variants"] = {f"bird-{top['variant']}": {"method": "bird", **point, **fields}}
    return best, rows


def chosen_rows(rows: list[dict], best: dict) -> list[bool]:
    """Which of ``rows`` are the chosen points of ``best`` (the grid point of each method, and
    BIRD's chosen layer pair among the ``bird-layers`` rows)."""
    out = []
    for r in rows:
        if r["method"] == "bird-layers":
            lp = best["bird"]["layers"][0]
            out.append((r["teacher_layer"], r["student_layer"]) == (lp["teacher"], lp["student"]))
        elif r["method"] == "bird-variant":
            out.append(f"bird-{r['variant']}" in best.get("variants", {}))
        else:
            out.append(all(r.get(k) == v for k, v in best[r["method"]].items() if k != "layers"))
    return out
