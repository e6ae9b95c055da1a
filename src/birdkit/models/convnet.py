"""Small VGG-like convolutional networks for 28-64 px inputs, ~25k to ~1.8M parameters.

A stack of 3x3 ``Conv -> BatchNorm -> ReLU`` layers in four stages (VGG style, Simonyan &
Zisserman 2015, with batch norm, Ioffe & Szegedy 2015). Stage 0 works at full resolution and
holds a single convolution (the CIFAR-style stem: 3x3, stride 1, no max-pool); every later stage
opens with a 2x2 max-pool, so the expensive wide layers run on 16x16, 8x8 and 4x4 maps (for a
32 px input). Global average pooling and one linear layer make the head, so any input size
from 28 px up works.

The variants scale the widths (and, for ``xxs``, the depth) so that the family spans the
parameter ratios the BIRD benchmarks need: a teacher and a student at least 3x bigger
(``convnet_xs`` -> ``convnet_s``: 4x), and a weak-to-strong pair of about 25x
(``convnet_xs`` -> ``convnet_xl`` or ``convnet_xxs`` -> ``convnet_m``), echoing the paper's
MobileNetV2 -> ResNet152 pair (Pogoncheff & Beyeler, arXiv 2505.23933). ``docs/models.md``
lists the exact counts.

Layer names: ``stages.<i>`` (``i = 0..3``); inside a stage ``pool`` (stages 1-3) and
``conv<j>`` (each a ``Sequential`` of ``conv``, ``bn``, ``act``). ``default_layer`` is
``stages.3``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn

from birdkit.models._base import BirdkitModel, init_conv_bn
from birdkit.models._factory import ModelArgumentError, register_model

__all__ = ["ConvNet", "CONVNET_CONFIGS"]

#: name -> (widths per stage, convolutions per stage)
CONVNET_CONFIGS: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "convnet_xxs": ((8, 16, 32, 64), (1, 1, 1, 1)),
    "convnet_xs": ((8, 16, 32, 64), (1, 1, 2, 2)),
    "convnet_s": ((16, 32, 64, 128), (1, 1, 2, 2)),
    "convnet_m": ((24, 48, 96, 192), (1, 1, 2, 2)),
    "convnet_l": ((32, 64, 128, 256), (1, 1, 2, 2)),
    "convnet_xl": ((40, 80, 160, 320), (1, 1, 2, 2)),
}


def _conv(in_chans: int, out_chans: int) -> nn.Sequential:
    return nn.Sequential(OrderedDict(
        conv=nn.Conv2d(in_chans, out_chans, 3, padding=1, bias=False),
        bn=nn.BatchNorm2d(out_chans),
        act=nn.ReLU(),
    ))


class ConvNet(BirdkitModel):
    """VGG-like CNN with batch norm: 4 stages, max-pool between stages, GAP + linear head.

    Args:
        widths: channels of each stage.
        depths: 3x3 convolutions per stage (stage 0's first is the stem).
        num_classes: classifier outputs.
        in_chans: input channels.
        drop_rate: dropout before the classifier.
    """

    classifier_name = "fc"

    def __init__(self, widths: Sequence[int], depths: Sequence[int], *, num_classes: int = 10,
                 in_chans: int = 3, drop_rate: float = 0.0):
        super().__init__()
        if len(widths) != len(depths) or not widths:
            raise ModelArgumentError(f"Expected `widths` and `depths` of equal non-zero length, "
                                     f"got {list(widths)} and {list(depths)}.")
        if any(int(d) < 1 for d in depths) or any(int(w) < 1 for w in widths):
            raise ModelArgumentError(f"Expected positive widths and depths, got {list(widths)}, {list(depths)}.")
        stages: list[nn.Module] = []
        prev = in_chans
        for i, (w, d) in enumerate(zip(widths, depths)):
            layers: OrderedDict[str, nn.Module] = OrderedDict()
            if i > 0:
                layers["pool"] = nn.MaxPool2d(2)
            for j in range(int(d)):
                layers[f"conv{j + 1}"] = _conv(prev, int(w))
                prev = int(w)
            stages.append(nn.Sequential(layers))
        self.stages = nn.Sequential(*stages)
        self._build_head(prev, num_classes, f"stages.{len(stages) - 1}", drop_rate)
        init_conv_bn(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(x)


def _make(name: str):
    widths, depths = CONVNET_CONFIGS[name]

    def build(*, num_classes: int, in_chans: int, img_size: int, drop_rate: float = 0.0) -> ConvNet:
        return ConvNet(widths, depths, num_classes=num_classes, in_chans=in_chans, drop_rate=drop_rate)

    build.__name__ = name
    w = "-".join(map(str, widths))
    d = "-".join(map(str, depths))
    register_model(name, family="convnet",
                   description=f"VGG-like CNN with BN, widths {w}, convs per stage {d} "
                               "(Simonyan & Zisserman 2015)")(build)


for _name in CONVNET_CONFIGS:
    _make(_name)


@register_model("convnet", family="convnet",
                description="VGG-like CNN with BN and custom widths/depths (Simonyan & Zisserman 2015)")
def convnet(*, num_classes: int, in_chans: int, img_size: int, widths: Sequence[int] = (16, 32, 64, 128),
            depths: Sequence[int] = (1, 1, 2, 2), drop_rate: float = 0.0) -> ConvNet:
    """A :class:`ConvNet` with explicit ``widths`` and ``depths`` (stored in ``birdkit_spec``)."""
    return ConvNet(widths, depths, num_classes=num_classes, in_chans=in_chans, drop_rate=drop_rate)
