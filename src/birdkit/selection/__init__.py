"""Selection on validation data under the *training* corruptions only: transfer hyperparameters
(:mod:`birdkit.selection.hparams`) and BIRD's layer pair (:mod:`birdkit.selection.layers`)."""

from birdkit.selection.hparams import AXES, LRS, chosen_rows, default_grid, select_hparams
from birdkit.selection.layers import VALIDATION_CORRUPTION_SEED, candidate_layers, search_layers

__all__ = ["AXES", "LRS", "VALIDATION_CORRUPTION_SEED", "candidate_layers", "chosen_rows", "default_grid",
           "search_layers", "select_hparams"]
