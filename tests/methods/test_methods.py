"""Every method honours the contract, computes the objective its docstring states (checked
against independent recomputations with plain forward hooks), and declares what it needs."""

import copy

import pytest
import torch
import torch.nn.functional as F

from birdkit.config import LayerPair, MethodConfig
from birdkit.errors import BirdkitError, UnknownNameError
from birdkit.functional.cka import cka
from birdkit.methods import (
    METHODS,
    benchmark_methods,
    create_method,
    list_methods,
    method_class,
    method_info,
    tunable_methods,
)
from birdkit.models import create_model

ALL = ["none", "task", "oracle", "ft", "lp", "lpft", "lwf", "hints", "bird"]
BENCHMARK = ["none", "oracle", "ft", "lp", "lpft", "lwf", "hints", "bird"]


@pytest.fixture(scope="module")
def nets():
    torch.manual_seed(0)
    teacher = create_model("convnet_xs", num_classes=5, in_chans=1, img_size=28)
    student = create_model("convnet_s", num_classes=4, in_chans=1, img_size=28)
    x = torch.randn(16, 1, 28, 28)
    y = torch.randint(0, 4, (16,))
    return teacher, student, x, y


def _hooked_forward(model, layers, x, grad=True):
    """Independent reference: plain forward hooks, conv maps averaged over (H, W)."""
    mods = dict(model.named_modules())
    feats = {}
    handles = [mods[n].register_forward_hook(lambda mod, i, o, n=n: feats.__setitem__(n, o.mean((2, 3))))
               for n in dict.fromkeys(layers)]
    try:
        with torch.set_grad_enabled(grad):
            out = model(x)
    finally:
        for h in handles:
            h.remove()
    return out, feats


@pytest.mark.parametrize("name", ALL)
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
    _, tf = _hooked_forward(m.teacher, [teacher.default_layer], x, grad=False)
    logits, sf = _hooked_forward(m.model, [student.default_layer], x)
    rep = 1 - cka(tf[teacher.default_layer], sf[student.default_layer])
    expected = 0.3 * F.cross_entropy(logits, y) + 0.7 * rep
    assert torch.allclose(out["loss"], expected, atol=1e-6)
    assert torch.allclose(out["cka_loss"], rep, atol=1e-6)
    assert torch.allclose(out["ce"], F.cross_entropy(logits, y), atol=1e-6)


def test_bird_multiple_layer_pairs_weighted(nets):
    teacher, student, x, y = nets
    # two different pairs: the default layers, and an earlier stage of each network
    early_t, early_s = "stages.1", "stages.2"
    assert early_t != teacher.default_layer and early_s != student.default_layer
    pairs = [LayerPair(teacher=teacher.default_layer, student=student.default_layer, weight=1.0),
             LayerPair(teacher=early_t, student=early_s, weight=2.5)]
    m = create_method(MethodConfig(name="bird", alpha=0.6, layers=pairs), student=copy.deepcopy(student),
                      teacher=teacher)
    assert [(p.teacher, p.student, p.weight) for p in m.pairs] == [(p.teacher, p.student, p.weight) for p in pairs]
    out = m(x, y)

    _, tf = _hooked_forward(m.teacher, [p.teacher for p in pairs], x, grad=False)
    logits, sf = _hooked_forward(m.model, [p.student for p in pairs], x)
    terms = [1 - cka(tf[p.teacher], sf[p.student]) for p in pairs]
    # the two terms differ, so a method that reads the wrong layer or ignores a pair is caught
    assert abs(terms[0].item() - terms[1].item()) > 1e-3
    rep = 1.0 * terms[0] + 2.5 * terms[1]
    assert torch.allclose(out["cka_loss"], rep, atol=1e-5)
    assert torch.allclose(out["loss"], 0.4 * F.cross_entropy(logits, y) + 0.6 * rep, atol=1e-5)


