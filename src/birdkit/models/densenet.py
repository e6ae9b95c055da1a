"""CIFAR-style DenseNets (Huang et al. 2017, "Densely Connected Convolutional Networks").

DenseNet-BC as in kuangliu/pytorch-cifar and the BIRD experiments: growth rate 32, bottleneck
layers (BN-ReLU-1x1 conv to 4k, BN-ReLU-3x3 conv to k), transitions halving the channels
(compression 0.5) with 2x2 average pooling. The ImageNet stem (7x7/2 conv, BN, ReLU, 3x3/2
max-pool) becomes one 3x3 stride-1 convolution to 2k = 64 channels, so a 32 px input leaves the
last dense block at 4x4. Module names follow torchvision (``features.conv0``,
``features.denseblock<i>.denselayer<j>``, ``features.transition<i>``, ``features.norm5``,
``classifier``), and the state dict equals torchvision's except for the stem (``conv0`` is
3x3 and there is no ``norm0``). New features are concatenated after the old ones, as in
torchvision (kuangliu puts them first; this only permutes channels).

``default_layer`` is ``features.relu5``: the final BN + ReLU, i.e. the map that is pooled.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from birdkit.models._base import BirdkitModel
from birdkit.models._factory import register_model

__all__ = ["DenseNet"]


class _DenseLayer(nn.Module):
    def __init__(self, in_chans: int, growth_rate: int, bn_size: int):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(in_chans)
        self.relu1 = nn.ReLU()
        self.conv1 = nn.Conv2d(in_chans, bn_size * growth_rate, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth_rate)
        self.relu2 = nn.ReLU()
        self.conv2 = nn.Conv2d(bn_size * growth_rate, growth_rate, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(self.relu1(self.norm1(x)))
        out = self.conv2(self.relu2(self.norm2(out)))
        return torch.cat([x, out], 1)


class _Transition(nn.Sequential):
    def __init__(self, in_chans: int, out_chans: int):
        super().__init__(OrderedDict(
            norm=nn.BatchNorm2d(in_chans),
            relu=nn.ReLU(),
            conv=nn.Conv2d(in_chans, out_chans, 1, bias=False),
            pool=nn.AvgPool2d(2),
        ))


class DenseNet(BirdkitModel):
    """DenseNet-BC, CIFAR stem (Huang et al. 2017).

    Args:
        block_config: dense layers per block.
        growth_rate: channels added per dense layer (k).
        num_classes: classifier outputs.
        in_chans: input channels.
        bn_size: bottleneck width factor (4k).
        compression: channel reduction at transitions (0.5 in DenseNet-BC).
    """

    classifier_name = "classifier"

    def __init__(self, block_config: tuple[int, ...], *, growth_rate: int = 32, num_classes: int = 10,
                 in_chans: int = 3, bn_size: int = 4, compression: float = 0.5):
        super().__init__()
        n = 2 * growth_rate
        layers: OrderedDict[str, nn.Module] = OrderedDict(
            conv0=nn.Conv2d(in_chans, n, 3, padding=1, bias=False))
        for i, num_layers in enumerate(block_config):
            block = nn.Sequential()
            for j in range(num_layers):
                block.add_module(f"denselayer{j + 1}", _DenseLayer(n + j * growth_rate, growth_rate, bn_size))
            layers[f"denseblock{i + 1}"] = block
            n += num_layers * growth_rate
            if i != len(block_config) - 1:
                out = int(n * compression)
                layers[f"transition{i + 1}"] = _Transition(n, out)
                n = out
        layers["norm5"] = nn.BatchNorm2d(n)
        layers["relu5"] = nn.ReLU()
        self.features = nn.Sequential(layers)
        self._build_head(n, num_classes, "features.relu5")
        for m in self.modules():  # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def _init_classifier(self, layer: nn.Linear) -> None:
        nn.init.zeros_(layer.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


_CONFIGS = {"densenet121": (6, 12, 24, 16), "densenet169": (6, 12, 32, 32), "densenet201": (6, 12, 48, 32)}


def _make(name: str) -> None:
    cfg = _CONFIGS[name]

    def build(*, num_classes: int, in_chans: int, img_size: int, growth_rate: int = 32) -> DenseNet:
        return DenseNet(cfg, growth_rate=growth_rate, num_classes=num_classes, in_chans=in_chans)

    build.__name__ = name
    register_model(name, family="densenet",
                   description=f"CIFAR-style DenseNet-BC-{name[8:]}, growth 32, blocks {list(cfg)} "
                               "(Huang et al. 2017)")(build)


for _name in _CONFIGS:
    _make(_name)
