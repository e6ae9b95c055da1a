"""Train one candidate (a grid point or a layer pair) and score it on validation data under the
*training* corruptions: the step shared by hyperparameter and layer selection."""

from __future__ import annotations

import copy
from pathlib import Path

import torch

from birdkit.corruptions import TRAIN_CORRUPTIONS
from birdkit.evaluation.robustness import evaluate_robustness, summarize


def train_and_score(mcfg, *, teacher, student, train, val_set, normalize, cfg, run_dir: str | Path,
                    seeds: int = 1, severities=(1, 3, 5), progress=None) -> list[tuple[float, float]]:
    """Train ``mcfg`` from copies of ``teacher`` and ``student`` with training seeds
    ``cfg.seed + k`` for k < ``seeds`` (seed 0 in ``run_dir``, further ones in
    ``run_dir_seed<k>``; finished runs are reused), and return ``[(clean_acc, robust_train)]``
    per seed on ``val_set``. A diverging run raises ``NonFiniteLossError``."""
    from birdkit.methods import create_method
    from birdkit.training.trainer import Trainer

    scores = []
    for k in range(seeds):
        ck = cfg.model_copy(update={"seed": cfg.seed + k})
        torch.manual_seed(ck.seed)  # new heads / regressors: the same start for every candidate
        m = create_method(mcfg, student=copy.deepcopy(student), teacher=copy.deepcopy(teacher),
                          num_classes=student.num_classes)
        d = Path(f"{run_dir}_seed{k}") if k else Path(run_dir)
        Trainer(m, train, ck, d, progress=progress,
                checkpoint_meta={"method_config": mcfg.model_dump(mode="json")}).fit(resume=True)
        res = summarize(evaluate_robustness(m.model, val_set, normalize, corruptions=TRAIN_CORRUPTIONS,
                                            severities=severities, model_name=mcfg.name))
        scores.append((res["clean_acc"], res["robust_train"]))
    return scores
