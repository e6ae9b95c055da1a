"""Tiny-ImageNet and ImageFolder from tiny image trees written in the exact layouts."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from birdkit.data import FileImageDataset, TensorImageDataset, as_tensors, create_dataset
from birdkit.errors import BirdkitError, DataFormatError, DataNotFoundError, ShapeError

WNIDS = ["n02124075", "n01443537", "n09999999"]  # not sorted on purpose


def _rgb(seed: int, size=(64, 64)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(*size, 3), dtype=np.uint8)


def _smooth(seed: int) -> np.ndarray:
    """A smooth 64x64 RGB image (JPEG keeps it close)."""
    yy, xx = np.mgrid[0:64, 0:64]
    c = np.random.default_rng(seed).uniform(40, 200, size=3)
    return np.stack([(c[k] + 30 * np.sin((xx + 7 * k + seed) / 9) + 20 * np.cos(yy / 11)) for k in range(3)],
                    axis=-1).clip(0, 255).astype(np.uint8)


@pytest.fixture
def tiny_root(tmp_path):
    d = tmp_path / "tiny-imagenet-200"
    (d / "val" / "images").mkdir(parents=True)
    (d / "wnids.txt").write_text("\n".join(WNIDS) + "\n")
    (d / "words.txt").write_text("n01443537\tgoldfish, Carassius auratus\nn02124075\tEgyptian cat\n"
                                 "n00000001\tunused\n")
    originals = {}
    for ci, w in enumerate(WNIDS):
        img_dir = d / "train" / w / "images"
        img_dir.mkdir(parents=True)
        (d / "train" / w / f"{w}_boxes.txt").write_text("")
        for k in range(4):
            arr = _smooth(10 * ci + k)
            p = img_dir / f"{w}_{k}.JPEG"
            if (ci, k) == (2, 3):  # one grayscale JPEG, as in the real set
                Image.fromarray(arr[..., 0]).save(p, quality=95)
            else:
                Image.fromarray(arr).save(p, quality=95)
            originals[str(p)] = arr
    lines = []
    for k, w in enumerate(["n09999999", "n01443537", "n02124075", "n01443537"]):
        Image.fromarray(_smooth(100 + k)).save(d / "val" / "images" / f"val_{k}.JPEG", quality=95)
        lines.append(f"val_{k}.JPEG\t{w}\t0\t0\t63\t63")
    (d / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    return tmp_path, originals


def test_tinyimagenet_layout(tiny_root):
    root, originals = tiny_root
    full = create_dataset("tinyimagenet", "train_full", root=root)
    assert isinstance(full, FileImageDataset) and not hasattr(full, "images")
    assert len(full) == 12 and full.num_classes == 3 and full.image_size == (64, 64) and full.in_chans == 3
    # label i = i-th wnid in sorted order; names from words.txt, the wnid when missing
    assert full.class_names == ["goldfish", "Egyptian cat", "n09999999"]
    assert full.targets.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    for i in (0, 5, 11):
        x, y = full[i]
        assert x.dtype == torch.uint8 and x.shape == (3, 64, 64) and isinstance(y, int)
        with Image.open(full.paths[i]) as im:
            assert torch.equal(x, torch.from_numpy(np.array(im.convert("RGB"))).permute(2, 0, 1))
        ref = torch.from_numpy(originals[full.paths[i]]).permute(2, 0, 1).float()
        if i != 11:  # JPEG is lossy: close to the original
            assert (x.float() - ref).abs().mean() < 4
    gray, _ = full[11]
    assert torch.equal(gray[0], gray[1]) and torch.equal(gray[1], gray[2])
    test = create_dataset("tinyimagenet", "test", root=root / "tiny-imagenet-200")
    assert test.targets.tolist() == [2, 0, 1, 0] and test.split == "test"
    mem = create_dataset("tinyimagenet", "test", root=root, in_memory=True)
    assert isinstance(mem, TensorImageDataset)
    images, targets = as_tensors(test)
    assert torch.equal(mem.images, images) and torch.equal(mem.targets, targets)
    val = create_dataset("tinyimagenet", "val", root=root, val_fraction=0.25)
    assert val.class_counts() == [1, 1, 1]


def test_tinyimagenet_broken(tiny_root, tmp_path):
    root, _ = tiny_root
    ann = root / "tiny-imagenet-200" / "val" / "val_annotations.txt"
    ann.write_text("val_0.JPEG\tn00000000\t0\t0\t1\t1\n")
    with pytest.raises(DataFormatError, match="val_annotations.txt:1"):
        create_dataset("tinyimagenet", "test", root=root)
    with pytest.raises(DataNotFoundError, match="tiny-imagenet-200.zip"):
        create_dataset("tinyimagenet", root=tmp_path / "empty")


def _png_tree(root, classes, n, size=(8, 6), seed=0):
    out = {}
    for ci, c in enumerate(classes):
        (root / c).mkdir(parents=True)
        for k in range(n):
            arr = _rgb(seed + 10 * ci + k, size)
            p = root / c / f"{k:03d}.png"
            Image.fromarray(arr).save(p)
            out[str(p)] = arr
    return out


def test_imagefolder_train_test(tmp_path):
    train = _png_tree(tmp_path / "train", ["dog", "cat", "bird"], 3)
    (tmp_path / "train" / "cat" / "notes.txt").write_text("not an image")
    test = _png_tree(tmp_path / "test", ["cat", "dog"], 2, seed=500)
    full = create_dataset("imagefolder", "train_full", root=tmp_path)
    assert full.class_names == ["bird", "cat", "dog"] and len(full) == 9 and full.image_size == (8, 6)
    images, targets = as_tensors(full)
    for i, p in enumerate(full.paths):  # PNG: exact pixels
        assert torch.equal(images[i], torch.from_numpy(train[p]).permute(2, 0, 1))
    assert targets.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    t = create_dataset("imagefolder", "test", root=tmp_path)
    assert t.targets.tolist() == [1, 1, 2, 2] and t.class_names == full.class_names
    assert torch.equal(t[0][0], torch.from_numpy(test[t.paths[0]]).permute(2, 0, 1))
    assert full.mean == (0.485, 0.456, 0.406)
    small = create_dataset("imagefolder", "test", root=tmp_path, image_size=4, channels=1, mean=[0.3], std=[0.2])
    x, _ = small[0]
    assert x.shape == (1, 4, 4) and small.mean == (0.3,) and small.in_chans == 1
    sub = create_dataset("imagefolder", "train", root=tmp_path, classes=["dog"], val_fraction=1 / 3)
    assert len(sub) == 2 and sub.targets.tolist() == [0, 0] and sub.class_names == ["dog"]


def test_imagefolder_direct_root_and_errors(tmp_path):
    _png_tree(tmp_path / "a", ["x", "y"], 2)
    ds = create_dataset("imagefolder", "train_full", root=tmp_path / "a")
    assert len(ds) == 4
    with pytest.raises(DataNotFoundError, match="no test split"):
        create_dataset("imagefolder", "test", root=tmp_path / "a")
    with pytest.raises(DataNotFoundError, match="root="):
        create_dataset("imagefolder")
    with pytest.raises(BirdkitError, match="Unknown option"):
        create_dataset("imagefolder", root=tmp_path / "a", size=3)
    with pytest.raises(BirdkitError, match="Unknown option"):
        create_dataset("fashion-mnist", in_memory=True)
    Image.fromarray(_rgb(1, (5, 5))).save(tmp_path / "a" / "y" / "zz.png")
    odd = create_dataset("imagefolder", "train_full", root=tmp_path / "a")
    with pytest.raises(ShapeError, match="image_size"):
        as_tensors(odd)
    assert as_tensors(create_dataset("imagefolder", "train_full", root=tmp_path / "a",
                                     image_size=(5, 5)))[0].shape == (5, 3, 5, 5)
    _png_tree(tmp_path / "b" / "train", ["x"], 1)
    _png_tree(tmp_path / "b" / "val", ["q"], 1)
    with pytest.raises(DataFormatError, match="do not exist"):
        create_dataset("imagefolder", "test", root=tmp_path / "b")
