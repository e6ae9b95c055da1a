"""One process of the data-parallel tests, started by ``torchrun --nproc-per-node 2`` (gloo, CPU).

``python -m torch.distributed.run --standalone --nproc-per-node 2 tests/distributed_worker.py
OUT`` writes, per rank, the loss, the CKA term and the DDP-averaged gradients of one BIRD step on
the rank's half of the global batch (``OUT/step-rank<r>.safetensors``; with per-process CKA:
``local-rank<r>``), then trains 2 epochs with the trainer into ``OUT/run`` (rank 0 writes it).
The test compares them with one process that holds the whole batch
(tests/training/test_distributed.py)."""

import sys
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch.nn.parallel import DistributedDataParallel

from birdkit.config import LayerPair, MethodConfig, OptimConfig, TrainConfig
from birdkit.data import TensorData
from birdkit.functional.distributed import rank, world_size
from birdkit.methods import create_method
from birdkit.models import create_model
from birdkit.training import Trainer
from birdkit.training.distributed import convert_global_batchnorm, init_from_env

PER_PROCESS = 16


def data(n: int = 128) -> TensorData:
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 1, 28, 28), generator=g, dtype=torch.uint8)
    targets = torch.randint(0, 3, (n,), generator=g)
    for c in range(3):
        images[targets == c, :, c * 8:(c + 1) * 8, :] = 255
    return TensorData(images, targets, (0.5,), (0.25,))


def method(name: str = "bird"):
    torch.manual_seed(0)
    teacher = create_model("convnet_xxs", num_classes=4, in_chans=1, img_size=28)
    student = create_model("convnet_xs", num_classes=3, in_chans=1, img_size=28)
    layers = [LayerPair(teacher="stages.3", student="stages.3")]
    return create_method(MethodConfig(name=name, layers=layers), student=student, teacher=teacher)


def train_cfg(batch_size: int) -> TrainConfig:
    return TrainConfig(epochs=2, batch_size=batch_size, optim=OptimConfig(lr=0.05), tensorboard=False)


def step(m, x: torch.Tensor, y: torch.Tensor, runner=None) -> dict[str, torch.Tensor]:
    """One forward and backward; the loss, the CKA term and every gradient."""
    out = (runner or m)(x, y)
    out["loss"].backward()
    grads = {f"grad.{k}": p.grad.detach().clone() for k, p in m.named_parameters() if p.grad is not None}
    return {"loss": out["loss"].detach().reshape(1), "cka_loss": out["cka_loss"].reshape(1), **grads}


def main(out: Path) -> None:
    torch.set_default_dtype(torch.float64)  # the comparison is of the arithmetic, not of float32 rounding
    init_from_env("cpu")
    r, n = rank(), world_size()
    d = data()
    x = d.normalize(d.images[: PER_PROCESS * n].double() / 255)[r * PER_PROCESS:(r + 1) * PER_PROCESS]
    y = d.targets[: PER_PROCESS * n][r * PER_PROCESS:(r + 1) * PER_PROCESS]
    m = convert_global_batchnorm(method())
    m.train()
    save_file(step(m, x, y, DistributedDataParallel(m)), str(out / f"step-rank{r}.safetensors"))
    local = convert_global_batchnorm(method())  # distributed_cka: local, as the trainer sets it
    local.global_cka = False
    local.train()
    save_file(step(local, x, y, DistributedDataParallel(local)), str(out / f"local-rank{r}.safetensors"))
    torch.set_default_dtype(torch.float32)  # the trainer's run: float32, as users train
    Trainer(method(), d, train_cfg(PER_PROCESS), out / "run").fit()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
