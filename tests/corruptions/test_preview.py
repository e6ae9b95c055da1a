"""The corruption preview grid: pixel size, layout, clean column = input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from birdkit.corruptions._base import CORRUPTIONS, FAMILIES, register_corruption
from birdkit.corruptions.preview import CELL_GAP, LEFT, TOP, preview_grid, preview_size
from birdkit.errors import UnknownNameError

DIM = "_fake_dim_preview"


@pytest.fixture(scope="module", autouse=True)
def fake_corruption():
    if DIM not in CORRUPTIONS:
        register_corruption(DIM, params={f: (0.1, 0.2, 0.3, 0.4, 0.5) for f in FAMILIES})(
            lambda x, c, rng: x * (1.0 - c)
        )
    yield
    CORRUPTIONS._items.pop(DIM, None)
    CORRUPTIONS._meta.pop(DIM, None)


@pytest.mark.parametrize("shape", [(3, 1, 28, 28), (2, 3, 32, 32)])
def test_preview_png_size_and_clean_column(tmp_path, shape):
    n, c, h, w = shape
    images = torch.randint(0, 256, shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    out = preview_grid(images, tmp_path / "sub" / "p.png", corruptions=[DIM, DIM], severities=[0, 2, 5])
    png = np.asarray(Image.open(out).convert("RGB"))
    assert (png.shape[1], png.shape[0]) == preview_size(2, 3, n, h, w)
    s = 3 if h == 28 else 2  # images upscaled to >= 64 px
    # the first clean image, top-left cell (upscaled by s, nearest neighbour)
    cell = png[TOP : TOP + h * s : s, LEFT : LEFT + w * s : s].astype(int)
    ref = images[0].permute(1, 2, 0).numpy().astype(int)
    if c == 1:
        ref = np.repeat(ref, 3, axis=-1)
    assert np.abs(cell - ref).max() <= 1
    # severity 5 of the dimming corruption is darker than the clean column
    x5 = LEFT + 2 * (n * w * s + (n - 1) * 2 + CELL_GAP)
    dark = png[TOP : TOP + h * s, x5 : x5 + w * s].mean()
    assert dark < 0.7 * png[TOP : TOP + h * s, LEFT : LEFT + w * s].mean()


def test_preview_unknown_name(tmp_path):
    with pytest.raises(UnknownNameError, match="_fake_dim_preview"):
        preview_grid(torch.zeros(1, 1, 28, 28), tmp_path / "p.png", corruptions=["_fake_dim_preveiw"])
