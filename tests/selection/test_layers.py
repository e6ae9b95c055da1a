"""Layer-pair candidates and search: stage ends, the default layer, training corruptions only."""

import pytest
import torch

import birdkit.corruptions
import birdkit.evaluation.robustness
import birdkit.selection.layers as layers_mod
import birdkit.training.augment
from birdkit.config import LayerPair, MethodConfig, TrainConfig
from birdkit.corruptions import HELDOUT_CORRUPTIONS, TRAIN_CORRUPTIONS
from birdkit.data import TensorData
from birdkit.errors import BirdkitError
from birdkit.models import create_model
from birdkit.selection import candidate_layers, search_layers


def _model(name, classes=3):
    return create_model(name, num_classes=classes, in_chans=1, img_size=28)


def _completion_order(model, names):
    """Independent reference: the order in which the named modules finish in a forward pass."""
    mods = dict(model.named_modules())
    order = []
    handles = [mods[n].register_forward_hook(lambda m, i, o, n=n: order.append(n)) for n in names]
    model.eval()
    with torch.no_grad():
        model(torch.randn(2, 1, 28, 28))
    for h in handles:
        h.remove()
    return [n for n in dict.fromkeys(order)]


def _outputs(model, names, x):
    mods = dict(model.named_modules())
    out = {}
    handles = [mods[n].register_forward_hook(lambda m, i, o, n=n: out.__setitem__(n, o)) for n in names]
    model.eval()
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    return out


@pytest.mark.parametrize("name", ["convnet_xxs", "convnet_xs", "resnet18", "vit_nano"])
@pytest.mark.parametrize("k", [1, 2, 3])
def test_candidates_exist_at_most_k_and_include_default(name, k):
    model = _model(name)
    cands = candidate_layers(model, k)
    named = {n for n, _ in model.named_modules()}
    assert 1 <= len(cands) <= k
    assert len(set(cands)) == len(cands)
    assert set(cands) <= named
    assert model.default_layer in cands


def test_convnet_candidates_are_the_stage_ends():
    model = _model("convnet_xs")
    assert candidate_layers(model, 1) == ["stages.3"]
    assert candidate_layers(model, 2) == ["stages.2", "stages.3"]
    assert candidate_layers(model, 3) == ["stages.1", "stages.2", "stages.3"]
    assert candidate_layers(model, 4) == ["stages.0", "stages.1", "stages.2", "stages.3"]
    assert candidate_layers(model, 10) == ["stages.0", "stages.1", "stages.2", "stages.3"]  # only four stages


def test_default_layer_is_kept_when_not_a_stage_end():
    model = _model("convnet_xs")
    model.default_layer = "stages.1"
    cands = candidate_layers(model, 2)
    assert set(cands) == {"stages.1", "stages.3"}  # the deepest stage end and the default
    assert candidate_layers(model, 3) == ["stages.1", "stages.2", "stages.3"]


def test_stage_ends_of_other_families_and_bad_k():
    assert candidate_layers(_model("resnet18"), 3) == ["layer2", "layer3", "layer4"]  # not layer4.1 and layer4
    assert candidate_layers(_model("vit_nano"), 3) == ["blocks.3", "blocks.4", "blocks.5"]  # the blocks, not norm
    with pytest.raises(BirdkitError, match="k must be >= 1"):
        candidate_layers(_model("convnet_xs"), 0)


@pytest.mark.parametrize("name, default, k", [
    ("convnet_xxs", None, 3), ("convnet_xs", None, 3), ("resnet18", None, 3),
    ("vit_nano", None, 3),
    ("convnet_xs", "stages.1", 2),
])
def test_candidates_deepest_last(name, default, k):
    model = _model(name)
    if default:
        model.default_layer = default
    cands = candidate_layers(model, k)
    assert _completion_order(model, cands) == cands


@pytest.mark.parametrize("name", ["convnet_xxs", "convnet_xs", "resnet18"])
def test_candidates_are_distinct_stages(name):
    model = _model(name)
    cands = candidate_layers(model, 2)
    outs = _outputs(model, cands, torch.randn(2, 1, 28, 28))
    for i, a in enumerate(cands):
        for b in cands[i + 1:]:
            assert outs[a].shape != outs[b].shape or not torch.equal(outs[a], outs[b]), (a, b)


