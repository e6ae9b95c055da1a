"""Layer pairs shared by BIRD and Hints: resolution of defaults, validation, the paired forward."""

from __future__ import annotations

import torch
from torch import nn

from birdkit.config import LayerPair
from birdkit.features import capture, validate_layers
from birdkit.methods._base import TransferMethod

__all__ = ["LayerPairMethod", "feature_dims", "forward_pairs", "resolve_pairs"]


def resolve_pairs(teacher: nn.Module, student: nn.Module, layers: list[LayerPair] | None) -> list[LayerPair]:
    """The layer pairs to align; None means each model's documented ``default_layer``
    (the last feature block before pooling). Names are validated against ``named_modules``
    (unknown names raise with close matches, listing how to see all layers)."""
    if not layers:
        layers = [LayerPair(teacher=teacher.default_layer, student=student.default_layer)]
    validate_layers(teacher, [p.teacher for p in layers])
    validate_layers(student, [p.student for p in layers])
    return list(layers)


def forward_pairs(teacher: nn.Module, student: nn.Module, pairs: list[LayerPair], x: torch.Tensor):
    """One forward of both networks on the same batch: the frozen teacher under no_grad, the
    student with gradients. Returns (student logits, teacher features, student features), the
    features global-average-pooled, one tensor per pair."""
    with torch.no_grad(), capture(teacher, [p.teacher for p in pairs], pool="avg") as tf:
        teacher(x)
        t_feats = [tf[p.teacher] for p in pairs]
    with capture(student, [p.student for p in pairs], pool="avg") as sf:
        out = student(x)
        s_feats = [sf[p.student] for p in pairs]
    return out, t_feats, s_feats


def feature_dims(teacher: nn.Module, student: nn.Module, pairs: list[LayerPair],
                 example_input: torch.Tensor | None = None) -> tuple[list[int], list[int]]:
    """Widths of the pooled teacher and student features of each pair, from one no-grad forward
    of ``example_input`` (default: two zero images of the student's ``birdkit_spec``, on the
    student's device) with the student in eval mode (its BN statistics untouched; its mode
    restored afterwards)."""
    if example_input is None:
        spec = student.birdkit_spec
        device = next(student.parameters()).device
        example_input = torch.zeros(2, spec["in_chans"], spec["img_size"], spec["img_size"], device=device)
    was = student.training
    student.eval()
    with torch.no_grad():
        _, t, s = forward_pairs(teacher, student, pairs, example_input)
    student.train(was)
    return [a.shape[1] for a in t], [b.shape[1] for b in s]


class LayerPairMethod(TransferMethod):
    """Base of the methods that supervise student layers with teacher layers read on the same
    student batch (BIRD, Hints): ``alpha`` weighs the layer term against the task loss, and the
    pairs default to each network's ``default_layer`` (docs/method.md §1)."""

    uses_teacher = True
    has_layers = True
    tunable = ("lr", "alpha")

    def __init__(self, student: nn.Module, teacher: nn.Module, *, alpha: float, layers: list[LayerPair] | None):
        super().__init__(student, teacher=teacher)
        self.alpha = alpha
        self.pairs = resolve_pairs(teacher, student, layers)

    def paired_forward(self, x: torch.Tensor):
        """``(student logits, teacher features, student features)`` of batch ``x`` (see :func:`forward_pairs`)."""
        return forward_pairs(self.teacher, self.model, self.pairs, x)
