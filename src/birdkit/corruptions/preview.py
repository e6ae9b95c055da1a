"""A PNG contact sheet (matplotlib, Agg) of corruptions: rows = corruptions, columns = severities.

Each cell shows the same few images side by side, corrupted at that row's corruption and that
column's severity (0 = clean). With ``indices`` set to the images' dataset indices and the
same ``seed`` and ``family``, the cells show exactly what :func:`materialize` writes for those
images (before uint8 quantisation).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from birdkit.corruptions import (
    ALL_CORRUPTIONS,
    CORRUPTIONS,
    HELDOUT_CORRUPTIONS,
    MNISTC_CORRUPTIONS,
    corrupt,
    default_family,
)
from birdkit.errors import BirdkitError, ShapeError

__all__ = ["preview_grid", "preview_size"]

#: Layout constants, in output pixels.
IMAGE_GAP = 2  # between the images of one cell
CELL_GAP = 8  # between cells
LEFT = 160  # room for the row labels
TOP = 44  # room for the title and column labels
MARGIN = 8  # right and bottom border
TARGET_SIDE = 64  # default upscaling brings each image to at least this many pixels

#: Rows marked ``*``: ImageNet-C's held-out corruptions and the MNIST-C family (both held out).
_HELD_OUT = frozenset(HELDOUT_CORRUPTIONS + MNISTC_CORRUPTIONS)


def _auto_scale(height: int, width: int) -> int:
    return max(1, math.ceil(TARGET_SIDE / max(height, width)))


def preview_size(
    n_rows: int, n_cols: int, n_images: int, height: int, width: int, scale: int | None = None
) -> tuple[int, int]:
    """``(width, height)`` in pixels of the PNG that :func:`preview_grid` writes."""
    s = scale or _auto_scale(height, width)
    cell_w = n_images * width * s + (n_images - 1) * IMAGE_GAP
    cell_h = height * s
    return (
        LEFT + n_cols * cell_w + (n_cols - 1) * CELL_GAP + MARGIN,
        TOP + n_rows * cell_h + (n_rows - 1) * CELL_GAP + MARGIN,
    )


def _as_float(images: torch.Tensor | np.ndarray) -> torch.Tensor:
    x = torch.as_tensor(images)
    if x.ndim == 3:  # a single image (C, H, W)
        x = x.unsqueeze(0)
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ShapeError(f"Expected images of shape (N, C, H, W) with C in (1, 3), got {tuple(x.shape)}")
    if x.dtype == torch.uint8:
        return x.float().div_(255.0)
    if not x.is_floating_point():
        raise ShapeError(f"Expected uint8 or float images, got {x.dtype}")
    return x.float()


def preview_grid(
    images: torch.Tensor | np.ndarray,
    out_png: str | os.PathLike[str],
    corruptions: Sequence[str] | None = None,
    severities: Sequence[int] = (0, 1, 2, 3, 4, 5),
    seed: int = 0,
    *,
    family: str | None = None,
    indices: Sequence[int] | None = None,
    scale: int | None = None,
    title: str | None = None,
    dpi: int = 100,
) -> Path:
    """Write a grid of corrupted images to a PNG.

    Args:
        images: a few images ``(N, C, H, W)``, uint8 or float in [0, 1] (N = 1-8 reads well).
        out_png: output path (folders are created).
        corruptions: row order (default: the 19 ImageNet-C ones; held-out ones, MNIST-C's
            included, are marked with ``*``).
        severities: columns; 0 is the clean image.
        seed: the corruption seed (as in :func:`birdkit.corruptions.corrupt`).
        family: severity-table family (default from the image size).
        indices: dataset indices of the images (default ``0..N-1``); pass the real ones to
            preview exactly what a materialised set holds for them.
        scale: integer upscaling of each image (nearest neighbour); default brings each image
            to at least 64 px.
        title: text above the grid (default: image count, size, family and seed).
        dpi: PNG resolution; the pixel size is :func:`preview_size` whatever the dpi.

    Returns:
        The PNG path.
    """
    # A bare Figure renders with Agg on savefig: no pyplot, no global backend switch, no GUI.
    from matplotlib.figure import Figure

    x = _as_float(images)
    n, c, h, w = x.shape
    if n < 1:
        raise ShapeError("Expected at least one image to preview")
    names = list(ALL_CORRUPTIONS if corruptions is None else corruptions)
    for name in names:
        CORRUPTIONS.get(name)
    sevs = [int(s) for s in severities]
    if not names or not sevs or any(s not in range(6) for s in sevs):
        raise BirdkitError(f"Expected at least one corruption and severities in 0..5, got {names!r}, {sevs!r}")
    family = family or default_family(h, w, c)
    idx = list(range(n)) if indices is None else [int(i) for i in indices]
    s = scale or _auto_scale(h, w)

    width, height = preview_size(len(names), len(sevs), n, h, w, s)
    canvas = np.ones((height, width, 3), dtype=np.float32)
    cell_w = n * w * s + (n - 1) * IMAGE_GAP
    cell_h = h * s
    for r, name in enumerate(names):
        y0 = TOP + r * (cell_h + CELL_GAP)
        for col, sev in enumerate(sevs):
            out = corrupt(x, name, sev, seed=seed, indices=idx, family=family)
            arr = out.clamp(0, 1).permute(0, 2, 3, 1).numpy()  # (N, H, W, C)
            if c == 1:
                arr = np.repeat(arr, 3, axis=-1)
            arr = arr.repeat(s, axis=1).repeat(s, axis=2)
            x0 = LEFT + col * (cell_w + CELL_GAP)
            for i in range(n):
                xi = x0 + i * (w * s + IMAGE_GAP)
                canvas[y0 : y0 + cell_h, xi : xi + w * s] = arr[i]

    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(canvas, interpolation="nearest", aspect="auto", extent=(0, width, height, 0))
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    ax.axis("off")
    pt = 72.0 / dpi  # points per output pixel
    label_size = max(9.0, min(14.0, 0.22 * cell_h)) * pt  # 9-14 px text
    for r, name in enumerate(names):
        y_mid = TOP + r * (cell_h + CELL_GAP) + cell_h / 2
        held = name in _HELD_OUT
        ax.text(LEFT - 8, y_mid, name + (" *" if held else ""), ha="right", va="center",
                fontsize=label_size, color="#b03000" if held else "black")
    for col, sev in enumerate(sevs):
        x_mid = LEFT + col * (cell_w + CELL_GAP) + cell_w / 2
        ax.text(x_mid, TOP - 6, "clean" if sev == 0 else f"severity {sev}", ha="center", va="bottom",
                fontsize=label_size)
    if title is None:
        title = f"{n} image{'s' if n > 1 else ''} {h}x{w}x{c}, family {family}, seed {seed}"
        if any(nm in _HELD_OUT for nm in names):
            title += "   (* held-out)"
    ax.text(MARGIN, 4, title, ha="left", va="top", fontsize=label_size, color="#404040")

    out_path = Path(out_png)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_path, dpi=dpi, format="png")
    return out_path
