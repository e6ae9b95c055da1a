r"""Data-parallel training under ``torchrun`` (docs/distributed.md).

``torchrun --nproc-per-node N -m birdkit transfer ...`` starts ``N`` processes; each calls
:func:`init_from_env` (gloo on CPU, nccl on CUDA, one GPU per local rank) and the one trainer
loop then (:class:`~birdkit.training.Trainer`):

* draws the same global order of the training set in every process and gives process ``r``
  rows ``[r b, (r+1) b)`` of each global batch of ``N b`` (``b`` = ``TrainConfig.batch_size``);
* wraps the method (the student and any head it trains; the frozen teacher lives outside the
  module tree and runs under ``no_grad``) in ``DistributedDataParallel``, which averages the
  gradients over processes;
* computes BIRD's CKA on the global batch (:func:`birdkit.functional.distributed.gather_rows`)
  and, with ``distributed_bn: global``, batch-norm statistics of the global batch
  (:class:`GlobalBatchNorm`, which runs on gloo too, unlike ``torch.nn.SyncBatchNorm``), so
  ``N`` processes with ``b`` images each compute the loss and gradients of one process with
  ``N b`` (tested to 1e-5);
* writes checkpoints, logs and metrics from rank 0 only, with every rank resuming from them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import torch
import torch.distributed as dist
from torch import nn

from birdkit.errors import ConfigError
from birdkit.functional.distributed import all_reduce_sum, is_distributed, rank, world_size

__all__ = ["GlobalBatchNorm", "barrier", "convert_global_batchnorm", "init_from_env", "is_main", "reduce_sum"]

log = logging.getLogger(__name__)


def init_from_env(device: str = "cpu") -> bool:
    """Join the process group that ``torchrun`` describes in the environment (``WORLD_SIZE`` > 1);
    returns whether this is a data-parallel run. CUDA devices get one GPU per ``LOCAL_RANK``."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    if is_distributed():
        return True
    cuda = device.startswith("cuda")
    if cuda and not torch.cuda.is_available():
        raise ConfigError(f"train.device: {device!r} under torchrun, but CUDA is not available")
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group("nccl" if cuda else "gloo")
    log.info("data-parallel: rank %d of %d (%s)", rank(), world_size(), dist.get_backend())
    return True


def is_main() -> bool:
    """Rank 0 (or not distributed): the process that writes files and prints."""
    return rank() == 0


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def reduce_sum(values: Sequence[float], device: torch.device | str = "cpu") -> list[float]:
    """Element-wise sum of ``values`` over processes (itself when not distributed)."""
    if not is_distributed():
        return list(values)
    t = torch.tensor(list(values), dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


class GlobalBatchNorm(nn.BatchNorm2d):
    """Batch norm whose training statistics are those of the global batch of a data-parallel run.

    Per channel, the sum and the count, then the sum of squared deviations from the global mean
    are all-reduced (differentiably) over processes; mean and biased variance normalise, the
    unbiased variance updates the running statistics, as ``nn.BatchNorm`` does for one process
    holding the whole batch. Any input rank (1-D, 2-D, 3-D batch norm); with one process, or in
    eval mode, it is the parent's forward.
    Same parameters, buffers and state-dict keys as the module it replaces."""

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected at least 2-D input, got {x.dim()}-D")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and is_distributed()):
            return super().forward(x)
        c = x.shape[1]
        dims = [0, *range(2, x.dim())]
        shape = [1, c] + [1] * (x.dim() - 2)
        count = torch.tensor([x.numel() / c], dtype=x.dtype, device=x.device)
        first = all_reduce_sum(torch.cat([x.sum(dims), count]))
        n = first[-1]
        mean = first[:c] / n
        d = x - mean.view(shape)
        var = all_reduce_sum((d * d).sum(dims)) / n  # two passes: no E[x^2] - E[x]^2 cancellation
        if self.track_running_stats and self.running_mean is not None:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - m).add_(m * mean.detach())
                self.running_var.mul_(1 - m).add_(m * var.detach() * n.detach() / (n.detach() - 1))
        y = d * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y


def convert_global_batchnorm(module: nn.Module) -> nn.Module:
    """Swap every batch-norm layer of ``module`` (in place) for a :class:`GlobalBatchNorm`
    holding the same parameters and buffers; returns ``module``."""
    for name, child in list(module.named_children()):
        if isinstance(child, nn.modules.batchnorm._BatchNorm) and not isinstance(child, GlobalBatchNorm):
            new = GlobalBatchNorm.__new__(GlobalBatchNorm)
            new.__dict__.update(child.__dict__)  # the same Parameters, buffers, hooks and settings
            setattr(module, name, new)
        else:
            convert_global_batchnorm(child)
    return module
