"""Registry-wide smoke test of the model contract.

Every birdkit-native model: shapes for 1 and 3 channels at 28 and 32 px, forward equals
forward_head(forward_features), pre-logits width, default layer output (via a hook) equals
forward_features, rebuild from birdkit_spec, backward, reset_classifier. Representative
torchvision models get the same checks plus equality with torchvision's own forward; all
torchvision models get a shape-only check on the meta device.
"""

from __future__ import annotations

import importlib
import os

import pytest
import torch

from birdkit.models import MODELS, create_model, list_models, meta_init

NATIVE = [n for n in list_models() if not n.startswith("tv_")]
# Deep variants of a family share its stem and block code, so 1 channel at 28 px is checked on
# the shallower members only (keeps the suite fast on 2 CPU cores).
DEEP = {"resnet34", "resnet101", "resnet152", "densenet169", "densenet201"}


def test_native_family_is_complete():
    expected = {"convnet_xxs", "convnet_xs", "convnet_s", "convnet_m", "convnet_l", "convnet_xl", "resnet18",
                "resnet34", "resnet50", "resnet101", "resnet152", "mobilenetv2", "densenet121", "densenet169",
                "vit_tiny"}
    assert expected <= set(NATIVE)


@pytest.mark.parametrize("name", NATIVE)
def test_native_rgb_32(name, contract):
    contract(create_model(name, in_chans=3, img_size=32), 3, 32)


@pytest.mark.parametrize("name", [n for n in NATIVE if n not in DEEP])
def test_native_gray_28(name, contract):
    contract(create_model(name, num_classes=7, in_chans=1, img_size=28), 1, 28, num_classes=7)


@pytest.mark.parametrize("name", ["convnet_s", "resnet18", "vit_nano", "mobilenetv2"])
def test_64px(name):
    m = create_model(name, in_chans=3, img_size=64).eval()
    with torch.no_grad():
        assert m(torch.randn(2, 3, 64, 64)).shape == (2, 10)


@pytest.mark.parametrize("name,spatial", [("convnet_s", 4), ("resnet18", 4), ("mobilenetv2", 4), ("densenet121", 4)])
def test_cifar_stems_leave_4x4_at_32px(name, spatial):
    # CIFAR-style stems (3x3 stride 1, no max-pool): 32 px -> 4x4 at the last block.
    with meta_init():
        m = create_model(name)
    assert m.forward_features(torch.empty(1, 3, 32, 32, device="meta")).shape[-2:] == (spatial, spatial)


def test_vit_features_are_tokens():
    m = create_model("vit_nano", img_size=28).eval()
    f = m.forward_features(torch.randn(2, 3, 28, 28))
    assert f.shape == (2, 1 + 7 * 7, 128)
    assert m.default_layer == "blocks.5"
    # head pools the class token after the final norm; "avg" pools the patch tokens
    with torch.no_grad():
        torch.testing.assert_close(m.forward_head(f, pre_logits=True), m.norm(f)[:, 0])
    m2 = create_model("vit_nano", img_size=28, global_pool="avg").eval()
    f2 = m2.forward_features(torch.randn(2, 3, 28, 28))
    with torch.no_grad():
        torch.testing.assert_close(m2.forward_head(f2, pre_logits=True), m2.norm(f2)[:, 1:].mean(1))


def test_vit_rejects_other_image_size():
    m = create_model("vit_nano", img_size=32)
    with pytest.raises(ValueError, match="32x32"):
        m(torch.randn(1, 3, 28, 28))


def test_native_activations_are_not_inplace():
    # A hook on any layer must see that layer's own output (feature capture relies on it).
    for name in ("convnet_s", "resnet18", "resnet50", "mobilenetv2", "densenet121"):
        with meta_init():
            m = create_model(name)
        assert not [n for n, mod in m.named_modules() if getattr(mod, "inplace", False)], name


# -- torchvision -------------------------------------------------------------------------------
# (name, img_size, extra torchvision kwargs to build the reference)
TV_REAL = [
    ("tv_resnet18", 32, {}),
    ("tv_mobilenet_v3_small", 32, {}),
    ("tv_efficientnet_b0", 32, {}),
    ("tv_densenet121", 32, {}),
    ("tv_shufflenet_v2_x0_5", 32, {}),
    ("tv_mnasnet0_5", 32, {}),
    ("tv_regnet_x_400mf", 32, {}),
    ("tv_googlenet", 32, {"aux_logits": False, "transform_input": False, "init_weights": True}),
]


@pytest.mark.parametrize("name,img,tv_kwargs", TV_REAL, ids=[t[0] for t in TV_REAL])
def test_torchvision_adapter(name, img, tv_kwargs, contract):
    from torchvision import models as tvm

    torch.manual_seed(0)
    model = create_model(name, img_size=img)
    # same keys as torchvision's model, and the same function when given its weights
    ref = tvm.get_model(name[3:], weights=None, num_classes=10, **tv_kwargs).eval()
    assert list(model.state_dict()) == list(ref.state_dict())
    model.load_state_dict(ref.state_dict())
    model.eval()
    x = torch.randn(2, 3, img, img)
    with torch.no_grad():
        torch.testing.assert_close(model(x), ref(x), rtol=1e-4, atol=1e-5)
    contract(model, 3, img)


