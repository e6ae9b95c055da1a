"""Feature capture: names validated before hooks, hooks always removed, wrappers unwrapped,
outputs selected and pooled, gradients kept; list_layers; every registered model as teacher
and as student."""

from __future__ import annotations

import fnmatch
import importlib.util
import logging

import pytest
import torch
import torchvision
from torch import nn

import birdkit
from birdkit.errors import ShapeError, UnknownNameError
from birdkit.features import (
    Features,
    LayerInfo,
    LayerNotRunError,
    capture,
    list_layers,
    pool_features,
    unwrap_model,
    validate_layers,
)


# ---------------------------------------------------------------------------------------------
# small local models
# ---------------------------------------------------------------------------------------------
class TinyNet(nn.Module):
    def __init__(self, in_chans=3, num_classes=5):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_chans, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU())
        self.block = nn.Sequential(nn.Conv2d(4, 8, 3, stride=2, padding=1), nn.ReLU())
        self.unused = nn.Linear(2, 2)
        self.head = nn.Linear(8, num_classes)

    def forward(self, x):
        x = self.block(self.stem(x))
        return self.head(x.mean(dim=(2, 3)))


class TupleOut(nn.Module):
    def forward(self, x):
        return "label", (x * 2, x * 3)


class DictOut(nn.Module):
    def forward(self, x):
        return {"meta": None, "a": x + 1, "b": x - 1}


class MultiOut(nn.Module):
    def __init__(self):
        super().__init__()
        self.t = TupleOut()
        self.d = DictOut()

    def forward(self, x):
        _, (a, _) = self.t(x)
        return self.d(a)["b"]


class Tokens(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(6, 8)
        self.mix = nn.Linear(8, 8)

    def forward(self, x):  # x: (N, T, 6)
        return self.mix(self.embed(x))


def all_hooks(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) for m in model.modules())


@pytest.fixture
def tiny():
    return TinyNet().eval()


@pytest.fixture
def x():
    return torch.randn(4, 3, 8, 8)


# ---------------------------------------------------------------------------------------------
# basics
# ---------------------------------------------------------------------------------------------
def test_lazy_exports():
    assert birdkit.capture is capture and birdkit.list_layers is list_layers


def test_torchvision_resnet_shapes_and_logits_unchanged():
    model = torchvision.models.resnet18(num_classes=10).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        ref = model(x)
        with capture(model, ["layer4", "fc"], pool="avg") as feats:
            logits = model(x)
    assert torch.equal(logits, ref)
    assert feats["layer4"].shape == (2, 512) and feats["fc"].shape == (2, 10)
    assert torch.equal(feats["fc"], logits)
    assert all_hooks(model) == 0


@pytest.mark.parametrize(
    "pool, shape",
    [("avg", (4, 8)), ("flatten", (4, 8 * 4 * 4)), (None, (4, 8, 4, 4)), (lambda t: t.amax(dim=(2, 3)), (4, 8))],
)
def test_pool_options(tiny, x, pool, shape):
    with capture(tiny, "block", pool=pool) as feats:
        tiny(x)
    assert feats["block"].shape == shape


def test_pool_values():
    t = torch.randn(2, 3, 4, 5)
    assert torch.allclose(pool_features(t, "avg"), t.mean(dim=(2, 3)))
    tok = torch.randn(2, 7, 4)
    assert torch.allclose(pool_features(tok, "avg"), tok.mean(dim=1))
    vec = torch.randn(2, 4)
    assert pool_features(vec, "avg") is vec
    vol = torch.randn(2, 3, 2, 2, 2)
    assert pool_features(vol, "avg").shape == (2, 3)
    assert pool_features(t, "flatten").shape == (2, 60)
    assert pool_features(t, None) is t
    with pytest.raises(ShapeError, match=r"pool='avg' expects .* got shape \(5,\)"):
        pool_features(torch.randn(5), "avg")
    with pytest.raises(ValueError, match="Expected pool to be one of"):
        pool_features(t, "max")


