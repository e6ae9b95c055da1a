"""BIRD: Behavior Induction via Representation-structure Distillation
(Pogoncheff & Beyeler, arXiv 2505.23933, ICLR 2026).

The student is fine-tuned on its own data while the representation *structure* of a guided
student layer is aligned with that of a guiding layer of a frozen teacher, both read on the
same student batch B (convolutional maps global-average-pooled to vectors):

    L = (1 - a) * CE(f(B), y) + a * sum_k w_k * (1 - CKA(u_k(B), v_k(B))),     a = 0.9,

or, in the paper's notation, L = alpha * L_task + beta * L_rep when ``beta`` is given.

CKA is linear by default (RBF and debiased variants are options); the teacher runs in eval
mode under no_grad; only the student is updated.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from birdkit.config import LayerPair, MethodConfig
from birdkit.losses import CKALoss
from birdkit.methods._factory import register_method
from birdkit.methods._pairs import LayerPairMethod


@register_method
class BirdMethod(LayerPairMethod):
    name = "bird"
    summary = "BIRD: task loss + (1 - CKA) between a frozen teacher layer and a student layer"

    def __init__(self, student: nn.Module, teacher: nn.Module, *, alpha: float = 0.9,
                 layers: list[LayerPair] | None = None, kernel: str = "linear", debiased: bool = False,
                 beta: float | None = None):
        super().__init__(student, teacher, alpha=alpha, layers=layers)
        self.task_weight, self.rep_weight = (1 - alpha, alpha) if beta is None else (alpha, beta)
        self.rep_loss = CKALoss(kernel=kernel, debiased=debiased)

    @classmethod
    def from_config(cls, cfg: MethodConfig, *, student, teacher, num_classes: int) -> BirdMethod:
        return cls(student, teacher, alpha=cfg.alpha, layers=cfg.layers, kernel=cfg.kernel, debiased=cfg.debiased,
                   beta=cfg.beta)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        out, t_feats, s_feats = self.paired_forward(x)
        ce = F.cross_entropy(out, y)
        rep = sum(p.weight * self.rep_loss(t, s) for p, t, s in zip(self.pairs, t_feats, s_feats))
        loss = self.task_weight * ce + self.rep_weight * rep
        return {"loss": loss, "output": out, "ce": ce.detach(), "cka_loss": rep.detach()}