def test_lp_trains_only_the_head_and_keeps_bn_stats(nets):
    teacher, _, x, y = nets
    m = create_method("lp", teacher=teacher, num_classes=4)
    head = {id(p) for p in m.model.get_classifier().parameters()}
    assert {id(p) for p in m.trainable_parameters()} == head
    bn = [mod for mod in m.model.modules() if isinstance(mod, torch.nn.BatchNorm2d)]
    assert bn
    before = [b.running_mean.clone() for b in bn]
    m.train()
    out = m(x, y)
    assert all(torch.equal(a, b.running_mean) for a, b in zip(before, bn, strict=True))
    # the probe reads the teacher's (eval-mode) features: its logits are those of the copied
    # backbone in eval mode with the new head
    m.model.eval()
    with torch.no_grad():
        ref = m.model(x)
    assert torch.allclose(out["output"], ref, atol=1e-5)
    assert out["output"].shape == (16, 4)


def test_lpft_stages(nets):
    teacher, _, x, y = nets
    m = create_method(MethodConfig(name="lpft", lp_epochs_fraction=0.5, ft_lr_scale=0.1), teacher=teacher,
                      num_classes=4)
    st = m.stages(4)
    assert [(s.name, s.epochs, s.lr_scale) for s in st] == [("lp", 2, 1.0), ("ft", 2, 0.1)]
    head = {id(p) for p in m.model.get_classifier().parameters()}
    m.set_stage("lp")
    assert {id(p) for p in m.trainable_parameters()} == head
    m.set_stage("ft")
    assert {id(p) for p in m.trainable_parameters()} == {id(p) for p in m.model.parameters()}


def test_lpft_from_config_honours_fraction_and_lr_scale(nets):
    teacher, _, _, _ = nets
    m = create_method(MethodConfig(name="lpft", lp_epochs_fraction=0.25, ft_lr_scale=0.3), teacher=teacher,
                      num_classes=4)
    assert (m.lp_fraction, m.ft_lr_scale) == (0.25, 0.3)
    assert [(s.name, s.epochs, s.lr_scale) for s in m.stages(8)] == [("lp", 2, 1.0), ("ft", 6, 0.3)]
    m2 = create_method(MethodConfig(name="lpft", lp_epochs_fraction=0.75, ft_lr_scale=0.05), teacher=teacher,
                       num_classes=4)
    assert [(s.name, s.epochs, s.lr_scale) for s in m2.stages(8)] == [("lp", 6, 1.0), ("ft", 2, 0.05)]


def _soft_ce(logits, target_logits, t):
    p = F.softmax(target_logits / t, dim=1)
    return -(p * F.log_softmax(logits / t, dim=1)).sum(1).mean()


def test_lwf_distills_old_head_from_teacher(nets):
    teacher, _, x, y = nets
    m = create_method(MethodConfig(name="lwf", temperature=2.0), teacher=teacher, num_classes=4)
    m.eval()
    out = m(x, y)
    # at initialisation the old head on the copied backbone reproduces the teacher exactly,
    # so the KD term equals the teacher's own soft-label entropy at T=2
    with torch.no_grad():
        t_logits = teacher(x)
    p = F.softmax(t_logits / 2, dim=1)
    entropy = -(p * p.log()).sum(1).mean()
    assert torch.allclose(out["lwf"], entropy, atol=1e-5)
    assert torch.allclose(out["loss"], F.cross_entropy(out["output"], y) + entropy, atol=1e-5)
    assert out["output"].shape == (16, 4)


def test_lwf_from_config_honours_temperature_and_weight(nets):
    teacher, _, x, y = nets
    m = create_method(MethodConfig(name="lwf", temperature=3.5, lwf_weight=0.4), teacher=teacher, num_classes=4)
    assert (m.temperature, m.weight) == (3.5, 0.4)
    m.train()
    # perturb the old head so the KD term is not the teacher's entropy: recompute it independently
    with torch.no_grad():
        for p in m.old_head.parameters():
            p.add_(0.1 * torch.randn_like(p))
    out = m(x, y)
    with torch.no_grad():
        t_logits = teacher(x)
        feats = m.model.forward_head(m.model.forward_features(x), pre_logits=True)
        kd = _soft_ce(m.old_head(feats), t_logits, 3.5)
        ce = F.cross_entropy(m.model.get_classifier()(feats), y)
    assert torch.allclose(out["lwf"], kd, atol=1e-5)
    assert not torch.allclose(kd, _soft_ce(m.old_head(feats), t_logits, 2.0), atol=1e-4)
    assert torch.allclose(out["loss"], ce + 0.4 * kd, atol=1e-5)


