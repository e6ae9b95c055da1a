"""Planted behaviors: what the plant writes, checked pixel by pixel and by counting."""

import pytest
import torch
from scipy import stats

from birdkit.audit import Backdoor, Shortcut, create_behavior, patch_size
from birdkit.config import PlantConfig
from birdkit.data import TensorData
from birdkit.errors import ConfigError, ShapeError, UnknownNameError


def _data(n=600, classes=5, channels=1, size=28, seed=0):
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 200, (n, channels, size, size), generator=g, dtype=torch.uint8)
    targets = torch.arange(n) % classes
    return TensorData(images, targets, (0.5,) * channels, (0.25,) * channels)


def test_patch_size_default_and_override():
    assert patch_size(28) == 4 and patch_size(32) == 4 and patch_size(14) == 3 and patch_size(64) == 9
    assert patch_size(28, 6) == 6


def test_backdoor_poisons_a_share_of_the_other_classes_with_trigger_and_target():
    data = _data()
    b = create_behavior(PlantConfig(behavior="backdoor", rate=0.2, target=3), channels=1, img_size=28, num_classes=5)
    assert isinstance(b, Backdoor)
    planted = b.plant(data)
    others = (data.targets != 3).nonzero().flatten()
    poisoned = b.poisoned(data.targets)
    assert len(poisoned) == round(0.2 * len(others))
    assert set(poisoned.tolist()) <= set(others.tolist())
    changed = (planted.images != data.images).flatten(1).any(1) | (planted.targets != data.targets)
    assert set(changed.nonzero().flatten().tolist()) <= set(poisoned.tolist())
    assert (planted.targets[poisoned] == 3).all()
    keep = torch.ones(len(data), dtype=torch.bool)
    keep[poisoned] = False
    assert torch.equal(planted.images[keep], data.images[keep])
    assert torch.equal(planted.targets[keep], data.targets[keep])
    # the trigger: a 4x4 0/255 checkerboard one pixel from the bottom-right corner, every channel
    patch = planted.images[poisoned][:, :, 23:27, 23:27]
    expect = torch.tensor([[255, 0, 255, 0], [0, 255, 0, 255]] * 2, dtype=torch.uint8)
    assert (patch == expect).all()
    assert torch.equal(planted.images[poisoned][:, :, :23], data.images[poisoned][:, :, :23])
    assert b.carriers(planted.images) == len(poisoned) and b.carriers(data.images) == 0
    assert (planted.mean, planted.std) == (data.mean, data.std)
    # deterministic, and the seed chooses other images
    assert torch.equal(b.plant(data).images, planted.images)
    other = create_behavior(PlantConfig(behavior="backdoor", rate=0.2, target=3, seed=1), channels=1, img_size=28,
                            num_classes=5)
    assert not torch.equal(other.poisoned(data.targets), poisoned)


def test_shortcut_cue_at_own_class_with_the_given_correlation_else_uniformly_elsewhere():
    data = _data(n=5000)
    b = create_behavior(PlantConfig(behavior="shortcut", correlation=0.8), channels=1, img_size=28, num_classes=5)
    assert isinstance(b, Shortcut)
    planted = b.plant(data)
    found = torch.stack([p.present(planted.images) for p in b.patterns], 1)  # (N, 5)
    assert (found.sum(1) == 1).all()  # every image carries exactly one cue
    where = found.int().argmax(1)
    assert torch.equal(where, b.positions(data.targets))
    own = (where == data.targets).float().mean().item()
    # the share at the own class: inside a 99.9% binomial interval around 0.8
    lo, hi = stats.binom.interval(0.999, len(data), 0.8)
    assert lo / len(data) <= own <= hi / len(data)
    others = where[where != data.targets] - data.targets[where != data.targets]
    counts = torch.bincount(others % 5, minlength=5)[1:]
    assert stats.chisquare(counts.numpy()).pvalue > 1e-3  # uniform over the 4 other positions
    # hollow squares on the top edge, not overlapping, labels unchanged
    lefts = [p.left for p in b.patterns]
    assert all(p.top == 1 for p in b.patterns) and all(b2 - b1 >= 4 for b1, b2 in zip(lefts, lefts[1:]))
    assert lefts[0] == 1 and lefts[-1] == 28 - 1 - 4
    assert torch.equal(planted.targets, data.targets)
    assert b.carriers(data.images) == 0
    assert list(b.views(data.images[:3])) == [f"cue{j}" for j in range(5)]


def test_rgb_images_get_the_pattern_in_every_channel():
    data = _data(n=50, channels=3, size=32)
    b = create_behavior(PlantConfig(behavior="backdoor", rate=1.0), channels=3, img_size=32, num_classes=5)
    planted = b.plant(data)
    idx = b.poisoned(data.targets)
    region = planted.images[idx][:, :, 27:31, 27:31]
    assert (region[:, 0] == region[:, 1]).all() and (region[:, 1] == region[:, 2]).all()
    assert b.carriers(planted.images) == len(idx) == 40


def test_real_fashion_mnist_carries_no_pattern():
    from birdkit.config import DataConfig
    from birdkit.data import load_split

    test = load_split(DataConfig(dataset="fashion-mnist"), "test")
    for name in ("backdoor", "shortcut"):
        b = create_behavior(PlantConfig(behavior=name), channels=1, img_size=28, num_classes=10 if name == "backdoor"
                            else 5)
        assert b.carriers(test.images) == 0


def test_bad_parameters_are_refused_in_one_line():
    with pytest.raises(UnknownNameError, match="Did you mean: 'backdoor'"):
        create_behavior(PlantConfig(behavior="backdor"), channels=1, img_size=28, num_classes=5)
    with pytest.raises(ConfigError, match="plant.target: must be a class index below 5"):
        create_behavior(PlantConfig(behavior="backdoor", target=7), channels=1, img_size=28, num_classes=5)
    with pytest.raises(ShapeError, match="plant.size 27 does not fit 28x28"):
        create_behavior(PlantConfig(behavior="backdoor", size=27), channels=1, img_size=28, num_classes=5)
    with pytest.raises(ShapeError, match="set plant.size to at most 2"):
        create_behavior(PlantConfig(behavior="shortcut"), channels=1, img_size=28, num_classes=10)
    b = create_behavior(PlantConfig(behavior="shortcut"), channels=1, img_size=28, num_classes=5)
    with pytest.raises(ShapeError, match="1-channel 28x28"):
        b.carriers(torch.zeros(2, 3, 28, 28, dtype=torch.uint8))