def test_token_outputs_are_pooled_over_tokens():
    m = Tokens()
    x = torch.randn(3, 5, 6)
    with capture(m, ["embed", "mix"]) as feats:
        out = m(x)
    assert feats["mix"].shape == (3, 8)
    assert torch.allclose(feats["mix"], out.mean(dim=1))


def test_bad_pool_rejected_before_hooks(tiny):
    with pytest.raises(ValueError, match="Expected pool"):
        capture(tiny, "block", pool="max")
    assert all_hooks(tiny) == 0


# ---------------------------------------------------------------------------------------------
# gradients
# ---------------------------------------------------------------------------------------------
def test_gradients_flow_to_student_not_teacher(x):
    teacher, student = TinyNet().eval(), TinyNet().train()
    with torch.no_grad(), capture(teacher, "block") as tf:
        teacher(x)
    with capture(student, "block") as sf:
        logits = student(x)
    assert not tf["block"].requires_grad
    assert sf["block"].requires_grad
    loss = ((sf["block"] - tf["block"]) ** 2).mean() + 0 * logits.sum()
    loss.backward()
    assert student.stem[0].weight.grad is not None and student.stem[0].weight.grad.abs().sum() > 0
    assert student.head.weight.grad is not None  # through `0 * logits`, exists but zero
    assert all(p.grad is None for p in teacher.parameters())


def test_detach_true_cuts_the_graph(tiny, x):
    with capture(tiny, "block", detach=True) as feats:
        tiny(x)
    assert not feats["block"].requires_grad


# ---------------------------------------------------------------------------------------------
# names and errors
# ---------------------------------------------------------------------------------------------
def test_unknown_name_suggests_and_hints_before_any_hook(tiny):
    with pytest.raises(UnknownNameError) as info:
        capture(tiny, ["block", "blok.0"])
    msg = str(info.value)
    assert "Unknown layer 'blok.0'" in msg
    assert "Did you mean: 'block.0'" in msg
    assert "birdkit.list_layers(model)" in msg and "birdkit layers MODEL_NAME" in msg
    assert isinstance(info.value, KeyError)
    assert all_hooks(tiny) == 0  # "block" was valid but no hook was registered


def test_layers_argument_types(tiny):
    with pytest.raises(TypeError, match="Expected `layers` to be a str or a sequence of str"):
        capture(tiny, ["block", 3])
    with pytest.raises(ValueError, match="at least one layer"):
        capture(tiny, [])
    with pytest.raises(TypeError, match="select"):
        capture(tiny, "block", select=1.5)


def test_validate_layers_dedups_and_keeps_order(tiny):
    mods = validate_layers(tiny, ["head", "stem.0", "head"])
    assert list(mods) == ["head", "stem.0"]
    assert mods["stem.0"] is tiny.stem[0]


def test_duplicate_names_capture_once(tiny, x):
    with capture(tiny, ["block", "block"]) as feats:
        tiny(x)
    assert list(feats) == ["block"] and feats.calls == {"block": 1}
    assert all_hooks(tiny) == 0


def test_layer_that_did_not_run(tiny, x):
    with capture(tiny, ["block", "unused"]) as feats:
        tiny(x)
    assert "block" in feats and "unused" not in feats
    assert len(feats) == 1 and list(feats) == ["block"]
    assert feats.get("unused") is None
    with pytest.raises(LayerNotRunError, match="layer 'unused' did not run in the forward pass"):
        feats["unused"]
    with pytest.raises(UnknownNameError, match="Unknown captured layer 'head'"):
        feats["head"]
    assert "not run: ['unused']" in repr(feats)


def test_no_forward_inside_block_is_explained(tiny):
    with capture(tiny, "block") as feats:
        pass
    with pytest.raises(LayerNotRunError, match="was the model called inside"):
        feats["block"]


