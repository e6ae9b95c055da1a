"""``timm:<name>`` models: the birdkit contract on timm's tiny test architectures, equality with
timm's own model (same seed, same weights, same outputs, same names and state-dict keys), the
default layer, capture and ``birdkit layers``, shared storage with the timm model, BIRD with a
timm teacher and student, a checkpoint round trip, and the errors (unknown names with close
matches, refused keywords and architectures, timm not installed)."""

from __future__ import annotations

import copy
import sys

import pytest
import torch
from typer.testing import CliRunner

from birdkit.checkpoint import load_checkpoint, save_checkpoint
from birdkit.cli import main as cli_main
from birdkit.config import LayerPair
from birdkit.errors import (
    MissingExtraError,
    ModelArgumentError,
    ShapeError,
    UnknownNameError,
    UnsupportedModelError,
)
from birdkit.features.capture import capture, list_layers
from birdkit.methods import create_method
from birdkit.models import MODELS, BirdkitModel, create_model, list_models, meta_init, model_info

# timm's own tiny test architectures (a few thousand to ~0.5M parameters): one per family kind
TINY = {"test_resnet": "layer4", "test_convnext": "stages.3", "test_efficientnet": "bn2", "test_vit": "norm"}


@pytest.fixture(scope="module")
def timm():
    return pytest.importorskip("timm")


def _pair(timm, name, seed=0, **kw):
    """The adapter and timm's own model built from the same seed (so with the same weights)."""
    torch.manual_seed(seed)
    model = create_model(f"timm:{name}", **kw)
    torch.manual_seed(seed)
    args = dict(pretrained=False, num_classes=kw.get("num_classes", 10), in_chans=kw.get("in_chans", 3))
    try:
        ref = timm.create_model(name, img_size=kw.get("img_size", 32), **args)
    except TypeError:
        ref = timm.create_model(name, **args)
    return model, ref


@pytest.mark.parametrize("name", sorted(TINY))
def test_contract(timm, name, contract):
    model = create_model(f"timm:{name}", num_classes=7, in_chans=1, img_size=32)
    assert isinstance(model, BirdkitModel) and model.default_layer == TINY[name]
    contract(model, 1, 32, num_classes=7)


def test_resnet18_gray_28px_as_in_the_docs(timm, contract):
    model = create_model("timm:resnet18", num_classes=10, in_chans=1, img_size=28)
    assert (model.default_layer, model.classifier_name, model.num_features) == ("layer4", "fc", 512)
    contract(model, 1, 28)


@pytest.mark.parametrize("name", sorted(TINY))
def test_same_function_names_and_keys_as_timm(timm, name):
    model, ref = _pair(timm, name, num_classes=5, in_chans=3, img_size=32)
    assert [n for n, _ in model.named_modules()] == [n for n, _ in ref.named_modules()]
    ours, theirs = model.state_dict(), ref.state_dict()
    assert list(ours) == list(theirs)
    assert all(torch.equal(ours[k], theirs[k]) for k in theirs)
    model.eval(), ref.eval()
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(x), ref(x), rtol=0, atol=0)
        torch.testing.assert_close(model.forward_features(x), ref.forward_features(x), rtol=0, atol=0)
        f = ref.forward_features(x)
        torch.testing.assert_close(model.forward_head(f, pre_logits=True), ref.forward_head(f, pre_logits=True))
    model.load_state_dict(ref.state_dict())  # a timm state dict loads as is (strict)


def test_default_layer_is_timms_feature_module_when_it_returns_the_features(timm):
    for name in ("test_resnet", "test_convnext"):
        model = create_model(f"timm:{name}")
        assert model.default_layer == model.timm_model.feature_info[-1]["module"]
    vit = create_model("timm:test_vit")  # blocks.<last> is read before the final LayerNorm: norm is
    assert vit.timm_model.feature_info[-1]["module"] != vit.default_layer == "norm"


