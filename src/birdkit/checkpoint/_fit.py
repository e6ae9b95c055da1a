"""Loading a state dict into a module only after checking that it fits.

``nn.Module.load_state_dict`` reports shape mismatches one at a time and in its own words;
checking first gives one CheckpointError that names every mismatched, missing and unexpected
key (the first five of each) and says the architecture differs.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from birdkit.errors import CheckpointError

log = logging.getLogger(__name__)


def load_state_dict(model: nn.Module, state: Mapping[str, torch.Tensor], strict: bool, path: Path,
                    what: str = "model") -> None:
    """Load ``state`` (read from ``path``) into ``model``; with ``strict`` the keys must match
    exactly, shapes must match either way."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    mismatched = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs {what} {tuple(own[k].shape)}"
        for k in own
        if k in state and isinstance(own[k], torch.Tensor) and tuple(own[k].shape) != tuple(state[k].shape)
    ]

    def few(items: list[str]) -> str:
        return ", ".join(items[:5]) + (f" (+{len(items) - 5} more)" if len(items) > 5 else "")

    problems = []
    if mismatched:
        problems.append(f"shape mismatch for {few(mismatched)}")
    if strict and missing:
        problems.append(f"missing keys {few(missing)}")
    if strict and unexpected:
        problems.append(f"unexpected keys {few(unexpected)}")
    if problems:
        raise CheckpointError(
            f"{path} does not fit this {what} ({type(model).__name__}): the architecture differs; "
            + "; ".join(problems)
        )
    result = model.load_state_dict(dict(state), strict=strict)
    if not strict and (result.missing_keys or result.unexpected_keys):
        log.warning("loaded %s with strict=False: %d missing, %d unexpected keys",
                    path, len(result.missing_keys), len(result.unexpected_keys))
