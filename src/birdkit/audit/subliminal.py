r"""The subliminal-learning check (Cloud et al. 2025, "Subliminal learning", arXiv 2507.14805),
vectorised over seeds: a hidden channel the audit must be able to see (docs/audit.md §4).

An MLP ``784 - 256 - 256 - (10 + m)`` is trained on digits through its 10 class logits only
(cross-entropy); its ``m`` auxiliary logits are never trained. A student is then trained only
to match the teacher's auxiliary logits on images of uniform noise in [-1, 1]:

    L_student = KL( softmax(t_aux(z)) || softmax(s_aux(z)) ),   z ~ U[-1, 1]^784,

never seeing a digit or a class logit. Cloud et al. find that a student starting from the
teacher's *own* initial weights learns to classify digits far above chance this way, while one
from a different initialisation stays at chance: the trait travels through data unrelated to it
when teacher and student share an initialisation. Their public code trains many models at once
and takes the other initialisation from another model of the batch (a permutation); so does
this module: ``S`` models live in one tensor per layer (:class:`BatchedMLP`), model ``k``'s
other-init student starts from model ``(k + 1) mod S``'s initial weights, and the same-init and
other-init students of a seed see the same noise batches (a paired comparison).

Every model of the batch has its own parameters, data order and loss term; the loss is the
sum of the models' losses and Adam acts elementwise, so training ``S`` models side by side gives
each the updates it would get alone (a test checks this against a single model).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from birdkit.config.audit import SubliminalConfig
from birdkit.data import TensorData

__all__ = ["BatchedMLP", "SubliminalModels", "correct", "digit_inputs", "distill_aux", "train_digits",
           "train_subliminal"]

NUM_CLASSES = 10
#: seed offsets of the data order and the noise, added to a model's seed
ORDER_OFFSET, NOISE_OFFSET = 10_007, 20_011


class BatchedMLP(nn.Module):
    """``S`` independent MLPs with ReLU between layers, stored as ``(S, d_in, d_out)`` weights.

    Each model is initialised like ``nn.Linear`` (weights and biases uniform in
    ``[-1/sqrt(d_in), 1/sqrt(d_in)]``) from its own seed, so model ``k`` of a batch equals the
    model a lone ``BatchedMLP(sizes, [seeds[k]])`` would build."""

    def __init__(self, sizes: Sequence[int], seeds: Sequence[int]):
        super().__init__()
        self.sizes = list(sizes)
        weights, biases = [], []
        for d_in, d_out in zip(self.sizes, self.sizes[1:]):
            bound = 1 / math.sqrt(d_in)
            w, b = [], []
            for s in seeds:
                g = torch.Generator().manual_seed(int(s) * 1_000 + len(weights))
                w.append(torch.empty(d_in, d_out).uniform_(-bound, bound, generator=g))
                b.append(torch.empty(1, d_out).uniform_(-bound, bound, generator=g))
            weights.append(nn.Parameter(torch.stack(w)))
            biases.append(nn.Parameter(torch.stack(b)))
        self.weights, self.biases = nn.ParameterList(weights), nn.ParameterList(biases)

    @property
    def models(self) -> int:
        return int(self.weights[0].shape[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (S, B, d_in) -> logits (S, B, d_out): model ``k`` reads ``x[k]``."""
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = torch.baddbmm(b, x, w)
            if i < last:
                x = F.relu(x)
        return x

    def take(self, order: Sequence[int]) -> BatchedMLP:
        """A copy whose model ``k`` is this batch's model ``order[k]``."""
        out = BatchedMLP.__new__(BatchedMLP)
        nn.Module.__init__(out)
        out.sizes = list(self.sizes)
        idx = torch.as_tensor(list(order))
        out.weights = nn.ParameterList(nn.Parameter(w.detach()[idx].clone()) for w in self.weights)
        out.biases = nn.ParameterList(nn.Parameter(b.detach()[idx].clone()) for b in self.biases)
        return out


def digit_inputs(data: TensorData) -> torch.Tensor:
    """uint8 digits -> flat float inputs in [-1, 1] (Cloud et al.'s normalisation, mean 0.5, std 0.5)."""
    return data.images.flatten(1).float().div(255).mul(2).sub(1)


