"""``birdkit select``: a pair's transfer hyperparameters and BIRD's layer pair, chosen on the
student's validation split under the *training* corruptions (docs/method.md §6).

The teacher and the student are the :class:`~birdkit.experiments.runner.PairRunner`'s (shared
with ``birdkit demo`` when both use the same output folder); every candidate trains in the seed
directory's ``hparams/``, ``layers/`` and ``variants/`` folders; the rows are written to ``hparams.csv``
and the chosen overrides (and variant) to ``best.json``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from birdkit.config import PairConfig
from birdkit.experiments.runner import PairRunner, Progress, seed_dir
from birdkit.io import write_csv, write_json
from birdkit.selection import chosen_rows, default_grid, select_hparams

__all__ = ["SelectResult", "run_select"]


@dataclass
class SelectResult:
    best: dict            # overrides per method, YAML-ready
    rows: list[dict]      # every grid point and layer candidate with its validation scores
    chosen: list[bool]    # which rows were chosen
    csv: Path


def run_select(cfg: PairConfig, out_dir: str | Path, *, seed: int = 0, methods: list[str] | None = None,
               layer_search: bool = True, seeds: int = 1, val_samples: int = 1000, rule: str = "mean",
               variants: bool = False, lrs: list[float] | None = None,
               progress: Progress | None = None) -> SelectResult:
    """Select on seed ``seed`` of pair ``cfg`` (unknown ``methods`` are refused before any work);
    ``lrs`` replaces the grid's learning rates."""
    grid = default_grid(methods)
    if lrs:
        grid = {m: {**axes, "lr": list(lrs)} if "lr" in axes else axes for m, axes in grid.items()}
    root = seed_dir(out_dir, cfg.name, seed)
    runner = PairRunner(cfg, root, seed=seed, progress=progress)
    teacher, student = runner.teacher(), runner.student()
    train = runner.split(cfg.student_data, "train", cfg.transfer_train.max_train_samples)
    val = runner.split(cfg.student_data, "val", val_samples, norm_from=train)
    best, rows = select_hparams(cfg, teacher=teacher, student=student, train=train, val=val, run_dir=root,
                                grid=grid, layer_search=layer_search, seeds=seeds, rule=rule,
                                variants=variants, progress=progress)
    write_json(root / "best.json", best)
    return SelectResult(best, rows, chosen_rows(rows, best), write_csv(root / "hparams.csv", rows))
