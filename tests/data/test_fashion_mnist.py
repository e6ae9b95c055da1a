"""Fashion-MNIST from the real files (skipped when the Debian package is not installed)."""

from __future__ import annotations

import pytest
import torch

from birdkit.data import TensorImageDataset, compute_mean_std, create_dataset, dataset_info, fashion_mnist

pytestmark = pytest.mark.skipif(fashion_mnist.locate()[0] is None,
                                reason="Fashion-MNIST not installed (sudo apt-get install dataset-fashion-mnist)")


@pytest.fixture(scope="module")
def full():
    return create_dataset("fashion-mnist", "train_full")


def test_sizes_shapes_labels(full):
    test = create_dataset("fashion-mnist", "test")
    assert (len(full), len(test)) == (60000, 10000)
    for ds in (full, test):
        assert isinstance(ds, TensorImageDataset)
        assert ds.images.dtype == torch.uint8 and ds.images.shape[1:] == (1, 28, 28)
        assert ds.targets.dtype == torch.int64
        assert int(ds.targets.min()) == 0 and int(ds.targets.max()) == 9
        assert ds.class_counts() == [len(ds) // 10] * 10
        assert (ds.num_classes, ds.in_chans, ds.image_size) == (10, 1, (28, 28))
        x, y = ds[3]
        assert x.dtype == torch.uint8 and x.shape == (1, 28, 28) and isinstance(y, int)
    assert full.class_names[0] == "T-shirt/top" and full.class_names[9] == "Ankle boot"
    assert (full.name, full.split, test.split) == ("fashion-mnist", "train_full", "test")


def test_normalisation_constants_match_train_pixels(full):
    mean, std = compute_mean_std(full.images)
    assert full.mean == pytest.approx(mean, abs=5e-5) and full.std == pytest.approx(std, abs=5e-5)


def test_val_split_stratified_deterministic_disjoint(full):
    train = create_dataset("fashion-mnist", "train")
    val = create_dataset("fashion-mnist", "val")
    assert (len(train), len(val)) == (54000, 6000)
    assert val.class_counts() == [600] * 10 and train.class_counts() == [5400] * 10
    # train + val == train_full, as multisets of indices, and the examples are the right ones
    both = torch.cat([train.indices, val.indices]).sort().values
    assert torch.equal(both, torch.arange(60000))
    assert torch.equal(val.images, full.images[val.indices]) and torch.equal(val.targets, full.targets[val.indices])
    assert torch.equal(train.images, full.images[train.indices])
    # deterministic; another seed picks another part
    again = create_dataset("fashion-mnist", "val")
    assert torch.equal(again.indices, val.indices)
    other = create_dataset("fashion-mnist", "val", seed=1)
    assert not torch.equal(other.indices, val.indices) and other.class_counts() == [600] * 10
    small = create_dataset("fashion-mnist", "val", val_fraction=0.05)
    assert len(small) == 3000


def test_class_subset_remaps_labels(full):
    sub = create_dataset("fashion-mnist", "train_full", classes=[5, 6, 7, 8, 9])
    assert len(sub) == 30000 and sub.num_classes == 5
    assert sub.class_names == ["Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"] and sub.classes == (5, 6, 7, 8, 9)
    assert torch.equal(sub.targets + 5, full.targets[sub.indices])
    rev = create_dataset("fashion-mnist", "test", classes=["Bag", 0])
    assert rev.class_names == ["Bag", "T-shirt/top"] and len(rev) == 2000
    test = create_dataset("fashion-mnist", "test")
    assert torch.equal(torch.tensor([8, 0])[rev.targets], test.targets[rev.indices])


def test_named_subsets():
    lo = create_dataset("fashion-mnist-0-4", "test")
    hi = create_dataset("fashion-mnist-5-9", "test")
    assert len(lo) == len(hi) == 5000 and lo.num_classes == hi.num_classes == 5
    assert sorted(hi.targets.unique().tolist()) == [0, 1, 2, 3, 4] and hi.class_names[0] == "Sandal"
    assert lo.name == "fashion-mnist-0-4" and hi.classes == (5, 6, 7, 8, 9)
    same = create_dataset("fashion-mnist", "test", classes=[5, 6, 7, 8, 9])
    assert torch.equal(same.images, hi.images) and torch.equal(same.targets, hi.targets)
    # the validation part of a subset is the matching part of the full validation set
    val_hi = create_dataset("fashion-mnist-5-9", "val")
    val = create_dataset("fashion-mnist", "val")
    assert torch.equal(val_hi.indices, val.indices[val.targets >= 5])
    # classes= on a named subset refers to the subset's own labels
    two = create_dataset("fashion-mnist-5-9", "test", classes=[4, 0])
    assert two.class_names == ["Ankle boot", "Sandal"] and two.classes == (9, 5)
    info = dataset_info("fashion-mnist-5-9")
    assert info["num_classes"] == 5 and info["parent"] == "fashion-mnist" and info["on_disk"]