def test_capture_of_the_default_layer_is_the_pooled_features(timm):
    model, ref = _pair(timm, "test_resnet", in_chans=1, img_size=28)
    model.eval(), ref.eval()
    x = torch.randn(4, 1, 28, 28)
    with torch.no_grad(), capture(model, model.default_layer, pool="avg") as feats:
        model(x)
    with torch.no_grad():  # timm's own pre-logits of a ResNet: global average pooling of layer4
        torch.testing.assert_close(feats[model.default_layer], ref.forward_head(ref.forward_features(x),
                                                                                 pre_logits=True))


def test_list_layers_and_cli(timm):
    model = create_model("timm:test_convnext", in_chans=1, img_size=32)
    infos = list_layers(model)
    assert [i.name for i in infos] == [n for n, _ in model.timm_model.named_modules() if n]
    assert {i.name: i.output_shape for i in infos}["stages.3"] == model.forward_features(
        torch.zeros(1, 1, 32, 32)).shape
    assert model.training and model.timm_model.training  # list_layers put both back in training mode
    cli_main._register_commands()
    r = CliRunner().invoke(cli_main.app, ["layers", "timm:test_convnext", "--in-chans", "1", "--depth", "2"])
    assert r.exit_code == 0, r.output
    assert "stages.3 ★" in r.output and "Default layer 'stages.3'" in r.output


def test_shares_storage_and_mode_with_the_timm_model(timm):
    model = create_model("timm:test_vit", img_size=32)
    inner = model.timm_model
    assert inner not in list(model.modules())  # not listed twice
    model.to(torch.float64)
    assert all(p.dtype == torch.float64 for p in inner.parameters())
    assert model(torch.randn(2, 3, 32, 32, dtype=torch.float64)).dtype == torch.float64
    model.eval()
    assert not inner.training
    model.train()
    assert inner.training
    twin = copy.deepcopy(model)
    assert twin.timm_model is not inner and twin.timm_model._modules is twin._modules
    with torch.no_grad():
        twin.head.weight.zero_()
    assert model.head.weight.abs().sum() > 0
    model.reset_classifier(4)
    assert inner.get_classifier() is model.get_classifier() and inner.num_classes == 4
    assert model.get_classifier().weight.dtype == torch.float64


def test_bird_with_a_timm_teacher_and_student(timm):
    teacher = create_model("timm:test_resnet", num_classes=3, in_chans=1, img_size=32)
    student = create_model("timm:test_vit", num_classes=3, in_chans=1, img_size=32)
    method = create_method("bird", student=student, teacher=teacher, num_classes=3)
    assert method.pairs == [LayerPair(teacher="layer4", student="norm")]
    out = method(torch.randn(8, 1, 32, 32), torch.randint(0, 3, (8,)))
    out["loss"].backward()
    assert torch.isfinite(out["loss"]) and 0 <= float(out["cka_loss"]) <= 1
    assert student.get_classifier().weight.grad is not None
    assert all(p.grad is None for p in teacher.parameters())


def test_checkpoint_round_trip_rebuilds_from_the_spec(timm, tmp_path):
    model = create_model("timm:test_efficientnet", num_classes=4, in_chans=1, img_size=32).eval()
    path = save_checkpoint(tmp_path / "m.safetensors", model)
    again, meta = load_checkpoint(path)
    assert meta["spec"]["name"] == "timm:test_efficientnet" and isinstance(again, BirdkitModel)
    x = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(again(x), model(x), rtol=0, atol=0)


def test_names_info_and_listing(timm):
    assert "timm:test_resnet" in MODELS and "timm:no_such_net" not in MODELS
    assert {"timm:test_resnet", "timm:test_vit"} <= set(list_models("timm:test_*"))
    assert not [n for n in list_models() if n.startswith("timm:")]  # timm's catalogue only on request
    info = model_info("timm:resnet18", in_chans=1)
    assert (info["family"], info["default_layer"], info["timm_name"]) == ("timm/resnet", "layer4", "resnet18")
    ref = timm.create_model("resnet18", pretrained=False, num_classes=10, in_chans=1)
    assert info["params"] == sum(p.numel() for p in ref.parameters())


