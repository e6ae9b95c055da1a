"""Every method honours the contract and computes the objective its docstring states."""

import copy

import pytest
import torch
import torch.nn.functional as F

from birdkit.errors import BirdkitError, UnknownNameError
from birdkit.functional.cka import cka
from birdkit.methods import create_method, list_methods
from birdkit.models import create_model
from birdkit.training.config import LayerPair, MethodConfig


@pytest.fixture(scope="module")
def nets():
    torch.manual_seed(0)
    teacher = create_model("convnet_xs", num_classes=5, in_chans=1, img_size=28)
    student = create_model("convnet_s", num_classes=4, in_chans=1, img_size=28)
    x = torch.randn(16, 1, 28, 28)
    y = torch.randint(0, 4, (16,))
    return teacher, student, x, y


@pytest.mark.parametrize("name", ["none", "task", "oracle", "ft", "lp", "lpft", "lwf", "hints", "bird"])
def test_contract(nets, name):
    teacher, student, x, y = nets
    m = create_method(name, student=copy.deepcopy(student), teacher=copy.deepcopy(teacher), num_classes=4)
    out = m(x, y)
    assert {"loss", "output"} <= set(out)
    assert out["output"].shape == (16, 4)
    assert out["loss"].ndim == 0 and torch.isfinite(out["loss"])
    if m.trains:
        out["loss"].backward()
        grads = [p.grad for p in m.trainable_parameters()]
        assert any(g is not None and g.abs().sum() > 0 for g in grads)
    # the teacher never trains and stays in eval mode
    m.train()
    if m.teacher is not None:
        assert not m.teacher.training
        assert all(not p.requires_grad for p in m.teacher.parameters())
        assert not any(p is q for p in m.parameters() for q in m.teacher.parameters())


def test_bird_objective_matches_formula(nets):
    teacher, student, x, y = nets
    m = create_method(MethodConfig(name="bird", alpha=0.7), student=copy.deepcopy(student), teacher=teacher)
    out = m(x, y)
    # independent recomputation with plain forward hooks
    feats = {}
    t_layer = dict(m.teacher.named_modules())[teacher.default_layer]
    s_layer = dict(m.model.named_modules())[student.default_layer]
    h1 = t_layer.register_forward_hook(lambda mod, i, o: feats.__setitem__("t", o.mean((2, 3))))
    h2 = s_layer.register_forward_hook(lambda mod, i, o: feats.__setitem__("s", o.mean((2, 3))))
    with torch.no_grad():
        m.teacher(x)
    logits = m.model(x)
    h1.remove(), h2.remove()
    expected = 0.3 * F.cross_entropy(logits, y) + 0.7 * (1 - cka(feats["t"], feats["s"]))
    assert torch.allclose(out["loss"], expected, atol=1e-6)


def test_bird_multiple_layer_pairs_weighted(nets):
    teacher, student, x, y = nets
    names_t = [n for n, _ in teacher.named_modules() if n][:3]
    pairs = [LayerPair(teacher=teacher.default_layer, student=student.default_layer, weight=1.0),
             LayerPair(teacher=teacher.default_layer, student=student.default_layer, weight=2.0)]
    one = create_method(MethodConfig(name="bird", alpha=1.0), student=copy.deepcopy(student), teacher=teacher)
    two = create_method(MethodConfig(name="bird", alpha=1.0, layers=pairs), student=copy.deepcopy(student),
                        teacher=teacher)
    assert torch.allclose(two(x, y)["loss"], 3 * one(x, y)["loss"], atol=1e-6)
    assert names_t


def test_lp_trains_only_the_head_and_keeps_bn_stats(nets):
    teacher, _, x, y = nets
    m = create_method("lp", teacher=teacher, num_classes=4)
    head = {id(p) for p in m.model.get_classifier().parameters()}
    assert {id(p) for p in m.trainable_parameters()} == head
    bn = [mod for mod in m.model.modules() if isinstance(mod, torch.nn.BatchNorm2d)]
    before = [b.running_mean.clone() for b in bn]
    m.train()
    m(x, y)
    assert all(torch.equal(a, b.running_mean) for a, b in zip(before, bn))


def test_lpft_stages(nets):
    teacher, _, x, y = nets
    m = create_method(MethodConfig(name="lpft", lp_epochs_fraction=0.5, ft_lr_scale=0.1), teacher=teacher,
                      num_classes=4)
    st = m.stages(4)
    assert [(s.name, s.epochs, s.lr_scale) for s in st] == [("lp", 2, 1.0), ("ft", 2, 0.1)]
    n_head = len(list(m.model.get_classifier().parameters()))
    m.set_stage("lp")
    assert len(m.trainable_parameters()) == n_head
    m.set_stage("ft")
    assert len(m.trainable_parameters()) == len(list(m.model.parameters()))


def test_lwf_distills_old_head_from_teacher(nets):
    teacher, _, x, y = nets
    m = create_method(MethodConfig(name="lwf", temperature=2.0), teacher=teacher, num_classes=4)
    out = m(x, y)
    # at initialisation the old head on the copied backbone reproduces the teacher exactly,
    # so the KD term equals the teacher's own soft-label entropy at T=2
    p = F.softmax(teacher(x) / 2, dim=1)
    entropy = -(p * p.log()).sum(1).mean()
    m.eval()
    assert torch.allclose(m(x, y)["lwf"], entropy, atol=1e-5)
    assert out["output"].shape == (16, 4)


def test_hints_regressor_shape_and_loss(nets):
    teacher, student, x, y = nets
    m = create_method(MethodConfig(name="hints", alpha=1.0), student=copy.deepcopy(student), teacher=teacher)
    (reg,) = m.regressors
    assert reg.out_features == teacher.num_features or reg.out_features > 0
    assert torch.allclose(m(x, y)["loss"], m(x, y)["hint"], atol=1e-6)


def test_errors(nets):
    teacher, student, _, _ = nets
    with pytest.raises(UnknownNameError, match="Did you mean: 'bird'"):
        create_method("brid", student=student, teacher=teacher)
    with pytest.raises(BirdkitError, match="needs a teacher"):
        create_method("bird", student=student)
    with pytest.raises(UnknownNameError, match="Unknown layer"):
        create_method(MethodConfig(name="bird", layers=[LayerPair(teacher="nope", student=student.default_layer)]),
                      student=student, teacher=teacher)
    assert set(list_methods()) >= {"none", "oracle", "ft", "lp", "lpft", "lwf", "hints", "bird"}


def test_bird_paper_form_alpha_beta(nets):
    teacher, student, x, y = nets
    a = create_method(MethodConfig(name="bird", alpha=0.25), student=copy.deepcopy(student), teacher=teacher)
    b = create_method(MethodConfig(name="bird", alpha=0.75, beta=0.25), student=copy.deepcopy(student),
                      teacher=teacher)
    oa, ob = a(x, y), b(x, y)
    # (1 - 0.25) CE + 0.25 rep  ==  0.75 CE + 0.25 rep
    assert torch.allclose(oa["loss"], ob["loss"], atol=1e-6)
    c = create_method(MethodConfig(name="bird", alpha=1.0, beta=2.0), student=copy.deepcopy(student), teacher=teacher)
    oc = c(x, y)
    assert torch.allclose(oc["loss"], oc["ce"] + 2.0 * oc["cka_loss"], atol=1e-6)
