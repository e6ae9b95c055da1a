"""CorruptionAugment: per-image draws seeded by (seed, epoch), independent of batching, and
images equal to ``birdkit.corruptions.corrupt`` called directly with the documented seed."""

import pytest
import torch

from birdkit.config import AugmentConfig
from birdkit.corruptions import HELDOUT_CORRUPTIONS, TRAIN_CORRUPTIONS, corrupt
from birdkit.errors import UnknownNameError
from birdkit.training.augment import CorruptionAugment
from birdkit.training.seeds import augment_corruption_seed

# cheap corruptions at 28 px: two with per-image randomness, two deterministic
NAMES = ["gaussian_noise", "impulse_noise", "contrast", "pixelate"]
N = 40


@pytest.fixture(scope="module")
def images():
    g = torch.Generator().manual_seed(11)
    return torch.rand(N, 1, 28, 28, generator=g)


def _aug(severities=(0, 1, 3, 5), p=1.0, seed=3, n=N, names=NAMES, **kw):
    return CorruptionAugment(AugmentConfig(corruptions=list(names), severities=list(severities), p=p), n, seed=seed,
                             **kw)


def _changed(a, b):
    return (a - b).flatten(1).abs().amax(1) > 0


def test_draws_cover_the_config(images):
    aug = _aug()
    assert aug.names == NAMES
    assert aug.which.shape == aug.sev.shape == (N,)
    assert set(aug.which.tolist()) <= set(range(len(NAMES)))
    assert set(aug.sev.tolist()) <= {0, 1, 3, 5}
    # a non-trivial draw for the rest of the tests: several corruptions and severities present
    assert len(set(aug.which.tolist())) >= 3 and len(set(aug.sev.tolist())) >= 3


def test_images_equal_corrupt_called_directly(images):
    seed, epoch = 3, 4
    aug = _aug(seed=seed)
    aug.set_epoch(epoch)
    idx = torch.arange(N)
    out = aug(images, idx)
    assert out.shape == images.shape and out.dtype == images.dtype
    noisy = 0
    for i in range(N):
        name, sev = NAMES[int(aug.which[i])], int(aug.sev[i])
        ref = corrupt(images[i:i + 1], name, sev, seed=augment_corruption_seed(seed, epoch), indices=[i])
        assert torch.equal(out[i:i + 1], ref), (i, name, sev)
        noisy += sev > 0 and name.endswith("_noise")
    assert noisy >= 3  # the corruption seed matters for these (gaussian/impulse noise)
    # a wrong corruption seed would give other images
    i = next(i for i in range(N) if int(aug.sev[i]) > 0 and NAMES[int(aug.which[i])] == "gaussian_noise")
    other = corrupt(images[i:i + 1], "gaussian_noise", int(aug.sev[i]), seed=augment_corruption_seed(seed, epoch + 1),
                    indices=[i])
    assert not torch.equal(out[i:i + 1], other)


def test_independent_of_batch_order_and_composition(images):
    aug = _aug()
    aug.set_epoch(2)
    idx = torch.arange(N)
    full = aug(images, idx)
    perm = torch.randperm(N, generator=torch.Generator().manual_seed(5))
    shuffled = aug(images[perm], perm)
    assert torch.equal(shuffled, full[perm])
    # uneven splits of a shuffled order, each corrupted on its own
    parts = [perm[:7], perm[7:8], perm[8:29], perm[29:]]
    for part in parts:
        assert torch.equal(aug(images[part], part), full[part])
    # one image alone
    assert torch.equal(aug(images[13:14], idx[13:14]), full[13:14])
    assert _changed(full, images).any()


def test_same_seed_and_epoch_same_draws_resume(images):
    a, b = _aug(seed=9), _aug(seed=9)
    a.set_epoch(6)
    ref = a(images, torch.arange(N))
    # b goes through other epochs first (as an interrupted run resumed at epoch 6 would not)
    for e in (0, 1, 5):
        b.set_epoch(e)
        b(images, torch.arange(N))
    b.set_epoch(6)
    assert torch.equal(b.which, a.which) and torch.equal(b.sev, a.sev)
    assert torch.equal(b(images, torch.arange(N)), ref)


def test_epochs_and_seeds_draw_differently(images):
    aug = _aug()
    draws = {}
    for e in range(3):
        aug.set_epoch(e)
        draws[e] = (aug.which.clone(), aug.sev.clone(), aug(images, torch.arange(N)))
    for e1, e2 in [(0, 1), (1, 2), (0, 2)]:
        assert not torch.equal(draws[e1][0], draws[e2][0]) or not torch.equal(draws[e1][1], draws[e2][1])
        assert not torch.equal(draws[e1][2], draws[e2][2])
    other = _aug(seed=4)
    assert not (torch.equal(other.which, draws[0][0]) and torch.equal(other.sev, draws[0][1]))


def test_p_zero_leaves_images_unchanged(images):
    aug = _aug(severities=(1, 2, 3, 4, 5), p=0.0)
    for e in range(3):
        aug.set_epoch(e)
        assert (aug.sev == 0).all()
        assert torch.equal(aug(images, torch.arange(N)), images)


def test_p_is_the_share_of_corrupted_images():
    n = 4000
    aug = _aug(severities=(1, 2, 3, 4, 5), p=0.3, n=n)
    share = (aug.sev > 0).float().mean().item()
    assert abs(share - 0.3) < 0.04
    # and the corruption and severity draws are uniform
    counts = torch.bincount(aug.which, minlength=len(NAMES)).float() / n
    assert (counts - 1 / len(NAMES)).abs().max() < 0.04
    sev = aug.sev[aug.sev > 0]
    sc = torch.bincount(sev, minlength=6)[1:].float() / len(sev)
    assert (sc - 0.2).abs().max() < 0.05


def test_severity_zero_draws_leave_those_images_unchanged(images):
    aug = _aug(severities=(0, 3))
    aug.set_epoch(1)
    out = aug(images, torch.arange(N))
    zero = aug.sev == 0
    assert zero.any() and (~zero).any()
    assert torch.equal(out[zero], images[zero])
    # every severity-3 image is changed (all four corruptions alter random images at severity 3)
    assert _changed(out[~zero], images[~zero]).all()


def test_input_not_modified(images):
    x = images.clone()
    _aug()(x, torch.arange(N))
    assert torch.equal(x, images)


def test_family_is_passed_to_corrupt(images):
    aug = _aug(severities=(5,), names=["contrast"], family="imagenet")
    out = aug(images[:4], torch.arange(4))
    ref = corrupt(images[:4], "contrast", 5, seed=augment_corruption_seed(3, 0), family="imagenet")
    default = corrupt(images[:4], "contrast", 5, seed=augment_corruption_seed(3, 0))  # 28 px: mnist table
    assert torch.equal(out, ref)
    assert not torch.equal(ref, default)


def test_train_means_the_fifteen_training_corruptions():
    aug = CorruptionAugment(AugmentConfig(corruptions="train"), 10)
    assert aug.names == list(TRAIN_CORRUPTIONS)
    assert not set(aug.names) & set(HELDOUT_CORRUPTIONS)


def test_unknown_corruption_name():
    with pytest.raises(UnknownNameError, match=r"Unknown corruption 'gausian_noise'\. Did you mean: 'gaussian_noise'"):
        _aug(names=["contrast", "gausian_noise"])