def _tiny_transformers():
    from torchvision import models as tvm

    vit = tvm.VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=32,
                                mlp_dim=64, num_classes=10, representation_size=24)
    swin = tvm.SwinTransformer(patch_size=[4, 4], embed_dim=16, depths=[1, 1], num_heads=[2, 2],
                               window_size=[4, 4], num_classes=10)
    return {"vit": vit, "swin": swin}


@pytest.mark.parametrize("kind", ["vit", "swin"])
def test_torchvision_transformer_adapters_match_torchvision(kind, contract):
    # Small torchvision ViT / Swin instances (the registered ones have 28M-300M parameters):
    # the adapter computes torchvision's function, and its default layer gives forward_features.
    import copy

    from birdkit.models.torchvision_models import TorchvisionModel

    ref = _tiny_transformers()[kind].eval()
    model = TorchvisionModel(copy.deepcopy(ref), tv_name=kind)
    assert list(model.state_dict()) == list(ref.state_dict())
    x = torch.randn(2, 3, 32, 32)
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x), ref(x), rtol=1e-4, atol=1e-5)
    contract(model, 3, 32, rebuild=False)
    if kind == "vit":
        assert model.default_layer == "encoder" and model.num_features == 24  # representation layer
        assert model.forward_features(x).shape == (2, 1 + 16, 32)
    else:
        assert model.default_layer == "permute" and model.forward_features(x).shape[1] == 32  # (N, C, H, W)


@pytest.mark.parametrize("name", ["tv_resnet18", "tv_efficientnet_b0"])
def test_torchvision_one_channel(name, contract):
    model = create_model(name, in_chans=1, img_size=32)
    first = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    assert first.in_channels == 1
    contract(model, 1, 32)


def test_adapt_input_conv_keeps_statistics():
    from birdkit.models.torchvision_models import adapt_input_conv

    conv = torch.nn.Conv2d(3, 8, 3)
    one = adapt_input_conv(conv, 1)
    torch.testing.assert_close(one.weight, conv.weight.sum(1, keepdim=True))
    five = adapt_input_conv(conv, 5)
    assert five.weight.shape == (8, 5, 3, 3)
    torch.testing.assert_close(five.weight[:, :3], conv.weight * 3 / 5)
    torch.testing.assert_close(five.bias, conv.bias)
    # a constant image gives the same response with 1, 3 or 6 channels
    six = adapt_input_conv(conv, 6)
    x = torch.rand(1, 1, 5, 5)
    ref = conv(x.expand(1, 3, 5, 5))
    torch.testing.assert_close(six(x.expand(1, 6, 5, 5)), ref)
    torch.testing.assert_close(one(x), ref)


TV_META_SIZE = {"tv_inception_v3": 299, "tv_maxvit_t": 224, "tv_vit_h_14": 224, "tv_alexnet": 64}
TV_META_UNCHECKABLE = {"tv_swin_v2_t", "tv_swin_v2_s", "tv_swin_v2_b"}  # CPU buffers: no meta forward


# The cheapest member of each torchvision family (every adapter recipe is exercised).
TV_FAMILY_REPS = ["tv_alexnet", "tv_convnext_tiny", "tv_densenet121", "tv_efficientnet_b0", "tv_googlenet",
                  "tv_inception_v3", "tv_maxvit_t", "tv_mnasnet0_5", "tv_mobilenet_v2", "tv_mobilenet_v3_large",
                  "tv_regnet_y_400mf", "tv_resnext50_32x4d", "tv_shufflenet_v2_x0_5", "tv_swin_t", "tv_vgg11_bn",
                  "tv_vit_b_32"]


def test_family_representatives_cover_every_family():
    families = {MODELS.meta(n)["family"] for n in list_models("tv_*")}
    assert {MODELS.meta(n)["family"] for n in TV_FAMILY_REPS} == families


TV_OTHERS = [n for n in list_models("tv_*") if n not in TV_FAMILY_REPS and n not in TV_META_UNCHECKABLE]


def _check_on_meta(name: str) -> None:
    img = TV_META_SIZE.get(name, 32)
    with meta_init():
        m = create_model(name, img_size=img, in_chans=1).eval()
    x = torch.empty(2, 1, img, img, device="meta")
    captured = []
    hook = m.get_submodule(m.default_layer).register_forward_hook(lambda mod, i, o: captured.append(o))
    f = m.forward_features(x)
    hook.remove()
    assert captured[0].shape == f.shape
    assert m.forward_head(f).shape == (2, 10)
    assert m.forward_head(f, pre_logits=True).shape == (2, m.num_features)
    assert isinstance(m.get_classifier(), torch.nn.Linear)


@pytest.mark.parametrize("name", TV_FAMILY_REPS)
def test_one_torchvision_model_per_family_on_meta(name):
    """Shapes only (meta device: no memory, no compute), 1 channel, every adapter recipe."""
    _check_on_meta(name)


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("BIRDKIT_TEST_ALL_TV"), reason="set BIRDKIT_TEST_ALL_TV=1 (~1 min)")
@pytest.mark.parametrize("name", TV_OTHERS)
def test_every_other_torchvision_model_on_meta(name):
    _check_on_meta(name)


def test_squeezenet_is_not_registered():
    from birdkit.models.torchvision_models import UNSUPPORTED

    assert "tv_squeezenet1_0" not in list_models()
    assert "squeezenet1_0" in UNSUPPORTED


def test_module_imports_are_cheap_to_repeat():
    # Re-importing does not re-register (the registry raises on duplicates).
    importlib.import_module("birdkit.models")
    importlib.import_module("birdkit.models.torchvision_models")