def test_hints_regressor_shape_and_loss(nets):
    teacher, student, x, y = nets
    m = create_method(MethodConfig(name="hints", alpha=0.5), student=copy.deepcopy(student), teacher=teacher)
    (reg,) = m.regressors
    _, tf = _hooked_forward(m.teacher, [teacher.default_layer], x, grad=False)
    logits, sf = _hooked_forward(m.model, [student.default_layer], x)
    t_feat, s_feat = tf[teacher.default_layer], sf[student.default_layer]
    assert (reg.in_features, reg.out_features) == (s_feat.shape[1], t_feat.shape[1])
    assert s_feat.shape[1] != t_feat.shape[1]  # the regressor really maps between two widths
    out = m(x, y)
    hint = F.mse_loss(reg(s_feat), t_feat)
    assert torch.allclose(out["hint"], hint, atol=1e-6)
    assert torch.allclose(out["loss"], 0.5 * F.cross_entropy(logits, y) + 0.5 * hint, atol=1e-6)


def test_hints_multiple_layer_pairs(nets):
    teacher, student, x, y = nets
    pairs = [LayerPair(teacher=teacher.default_layer, student=student.default_layer, weight=1.0),
             LayerPair(teacher="stages.1", student="stages.2", weight=3.0)]
    m = create_method(MethodConfig(name="hints", alpha=1.0, layers=pairs), student=copy.deepcopy(student),
                      teacher=teacher)
    _, tf = _hooked_forward(m.teacher, [p.teacher for p in pairs], x, grad=False)
    _, sf = _hooked_forward(m.model, [p.student for p in pairs], x)
    dims = [(r.in_features, r.out_features) for r in m.regressors]
    assert dims == [(sf[p.student].shape[1], tf[p.teacher].shape[1]) for p in pairs]
    assert dims[0] != dims[1]
    expected = sum(p.weight * F.mse_loss(r(sf[p.student]), tf[p.teacher])
                   for p, r in zip(pairs, m.regressors, strict=True))
    out = m(x, y)
    assert torch.allclose(out["hint"], expected, atol=1e-5)
    assert torch.allclose(out["loss"], expected, atol=1e-5)


def test_errors(nets):
    teacher, student, _, _ = nets
    with pytest.raises(UnknownNameError, match="Did you mean: 'bird'"):
        create_method("brid", student=student, teacher=teacher)
    with pytest.raises(UnknownNameError, match="Unknown layer"):
        create_method(MethodConfig(name="bird", layers=[LayerPair(teacher="nope", student=student.default_layer)]),
                      student=student, teacher=teacher)
    with pytest.raises(UnknownNameError, match="Unknown layer"):
        create_method(MethodConfig(name="hints", layers=[LayerPair(teacher=teacher.default_layer, student="nope")]),
                      student=student, teacher=teacher)
    assert list_methods() == ["task", "none", "oracle", "ft", "lp", "lpft", "lwf", "hints", "bird"]
    assert list_methods("l*") == ["lp", "lpft", "lwf"]


@pytest.mark.parametrize("name", ["ft", "lp", "lpft", "lwf", "hints", "bird"])
def test_create_method_refuses_missing_teacher(nets, name):
    _, student, _, _ = nets
    with pytest.raises(BirdkitError, match=rf"Method '{name}' needs a teacher \(pass --teacher CKPT\)"):
        create_method(name, student=student, num_classes=4)


@pytest.mark.parametrize("name", ["none", "task", "oracle", "hints", "bird"])
def test_create_method_refuses_missing_student(nets, name):
    teacher, _, _, _ = nets
    with pytest.raises(BirdkitError, match=rf"Method '{name}' needs a student \(pass --student CKPT\)"):
        create_method(name, teacher=teacher, num_classes=4)


@pytest.mark.parametrize("name", ["ft", "lp", "lpft", "lwf"])
def test_teacher_methods_need_no_student_but_num_classes(nets, name):
    teacher, _, x, _ = nets
    with pytest.raises(BirdkitError, match=rf"Method '{name}': pass num_classes \(no student given\)"):
        create_method(name, teacher=teacher)
    m = create_method(name, teacher=teacher, num_classes=3)
    assert m.model.num_classes == 3
    assert m.model(x).shape == (16, 3)
    assert m.model is not teacher


