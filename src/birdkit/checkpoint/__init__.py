"""Safe checkpoints: safetensors weights plus a JSON sidecar; resumable training state without pickle.

A model checkpoint written by :func:`save_checkpoint` to ``run/model.safetensors`` is two files:

* ``run/model.safetensors``: the model's ``state_dict()`` (wrappers such as ``DataParallel``
  or ``torch.compile`` removed, so keys carry no ``module.``/``_orig_mod.`` prefix);
* ``run/model.json`` (``path.with_suffix(".json")``): format version, the model spec that
  rebuilds the architecture (``birdkit.create_model(**spec)``), config, metrics, extra
  information, birdkit/torch/safetensors versions, creation time (UTC, ISO 8601) and the
  sha256 of the weights file.

Loading never unpickles: weights are read with safetensors only, metadata with ``json``. A
missing, truncated, foreign (pickle, ``torch.save``, random bytes) or inconsistent file
raises :class:`~birdkit.errors.CheckpointError` that says which and why.

Every file is written atomically by :mod:`birdkit.io`, so a crash leaves the previous
checkpoint intact. The weights are written first, the sidecar last; a weights file whose
sidecar still describes the previous version fails the sha256 check instead of loading
silently.

Training state (:func:`save_training_state`) uses the same two-file layout: every tensor
(model weights under ``model/``, optimiser state under ``optim/``, e.g.
``optim/state/3/momentum_buffer``, the torch RNG state under ``rng/``) goes to safetensors;
everything else (optimiser ``param_groups``, scheduler state, Python and NumPy RNG states,
step, epoch, extra) goes to the JSON sidecar.

Modules: ``model.py`` (model checkpoints), ``state.py`` (training state and RNG states),
``_format.py`` (the file pair, sidecar metadata and its checks), ``_safetensors.py`` (the
weights file and foreign-file messages), ``_state_codec.py`` (exact JSON encoding of nested
states), ``_fit.py`` (checking a state dict fits a module). The format is described in
docs/capture_and_checkpoints.md.
"""

from __future__ import annotations

from birdkit.checkpoint._format import FORMAT_VERSION, read_checkpoint_meta, sidecar_path
from birdkit.checkpoint.model import load_checkpoint, save_checkpoint
from birdkit.checkpoint.state import load_training_state, save_training_state

__all__ = [
    "FORMAT_VERSION",
    "load_checkpoint",
    "load_training_state",
    "read_checkpoint_meta",
    "save_checkpoint",
    "save_training_state",
    "sidecar_path",
]
