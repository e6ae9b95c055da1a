"""Hyperparameter selection for the transfer methods, on validation data and the *training*
corruptions only.

For each method, each point of a small grid (learning rate for all methods; alpha for BIRD and
Hints) is trained with the pair's transfer budget from the same teacher and student
checkpoints, then scored on the student's *validation* split: mean accuracy over the 15
training corruptions (severities 1, 3, 5). The held-out corruptions are never computed here, so
the final tables stay untouched by the choice (method.md §3; DEVELOPERS: hyperparameters are
chosen on validation data and training corruptions only).

After the grid, BIRD's layer pair is searched the same way (coordinate search: at BIRD's chosen
lr and alpha, each stage-end teacher x student candidate trained with the full transfer budget;
see :mod:`birdkit.selection.layers`). Hints gets the same pair, as in the paper's protocol
(Hints at the *same* layers as BIRD, so the comparison isolates how the layer is supervised).
"""

from __future__ import annotations

import itertools
import logging
import math
from pathlib import Path

import torch

from birdkit.corruptions import HELDOUT_CORRUPTIONS, TRAIN_CORRUPTIONS
from birdkit.evaluation.robustness import CorruptedTestSet
from birdkit.experiments.config import PairConfig
from birdkit.selection._score import train_and_score
from birdkit.training.config import MethodConfig
from birdkit.training.trainer import NonFiniteLossError

log = logging.getLogger(__name__)

# Learning rates from a fifth of the authors' default (0.005) to 320x it, so that no method's
# choice sits on an edge of its grid for want of a value beyond it: a first grid stopped at 0.02,
# where every baseline landed; a second at 0.1 and a third at 0.4, where LP, Hints and BIRD
# kept landing. Diverging points are recorded as such and never chosen.
LRS = [0.001, 0.005, 0.02, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6]
DEFAULT_GRID: dict[str, dict[str, list]] = {
    "ft": {"lr": LRS},
    "lp": {"lr": LRS},
    "lpft": {"lr": LRS},
    "lwf": {"lr": LRS},
    "hints": {"lr": LRS, "alpha": [0.5, 0.9]},
    "bird": {"lr": LRS, "alpha": [0.5, 0.9]},
}


def _tag(point: dict) -> str:
    """A grid point as a directory name: ``lr0.02_alpha0.5``."""
    return "_".join(f"{k}{v}" for k, v in point.items())


def select_hparams(cfg: PairConfig, seed_dir: str | Path, *, grid: dict[str, dict[str, list]] | None = None,
                   val_samples: int = 1000, severities=(1, 3, 5), layer_search: bool = True,
                   layer_candidates: int = 2, seeds: int = 1, progress=None) -> tuple[dict, list[dict]]:
    """Grid-search each method's transfer hyperparameters from the finished teacher and student
    of ``seed_dir`` (a ``run_pair`` directory). Returns (best overrides per method, all rows).

    With ``layer_search`` and BIRD in the grid, BIRD's layer pair is then chosen among the
    deepest ``layer_candidates`` stage ends of each network (rows with ``method="bird-layers"``)
    and written to ``best["bird"]["layers"]`` and, when Hints is in the grid, to
    ``best["hints"]["layers"]``.

    ``seeds > 1`` trains every grid point (and every layer candidate) with that many transfer
    seeds and scores the mean: at large learning rates a single run can be a lucky draw that
    does not reproduce (BENCHMARKS.md, round 3); the rows then also carry the seeds' std."""
    from birdkit.checkpoint import load_checkpoint
    from birdkit.experiments.pipeline import load_split
    assert not set(TRAIN_CORRUPTIONS) & set(HELDOUT_CORRUPTIONS)
    seed_dir = Path(seed_dir)
    teacher, _ = load_checkpoint(seed_dir / "teacher" / "model.safetensors")
    student, _ = load_checkpoint(seed_dir / "student" / "model.safetensors")
    s_train = load_split(cfg.student_data, "train", cfg.transfer_train.max_train_samples)
    s_val = load_split(cfg.student_data, "val", val_samples, norm_from=s_train)
    vset = CorruptedTestSet(s_val.images, s_val.targets, seed=777)
    grid = grid or DEFAULT_GRID
    rows, best = [], {}
    for method, axes in grid.items():
        keys = list(axes)
        for values in itertools.product(*(axes[k] for k in keys)):
            point = dict(zip(keys, values))
            mfields = {k: v for k, v in point.items() if k in MethodConfig.model_fields}
            mcfg = MethodConfig(**{**cfg.method.model_dump(), "name": method, **mfields})
            tc = cfg.transfer_train.model_copy(update={"tensorboard": False}).with_lr(point.get("lr"))
            tag = _tag(point)
            if progress:
                progress({"event": "stage", "name": f"select {method} {tag}"})
            try:
                scores = train_and_score(mcfg, teacher=teacher, student=student, train=s_train, val_set=vset,
                                         normalize=s_val.normalize, cfg=tc,
                                         run_dir=seed_dir / "hparams" / f"{method}_{tag}", seeds=seeds,
                                         severities=severities, progress=progress)
            except NonFiniteLossError as e:  # a diverging grid point is a result, not a crash
                log.warning("%s %s diverged: %s", method, point, e)
                rows.append({"method": method, **point, "val_clean": math.nan, "val_robust_train": math.nan,
                             **({"seeds": seeds} if seeds > 1 else {})})
                continue
            clean = sum(c for c, _ in scores) / len(scores)
            robust = sum(r for _, r in scores) / len(scores)
            row = {"method": method, **point, "val_clean": clean, "val_robust_train": robust}
            if seeds > 1:
                row["seeds"] = seeds
                row["val_robust_train_std"] = float(torch.tensor([r for _, r in scores], dtype=torch.float64).std())
            rows.append(row)
            log.info("%s %s: val clean %.4f, val robust (training corruptions) %.4f", method, point, clean, robust)
        mine = [r for r in rows if r["method"] == method]
        if all(math.isnan(r["val_robust_train"]) for r in mine):
            raise NonFiniteLossError(f"every grid point of {method} diverged: {[dict(r) for r in mine]}")
        top = max(mine, key=lambda r: -math.inf if math.isnan(r["val_robust_train"]) else r["val_robust_train"])
        best[method] = {k: top[k] for k in keys}
    if layer_search and "bird" in best:
        from birdkit.selection.layers import search_layers

        point = best["bird"]
        mcfg = MethodConfig(**{**cfg.method.model_dump(), "name": "bird",
                               **{k: v for k, v in point.items() if k in MethodConfig.model_fields}})
        tc = cfg.transfer_train.model_copy(update={"tensorboard": False}).with_lr(point.get("lr"))
        pair, lrows = search_layers(mcfg, teacher=teacher, student=student, train=s_train, val=s_val, cfg=tc,
                                    run_dir=seed_dir / "layers" / _tag(point),
                                    k=layer_candidates, epochs=tc.epochs,
                                    val_samples=val_samples, severities=severities, seed=777, seeds=seeds,
                                    progress=progress)
        rows += [{"method": "bird-layers", **point, "teacher_layer": r["teacher"], "student_layer": r["student"],
                  "val_clean": r["val_clean"], "val_robust_train": r["val_robust"]} for r in lrows]
        chosen = [pair.model_dump()]
        best["bird"]["layers"] = chosen
        if "hints" in best:
            best["hints"]["layers"] = chosen
    return best, rows