def test_unknown_name_lists_close_timm_names(timm):
    with pytest.raises(UnknownNameError, match=r"Unknown model 'timm:resnet19'.*'timm:resnet18'") as e:
        create_model("timm:resnet19")
    assert "list_models('timm:" in str(e.value) and len(str(e.value).splitlines()) == 1


def test_an_image_size_the_architecture_cannot_take_is_refused_at_build(timm):
    with pytest.raises(ShapeError, match=r"timm:test_vit does not run on 1x28x28 images.*divisible by patch"):
        create_model("timm:test_vit", in_chans=1, img_size=28)


def test_refused_keywords_and_architectures(timm):
    with pytest.raises(ModelArgumentError, match="random weights"):
        create_model("timm:test_resnet", pretrained=True)
    with pytest.raises(ModelArgumentError, match="features_only"):
        create_model("timm:test_resnet", features_only=True)
    with pytest.raises(ModelArgumentError, match="timm:test_resnet.*no_such_kwarg"):
        create_model("timm:test_resnet", no_such_kwarg=1)
    with meta_init(), pytest.raises(UnsupportedModelError, match=r"channels-last \(N, H, W, C\)"):
        create_model("timm:swin_tiny_patch4_window7_224", img_size=224)
    info = model_info("timm:deit_tiny_distilled_patch16_224", img_size=224)  # two heads: reported, not raised
    assert info["params"] is None and "not one nn.Linear" in info["error"]
    cli_main._register_commands()
    r = CliRunner().invoke(cli_main.app, ["models", "timm:swin_tiny_patch4_window7_224", "--img-size", "224"])
    assert r.exit_code == 0 and "not supported" in r.output, r.output


def test_extra_keywords_reach_timm_and_the_spec(timm):
    model = create_model("timm:test_vit", img_size=32, drop_rate=0.25)
    assert model.timm_model.head_drop.p == 0.25 and model.birdkit_spec["drop_rate"] == 0.25


def test_without_timm_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", None)  # `import timm` now fails as if not installed
    with pytest.raises(MissingExtraError, match=r"pip install birdkit\[timm\]") as e:
        create_model("timm:resnet18")
    assert isinstance(e.value, ImportError) and len(str(e.value).splitlines()) == 1
    with pytest.raises(MissingExtraError):
        list_models("timm:*")
    assert "resnet18" in list_models("resnet*")  # the rest of the registry does not need timm


class _Functional(torch.nn.Module):
    """timm-shaped, but ``forward_features`` ends with a functional op after its last module."""

    def __init__(self, feature_info=None):
        super().__init__()
        self.stem, self.fc = torch.nn.Conv2d(1, 4, 3), torch.nn.Linear(4, 2)
        if feature_info is not None:
            self.feature_info = feature_info

    def forward_features(self, x):
        return self.stem(x) * 2

    def forward_head(self, f, pre_logits=False):
        f = f.mean(dim=(2, 3))
        return f if pre_logits else self.fc(f)

    def forward(self, x):
        return self.forward_head(self.forward_features(x))

    def get_classifier(self):
        return self.fc


def test_without_a_module_returning_the_features_timms_feature_module_is_the_fallback(caplog):
    from birdkit.models.timm_models import TimmModel

    model = TimmModel(_Functional([{"module": "stem"}]), timm_name="functional", in_chans=1, img_size=8)
    assert model.default_layer == "stem" and "read before timm's last operations" in caplog.text
    with pytest.raises(UnsupportedModelError, match="no default layer"):
        TimmModel(_Functional(), timm_name="functional", in_chans=1, img_size=8)
