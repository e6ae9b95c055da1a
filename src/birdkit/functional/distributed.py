r"""Collectives for losses on the global batch of a data-parallel run (docs/distributed.md).

Under ``torchrun`` each of ``N`` processes holds ``b`` rows of a global batch of ``N b``. CKA is
not a mean over samples, so the CKA of each process's rows is not the CKA of the global batch;
:func:`gather_rows` concatenates every process's rows in rank order; when gradients must flow
back, its backward sums,
on each process, the gradients that every process's (identical) loss sends to that process's
rows, i.e. ``N`` times the gradient of the global loss; DDP's mean over processes turns that
back into exactly the one-process gradient of the global batch. :func:`all_reduce_sum` is the
differentiable sum over processes (its backward sums the gradients too), which global batch-norm
statistics use. Both are small autograd functions on the public ``torch.distributed``
collectives, so they run on gloo (CPU) as on nccl.

Without an initialised process group (or with one process) every function is the identity.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor

__all__ = ["all_reduce_sum", "gather_rows", "is_distributed", "rank", "world_size"]


def is_distributed() -> bool:
    """A process group with more than one process is initialised."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


class _AllReduceSum(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:  # noqa: ANN001
        out = x.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # noqa: ANN001
        out = grad.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(out)
        return out


class _GatherRows(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:  # noqa: ANN001
        ctx.rows, ctx.rank = x.shape[0], dist.get_rank()
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        return torch.cat(parts, dim=0)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # noqa: ANN001
        total = grad.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(total)  # every process's gradient of its loss w.r.t. every row
        return total[ctx.rank * ctx.rows:(ctx.rank + 1) * ctx.rows]


def all_reduce_sum(x: Tensor) -> Tensor:
    """``x`` summed over processes, differentiably (the identity when not distributed)."""
    return _AllReduceSum.apply(x) if is_distributed() else x


def gather_rows(x: Tensor, *, grad: bool) -> Tensor:
    """``x`` of every process concatenated along dim 0 in rank order (every process must pass
    the same shape). ``grad``: differentiable (the gradient of this process's rows comes back
    summed over processes); else the gathered rows are detached."""
    if not is_distributed():
        return x
    if grad:
        return _GatherRows.apply(x)
    parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, x.detach().contiguous())
    return torch.cat(parts, dim=0)