# ---------------------------------------------------------------------------------------------
# hook hygiene
# ---------------------------------------------------------------------------------------------
def test_hooks_removed_when_forward_raises(tiny, x):
    class Boom(RuntimeError):
        pass

    with pytest.raises(Boom):
        with capture(tiny, ["stem", "block", "head"]) as feats:
            tiny(x)
            raise Boom
    assert all_hooks(tiny) == 0
    assert feats["head"].shape == (4, 5)  # what ran before the error stays readable


def test_hooks_removed_when_model_raises_mid_forward(tiny):
    with pytest.raises(RuntimeError):
        with capture(tiny, ["stem", "head"]):
            tiny(torch.randn(2, 7, 8, 8))  # wrong channel count: the first conv raises
    assert all_hooks(tiny) == 0


def test_hook_error_on_non_tensor_output_removes_hooks():
    m = nn.Sequential(nn.Identity())

    class NoTensor(nn.Module):
        def forward(self, x):
            return "text"

    m.append(NoTensor())
    with pytest.raises(ShapeError, match="holds no tensor"):
        with capture(m, "1"):
            m(torch.randn(2, 3))
    assert all_hooks(m) == 0


def test_nested_captures_on_same_model(tiny, x):
    with capture(tiny, "block", pool="avg") as outer:
        with capture(tiny, ["block", "head"], pool=None) as inner:
            tiny(x)
        assert len(tiny.block._forward_hooks) == 1
        tiny(x * 2)
    assert all_hooks(tiny) == 0
    assert inner["block"].shape == (4, 8, 4, 4)
    assert outer.calls["block"] == 2 and inner.calls["block"] == 1
    assert torch.allclose(outer["block"], pool_features(tiny.block(tiny.stem(x * 2)), "avg"))


def test_repeated_forward_keeps_last(tiny):
    a, b = torch.randn(2, 3, 8, 8), torch.randn(3, 3, 8, 8)
    with capture(tiny, "head") as feats:
        tiny(a)
        out = tiny(b)
    assert feats.calls["head"] == 2 and torch.equal(feats["head"], out)


def test_stop_at_last_skips_the_rest(tiny, x):
    ran = []
    tiny.head.register_forward_pre_hook(lambda m, a: ran.append("head"))
    after = []
    with capture(tiny, ["stem", "block"], stop_at_last=True) as feats:
        tiny(x)
        after.append(True)  # not reached: the forward stopped after `block`
    assert not ran and not after
    assert feats["block"].shape == (4, 8)
    assert len(tiny.block._forward_hooks) == 0


def test_stop_at_last_nested_only_swallows_its_own(tiny, x):
    reached = []
    with capture(tiny, "stem", stop_at_last=True) as outer:
        with capture(tiny, "block") as inner:
            tiny(x)
        reached.append("inner-exit")  # the outer stop passes through the inner block
    assert reached == [] and "stem" in outer and "block" not in inner
    assert all_hooks(tiny) == 0


# ---------------------------------------------------------------------------------------------
# output selection
# ---------------------------------------------------------------------------------------------
def test_tuple_and_dict_outputs_take_first_tensor():
    m = MultiOut()
    x = torch.randn(2, 3)
    with capture(m, ["t", "d"], pool=None) as feats:
        m(x)
    assert torch.equal(feats["t"], x * 2)  # skips the leading str
    assert torch.equal(feats["d"], x * 2 + 1)  # skips the None value


def test_select_index_and_key():
    m = MultiOut()
    x = torch.randn(2, 3)
    with capture(m, "d", pool=None, select="b") as feats:
        m(x)
    assert torch.equal(feats["d"], x * 2 - 1)
    with pytest.raises(ShapeError, match=r"select='zzz' does not index the output of layer 'd'"):
        with capture(m, "d", select="zzz"):
            m(x)
    with pytest.raises(ShapeError, match="picks a str"):
        with capture(m, "t", select=0):
            m(x)
    assert all_hooks(m) == 0