def test_benchmark_and_tunable_declarations():
    assert benchmark_methods() == BENCHMARK
    assert tunable_methods() == ["ft", "lp", "lpft", "lwf", "hints", "bird"]
    axes = {n: method_class(n).tunable for n in ALL}
    assert axes == {"none": (), "task": (), "oracle": (), "ft": ("lr",), "lp": ("lr",), "lpft": ("lr",),
                    "lwf": ("lr",), "hints": ("lr", "alpha"), "bird": ("lr", "alpha")}
    assert {n: method_info(n)["tunable"] for n in ALL} == {n: list(a) for n, a in axes.items()}


def test_needs_declarations():
    decl = {n: (c.uses_teacher, c.starts_from_teacher, c.has_layers, c.trains, c.needs_augment, c.pipeline_step,
                c.in_benchmark)
            for n in ALL for c in [METHODS.get(n)]}
    assert decl == {
        "none": (False, False, False, False, False, "student", True),
        "task": (False, False, False, True, False, "train", False),
        "oracle": (False, False, False, True, True, "oracle", True),
        "ft": (True, True, False, True, False, "transfer", True),
        "lp": (True, True, False, True, False, "transfer", True),
        "lpft": (True, True, False, True, False, "transfer", True),
        "lwf": (True, True, False, True, False, "transfer", True),
        "hints": (True, False, True, True, False, "transfer", True),
        "bird": (True, False, True, True, False, "transfer", True),
    }
    info = method_info("lwf")
    assert (info["needs_student"], info["starts_from"], info["uses_teacher"]) == (False, "teacher", True)
    info = method_info("bird")
    assert (info["needs_student"], info["starts_from"], info["has_layers"]) == (True, "student", True)


def test_bird_from_config_honours_kernel_and_debiased(nets):
    teacher, student, x, y = nets
    m = create_method(MethodConfig(name="bird", alpha=1.0, kernel="rbf", debiased=True),
                      student=copy.deepcopy(student), teacher=teacher)
    assert (m.rep_loss.settings.kernel, m.rep_loss.settings.debiased) == ("rbf", True)
    out = m(x, y)
    _, tf = _hooked_forward(m.teacher, [teacher.default_layer], x, grad=False)
    _, sf = _hooked_forward(m.model, [student.default_layer], x)
    t, s = tf[teacher.default_layer], sf[student.default_layer]
    expected = 1 - cka(t, s, kernel="rbf", debiased=True)
    assert torch.allclose(out["cka_loss"], expected, atol=1e-5)
    # and the options matter: the default (linear, biased) term is a different number
    assert not torch.allclose(expected, 1 - cka(t, s), atol=1e-3)
    assert torch.allclose(out["loss"], expected, atol=1e-5)


def test_bird_paper_form_alpha_beta(nets):
    teacher, student, x, y = nets
    a = create_method(MethodConfig(name="bird", alpha=0.25), student=copy.deepcopy(student), teacher=teacher)
    assert (a.task_weight, a.rep_weight) == (0.75, 0.25)
    b = create_method(MethodConfig(name="bird", alpha=0.75, beta=0.25), student=copy.deepcopy(student),
                      teacher=teacher)
    assert (b.task_weight, b.rep_weight) == (0.75, 0.25)
    oa, ob = a(x, y), b(x, y)
    # (1 - 0.25) CE + 0.25 rep  ==  0.75 CE + 0.25 rep
    assert torch.allclose(oa["loss"], ob["loss"], atol=1e-6)
    c = create_method(MethodConfig(name="bird", alpha=1.0, beta=2.0), student=copy.deepcopy(student), teacher=teacher)
    assert (c.task_weight, c.rep_weight) == (1.0, 2.0)
    oc = c(x, y)
    _, tf = _hooked_forward(c.teacher, [teacher.default_layer], x, grad=False)
    logits, sf = _hooked_forward(c.model, [student.default_layer], x)
    ce = F.cross_entropy(logits, y)
    rep = 1 - cka(tf[teacher.default_layer], sf[student.default_layer])
    assert ce.item() > 0.1 and rep.item() > 1e-3  # both terms present, so the weights show
    assert torch.allclose(oc["loss"], ce + 2.0 * rep, atol=1e-6)
