"""Train one candidate (a grid point or a layer pair) and score it on validation data under the
*training* corruptions: the step shared by hyperparameter and layer selection."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import torch
from torch import nn

from birdkit.config import MethodConfig, TrainConfig
from birdkit.corruptions import TRAIN_CORRUPTIONS
from birdkit.data import TensorData
from birdkit.errors import UnknownNameError
from birdkit.evaluation.robustness import CorruptedTestSet, evaluate_robustness, summarize
from birdkit.methods import create_method
from birdkit.training import Trainer

__all__ = ["RULES", "score_row", "selection_score", "train_and_score"]

#: how a grid point's validation scores over seeds become one number: their mean, or their mean
#: less one standard error (``mean-se``: a point whose seeds disagree loses to a steady one)
RULES = ("mean", "mean-se")


def selection_score(values: list[float], rule: str = "mean") -> float:
    """One score from a candidate's per-seed validation scores under ``rule`` (:data:`RULES`)."""
    if rule not in RULES:
        raise UnknownNameError("selection rule", rule, RULES)
    mean = sum(values) / len(values)
    if rule == "mean" or len(values) < 2:
        return mean
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    return mean - sd / math.sqrt(len(values))


def score_row(row: dict, scores: list[tuple[float, float]], rule: str) -> dict:
    """A candidate's row: ``row`` plus the mean validation clean and robust (training corruptions)
    accuracy over seeds, the rule's ``score`` and, with several seeds, their count and the robust
    accuracy's sample standard deviation ``val_robust_train_std`` (so a reader sees the spread the
    ``mean-se`` rule penalised)."""
    robust = [r for _, r in scores]
    out = {**row, "val_clean": sum(c for c, _ in scores) / len(scores), "val_robust_train": sum(robust) / len(robust),
           "score": selection_score(robust, rule)}
    if len(scores) > 1:
        m = out["val_robust_train"]
        out["seeds"] = len(scores)
        out["val_robust_train_std"] = math.sqrt(sum((v - m) ** 2 for v in robust) / (len(robust) - 1))
    return out


def train_and_score(mcfg: MethodConfig, *, teacher: nn.Module, student: nn.Module, train: TensorData,
                    val_set: CorruptedTestSet, normalize, cfg: TrainConfig, run_dir: str | Path, seeds: int = 1,
                    severities=(1, 3, 5), progress=None) -> list[tuple[float, float]]:
    """Train ``mcfg`` from copies of ``teacher`` and ``student`` with training seeds
    ``cfg.seed + k`` for k < ``seeds`` (seed 0 in ``run_dir``, further ones in
    ``run_dir_seed<k>``; finished runs are reused), and return ``[(clean_acc, robust_train)]``
    per seed on ``val_set``. New heads are drawn after ``torch.manual_seed(cfg.seed + k)``, so
    every candidate of a seed starts alike. A diverging run raises ``NonFiniteLossError``."""
    scores = []
    for k in range(seeds):
        ck = cfg.with_seed_offset(k)
        torch.manual_seed(ck.seed)
        m = create_method(mcfg, student=copy.deepcopy(student), teacher=copy.deepcopy(teacher),
                          num_classes=student.num_classes)
        d = Path(f"{run_dir}_seed{k}") if k else Path(run_dir)
        model = Trainer(m, train, ck, d, progress=progress,
                        checkpoint_meta={"method_config": mcfg.model_dump(mode="json")}).fit_or_load()
        res = summarize(evaluate_robustness(model, val_set, normalize, corruptions=TRAIN_CORRUPTIONS,
                                            severities=severities, model_name=mcfg.name))
        scores.append((res["clean_acc"], res["robust_train"]))
    return scores
