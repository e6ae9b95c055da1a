"""Configs of the single-run commands ``birdkit train`` and ``birdkit transfer``.

Everything a flag can say, the YAML given with ``--config`` can say too (flags override it);
the resolved job is saved as ``job.yaml`` in the run directory."""

from __future__ import annotations

from pydantic import Field

from birdkit.config.audit import PlantConfig
from birdkit.config.base import StrictModel
from birdkit.config.data import DataConfig, ModelRef
from birdkit.config.method import MethodConfig
from birdkit.config.training import TrainConfig

__all__ = ["TrainJob", "TransferJob"]


class TrainJob(StrictModel):
    """``birdkit train``: a model trained on a dataset, clean or with corruption augmentation
    (``train.augment``; ``--robust`` sets the default augmentation), optionally with a planted
    behavior (``plant``; ``--plant backdoor``)."""

    model: ModelRef
    data: DataConfig
    train: TrainConfig = Field(default_factory=TrainConfig)
    plant: PlantConfig | None = Field(None, description="a behavior planted in the training data (an audit's "
                                                        "teacher; docs/audit.md)")


class TransferJob(StrictModel):
    """``birdkit transfer``: one method from a teacher checkpoint into a student checkpoint on the
    student's data; ``layer_search`` first picks the layer pair on validation data under the
    *training* corruptions."""

    method: MethodConfig = Field(default_factory=MethodConfig)
    teacher: str | None = Field(None, description="teacher checkpoint (.safetensors)")
    student: str | None = Field(None, description="student checkpoint (.safetensors)")
    data: DataConfig
    train: TrainConfig = Field(default_factory=TrainConfig)
    layer_search: bool = False