# -- search ------------------------------------------------------------------------------------
@pytest.fixture
def tiny():
    torch.manual_seed(0)
    teacher = _model("convnet_xxs")
    student = _model("convnet_xs")
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (64, 1, 28, 28), dtype=torch.uint8, generator=g)
    targets = torch.randint(0, 3, (64,), generator=g)
    train = TensorData(images, targets, (0.5,), (0.25,))
    val = TensorData(images[:16], targets[:16], (0.5,), (0.25,))
    cfg = TrainConfig(epochs=1, batch_size=32, tensorboard=False)
    return teacher, student, train, val, cfg


def test_search_layers_real_run_uses_training_corruptions_only(tiny, tmp_path, monkeypatch):
    teacher, student, train, val, cfg = tiny
    seen = []
    original = birdkit.corruptions.corrupt

    def recording(images, name, severity, **kw):
        seen.append(name)
        return original(images, name, severity, **kw)

    for mod in (birdkit.corruptions, birdkit.evaluation.robustness, birdkit.training.augment):
        monkeypatch.setattr(mod, "corrupt", recording)

    best, rows = search_layers(MethodConfig(name="bird"), teacher=teacher, student=student, train=train, val=val,
                               cfg=cfg, run_dir=tmp_path, k=2, epochs=1, val_samples=16, severities=(1,))
    t_cands, s_cands = candidate_layers(teacher, 2), candidate_layers(student, 2)
    assert [(r["teacher"], r["student"]) for r in rows] == [(t, s) for t in t_cands for s in s_cands]
    assert (best.teacher, best.student) in {(r["teacher"], r["student"]) for r in rows}
    assert isinstance(best, LayerPair)
    best_row = next(r for r in rows if (r["teacher"], r["student"]) == (best.teacher, best.student))
    assert best_row["val_robust_train"] == max(r["val_robust_train"] for r in rows)
    assert all(0 <= r["val_clean"] <= 1 and 0 <= r["val_robust_train"] <= 1 for r in rows)
    # every training corruption was scored, never a held-out one
    assert seen and set(seen) == set(TRAIN_CORRUPTIONS)
    assert not set(seen) & set(HELDOUT_CORRUPTIONS)
    # each candidate trained in its own run directory
    assert {p.name for p in tmp_path.iterdir()} >= {f"{t}__{s}" for t in t_cands for s in s_cands}


def test_search_layers_picks_the_best_scored_pair(tiny, tmp_path, monkeypatch):
    teacher, student, train, val, cfg = tiny
    robust = {("stages.2", "stages.2"): 0.30, ("stages.2", "stages.3"): 0.55,
              ("stages.3", "stages.2"): 0.41, ("stages.3", "stages.3"): 0.20}
    calls = []

    def fake(pcfg, *, cfg, seeds, severities, **kw):
        (pair,) = pcfg.layers
        calls.append((pair.teacher, pair.student, cfg.epochs, cfg.tensorboard, seeds, tuple(severities)))
        r = robust[(pair.teacher, pair.student)]
        return [(0.9, r + 0.02 * k) for k in range(seeds)]  # mean over seeds = r + 0.01

    monkeypatch.setattr(layers_mod, "train_and_score", fake)
    big = cfg.model_copy(update={"epochs": 9, "tensorboard": True})
    best, rows = search_layers(MethodConfig(name="bird"), teacher=teacher, student=student, train=train, val=val,
                               cfg=big, run_dir=tmp_path, k=2, seeds=2, severities=(1, 3))
    assert (best.teacher, best.student) == ("stages.2", "stages.3")
    assert len(rows) == len(robust)
    for r in rows:
        assert r["val_robust_train"] == pytest.approx(robust[(r["teacher"], r["student"])] + 0.01)
        assert r["val_clean"] == pytest.approx(0.9)
        # two seeds 0.02 apart: sample std 0.02 / sqrt(2), the spread the mean-se rule penalises
        assert r["seeds"] == 2 and r["val_robust_train_std"] == pytest.approx(0.02 / 2 ** 0.5)
    # short runs: a third of the epochs, no tensorboard; seeds and severities passed through
    assert {c[2:] for c in calls} == {(3, False, 2, (1, 3))}
    assert sorted(c[:2] for c in calls) == sorted(robust)