# ---------------------------------------------------------------------------------------------
# wrappers
# ---------------------------------------------------------------------------------------------
def test_dataparallel_names_unchanged(tiny, x):
    dp = nn.DataParallel(tiny)  # no CUDA: calls the module directly
    assert unwrap_model(dp) is tiny
    with capture(dp, ["block", "module.head"]) as feats:
        out = dp(x)
    assert feats["block"].shape == (4, 8) and torch.equal(feats["module.head"], out)
    assert all_hooks(tiny) == 0


def test_distributed_data_parallel_unwrapped(tiny, x, tmp_path):
    import torch.distributed as dist

    if not dist.is_available():
        pytest.skip("torch.distributed unavailable")
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'pg'}", rank=0, world_size=1)
    try:
        ddp = nn.parallel.DistributedDataParallel(TinyNet())
        assert unwrap_model(ddp) is ddp.module
        with capture(ddp, "block") as feats:
            ddp(x).sum().backward()
        assert feats["block"].shape == (4, 8) and all_hooks(ddp) == 0
    finally:
        dist.destroy_process_group()


def test_orig_mod_wrapper_unwrapped(tiny, x):
    class FakeCompiled(nn.Module):  # exposes `_orig_mod` like torch.compile's OptimizedModule
        def __init__(self, mod):
            super().__init__()
            self._orig_mod = mod

        def forward(self, *a):
            return self._orig_mod(*a)

    wrapped = nn.DataParallel(FakeCompiled(tiny))
    assert unwrap_model(wrapped) is tiny
    with capture(wrapped, ["block", "module._orig_mod.head"]) as feats:
        wrapped(x)
    assert set(feats) == {"block", "module._orig_mod.head"}


def test_torch_compile_names_and_hooks(tiny, x, caplog):
    compiled = torch.compile(tiny, backend="eager")
    with torch.no_grad():
        ref = compiled(x)  # compiled once without hooks
        with caplog.at_level(logging.WARNING, logger="birdkit.features.capture"):
            with capture(compiled, ["block", "head"]) as feats:
                out = compiled(x)
    assert torch.allclose(out, ref) and torch.allclose(feats["head"], ref)
    assert feats["block"].shape == (4, 8)
    assert "torch.compile'd" in caplog.text
    assert all_hooks(tiny) == 0
    # the compiled forward is back after the block
    assert compiled.__dict__["forward"] is not tiny.__call__
    with torch.no_grad():
        assert torch.allclose(compiled(x), ref)


# ---------------------------------------------------------------------------------------------
# list_layers
# ---------------------------------------------------------------------------------------------
def test_list_layers_shapes_params_and_modes():
    model = TinyNet()
    model.train()
    model.stem.eval()  # mixed modes must survive
    infos = list_layers(model, torch.randn(2, 3, 8, 8))
    by = {i.name: i for i in infos}
    assert [i.name for i in infos] == [n for n, _ in model.named_modules() if n]
    assert by["block"] == LayerInfo("block", "Sequential", (2, 8, 4, 4), 4 * 8 * 9 + 8)
    assert by["head"].output_shape == (2, 5) and by["head"].num_params == 45
    assert by["unused"].output_shape is None
    assert by["stem.1"].type == "BatchNorm2d" and by["block.0"].depth == 2
    assert model.training and not model.stem.training and not model.stem[1].training and model.block.training
    assert all_hooks(model) == 0


