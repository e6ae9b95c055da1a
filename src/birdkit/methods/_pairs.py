"""Layer pairs shared by BIRD and Hints: resolution of defaults, validation, the paired forward."""

from __future__ import annotations

import torch
from torch import nn

from birdkit.config import LayerPair
from birdkit.features import capture, validate_layers
from birdkit.methods._base import TransferMethod

__all__ = ["LayerPairMethod", "TeacherFeatureCache", "feature_dims", "forward_pairs", "resolve_pairs"]


def resolve_pairs(teacher: nn.Module, student: nn.Module, layers: list[LayerPair] | None) -> list[LayerPair]:
    """The layer pairs to align; None means each model's documented ``default_layer``
    (the last feature block before pooling). Names are validated against ``named_modules``
    (unknown names raise with close matches, listing how to see all layers)."""
    if not layers:
        layers = [LayerPair(teacher=teacher.default_layer, student=student.default_layer)]
    validate_layers(teacher, [p.teacher for p in layers])
    validate_layers(student, [p.student for p in layers])
    return list(layers)


class TeacherFeatureCache:
    """The frozen teacher's pooled features of each training sample, computed once.

    The teacher is frozen (eval mode, no gradients), so when its inputs repeat (a training set
    without random augmentation) its features of sample ``i`` are the same in every epoch: they
    are stored at key ``i`` the first time and read back afterwards, which leaves the student's
    forward and backward as the cost of an epoch (docs/performance.md, "teacher-feature cache").
    A batch is read from the cache only when every one of its keys is stored; storage is one
    ``(size, width)`` tensor per pair on the features' device, allocated at the first store."""

    def __init__(self, size: int):
        self.size = size
        self.feats: list[torch.Tensor] | None = None
        self.stored = torch.zeros(size, dtype=torch.bool)
        self.hits = self.misses = 0

    def lookup(self, keys: torch.Tensor) -> list[torch.Tensor] | None:
        """The cached features of ``keys`` (one tensor per pair), or None unless all are stored."""
        if self.feats is None or not bool(self.stored[keys.cpu()].all()):
            self.misses += 1
            return None
        self.hits += 1
        k = keys.to(self.feats[0].device)
        return [f[k] for f in self.feats]

    def store(self, keys: torch.Tensor, feats: list[torch.Tensor]) -> None:
        if self.feats is None:
            self.feats = [torch.zeros(self.size, f.shape[1], dtype=f.dtype, device=f.device) for f in feats]
        for bank, f in zip(self.feats, feats, strict=True):
            bank[keys.to(bank.device)] = f.detach()
        self.stored[keys.cpu()] = True


def teacher_features(teacher: nn.Module, pairs: list[LayerPair], x: torch.Tensor) -> list[torch.Tensor]:
    """The frozen teacher's pooled features of batch ``x`` at each pair's teacher layer (no_grad)."""
    with torch.no_grad(), capture(teacher, [p.teacher for p in pairs], pool="avg") as tf:
        teacher(x)
        return [tf[p.teacher] for p in pairs]


def forward_pairs(teacher: nn.Module, student: nn.Module, pairs: list[LayerPair], x: torch.Tensor,
                  t_feats: list[torch.Tensor] | None = None):
    """One forward of both networks on the same batch: the frozen teacher under no_grad (unless
    its features ``t_feats`` are given), the student with gradients. Returns (student logits,
    teacher features, student features), the features global-average-pooled, one per pair."""
    if t_feats is None:
        t_feats = teacher_features(teacher, pairs, x)
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
        self.teacher_cache: TeacherFeatureCache | None = None

    def enable_teacher_cache(self, size: int) -> bool:
        self.teacher_cache = TeacherFeatureCache(size)
        return True

    def paired_forward(self, x: torch.Tensor):
        """``(student logits, teacher features, student features)`` of batch ``x`` (see
        :func:`forward_pairs`); in training mode with a cache and batch keys, the teacher's
        features come from :class:`TeacherFeatureCache` once stored."""
        keys, cache = self.batch_keys, self.teacher_cache
        if cache is None or keys is None or not self.training:
            return forward_pairs(self.teacher, self.model, self.pairs, x)
        t_feats = cache.lookup(keys)
        if t_feats is None:
            t_feats = teacher_features(self.teacher, self.pairs, x)
            cache.store(keys, t_feats)
        return forward_pairs(self.teacher, self.model, self.pairs, x, t_feats)
