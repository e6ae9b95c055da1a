"""The teacher-feature cache: reused features equal recomputed ones, and training is unchanged."""

import pytest
import torch

from birdkit.config import AugmentConfig, LayerPair, MethodConfig, OptimConfig, TrainConfig
from birdkit.data import TensorData
from birdkit.methods import create_method
from birdkit.methods._pairs import TeacherFeatureCache, teacher_features
from birdkit.models import create_model
from birdkit.training import Trainer


def _data(n=96, classes=3):
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 1, 28, 28), generator=g, dtype=torch.uint8)
    targets = torch.randint(0, classes, (n,), generator=g)
    for c in range(classes):
        images[targets == c, :, c * 8:(c + 1) * 8, :] = 255
    return TensorData(images, targets, (0.5,), (0.25,))


def _bird(method="bird", **kw):
    torch.manual_seed(0)
    teacher = create_model("convnet_xxs", num_classes=4, in_chans=1, img_size=28)
    student = create_model("convnet_xs", num_classes=3, in_chans=1, img_size=28)
    layers = [LayerPair(teacher="stages.2", student="stages.2"), LayerPair(teacher="stages.3", student="stages.3")]
    return create_method(MethodConfig(name=method, layers=layers, **kw), student=student, teacher=teacher)


def _cfg(cache, **kw):
    return TrainConfig(epochs=3, batch_size=32, optim=OptimConfig(lr=0.05), tensorboard=False, teacher_cache=cache,
                       **kw)


def test_cached_features_equal_recomputed_ones():
    m = _bird()
    x = _data().images[:40].float() / 255
    cache = TeacherFeatureCache(40)
    keys = torch.tensor([3, 1, 4, 15, 9])
    assert cache.lookup(keys) is None
    cache.store(keys, teacher_features(m.teacher, m.pairs, x[keys]))
    assert cache.lookup(torch.tensor([3, 2])) is None  # 2 was never stored: the batch is recomputed
    got = cache.lookup(torch.tensor([9, 3]))
    want = teacher_features(m.teacher, m.pairs, x[torch.tensor([9, 3])])
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert (cache.hits, cache.misses) == (1, 2)


@pytest.mark.parametrize("method", ["bird", "hints"])
def test_training_with_the_cache_gives_the_same_run(tmp_path, method):
    runs = {}
    for cache in (False, True):
        t = Trainer(_bird(method), _data(), _cfg(cache), tmp_path / f"{method}-{cache}")
        res = t.fit()
        runs[cache] = (t.method, res.history)
    m = runs[True][0]
    assert m.teacher_cache.misses == 3 and m.teacher_cache.hits == 6  # 3 steps per epoch: only epoch 1 computes
    a, b = runs[False][0].model.state_dict(), m.model.state_dict()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6)
    for ra, rb in zip(runs[False][1], runs[True][1], strict=True):
        assert ra["train_loss"] == pytest.approx(rb["train_loss"], rel=1e-5)


def test_no_cache_where_inputs_change_every_epoch(tmp_path):
    t = Trainer(_bird(), _data(), _cfg(True, augment=AugmentConfig(corruptions=["gaussian_noise"])), tmp_path / "a")
    t.fit()
    assert t.method.teacher_cache is None or t.method.teacher_cache.hits == 0
