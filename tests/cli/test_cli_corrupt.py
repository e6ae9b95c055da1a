"""``birdkit corrupt``: builds, reuses, previews, and reports bad names in one line.

Most tests use a fake in-memory dataset and fake corruptions (fast, no disk data); one test
runs the real Fashion-MNIST loader and real corruptions on a small subset when they exist.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import birdkit.corruptions.materialize as mat
from birdkit.cli import main as cli_main
from birdkit.corruptions._base import CORRUPTIONS, FAMILIES, register_corruption
from birdkit.corruptions.materialize import load_corrupted, read_manifest
from birdkit.corruptions.preview import preview_size
from birdkit.errors import UnknownNameError

cli_main._register_commands()
app = cli_main.app
runner = CliRunner()

NOISE, DIM = "_cli_fake_noise", "_cli_fake_dim"


@pytest.fixture(scope="module", autouse=True)
def fake_corruptions():
    table = {f: (0.05, 0.1, 0.2, 0.3, 0.4) for f in FAMILIES}
    fns = {NOISE: lambda x, c, rng: x + c * rng.randn(*x.shape[1:]), DIM: lambda x, c, rng: x * (1.0 - c)}
    for name, fn in fns.items():
        if name not in CORRUPTIONS:
            register_corruption(name, params=table)(fn)
    yield
    for name in fns:
        CORRUPTIONS._items.pop(name, None)
        CORRUPTIONS._meta.pop(name, None)


@pytest.fixture
def fake_data(monkeypatch):
    """``--dataset fake`` opens a 60-image 28x28 grayscale dataset (10 classes)."""
    g = torch.Generator().manual_seed(0)
    ds = types.SimpleNamespace(name="fake", images=torch.randint(0, 256, (60, 1, 28, 28), dtype=torch.uint8,
                                                                 generator=g),
                               targets=torch.arange(60) % 10)
    opened = []

    def fake_open(name, split, root):
        opened.append((name, split, root))
        return ds

    monkeypatch.setattr(mat, "_open_dataset", fake_open)
    return ds, opened


def _invoke(*args):
    return runner.invoke(app, ["corrupt", *args])


def test_builds_then_reuses(tmp_path, fake_data):
    args = ["--dataset", "fake", "--out", str(tmp_path), "--corruptions", f"{NOISE},{DIM}",
            "--severities", "1-3", "--limit", "25", "--batch-size", "10"]
    r = _invoke(*args)
    assert r.exit_code == 0, r.output
    assert "built" in r.output and "images/s" in r.output and "6 files built, 0 reused" in r.output
    m = read_manifest(tmp_path, "fake", "test")
    assert m["num_images"] == 25 and len(m["files"]) == 6
    images, labels = load_corrupted(tmp_path, "fake", "test", DIM, 2)
    assert images.shape == (25, 1, 28, 28) and torch.equal(labels, fake_data[0].targets[:25])
    r = _invoke(*args)
    assert r.exit_code == 0, r.output
    assert "0 files built, 6 reused" in r.output and "reused" in r.output


def test_preview_only_writes_grid_and_no_set(tmp_path, fake_data):
    png = tmp_path / "prev.png"
    r = _invoke("--dataset", "fake", "--out", str(tmp_path / "sets"), "--corruptions", f"{NOISE},{DIM}",
                "--severities", "2,4", "--preview", str(png), "--preview-only", "--preview-images", "3")
    assert r.exit_code == 0, r.output
    assert Image.open(png).size == preview_size(2, 3, 3, 28, 28)  # rows, clean + 2 severities, 3 images
    assert not (tmp_path / "sets").exists()


def test_preview_matches_the_materialised_images(tmp_path, fake_data):
    """The preview shows, for its images, exactly what the set holds (same seed and indices)."""
    png = tmp_path / "prev.png"
    r = _invoke("--dataset", "fake", "--out", str(tmp_path), "--corruptions", NOISE, "--severities", "5",
                "--preview", str(png), "--preview-images", "2")
    assert r.exit_code == 0, r.output
    images, _ = load_corrupted(tmp_path, "fake", "test", NOISE, 5)
    grid = np.asarray(Image.open(png).convert("L")).astype(int)
    from birdkit.corruptions.preview import CELL_GAP, IMAGE_GAP, LEFT, TOP

    s, cell_w = 3, 2 * 28 * 3 + IMAGE_GAP
    x0 = LEFT + cell_w + CELL_GAP  # second column = severity 5; first image = dataset index 0
    shown = grid[TOP : TOP + 28 * s : s, x0 : x0 + 28 * s : s]
    assert np.abs(shown - images[0, 0].numpy().astype(int)).max() <= 1


def test_unknown_corruption_error(tmp_path, fake_data):
    r = _invoke("--dataset", "fake", "--out", str(tmp_path), "--corruptions", "_cli_fake_nose")
    assert isinstance(r.exception, UnknownNameError)
    assert "Did you mean: '_cli_fake_noise'" in str(r.exception)


def test_main_prints_one_line_without_traceback(tmp_path, fake_data, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["birdkit", "corrupt", "--dataset", "fake", "--out", str(tmp_path),
                                      "--corruptions", "_cli_fake_dimm"])
    with pytest.raises(SystemExit) as exc:
        cli_main.main()
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "Unknown corruption '_cli_fake_dimm'" in err and "Did you mean: '_cli_fake_dim'" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--corruptions", DIM, "--severities", "0,1"], "severity 0 is the clean split"),
        (["--corruptions", DIM, "--severities", "one"], "Expected severities like"),
        (["--corruptions", "*_nothing"], "No corruption matches"),
    ],
)
def test_bad_arguments(tmp_path, fake_data, args, message):
    r = _invoke("--dataset", "fake", "--out", str(tmp_path), *args)
    assert r.exception is not None and message in str(r.exception)


def test_preview_only_needs_preview(tmp_path, fake_data):
    r = _invoke("--dataset", "fake", "--out", str(tmp_path), "--corruptions", DIM, "--preview-only")
    assert r.exit_code == 2 and "--preview-only needs --preview" in r.output


def test_changed_seed_needs_overwrite(tmp_path, fake_data):
    base = ["--dataset", "fake", "--out", str(tmp_path), "--corruptions", DIM, "--severities", "1", "--limit", "5"]
    assert _invoke(*base).exit_code == 0
    r = _invoke(*base, "--seed", "3")
    assert "--overwrite" in str(r.exception)
    r = _invoke(*base, "--seed", "3", "--overwrite")
    assert r.exit_code == 0, r.output


def _real_ready() -> bool:
    try:
        import birdkit.data  # noqa: F401
    except ImportError:
        return False
    return {"gaussian_noise", "saturate"} <= set(CORRUPTIONS.names()) and Path(
        "/usr/share/datasets/fashion-mnist"
    ).is_dir()


@pytest.mark.skipif(not _real_ready(), reason="needs birdkit.data, Fashion-MNIST on disk and the real corruptions")
def test_real_fashion_mnist_subset(tmp_path):
    png = tmp_path / "p.png"
    r = _invoke("--dataset", "fashion-mnist", "--out", str(tmp_path), "--corruptions", "gaussian_noise,saturate",
                "--severities", "1,5", "--limit", "64", "--preview", str(png), "--preview-images", "2")
    assert r.exit_code == 0, r.output
    images, labels = load_corrupted(tmp_path, "fashion-mnist", "test", "saturate", 5)
    assert images.shape == (64, 1, 28, 28) and labels.max() <= 9
    assert Image.open(png).size == preview_size(2, 3, 2, 28, 28)
    r = _invoke("--dataset", "fashion-mnst", "--out", str(tmp_path), "--corruptions", "saturate")
    assert isinstance(r.exception, UnknownNameError) and "fashion-mnist" in str(r.exception)


def test_corruption_groups_include_mnistc_in_canonical_order():
    from birdkit.cli.cmd_corrupt import parse_corruptions
    from birdkit.corruptions import HELDOUT_CORRUPTIONS, MNISTC_CORRUPTIONS

    assert parse_corruptions("mnistc") == list(MNISTC_CORRUPTIONS)
    assert parse_corruptions("zigzag,saturate,shear") == ["saturate", "shear", "zigzag"]
    assert parse_corruptions("heldout,mnistc") == [*HELDOUT_CORRUPTIONS, *MNISTC_CORRUPTIONS]
    assert "shear" not in parse_corruptions("all")  # `all` stays the 19 ImageNet-C corruptions