def test_list_layers_inputs_and_filters():
    model = TinyNet(in_chans=1)
    with pytest.raises(ValueError, match="needs an input"):
        list_layers(model)
    infos = list_layers(model, input_shape=(1, 8, 8), depth=1)
    assert [i.name for i in infos] == ["stem", "block", "unused", "head"]
    assert infos[1].output_shape == (1, 8, 4, 4)
    model.birdkit_spec = {"name": "tiny", "in_chans": 1, "img_size": 12}
    infos = list_layers(model, pattern="block*")
    assert [i.name for i in infos] == ["block", "block.0", "block.1"]
    assert infos[0].output_shape == (1, 8, 6, 6)
    # tuple and dict example inputs
    tok = Tokens()
    assert list_layers(tok, (torch.randn(1, 2, 6),))[0].output_shape == (1, 2, 8)
    assert list_layers(tok, {"x": torch.randn(1, 3, 6)})[-1].output_shape == (1, 3, 8)


def test_list_layers_removes_hooks_on_failure():
    model = TinyNet()
    with pytest.raises(RuntimeError):
        list_layers(model, torch.randn(1, 5, 8, 8))
    assert all_hooks(model) == 0 and model.training


def test_features_is_a_mapping():
    f = Features(["a", "b"])
    f._store("a", torch.ones(1))
    assert dict(f) == {"a": torch.ones(1)} and f.layers == ("a", "b")


# ---------------------------------------------------------------------------------------------
# every registered model, as teacher and as student
# ---------------------------------------------------------------------------------------------
_HAS_MODELS = importlib.util.find_spec("birdkit.models") is not None and hasattr(
    importlib.import_module("birdkit.models"), "list_models"
)


# over 15M parameters: seconds each on one CPU thread (deselect with -m "not slow")
_HEAVY = frozenset({"resnet50", "resnet101", "resnet152", "densenet201"})


def _registry_cases() -> list:
    if not _HAS_MODELS:
        return []
    names = list(birdkit.list_models())
    own = [n for n in names if not n.startswith("tv_")]
    tv = [n for n in names if n.startswith("tv_")]
    picks = [n for pat in ("tv_resnet18", "tv_mobilenet_v2", "tv_*") for n in fnmatch.filter(tv, pat)]
    cases = []
    for n in own + list(dict.fromkeys(picks))[:2]:
        cases.append(pytest.param(n, marks=pytest.mark.slow) if n in _HEAVY else n)
    return cases


def test_registry_exists_or_is_pending():
    """Guard: when birdkit.models exists, the registry-wide test below must have cases."""
    if not _HAS_MODELS:
        pytest.skip("birdkit.models is not written yet; registry-wide capture test pending")
    assert birdkit.list_models(), "birdkit.list_models() is empty"


@pytest.mark.parametrize("name", _registry_cases())
def test_registry_model_as_teacher_and_student(name):
    """``default_layer`` outputs ``forward_features(x)``; pooled it is ``(N, num_features)``;
    as a teacher (eval, no_grad) nothing needs grad, as a student gradients reach the stem."""
    torch.manual_seed(0)
    model = birdkit.create_model(name, num_classes=10)
    spec = model.birdkit_spec
    layer = model.default_layer
    chans, size = spec.get("in_chans", 3), spec.get("img_size", 32)
    x = torch.randn(2, chans, size, size)

    model.eval()
    with torch.no_grad():
        ref = model.forward_features(x)
        with capture(model, layer, pool=None) as raw, capture(model, layer, pool="avg") as pooled:
            logits = model(x)
    assert logits.shape == (2, 10)
    assert raw[layer].shape == ref.shape and torch.allclose(raw[layer], ref)
    assert pooled[layer].shape == (2, model.num_features) and not pooled[layer].requires_grad
    info = {i.name: i for i in list_layers(model)}[layer]
    assert info.output_shape == (1, *ref.shape[1:])
    assert all_hooks(model) == 0

    model.train()
    with capture(model, layer, pool="avg") as sf:
        out = model(x)
    v = sf[layer]
    assert v.shape == (2, model.num_features) and v.requires_grad
    (v.pow(2).mean() + 0.0 * out.sum()).backward()
    first = next(p for p in model.parameters() if p.requires_grad)
    assert first.grad is not None and torch.isfinite(first.grad).all() and first.grad.abs().sum() > 0
    assert all_hooks(model) == 0
