"""BIRD: Behavior Induction via Representation-structure Distillation
(Pogoncheff & Beyeler, arXiv 2505.23933, ICLR 2026).

The student is fine-tuned on its own data while the representation *structure* of a guided
student layer is aligned with that of a guiding layer of a frozen teacher, both read on the
same student batch B (convolutional maps global-average-pooled to vectors):

    L = (1 - a) * CE(f(B), y) + a * sum_k w_k * (1 - CKA(u_k(B), v_k(B))),     a = 0.9,

or, in the paper's notation, L = alpha * L_task + beta * L_rep when ``beta`` is given.

CKA is linear by default (RBF and debiased variants are options); the teacher runs in eval
mode under no_grad; only the student is updated.

With ``queue_size > 0`` (birdkit's option, not the paper's; docs/method.md §6, "feature
queue") each pair keeps a :class:`~birdkit.losses.FeatureQueue` of the detached pooled
features of the ``queue_size`` most recent training samples, and its term becomes

    1 - CKA([u_k(B); Q_u,k], [v_k(B); Q_v,k]),

CKA on ``batch_size + len(queue)`` samples, which lowers the variance (and, for the biased
estimator, the small-``n`` inflation) of the estimate, while gradients flow only through the
current batch's student rows ``v_k(B)``. The batch is pushed after its term is computed, first
in first out, in training mode only: an evaluation pass reads the queue but leaves it as it
is (as batch norm uses, but does not update, its running statistics in eval mode). The queues
are buffers of the method, so they are saved in training state and restored on resume; a new
method starts with empty queues. ``queue_size: 0`` (the default) is the paper's per-batch term,
bit for bit.

Under ``torchrun`` (docs/distributed.md) the term is computed on the *global* batch: each
process's pooled features are gathered from every process (the student's with gradients), so
``N`` processes with ``b`` images each give the loss and gradients of one process with ``N b``;
``global_cka = False`` (``TrainConfig.distributed_cka: local``) keeps a per-process CKA.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from birdkit.config import LayerPair, MethodConfig
from birdkit.functional.distributed import gather_rows
from birdkit.losses import CKALoss, FeatureQueue
from birdkit.methods._factory import register_method
from birdkit.methods._pairs import LayerPairMethod, feature_dims


@register_method
class BirdMethod(LayerPairMethod):
    name = "bird"
    summary = "BIRD: task loss + (1 - CKA) between a frozen teacher layer and a student layer"

    def __init__(self, student: nn.Module, teacher: nn.Module, *, alpha: float = 0.9,
                 layers: list[LayerPair] | None = None, kernel: str = "linear", debiased: bool = False,
                 beta: float | None = None, queue_size: int = 0, example_input: torch.Tensor | None = None):
        super().__init__(student, teacher, alpha=alpha, layers=layers)
        self.task_weight, self.rep_weight = (1 - alpha, alpha) if beta is None else (alpha, beta)
        self.rep_loss = CKALoss(kernel=kernel, debiased=debiased)
        self.queue_size = queue_size
        self.global_cka = True  # under torchrun: CKA of the global batch (set by the trainer)
        # one queue per pair, sized from the pooled feature widths (one no-grad forward of
        # ``example_input``, as Hints does); none at all without a queue, so the state dict
        # and the loss are exactly those of the paper's BIRD
        self.queues = nn.ModuleList()
        if queue_size:
            t_dims, s_dims = feature_dims(teacher, student, self.pairs, example_input)
            self.queues.extend(FeatureQueue(queue_size, t, s) for t, s in zip(t_dims, s_dims))

    @classmethod
    def from_config(cls, cfg: MethodConfig, *, student, teacher, num_classes: int) -> BirdMethod:
        return cls(student, teacher, alpha=cfg.alpha, layers=cfg.layers, kernel=cfg.kernel, debiased=cfg.debiased,
                   beta=cfg.beta, queue_size=cfg.queue_size)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        out, t_feats, s_feats = self.paired_forward(x)
        ce = F.cross_entropy(out, y)
        rep = sum(p.weight * self.pair_term(k, t, s) for k, (p, t, s) in enumerate(zip(self.pairs, t_feats, s_feats)))
        loss = self.task_weight * ce + self.rep_weight * rep
        return {"loss": loss, "output": out, "ce": ce.detach(), "cka_loss": rep.detach()}

    def pair_term(self, k: int, t: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """``1 - CKA`` of pair ``k``: on the batch alone without a queue, else on the batch
        followed by the queued rows; in training mode the batch is then pushed. In a
        data-parallel run the batch is the global one (every process's rows, in rank order)."""
        if self.global_cka and self.training:
            t, s = gather_rows(t, grad=False), gather_rows(s, grad=True)
        if not self.queues:
            return self.rep_loss(t, s)
        queue = self.queues[k]
        term = self.rep_loss(*queue.extend(t, s))
        if self.training:
            queue.push(t, s)
        return term

    def reset_queues(self) -> None:
        """Empty every pair's feature queue (a no-op without one)."""
        for queue in self.queues:
            queue.reset()
