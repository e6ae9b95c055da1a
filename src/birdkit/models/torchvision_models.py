"""Every torchvision classification model, as ``tv_<name>``, behind the birdkit contract.

``create_model("tv_resnet18", num_classes=10, in_chans=1)`` builds
``torchvision.models.get_model("resnet18", weights=None, num_classes=10)`` and wraps it in
:class:`TorchvisionModel`, which implements the birdkit feature contract (``forward_features``,
``forward_head``, ``default_layer``, ``get_classifier``, ``reset_classifier``). The names are
registered at import from ``torchvision.models.list_models(module=torchvision.models)``; no
model is built until asked for.

How the adapter works:
    - The torchvision model's children (and direct parameters, e.g. a ViT's ``class_token``)
      become the adapter's own, so the adapter's state dict has exactly torchvision's keys:
      weights saved from a torchvision model load into the adapter and back.
    - One *recipe* per torchvision architecture class says which children make the features
      (everything before global pooling, in torchvision's order), which modules make the head,
      which ``nn.Linear`` is the classifier, and the default layer (the last feature block:
      ``layer4`` for ResNets, the last child of ``features`` for VGG, EfficientNet, MobileNet
      and ConvNeXt, ``features.relu5`` for DenseNet, ``permute`` for Swin (so the map is
      ``(N, C, H, W)``), ``encoder`` for ViT (tokens ``(N, T, D)`` after the final LayerNorm)).
    - ``forward_head(f, pre_logits=True)`` returns the input of the final linear layer; for
      models with an MLP classifier (VGG, AlexNet, MobileNetV3, MaxViT) that is the hidden
      layer after the MLP's other layers, so ``num_features`` is e.g. 4096 for VGG.
    - ``in_chans != 3``: the first convolution is replaced by one with ``in_chans`` inputs whose
      weights are derived from the original ones (summed over RGB for 1 channel, repeated and
      rescaled otherwise, as timm's ``adapt_input_conv``), keeping the family's initialisation
      statistics.
    - In-place activations and dropouts are switched to out-of-place, so a hook on a layer sees
      that layer's own output.

Limitations:
    - Only random initialisation (``weights=None``): birdkit never downloads weights.
    - ``squeezenet*`` is not registered: its classifier is a 1x1 convolution followed by a
      ReLU, not a linear layer.
    - Input sizes are torchvision's: most CNNs pool adaptively and run on 32 px (with an
      ImageNet stem that downsamples 32x, so only a 1x1 map is left: fine for smoke tests, poor
      for accuracy). ``tv_inception_v3`` needs >= 75 px; ``tv_maxvit_t`` needs a size its
      windows divide (224); ``tv_vit_*`` need ``img_size`` divisible by the patch (16, 32 or
      14) and are built for exactly that size.
    - GoogLeNet and Inception-v3 are built without auxiliary classifiers
      (``aux_logits=False``) and without ``transform_input``.
    - Some torchvision blocks still modify tensors in place in their ``forward`` (for example
      ``out += identity`` in ResNet blocks, or ``F.relu(..., inplace=True)`` in Inception's
      ``BasicConv2d``), so a hook on the module *just before* such an operation (``bn2`` of a
      ResNet block) may see the modified tensor. Block outputs and the default layers are safe.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import torch
import torchvision
from torch import nn
from torchvision import models as tvm

from birdkit.errors import ShapeError
from birdkit.models._base import BirdkitModel
from birdkit.models._factory import ModelArgumentError, register_model

__all__ = ["TorchvisionModel", "UNSUPPORTED"]

logger = logging.getLogger(__name__)

#: torchvision names that are not registered, with the reason
UNSUPPORTED: dict[str, str] = {
    "squeezenet1_0": "the classifier is a 1x1 convolution followed by ReLU, not a linear layer",
    "squeezenet1_1": "the classifier is a 1x1 convolution followed by ReLU, not a linear layer",
}


@dataclass(frozen=True)
class _Recipe:
    """How to split one torchvision architecture into features, head and classifier.

    Attributes:
        features: child names run in order by ``forward_features`` (None: ViT's own code).
        default_layer: dotted name of the module whose output is ``forward_features(x)``.
        head: steps from features to the classifier input: module names, or ``"mean"``
            (average over H, W), ``"flatten"``, ``"cls"`` (the class token).
        classifier: dotted name of the final ``nn.Linear``.
    """

    features: tuple[str, ...] | None
    default_layer: str
    head: tuple[str, ...]
    classifier: str


def _seq_split(model: nn.Module, name: str) -> tuple[tuple[str, ...], str]:
    """The children of Sequential ``name`` but the last (as head steps), and the last one."""
    seq = model.get_submodule(name)
    keys = list(seq._modules)
    return tuple(f"{name}.{k}" for k in keys[:-1]), f"{name}.{keys[-1]}"


def _last_child(model: nn.Module, name: str) -> str:
    return f"{name}.{list(model.get_submodule(name)._modules)[-1]}"


def _recipe(m: nn.Module) -> _Recipe:  # noqa: C901 - one branch per torchvision family
    if isinstance(m, tvm.ResNet):
        feats = ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4")
        return _Recipe(feats, "layer4", ("avgpool", "flatten"), "fc")
    if isinstance(m, tvm.RegNet):
        return _Recipe(("stem", "trunk_output"), _last_child(m, "trunk_output"), ("avgpool", "flatten"), "fc")
    if isinstance(m, (tvm.VGG, tvm.AlexNet)):
        pre, cls = _seq_split(m, "classifier")
        return _Recipe(("features",), _last_child(m, "features"), ("avgpool", "flatten", *pre), cls)
    if isinstance(m, tvm.DenseNet):
        m.features.add_module("relu5", nn.ReLU())  # torchvision applies F.relu after `features`
        return _Recipe(("features",), "features.relu5", ("mean",), "classifier")
    if isinstance(m, (tvm.EfficientNet, tvm.MobileNetV3)):
        pre, cls = _seq_split(m, "classifier")
        return _Recipe(("features",), _last_child(m, "features"), ("avgpool", "flatten", *pre), cls)
    if isinstance(m, tvm.MobileNetV2):
        pre, cls = _seq_split(m, "classifier")
        return _Recipe(("features",), _last_child(m, "features"), ("mean", *pre), cls)
    if isinstance(m, tvm.MNASNet):
        pre, cls = _seq_split(m, "classifier")
        return _Recipe(("layers",), _last_child(m, "layers"), ("mean", *pre), cls)
    if isinstance(m, tvm.ShuffleNetV2):
        return _Recipe(("conv1", "maxpool", "stage2", "stage3", "stage4", "conv5"), "conv5", ("mean",), "fc")
    if isinstance(m, tvm.ConvNeXt):
        pre, cls = _seq_split(m, "classifier")
        return _Recipe(("features",), _last_child(m, "features"), ("avgpool", *pre), cls)
    if isinstance(m, tvm.SwinTransformer):
        return _Recipe(("features", "norm", "permute"), "permute", ("avgpool", "flatten"), "head")
    if isinstance(m, tvm.MaxVit):
        pre, cls = _seq_split(m, "classifier")
        return _Recipe(("stem", "blocks"), _last_child(m, "blocks"), pre, cls)
    if isinstance(m, tvm.GoogLeNet):
        feats = ("conv1", "maxpool1", "conv2", "conv3", "maxpool2", "inception3a", "inception3b", "maxpool3",
                 "inception4a", "inception4b", "inception4c", "inception4d", "inception4e", "maxpool4",
                 "inception5a", "inception5b")
        return _Recipe(feats, "inception5b", ("avgpool", "flatten", "dropout"), "fc")
    if isinstance(m, tvm.Inception3):
        feats = ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1", "Conv2d_3b_1x1", "Conv2d_4a_3x3",
                 "maxpool2", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d",
                 "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c")
        return _Recipe(feats, "Mixed_7c", ("avgpool", "dropout", "flatten"), "fc")
    if isinstance(m, tvm.VisionTransformer):
        pre, cls = _seq_split(m, "heads")
        return _Recipe(None, "encoder", ("cls", *pre), cls)
    raise ModelArgumentError(f"No birdkit adapter for torchvision's {type(m).__name__}.")


def adapt_input_conv(conv: nn.Conv2d, in_chans: int) -> nn.Conv2d:
    """A copy of ``conv`` with ``in_chans`` input channels, its weights derived from the original:
    summed over the input channels for 1 channel, otherwise tiled and scaled by
    ``old_in / in_chans`` (the recipe of timm's ``adapt_input_conv``)."""
    w = conv.weight.detach()
    old = w.shape[1]
    if in_chans == 1:
        w = w.sum(dim=1, keepdim=True)
    else:
        w = w.repeat(1, math.ceil(in_chans / old), 1, 1)[:, :in_chans] * (old / in_chans)
    new = nn.Conv2d(in_chans, conv.out_channels, conv.kernel_size, stride=conv.stride, padding=conv.padding,
                    dilation=conv.dilation, groups=conv.groups, bias=conv.bias is not None,
                    padding_mode=conv.padding_mode, device=w.device, dtype=w.dtype)
    with torch.no_grad():
        new.weight.copy_(w)
        if conv.bias is not None:
            new.bias.copy_(conv.bias)
    return new


class TorchvisionModel(BirdkitModel):
    """A torchvision classifier behind the birdkit contract (see the module docstring).

    Args:
        model: a torchvision classification model (its modules are taken over).
        in_chans: input channels; the first convolution is adapted when not 3.
        tv_name: torchvision's name of the architecture, kept for ``repr``.
    """

    def __init__(self, model: nn.Module, *, in_chans: int = 3, tv_name: str = ""):
        super().__init__()
        self.tv_name = tv_name
        self.tv_class = type(model).__name__
        recipe = _recipe(model)
        for name, child in model.named_children():
            self.add_module(name, child)
        for name, p in model.named_parameters(recurse=False):
            self.register_parameter(name, p)
        for name, b in model.named_buffers(recurse=False):
            self.register_buffer(name, b)
        if isinstance(model, tvm.VisionTransformer):
            self.patch_size, self.image_size, self.hidden_dim = model.patch_size, model.image_size, model.hidden_dim
        if in_chans != 3:
            first = next((n for n, mod in self.named_modules() if isinstance(mod, nn.Conv2d)), None)
            if first is None:  # pragma: no cover - every torchvision classifier starts with a conv
                raise ModelArgumentError(f"{tv_name}: no convolution found to adapt to in_chans={in_chans}.")
            self.set_submodule(first, adapt_input_conv(self.get_submodule(first), in_chans))
        for mod in self.modules():
            if isinstance(getattr(mod, "inplace", None), bool):
                mod.inplace = False
        self._features = recipe.features
        self._head = recipe.head
        self.classifier_name = recipe.classifier
        self.default_layer = recipe.default_layer
        fc = self.get_classifier()
        if not isinstance(fc, nn.Linear):  # pragma: no cover - guarded by the recipes
            raise ModelArgumentError(f"{tv_name}: classifier {recipe.classifier!r} is not nn.Linear.")
        self.num_features = fc.in_features
        self.num_classes = fc.out_features

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        if self._features is None:  # VisionTransformer
            if x.shape[-2:] != (self.image_size, self.image_size):
                raise ShapeError(f"Expected {self.image_size}x{self.image_size} images for {self.tv_name}, "
                                 f"got {tuple(x.shape[-2:])}.")
            x = self.conv_proj(x).flatten(2).transpose(1, 2)
            x = torch.cat([self.class_token.expand(x.shape[0], -1, -1), x], dim=1)
            return self.encoder(x)
        for name in self._features:
            mod = getattr(self, name)
            if isinstance(mod, nn.ModuleList):  # MaxVit's blocks
                for block in mod:
                    x = block(x)
            else:
                x = mod(x)
        return x

    def pool_features(self, f: torch.Tensor) -> torch.Tensor:
        for step in self._head:
            if step == "mean":
                f = f.mean(dim=(2, 3))
            elif step == "flatten":
                f = torch.flatten(f, 1)
            elif step == "cls":
                f = f[:, 0]
            else:
                f = self.get_submodule(step)(f)
        return f

    def _init_classifier(self, layer: nn.Linear) -> None:
        if self.tv_class == "VisionTransformer":  # torchvision zero-initialises the ViT head
            nn.init.zeros_(layer.weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)

    def extra_repr(self) -> str:
        return f"torchvision={self.tv_name!r}, " + super().extra_repr()


def _tv_kwargs(tv_name: str, img_size: int, kwargs: dict[str, Any]) -> dict[str, Any]:
    kw = dict(kwargs)
    if tv_name.startswith("vit_"):
        kw.setdefault("image_size", img_size)
    elif tv_name.startswith("maxvit"):
        kw.setdefault("input_size", (img_size, img_size))
    elif tv_name in ("googlenet", "inception_v3"):
        if kw.get("aux_logits"):
            raise ModelArgumentError(f"tv_{tv_name}: aux_logits=True is not supported by the birdkit adapter.")
        kw.update(aux_logits=False)
        kw.setdefault("transform_input", False)
        kw.setdefault("init_weights", True)
    return kw


def _make(tv_name: str) -> None:
    def build(*, num_classes: int, in_chans: int, img_size: int, **kwargs: Any) -> TorchvisionModel:
        model = tvm.get_model(tv_name, weights=None, num_classes=num_classes, **_tv_kwargs(tv_name, img_size, kwargs))
        return TorchvisionModel(model, in_chans=in_chans, tv_name=tv_name)

    build.__name__ = f"tv_{tv_name}"
    module = tvm.get_model_builder(tv_name).__module__.rsplit(".", 1)[-1]
    register_model(f"tv_{tv_name}", family=f"tv/{module}",
                   description=f"torchvision.models.{tv_name}, random init (torchvision {torchvision.__version__})",
                   torchvision_name=tv_name)(build)


def _register_all() -> None:
    for tv_name in tvm.list_models(module=tvm):
        if tv_name in UNSUPPORTED:
            logger.debug("not registering tv_%s: %s", tv_name, UNSUPPORTED[tv_name])
            continue
        _make(tv_name)


_register_all()
