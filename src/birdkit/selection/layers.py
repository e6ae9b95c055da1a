"""Layer-pair search for BIRD and Hints.

The choice of guiding/guided layers can change the outcome a lot, so candidates are tried
briefly and the best pair is kept by *validation* robust accuracy under the **training**
corruptions (the 15 ImageNet-C ones). The held-out corruptions are never looked at here: they
are reserved for final tables (docs/method.md §3).

Candidates per model: the output of the last module of each spatial stage (the last module, in
forward order, producing each distinct 4-D output shape; for token models, the blocks),
restricted to the deepest ``k`` stages.
"""

from __future__ import annotations

import logging
from pathlib import Path

from torch import nn

from birdkit.config import LayerPair, MethodConfig, TrainConfig
from birdkit.data import TensorData
from birdkit.errors import BirdkitError
from birdkit.evaluation.robustness import CorruptedTestSet
from birdkit.features import list_layers
from birdkit.selection._score import score_row, train_and_score

__all__ = ["VALIDATION_CORRUPTION_SEED", "candidate_layers", "search_layers"]

#: corruption seed of the validation images scored by selection (fixed, so every candidate is
#: scored on the same corrupted images; unrelated to any test-set seed)
VALIDATION_CORRUPTION_SEED = 777

log = logging.getLogger(__name__)


def candidate_layers(model: nn.Module, k: int = 3) -> list[str]:
    """The deepest ``k`` stage ends of ``model`` in the order the network computes them (deepest
    last); the model's ``default_layer`` is always among them.

    From one probing forward pass (:func:`~birdkit.features.list_layers`), among modules at most
    two names deep: modules that return the same tensor (a container and its last child) count
    once, under the default layer's name if it is one of them, else a name at the default's
    nesting level, else the deepest; a stage end
    is the last module to finish with each distinct 4-D output shape; for token models (3-D
    outputs) every block of a block stack (``blocks.3``) is one."""
    if k < 1:
        raise BirdkitError(f"candidate_layers: k must be >= 1, got {k}")
    default = getattr(model, "default_layer", None)
    infos = sorted((i for i in list_layers(model) if i.finished is not None and i.depth <= 2
                    and len(i.output_shape or ()) in (3, 4)), key=lambda i: i.finished)
    level = default.count(".") + 1 if default else 2

    def preference(name: str) -> tuple:  # the default's name, else one at its nesting level, else the deepest
        depth = name.count(".") + 1
        return (name == default, depth == level, depth)

    named: dict[int, str] = {}  # output tensor -> the name it goes by
    for info in infos:
        held = named.get(info.output_key)
        if held is None or preference(info.name) > preference(held):
            named[info.output_key] = info.name
    by_name = {i.name: i for i in infos}
    kept: dict[tuple, str] = {}  # 4-D: output shape -> its last module; 3-D: each block
    for name in sorted(set(named.values()), key=lambda n: by_name[n].finished):
        info = by_name[name]
        is_block = len(info.output_shape) == 3 and name.rsplit(".", 1)[-1].isdigit()
        if len(info.output_shape) == 4 or is_block:
            kept.pop(info.output_shape if len(info.output_shape) == 4 else (name,), None)
            kept[info.output_shape if len(info.output_shape) == 4 else (name,)] = name
    names = sorted(kept.values(), key=lambda n: by_name[n].finished)
    chosen = names[-k:]
    if default and default not in chosen:  # the default replaces the shallowest candidate
        chosen = sorted([default] + (chosen[1:] if len(chosen) >= k else chosen),
                        key=lambda n: by_name[n].finished if n in by_name else -1)
    return chosen


def search_layers(
    mcfg: MethodConfig,
    *,
    teacher: nn.Module,
    student: nn.Module,
    train: TensorData,
    val: TensorData,
    cfg: TrainConfig,
    run_dir: str | Path,
    k: int = 2,
    epochs: int | None = None,
    val_samples: int = 1000,
    severities=(1, 3, 5),
    seed: int = VALIDATION_CORRUPTION_SEED,
    seeds: int = 1,
    rule: str = "mean",
    progress=None,
) -> tuple[LayerPair, list[dict]]:
    """Try each (teacher, student) candidate pair for a short run; return the best pair and a
    table of ``{teacher, student, val_clean, val_robust_train, score}`` rows (plus ``seeds`` and
    ``val_robust_train_std`` with several seeds, :func:`score_row`). With ``seeds > 1`` each pair
    is trained with that many training seeds and scored by ``rule`` (mean, or mean less one
    standard error). ``seed`` is the corruption seed
    of the validation set."""
    pairs = [(t, s) for t in candidate_layers(teacher, k) for s in candidate_layers(student, k)]
    short = cfg.model_copy(update={"epochs": epochs or max(1, cfg.epochs // 3), "tensorboard": False})
    vs = CorruptedTestSet(val.images[:val_samples], val.targets[:val_samples], seed=seed, cache=True)
    rows = []
    for t_name, s_name in pairs:
        pair = LayerPair(teacher=t_name, student=s_name)
        pcfg = mcfg.model_copy(update={"layers": [pair]})
        if progress:
            progress({"event": "stage", "name": f"layers {t_name}->{s_name}"})
        scores = train_and_score(pcfg, teacher=teacher, student=student, train=train, val_set=vs,
                                 normalize=val.normalize, cfg=short, run_dir=Path(run_dir) / f"{t_name}__{s_name}",
                                 seeds=seeds, severities=severities, progress=progress)
        row = score_row({"teacher": t_name, "student": s_name}, scores, rule)
        rows.append(row)
        log.info("layer pair %s -> %s: val robust (training corruptions) %.4f", t_name, s_name,
                 row["val_robust_train"])
    best = max(rows, key=lambda r: r["score"])
    return LayerPair(teacher=best["teacher"], student=best["student"]), rows

