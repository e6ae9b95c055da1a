"""In-memory splits: TensorData checks, channel / size conversion against Pillow, load_split options."""

import numpy as np
import pytest
import torch
from PIL import Image

from birdkit.config import DataConfig
from birdkit.data import SUBSET_SEED, TensorData, adapt_images, load_split
from birdkit.errors import ShapeError


def test_tensor_data_checks_shapes():
    with pytest.raises(ShapeError, match="uint8"):
        TensorData(torch.zeros(2, 1, 4, 4), torch.zeros(2, dtype=torch.long), (0.5,), (0.5,))
    with pytest.raises(ShapeError, match="targets"):
        TensorData(torch.zeros(2, 1, 4, 4, dtype=torch.uint8), torch.zeros(3, dtype=torch.long), (0.5,), (0.5,))
    with pytest.raises(ShapeError, match="channel values"):
        TensorData(torch.zeros(2, 3, 4, 4, dtype=torch.uint8), torch.zeros(2, dtype=torch.long), (0.5,), (0.5,))


def test_rgb_to_gray_matches_pillow_and_gray_to_rgb_repeats():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (5, 8, 8, 3), dtype=np.uint8)
    ref = np.stack([np.asarray(Image.fromarray(im, "RGB").convert("L")) for im in rgb])[:, None]
    got = adapt_images(torch.from_numpy(rgb).permute(0, 3, 1, 2).contiguous(), channels=1).numpy()
    assert np.abs(got.astype(int) - ref.astype(int)).max() <= 1  # Pillow rounds its fixed-point luma
    gray = torch.from_numpy(ref)
    three = adapt_images(gray, channels=3)
    assert three.shape == (5, 3, 8, 8) and all(torch.equal(three[:, c:c + 1], gray) for c in range(3))
    assert adapt_images(gray) is gray  # nothing asked, nothing done


def test_resize_is_bilinear():
    x = torch.randint(0, 256, (2, 1, 28, 28), dtype=torch.uint8)
    up = adapt_images(x, size=32)
    ref = torch.nn.functional.interpolate(x.float(), size=(32, 32), mode="bilinear", align_corners=False)
    assert up.shape == (2, 1, 32, 32) and (up.float() - ref).abs().max() <= 0.5 + 1e-4


def test_load_split_subset_and_conversion():
    cfg = DataConfig(dataset="fashion-mnist", classes=[5, 6])
    full = load_split(cfg, "val")
    sub = load_split(cfg, "val", 50)
    keep = torch.randperm(len(full), generator=torch.Generator().manual_seed(SUBSET_SEED))[:50].sort().values
    assert torch.equal(sub.images, full.images[keep]) and sub.mean == full.mean
    rgb = load_split(cfg.model_copy(update={"channels": 3, "img_size": 32}), "val", 50)
    assert rgb.images.shape == (50, 3, 32, 32) and len(rgb.mean) == 3
    test = load_split(cfg.model_copy(update={"channels": 3, "img_size": 32}), "test", 10, norm_from=rgb)
    assert test.mean == rgb.mean and test.images.shape[1:] == (3, 32, 32)
