r"""A feature queue (memory bank) for the CKA term: CKA on more samples than one batch.

BIRD's structure term ``1 - CKA(u(B), v(B))`` (docs/method.md §1) is estimated from the
``n = batch_size`` rows of one batch, and the biased estimator is inflated and noisy at small
``n``. Like MoCo's queue of keys (He et al. 2020, arXiv 1911.05722), a :class:`FeatureQueue`
keeps the detached pooled teacher and student features of the ``size`` most recent samples
(``Q_u``, ``Q_v``, oldest first), and the term is computed on the concatenation

    1 - CKA([u(B); Q_u], [v(B); Q_v]),

so CKA sees ``n + len(queue)`` samples while gradients flow only through the current batch's
student rows ``v(B)`` (the queue holds no graph). After the step the batch is pushed, first in
first out (docs/method.md §6, "feature queue").
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from birdkit.errors import ShapeError

__all__ = ["FeatureQueue", "fifo_push"]


def fifo_push(bank: Tensor, new: Tensor) -> Tensor:
    """``bank`` (``size x p``, oldest row first) with the detached rows of ``new`` appended and
    the oldest dropped, so the result keeps ``bank``'s shape and lives on ``new``'s device:
    the last ``size`` rows of ``[bank; new]`` (only the last ``size`` of ``new`` when it has more)."""
    size = bank.shape[0]
    new = new.detach()
    return torch.cat([bank[min(new.shape[0], size):].to(new.device), new[-size:] if size else new[:0]])


class FeatureQueue(nn.Module):
    """The ``size`` most recent (teacher, student) feature rows of one layer pair.

    The rows are buffers (``teacher``: ``size x p_t``, ``student``: ``size x p_s``, right-aligned:
    the valid rows are the last ``count``), so the queue is part of the owning module's
    ``state_dict``: saved in training state and restored on resume, with fixed shapes. The
    queue itself does not decide when to grow; the owner pushes in training mode only.

    Args:
        size: rows kept (at least 1).
        teacher_dim: width ``p_t`` of the pooled teacher features.
        student_dim: width ``p_s`` of the pooled student features.
    """

    teacher: Tensor
    student: Tensor
    count: Tensor

    def __init__(self, size: int, teacher_dim: int, student_dim: int) -> None:
        super().__init__()
        if size < 1:
            raise ShapeError(f"FeatureQueue size must be at least 1, got {size}")
        self.size = size
        self.register_buffer("teacher", torch.zeros(size, teacher_dim))
        self.register_buffer("student", torch.zeros(size, student_dim))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))

    def __len__(self) -> int:
        return int(self.count)

    def queued(self) -> tuple[Tensor, Tensor]:
        """The valid ``(teacher, student)`` rows, oldest first (``len(self) x p`` each)."""
        n = len(self)
        return self.teacher[self.size - n:], self.student[self.size - n:]

    def extend(self, teacher: Tensor, student: Tensor) -> tuple[Tensor, Tensor]:
        """``([teacher; Q_u], [student; Q_v])``: the current batch first, then the queued rows
        (the inputs themselves while the queue is empty, so the first step is the plain term)."""
        self._check(teacher, student)
        if not len(self):
            return teacher, student
        qt, qs = self.queued()
        return torch.cat([teacher, qt.to(teacher.device)]), torch.cat([student, qs.to(student.device)])

    def push(self, teacher: Tensor, student: Tensor) -> None:
        """Append the batch's detached rows, dropping the oldest beyond ``size``."""
        self._check(teacher, student)
        self.teacher = fifo_push(self.teacher, teacher)
        self.student = fifo_push(self.student, student)
        self.count = torch.clamp(self.count.to(teacher.device) + teacher.shape[0], max=self.size)

    def reset(self) -> None:
        """Empty the queue (the rows are zeroed, ``count`` set to 0)."""
        self.teacher.zero_()
        self.student.zero_()
        self.count.zero_()

    def _check(self, teacher: Tensor, student: Tensor) -> None:
        if teacher.shape[0] != student.shape[0]:
            raise ShapeError(f"FeatureQueue: {teacher.shape[0]} teacher rows but {student.shape[0]} student rows")
        for name, x, bank in (("teacher", teacher, self.teacher), ("student", student, self.student)):
            if x.shape[1:] != bank.shape[1:]:
                raise ShapeError(f"FeatureQueue: {name} features of shape {tuple(x.shape[1:])} per sample, "
                                 f"the queue holds {tuple(bank.shape[1:])}")

    def extra_repr(self) -> str:
        return f"size={self.size}, teacher_dim={self.teacher.shape[1]}, student_dim={self.student.shape[1]}"
