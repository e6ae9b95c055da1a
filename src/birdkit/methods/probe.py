"""Linear probing (LP) and LP-FT on the robust teacher (Kumar et al. 2022, "Fine-Tuning can
Distort Pretrained Features and Underperform Out-of-Distribution").

* ``lp``: the teacher's features are frozen (weights and batch-norm statistics); only a fresh
  linear head is trained on the student task.
* ``lpft``: ``lp`` for a share of the epochs, then every weight is fine-tuned from the probed
  head with a smaller learning rate (``ft_lr_scale``).
"""

from __future__ import annotations

import torch
from torch import nn

from birdkit.config import MethodConfig
from birdkit.methods._base import Stage, TransferMethod, task_output, teacher_with_new_head
from birdkit.methods._factory import register_method


@register_method
class LinearProbeMethod(TransferMethod):
    name = "lp"
    summary = "train a new linear head on the frozen robust teacher's features"
    uses_teacher = True
    starts_from_teacher = True

    def __init__(self, teacher: nn.Module, num_classes: int):
        super().__init__(teacher_with_new_head(teacher, num_classes))
        self._probing = True
        self._apply_freeze()

    @classmethod
    def from_config(cls, cfg: MethodConfig, *, student, teacher, num_classes: int) -> LinearProbeMethod:
        return cls(teacher, num_classes)

    def _apply_freeze(self) -> None:
        head = self.model.get_classifier()
        head_ids = {id(p) for p in head.parameters()}
        for p in self.model.parameters():
            p.requires_grad_(not self._probing or id(p) in head_ids)

    def train(self, mode: bool = True) -> TransferMethod:
        super().train(mode)
        if self._probing and mode:  # frozen backbone keeps its BN statistics
            self.model.eval()
            self.model.get_classifier().train(mode)
        return self

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        if self._probing:
            with torch.no_grad():
                feats = self.model.forward_head(self.model.forward_features(x), pre_logits=True)
            out = self.model.get_classifier()(feats)
        else:
            out = self.model(x)
        return task_output(out, y)


@register_method
class LPFTMethod(LinearProbeMethod):
    name = "lpft"
    summary = "linear probe, then fine-tune everything at a smaller learning rate (Kumar et al. 2022)"

    def __init__(self, teacher: nn.Module, num_classes: int, lp_fraction: float = 0.5, ft_lr_scale: float = 0.1):
        super().__init__(teacher, num_classes)
        self.lp_fraction = lp_fraction
        self.ft_lr_scale = ft_lr_scale

    @classmethod
    def from_config(cls, cfg: MethodConfig, *, student, teacher, num_classes: int) -> LPFTMethod:
        return cls(teacher, num_classes, lp_fraction=cfg.lp_epochs_fraction, ft_lr_scale=cfg.ft_lr_scale)

    def stages(self, epochs: int) -> list[Stage]:
        lp = max(1, round(epochs * self.lp_fraction)) if epochs > 1 else epochs
        return [Stage("lp", lp), Stage("ft", epochs - lp, self.ft_lr_scale)]

    def set_stage(self, name: str) -> None:
        super().set_stage(name)
        self._probing = name == "lp"
        self._apply_freeze()
