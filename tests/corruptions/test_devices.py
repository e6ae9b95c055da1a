"""Corruptions on any device: every registered corruption keeps its input's device, dtype and
shape, and gives on CUDA the CPU's result (same seed) up to float rounding.

The CUDA half runs only where a GPU exists; the CPU run of the same test checks that a repeated
call is bit-identical. The reference of the CUDA result is the CPU result, which the other
corruption tests check against the reference implementations.
"""

from __future__ import annotations

import pytest
import torch

from birdkit.corruptions import CORRUPTIONS, corrupt, list_corruptions

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])

#: Small images per family; families are passed explicitly, so any size works. 48 px with the
#: imagenet table sends defocus_blur through both of its ways (matrices at s1, FFT at s5).
SHAPES = {"mnist": (1, 28, 28), "cifar": (3, 32, 32), "tinyimagenet": (3, 40, 40), "imagenet": (3, 48, 48)}

#: Corruptions that quantise to 8 bits, threshold, rank or detect edges on computed floats: a
#: 1-ulp difference between devices can move a value across a step, so a few pixels may differ
#: by more than rounding.
STEPPED = {"glass_blur", "snow", "frost", "spatter", "canny_edges"}


def _images(fam: str, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(2, *SHAPES[fam], generator=g)


def _cases(name: str) -> list[str]:
    return list(CORRUPTIONS.meta(name)["params"])


@pytest.fixture
def no_tf32():
    """Full float32 matrix products on CUDA for the comparison (TF32 rounds to 10 bits)."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", list_corruptions())
def test_output_keeps_device_dtype_shape(name, device):
    for fam in _cases(name):
        for sev, dtype in ((1, torch.float32), (3, torch.float16), (5, torch.float64)):
            x = _images(fam).to(device=device, dtype=dtype)
            y = corrupt(x, name, sev, seed=1, family=fam)
            assert (y.device, y.dtype, y.shape) == (x.device, x.dtype, x.shape), (name, fam, sev)
            assert torch.isfinite(y).all() and y.min() >= 0 and y.max() <= 1, (name, fam, sev)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", list_corruptions())
def test_same_result_as_cpu(name, device, no_tf32):
    for fam in _cases(name):
        for sev in (1, 5):
            x = _images(fam, seed=2)
            ref = corrupt(x, name, sev, seed=7, indices=[3, 11], family=fam)
            y = corrupt(x.to(device), name, sev, seed=7, indices=[3, 11], family=fam)
            assert y.device == x.to(device).device
            diff = (y.cpu() - ref).abs()
            if device == "cpu":
                assert torch.equal(y, ref), (name, fam, sev)
            elif name in STEPPED:
                assert (diff > 1e-4).float().mean() <= 0.05 and diff.mean() <= 5e-3, (name, fam, sev)
            else:
                assert diff.max() <= 1e-4, (name, fam, sev, float(diff.max()))
