"""Configs naming a dataset split and a model architecture."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from birdkit.config.base import StrictModel

__all__ = ["DataConfig", "ModelRef"]


class ModelRef(StrictModel):
    """A registered model by name (``birdkit models``) and extra keyword arguments of ``create_model``."""

    name: str
    kwargs: dict[str, Any] = Field(default_factory=dict)


class DataConfig(StrictModel):
    """A dataset (``birdkit datasets``), the folder it is read from, its class subset and its image format.

    ``channels`` and ``img_size`` ask for images of that many channels and that size: an
    image folder decodes them so; a dataset with a fixed format is converted (gray repeated to
    RGB, RGB to gray by ITU-R 601 luma, bilinear resize). Left unset, the dataset's own format
    is used, or, where a checkpoint is given, the format its model expects."""

    dataset: str
    classes: list[int] | None = None
    root: str | None = None
    channels: Literal[1, 3] | None = None
    img_size: int | None = Field(None, ge=4, le=4096)
    val_fraction: float = Field(0.1, ge=0, lt=1)
    max_test_samples: int | None = Field(None, ge=1)
