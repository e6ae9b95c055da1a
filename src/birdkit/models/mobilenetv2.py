"""MobileNetV2 for small images (Sandler et al. 2018, "MobileNetV2: Inverted Residuals and
Linear Bottlenecks").

The CIFAR stride variant used by kuangliu/pytorch-cifar and the BIRD experiments: the stem is
a 3x3 convolution with stride 1 (not 2), and the second stage (24 channels) keeps stride 1, so
a 32 px input leaves the network at 4x4. The blocks follow the paper and torchvision: a
residual connection only where input and output shapes agree (kuangliu's version adds 1x1
projection shortcuts in the other stride-1 blocks, which the paper does not have). Parameter
names and shapes are torchvision's (``features.0`` ... ``features.18``), except the classifier,
which is a bare ``nn.Linear`` named ``classifier`` (with ``head_drop`` before it; dropout 0 by
default, torchvision uses 0.2). With 10 classes: 2,236,682 parameters, as torchvision's
``mobilenet_v2(num_classes=10)``.

``default_layer`` is ``features.18``: the final 1x1 convolution to 1280 channels with BN and
ReLU6, the last feature block before pooling.
"""

from __future__ import annotations

import torch
from torch import nn

from birdkit.models._base import BirdkitModel, conv_bn_act
from birdkit.models._factory import register_model

__all__ = ["InvertedResidual", "MobileNetV2"]


def _make_divisible(v: float, divisor: int = 8) -> int:
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


class InvertedResidual(nn.Module):
    """Expand (1x1) -> depthwise 3x3 -> linear project (1x1); residual when shapes agree."""

    def __init__(self, inp: int, oup: int, stride: int, expand_ratio: int):
        super().__init__()
        hidden = int(round(inp * expand_ratio))
        self.use_res_connect = stride == 1 and inp == oup
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(conv_bn_act(inp, hidden, 1, act=nn.ReLU6))
        layers += [
            conv_bn_act(hidden, hidden, 3, stride=stride, groups=hidden, act=nn.ReLU6),
            nn.Conv2d(hidden, oup, 1, bias=False),
            nn.BatchNorm2d(oup),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(BirdkitModel):
    """MobileNetV2, CIFAR stride variant (Sandler et al. 2018).

    Args:
        num_classes: classifier outputs.
        in_chans: input channels.
        width_mult: channel multiplier (1.0 in the paper).
        drop_rate: dropout before the classifier.
    """

    classifier_name = "classifier"

    #: (expansion t, channels c, repeats n, stride s); the second row has s=1 (ImageNet: 2)
    SETTINGS = [(1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2),
                (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]

    def __init__(self, *, num_classes: int = 10, in_chans: int = 3, width_mult: float = 1.0,
                 drop_rate: float = 0.0):
        super().__init__()
        inp = _make_divisible(32 * width_mult)
        last = _make_divisible(1280 * max(1.0, width_mult))
        features: list[nn.Module] = [conv_bn_act(in_chans, inp, 3, stride=1, act=nn.ReLU6)]
        for t, c, n, s in self.SETTINGS:
            oup = _make_divisible(c * width_mult)
            for i in range(n):
                features.append(InvertedResidual(inp, oup, s if i == 0 else 1, t))
                inp = oup
        features.append(conv_bn_act(inp, last, 1, act=nn.ReLU6))
        self.features = nn.Sequential(*features)
        self._build_head(last, num_classes, f"features.{len(features) - 1}", drop_rate)
        for m in self.modules():  # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                self._init_classifier(m)

    def _init_classifier(self, layer: nn.Linear) -> None:
        nn.init.normal_(layer.weight, 0, 0.01)
        nn.init.zeros_(layer.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


@register_model("mobilenetv2", family="mobilenetv2",
                description="MobileNetV2, CIFAR strides: stem and stage 2 stride 1 (Sandler et al. 2018)")
def mobilenetv2(*, num_classes: int, in_chans: int, img_size: int, width_mult: float = 1.0,
                drop_rate: float = 0.0) -> MobileNetV2:
    return MobileNetV2(num_classes=num_classes, in_chans=in_chans, width_mult=width_mult, drop_rate=drop_rate)
