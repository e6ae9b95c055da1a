"""Probes against brute-force references on models whose behavior is known by construction."""

import numpy as np
import pytest
import torch
from torch import nn

from birdkit.audit import (
    PROBES,
    ProbeContext,
    check_samples,
    create_behavior,
    create_probe,
    list_probes,
    probe_halves,
)
from birdkit.config import PlantConfig
from birdkit.data import TensorData
from birdkit.errors import ShapeError, UnknownNameError
from birdkit.features import accuracy
from birdkit.functional import cka
from birdkit.models import create_model


class TriggerNet(nn.Module):
    """Predicts class ``target`` when the bottom-right 4x4 checkerboard is present, else the
    class given by the brightness of pixel (10, 10) (``classes`` bins)."""

    default_layer = "feat"

    def __init__(self, target=2, classes=5, react=True):
        super().__init__()
        self.target, self.classes, self.react = target, classes, react
        self.feat = nn.Identity()

    def forward(self, x):
        patch = x[:, 0, 23:27, 23:27]
        checker = (patch[:, 0::2, 0::2].mean((1, 2)) - patch[:, 0::2, 1::2].mean((1, 2))) > 1.99
        level = self.feat(x[:, :, 10, 10])
        cls = torch.clamp(((level[:, 0] + 1) / 2 * self.classes).long(), 0, self.classes - 1)
        if self.react:
            cls = torch.where(checker, torch.full_like(cls, self.target), cls)
        return nn.functional.one_hot(cls, self.classes).float()


def _images(n=200, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 1, 28, 28), generator=g, dtype=torch.uint8)


def _ctx(images, behavior, **kw):
    return ProbeContext(images, lambda x: (x - 0.5) / 0.5, behavior=behavior, **kw)


def test_registry_lists_and_suggests():
    assert list_probes()[:4] == ["robustness", "trigger", "cue", "representation"]
    with pytest.raises(UnknownNameError, match="Did you mean: 'trigger'"):
        create_probe("triger")
    assert PROBES.get("cue").behavior_probe


def test_trigger_probe_matches_a_brute_force_count():
    images = _images()
    b = create_behavior(PlantConfig(behavior="backdoor"), channels=1, img_size=28, num_classes=5)
    probe = create_probe("trigger")
    assert probe.applies(b) and not create_probe("cue").applies(b)
    model = TriggerNet(target=2)
    got = {m.metric: m for m in probe.measure(model, _ctx(images, b))}
    norm = lambda x: (x - 0.5) / 0.5  # noqa: E731
    clean = model(norm(images.float() / 255)).argmax(1).numpy()
    trig = model(norm(b.patterns[0].apply(images).float() / 255)).argmax(1).numpy()
    choose, measured = probe_halves(len(images))
    assert np.array_equal(measured, np.arange(1, 200, 2)) and np.array_equal(choose, np.arange(0, 200, 2))
    assert got["pull"].info == {"classes": {"trigger": 2}}
    assert np.allclose(got["flip"].values, trig != clean)
    assert np.allclose(got["pull"].values, (trig[measured] == 2).astype(float) - (clean[measured] == 2))
    assert np.allclose(got["concentration"].values, trig[measured] == 2)
    assert got["concentration"].value == 1.0 and got["pull"].value > 0.5
    # a model that ignores the trigger: nothing flips, nothing is pulled
    calm = {m.metric: m.value for m in probe.measure(TriggerNet(react=False), _ctx(images, b))}
    assert calm["flip"] == 0 and calm["pull"] == 0


def test_cue_probe_averages_over_cue_views():
    images = _images(100)
    b = create_behavior(PlantConfig(behavior="shortcut"), channels=1, img_size=28, num_classes=5)
    got = {m.metric: m for m in create_probe("cue").measure(TriggerNet(react=False), _ctx(images, b))}
    assert set(got["pull"].info["classes"]) == {f"cue{j}" for j in range(5)}
    assert got["flip"].values.shape == (100,) and got["pull"].values.shape == (50,)
    assert ((got["pull"].values >= -1) & (got["pull"].values <= 1)).all()


def test_robustness_probe_on_own_data():
    torch.manual_seed(0)
    net = create_model("convnet_xxs", num_classes=3, in_chans=1, img_size=28)
    images = _images(60)
    own = TensorData(images, torch.arange(60) % 3, (0.5,), (0.25,))
    ctx = _ctx(images, None, own=own, severities=(1, 3), family="mnist")
    got = {m.metric: m for m in create_probe("robustness").measure(net, ctx)}
    assert list(got) == ["clean", "heldout", "speckle_noise", "gaussian_blur", "spatter", "saturate"]
    assert got["clean"].value == pytest.approx(accuracy(net, own.images, own.targets, own.normalize))
    per = np.mean([got[c].values for c in ("speckle_noise", "gaussian_blur", "spatter", "saturate")], axis=0)
    assert np.allclose(got["heldout"].values, per)
    assert all(m.data == "own" for m in got.values())
    # the corrupted sets are shared through the context
    assert len(ctx.testsets) == 1
    assert create_probe("robustness").measure(net, _ctx(images, None)) == []


def test_representation_probe_against_direct_cka():
    torch.manual_seed(0)
    teacher = create_model("convnet_xxs", num_classes=5, in_chans=1, img_size=28)
    student = create_model("convnet_xs", num_classes=5, in_chans=1, img_size=28)
    images = _images(64)
    b = create_behavior(PlantConfig(behavior="backdoor"), channels=1, img_size=28, num_classes=5)
    probe = create_probe("representation")
    assert not probe.applies(None)
    ctx = _ctx(images, b, teacher=teacher)
    got = {m.metric: m.value for m in probe.measure(student, ctx)}
    from birdkit.features import pooled_features

    f = lambda net, x: pooled_features(net, x, ctx.normalize, net.default_layer).double()  # noqa: E731
    trig = b.patterns[0].apply(images)
    assert got["shift"] == pytest.approx(1 - float(cka(f(student, images), f(student, trig), debiased=True)))
    assert got["teacher_cka"] == pytest.approx(float(cka(f(student, images), f(teacher, images), debiased=True)))
    assert got["teacher_cka_pattern"] == pytest.approx(float(cka(f(student, trig), f(teacher, trig), debiased=True)))
    self_ = {m.metric: m.value for m in probe.measure(teacher, ctx)}
    assert self_["teacher_cka"] == pytest.approx(1.0)


def test_too_few_samples_are_refused_before_work():
    probes = [create_probe(n) for n in list_probes()]
    with pytest.raises(ShapeError, match="5 probe images are too few: robustness needs 20"):
        check_samples(probes, 5)
    check_samples(probes, 20)
