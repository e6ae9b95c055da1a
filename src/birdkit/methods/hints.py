"""Hints (FitNets; Romero et al. 2015, arXiv 1412.6550) at the same layer pairs as BIRD.

A learned linear map W regresses the student's pooled features onto the teacher's, with an
L2 loss, trained jointly with the task (FitNets' first, hint-only stage is folded into the
joint objective so the budget equals BIRD's):

    L = (1 - a) CE(f(x), y) + a * sum_k w_k * mean ||W_k v_k(x) - u_k(x)||^2.

Comparing with BIRD at identical layers isolates *how* the student is supervised
(activations vs representation structure; BIRD paper §4).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from birdkit.config import LayerPair, MethodConfig
from birdkit.methods._factory import register_method
from birdkit.methods._pairs import LayerPairMethod, feature_dims


@register_method
class HintsMethod(LayerPairMethod):
    name = "hints"
    summary = "FitNets hints: L2 between teacher features and a linear map of the student's, at BIRD's layers"

    def __init__(self, student: nn.Module, teacher: nn.Module, *, alpha: float = 0.9,
                 layers: list[LayerPair] | None = None, example_input: torch.Tensor | None = None):
        super().__init__(student, teacher, alpha=alpha, layers=layers)
        t_dims, s_dims = feature_dims(teacher, student, self.pairs, example_input)
        self.regressors = nn.ModuleList(nn.Linear(s, t) for s, t in zip(s_dims, t_dims))

    @classmethod
    def from_config(cls, cfg: MethodConfig, *, student, teacher, num_classes: int) -> HintsMethod:
        return cls(student, teacher, alpha=cfg.alpha, layers=cfg.layers)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        out, t_feats, s_feats = self.paired_forward(x)
        ce = F.cross_entropy(out, y)
        hint = sum(p.weight * F.mse_loss(r(s), t) for p, r, s, t in zip(self.pairs, self.regressors, s_feats, t_feats))
        loss = (1 - self.alpha) * ce + self.alpha * hint
        return {"loss": loss, "output": out, "ce": ce.detach(), "hint": hint.detach()}

