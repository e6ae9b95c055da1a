"""Parameter counts, checked against independent references, and the benchmark ratios.

References: torchvision's ImageNet models (after the known CIFAR stem difference; built on the
meta device, so no memory), hand formulas, and the counts published with
kuangliu/pytorch-cifar.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torchvision import models as tvm

from birdkit.models import count_parameters, create_model, meta_init, model_info


def _shapes(model: nn.Module, skip: tuple[str, ...] = ()) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items() if not k.startswith(skip)}


def _meta(fn, *args, **kwargs):
    with meta_init():
        return fn(*args, **kwargs)


@pytest.mark.parametrize("name", ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"])
def test_resnet_matches_torchvision_but_the_stem(name):
    ours = _meta(create_model, name, num_classes=10)
    ref = _meta(tvm.get_model, name, weights=None, num_classes=10)
    # torchvision's stem is a 7x7 conv (3*64*49 weights); the CIFAR stem is 3x3 (3*64*9)
    assert count_parameters(ours) == count_parameters(ref) - 3 * 64 * (49 - 9)
    assert _shapes(ours, ("conv1.",)) == _shapes(ref, ("conv1.",))
    assert tuple(ours.conv1.weight.shape) == (64, 3, 3, 3)


def test_resnet18_published_count():
    # kuangliu/pytorch-cifar ResNet18, 10 classes: 11,173,962 parameters
    assert count_parameters(_meta(create_model, "resnet18")) == 11_173_962


@pytest.mark.parametrize("name", ["densenet121", "densenet169"])
def test_densenet_matches_torchvision_but_the_stem(name):
    ours = _meta(create_model, name)
    ref = _meta(tvm.get_model, name, weights=None, num_classes=10)
    # ImageNet stem: 7x7 conv0 (3*64*49) + norm0 (2*64); CIFAR stem: 3x3 conv0 only
    assert count_parameters(ours) == count_parameters(ref) - 3 * 64 * 49 - 2 * 64 + 3 * 64 * 9
    skip = ("features.conv0.", "features.norm0.")
    assert _shapes(ours, skip) == _shapes(ref, skip)


def test_densenet121_published_count():
    # kuangliu/pytorch-cifar DenseNet121 (growth 32), 10 classes
    assert count_parameters(_meta(create_model, "densenet121")) == 6_956_298


def test_mobilenetv2_matches_torchvision():
    # Same layers as torchvision's MobileNetV2 (only strides differ); the head is a bare Linear.
    ours = _meta(create_model, "mobilenetv2")
    ref = _meta(tvm.get_model, "mobilenet_v2", weights=None, num_classes=10)
    assert count_parameters(ours) == count_parameters(ref) == 2_236_682
    assert _shapes(ours, ("classifier",)) == _shapes(ref, ("classifier",))
    strides = [m.stride[0] for m in ours.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]
    assert strides.count(2) == 3  # ImageNet: 5 (stem and stage 2 are stride 1 here)


@pytest.mark.parametrize("name,dim,depth,heads", [("vit_tiny", 192, 12, 3), ("vit_nano", 128, 6, 4)])
def test_vit_count_formula_and_torchvision(name, dim, depth, heads):
    ours = _meta(create_model, name, img_size=32)
    tokens = (32 // 4) ** 2 + 1
    per_block = 12 * dim * dim + 13 * dim  # qkv, proj, fc1, fc2 (+ biases), two LayerNorms
    formula = (3 * 16 * dim + dim) + dim + tokens * dim + depth * per_block + 2 * dim + (dim * 10 + 10)
    assert count_parameters(ours) == formula
    ref = _meta(tvm.VisionTransformer, image_size=32, patch_size=4, num_layers=depth, num_heads=heads,
                hidden_dim=dim, mlp_dim=4 * dim, num_classes=10)
    assert count_parameters(ours) == count_parameters(ref)


def test_convnet_count_formula():
    m = _meta(create_model, "convnet_xs", num_classes=10, in_chans=1)
    convs = [(1, 8), (8, 16), (16, 32), (32, 32), (32, 64), (64, 64)]
    expected = sum(9 * i * o + 2 * o for i, o in convs) + 64 * 10 + 10
    assert count_parameters(m) == expected


def test_count_parameters_trainable_only():
    m = create_model("convnet_xxs")
    total = count_parameters(m)
    for p in m.stages.parameters():
        p.requires_grad_(False)
    assert count_parameters(m, trainable_only=True) == m.fc.weight.numel() + m.fc.bias.numel()
    assert count_parameters(m) == total


def test_model_info_counts_without_memory():
    info = model_info("resnet152")
    assert info["params"] == 58_156_618 and info["default_layer"] == "layer4" and info["family"] == "resnet"
    assert info["num_features"] == 2048 and info["error"] is None
    assert model_info("tv_regnet_y_128gf")["params"] > 600_000_000  # built on meta: instant


# -- the benchmark pairs ----------------------------------------------------------------------
def _count(name):
    return model_info(name)["params"]


def test_convnet_family_spans_25k_to_2m():
    counts = [_count(f"convnet_{s}") for s in ("xxs", "xs", "s", "m", "l", "xl")]
    assert counts == sorted(counts)
    assert 20_000 <= counts[0] <= 30_000
    assert 1_500_000 <= counts[-1] <= 2_500_000
    assert 250_000 <= _count("convnet_s") <= 350_000  # the "0.3M CNN" of the speed target


@pytest.mark.parametrize("teacher,student", [("convnet_xs", "convnet_s"), ("convnet_s", "convnet_l"),
                                             ("convnet_s", "convnet_xl"), ("mobilenetv2", "resnet18")])
def test_pairs_at_least_3x(teacher, student):
    assert _count(student) >= 3 * _count(teacher)


@pytest.mark.parametrize("teacher,student", [("convnet_xs", "convnet_xl"), ("convnet_xxs", "convnet_m"),
                                             ("mobilenetv2", "resnet152")])
def test_weak_to_strong_pairs_about_25x(teacher, student):
    # the paper's MobileNetV2 -> ResNet152 pair is "about 25x"
    assert 22 <= _count(student) / _count(teacher) <= 28


def test_meta_init_leaves_nothing_allocated():
    with meta_init():
        m = create_model("resnet50")
    assert all(p.device.type == "meta" for p in m.parameters())
    # and normal construction afterwards is unaffected
    assert all(p.device.type == "cpu" for p in create_model("convnet_xxs").parameters())
    assert torch.zeros(1).device.type == "cpu"