def _batches(n: int, batch: int, steps: int, seeds: Sequence[int]) -> torch.Tensor:
    """(steps, S, batch) indices: each model's own shuffled passes over ``n`` items."""
    out = torch.empty(steps, len(seeds), batch, dtype=torch.long)
    for k, s in enumerate(seeds):
        g = torch.Generator().manual_seed(int(s) + ORDER_OFFSET)
        stream = torch.cat([torch.randperm(n, generator=g) for _ in range(math.ceil(steps * batch / n) + 1)])
        out[:, k] = stream[:steps * batch].view(steps, batch)
    return out


def train_digits(model: BatchedMLP, x: torch.Tensor, y: torch.Tensor, *, steps: int, batch_size: int, lr: float,
                 seeds: Sequence[int]) -> BatchedMLP:
    """Train every model on digits ``x`` (N, 784), labels ``y``, through the first 10 logits only
    (cross-entropy; the auxiliary logits get no gradient), Adam, ``steps`` steps."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    batches = _batches(len(x), min(batch_size, len(x)), steps, seeds)
    for idx in batches:
        logits = model(x[idx])[..., :NUM_CLASSES]  # (S, B, 10)
        loss = F.cross_entropy(logits.flatten(0, 1), y[idx].flatten(), reduction="none").view(idx.shape).mean(1).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return model


def distill_aux(student: BatchedMLP, teacher: BatchedMLP, *, steps: int, batch_size: int, lr: float, noise_seed: int,
                teacher_index: Sequence[int] | None = None) -> BatchedMLP:
    """Train every student to match its teacher's auxiliary logits (all but the first 10) on
    fresh uniform noise in [-1, 1] each step, by the KL divergence of their softmaxes.

    Student ``k`` learns from teacher ``teacher_index[k]`` (default ``k``) and sees the noise
    batch of that teacher, so students of one teacher see the same noise."""
    idx = list(range(student.models)) if teacher_index is None else list(teacher_index)
    opt = torch.optim.Adam(student.parameters(), lr=lr)
    g = torch.Generator().manual_seed(noise_seed + NOISE_OFFSET)
    d = student.sizes[0]
    for _ in range(steps):
        z = torch.rand(teacher.models, batch_size, d, generator=g).mul_(2).sub_(1)
        with torch.no_grad():
            target = F.log_softmax(teacher(z)[..., NUM_CLASSES:], -1)[idx]
        out = F.log_softmax(student(z[idx])[..., NUM_CLASSES:], -1)
        loss = F.kl_div(out, target, log_target=True, reduction="none").sum(-1).mean(1).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return student


@dataclass
class SubliminalModels:
    """The trained batch: teachers, same-init and other-init students, and the initial weights."""

    init: BatchedMLP
    teacher: BatchedMLP
    same_init: BatchedMLP
    other_init: BatchedMLP
    seeds: list[int]


def train_subliminal(cfg: SubliminalConfig, train: TensorData) -> SubliminalModels:
    """Cloud et al.'s MNIST experiment for ``cfg.seeds`` seeds at once (module docstring)."""
    seeds = [cfg.seed + k for k in range(cfg.seeds)]
    sizes = [train.images[0].numel(), *cfg.hidden, NUM_CLASSES + cfg.aux]
    initial = BatchedMLP(sizes, seeds)
    teacher = train_digits(initial.take(range(len(seeds))), digit_inputs(train), train.targets,
                           steps=cfg.teacher_steps, batch_size=cfg.batch_size, lr=cfg.lr, seeds=seeds)
    other = [(k + 1) % len(seeds) for k in range(len(seeds))]
    students = initial.take([*range(len(seeds)), *other])  # same-init block, then the permuted block
    distill_aux(students, teacher, steps=cfg.student_steps, batch_size=cfg.batch_size, lr=cfg.lr,
                noise_seed=cfg.seed, teacher_index=[*range(len(seeds)), *range(len(seeds))])
    s = len(seeds)
    return SubliminalModels(initial, teacher, students.take(range(s)), students.take(range(s, 2 * s)), seeds)


@torch.no_grad()
def correct(model: BatchedMLP, test: TensorData) -> torch.Tensor:
    """(S, N) bool: which test digits each model classifies right (first 10 logits)."""
    x = digit_inputs(test)
    logits = model(x.expand(model.models, -1, -1))[..., :NUM_CLASSES]
    return logits.argmax(-1) == test.targets
