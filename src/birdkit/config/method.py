"""Config of a transfer method (docs/methods.md): its name and every method's own parameters."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, SerializerFunctionWrapHandler, model_serializer

from birdkit.config.base import StrictModel

__all__ = ["LayerPair", "MethodConfig", "METHOD_OVERRIDE_KEYS"]


class LayerPair(StrictModel):
    """One guiding (teacher) / guided (student) layer pair of BIRD or Hints, with a weight."""

    teacher: str
    student: str
    weight: float = Field(1.0, gt=0)


class MethodConfig(StrictModel):
    """Which transfer method and its own parameters (see ``birdkit.methods``)."""

    name: str = "bird"
    alpha: float = Field(0.9, ge=0, le=1, description="weight of the representation term; task gets 1-alpha")
    beta: float | None = Field(None, ge=0, description="paper form: if set, L = alpha * task + beta * rep "
                                                       "(alpha then weighs the task term)")
    kernel: Literal["linear", "rbf"] = "linear"
    debiased: bool = False
    queue_size: int = Field(0, ge=0, description="BIRD: CKA on the batch plus the detached features of this many "
                                                 "most recent training samples (a FIFO queue per layer pair; "
                                                 "0: the batch alone, as in the paper)")
    layers: list[LayerPair] | None = Field(None, description="None: the models' default layers")
    temperature: float = Field(2.0, gt=0, description="LwF distillation temperature")
    lwf_weight: float = Field(1.0, ge=0, description="LwF: weight of the old-task distillation term")
    lp_epochs_fraction: float = Field(0.5, gt=0, lt=1, description="LP-FT: share of epochs spent probing")
    ft_lr_scale: float = Field(0.1, gt=0, description="LP-FT: learning-rate factor of the fine-tune stage")

    @model_serializer(mode="wrap")
    def _omit_new_defaults(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Dumps leave out the fields of :data:`_OMITTED_AT_DEFAULT` while they hold their
        default, so a config dumped before they existed still compares equal (a run's
        ``run.json`` records its method config; the trainer refuses a run directory whose
        record differs)."""
        data = handler(self)
        for key in _OMITTED_AT_DEFAULT:
            if key in data and getattr(self, key) == type(self).model_fields[key].default:
                del data[key]
        return data


#: fields added after run records existed: omitted from dumps at their default
_OMITTED_AT_DEFAULT: tuple[str, ...] = ("queue_size",)


#: keys a per-method override may set: every MethodConfig field but the name, and the learning rate
METHOD_OVERRIDE_KEYS: frozenset[str] = frozenset(set(MethodConfig.model_fields) - {"name"} | {"lr"})
