"""Learning without Forgetting (Li & Hoiem 2016, arXiv 1606.09282).

The robust teacher is fine-tuned on the student task with a new head, while its old head is
kept (and trained) and a distillation term holds the old head's outputs on the *new* data
close to those of the original teacher:

    L = CE(new_head(h(x)), y) + lambda_o * CE_T(old_head(h(x)), teacher(x)),
    CE_T(a, b) = -sum softmax(b / T) log softmax(a / T),   T = 2.

Following the paper, the soft cross-entropy is not multiplied by T^2 (Hinton et al. do);
the original teacher's responses are computed on the fly instead of recorded before training
(identical values: the teacher is frozen and in eval mode).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from birdkit.config import MethodConfig
from birdkit.methods._base import TransferMethod, teacher_with_new_head
from birdkit.methods._factory import register_method


def soft_cross_entropy(logits: torch.Tensor, target_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Mean over the batch of -sum_k softmax(t/T)_k log softmax(s/T)_k."""
    target = F.softmax(target_logits / temperature, dim=1)
    return -(target * F.log_softmax(logits / temperature, dim=1)).sum(dim=1).mean()


@register_method
class LwFMethod(TransferMethod):
    name = "lwf"
    summary = "fine-tune the robust teacher while distilling its old head's outputs (T = 2)"
    uses_teacher = True
    starts_from_teacher = True

    def __init__(self, teacher: nn.Module, num_classes: int, temperature: float = 2.0, weight: float = 1.0):
        old_head = copy.deepcopy(teacher.get_classifier())
        super().__init__(teacher_with_new_head(teacher, num_classes), teacher=teacher)
        for p in old_head.parameters():
            p.requires_grad_(True)
        self.old_head = old_head
        self.temperature = temperature
        self.weight = weight

    @classmethod
    def from_config(cls, cfg: MethodConfig, *, student, teacher, num_classes: int) -> LwFMethod:
        return cls(teacher, num_classes, temperature=cfg.temperature, weight=cfg.lwf_weight)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        feats = self.model.forward_head(self.model.forward_features(x), pre_logits=True)
        out = self.model.get_classifier()(feats)
        ce = F.cross_entropy(out, y)
        with torch.no_grad():
            old_target = self.teacher(x)
        kd = soft_cross_entropy(self.old_head(feats), old_target, self.temperature)
        loss = ce + self.weight * kd
        return {"loss": loss, "output": out, "ce": ce.detach(), "lwf": kd.detach()}
