"""Selection on validation data under the *training* corruptions only: transfer hyperparameters
(:mod:`birdkit.selection.hparams`), BIRD's layer pair (:mod:`birdkit.selection.layers`) and its
variants."""

from birdkit.selection._score import RULES, selection_score
from birdkit.selection.hparams import AXES, LRS, VARIANTS, chosen_rows, default_grid, select_hparams
from birdkit.selection.layers import VALIDATION_CORRUPTION_SEED, candidate_layers, search_layers

__all__ = ["AXES", "LRS", "RULES", "VALIDATION_CORRUPTION_SEED", "VARIANTS", "candidate_layers", "chosen_rows",
           "default_grid", "search_layers", "select_hparams", "selection_score"]
