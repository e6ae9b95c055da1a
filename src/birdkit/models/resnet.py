"""CIFAR-style ResNets (He et al. 2016, "Deep Residual Learning for Image Recognition").

The ImageNet ResNets of torchvision with the stem adapted to small images, as in
kuangliu/pytorch-cifar and the BIRD authors' experiments: a 3x3 convolution with stride 1 and
no max-pool, so a 32 px input leaves ``layer4`` at 4x4. Everything else (BasicBlock for 18/34,
Bottleneck with the stride on the 3x3 convolution, "ResNet v1.5", for 50/101/152; 1x1
projection shortcuts) follows torchvision, and so do the parameter names: a birdkit ResNet's
state dict has torchvision's keys and shapes except ``conv1.weight`` (3x3 instead of 7x7).
With 10 classes ResNet18 has 11,173,962 parameters (torchvision's 11,181,642 minus the
7,680 of the smaller stem).

Activations are separate, non-in-place modules (``act1``, ``act2``, ...), so a hook on any
layer sees that layer's own output. ``default_layer`` is ``layer4``.
"""

from __future__ import annotations

import torch
from torch import nn

from birdkit.models._base import BirdkitModel, init_conv_bn
from birdkit.models._factory import register_model

__all__ = ["BasicBlock", "Bottleneck", "ResNet"]


def _downsample(in_planes: int, out_planes: int, stride: int) -> nn.Module | None:
    if stride == 1 and in_planes == out_planes:
        return None
    return nn.Sequential(nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False), nn.BatchNorm2d(out_planes))


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with an identity (or 1x1 projection) shortcut."""

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.act1 = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = _downsample(in_planes, planes, stride)
        self.act2 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.act2(out + shortcut)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (strided), 1x1 expand (x4), with a shortcut."""

    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        out_planes = planes * self.expansion
        self.conv1 = nn.Conv2d(in_planes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.act1 = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.act2 = nn.ReLU()
        self.conv3 = nn.Conv2d(planes, out_planes, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_planes)
        self.downsample = _downsample(in_planes, out_planes, stride)
        self.act3 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act1(self.bn1(self.conv1(x)))
        out = self.act2(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.act3(out + shortcut)


class ResNet(BirdkitModel):
    """CIFAR-style ResNet (He et al. 2016): 3x3 stride-1 stem, four stages of 64-512 planes.

    Args:
        block: :class:`BasicBlock` or :class:`Bottleneck`.
        layers: blocks per stage.
        num_classes: classifier outputs.
        in_chans: input channels.
        zero_init_residual: zero the last BN of each block (Goyal et al. 2017).
    """

    classifier_name = "fc"

    def __init__(self, block: type[BasicBlock] | type[Bottleneck], layers: list[int], *,
                 num_classes: int = 10, in_chans: int = 3, zero_init_residual: bool = False):
        super().__init__()
        self.conv1 = nn.Conv2d(in_chans, 64, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.act1 = nn.ReLU()
        in_planes = 64
        for i, (planes, n) in enumerate(zip((64, 128, 256, 512), layers)):
            blocks = []
            for j in range(n):
                stride = 2 if (i > 0 and j == 0) else 1
                blocks.append(block(in_planes, planes, stride))
                in_planes = planes * block.expansion
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self._build_head(in_planes, num_classes, "layer4")
        init_conv_bn(self)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, Bottleneck):
                    nn.init.zeros_(m.bn3.weight)
                elif isinstance(m, BasicBlock):
                    nn.init.zeros_(m.bn2.weight)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act1(self.bn1(self.conv1(x)))
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        return self.layer4(x)


_CONFIGS = {
    "resnet18": (BasicBlock, [2, 2, 2, 2]),
    "resnet34": (BasicBlock, [3, 4, 6, 3]),
    "resnet50": (Bottleneck, [3, 4, 6, 3]),
    "resnet101": (Bottleneck, [3, 4, 23, 3]),
    "resnet152": (Bottleneck, [3, 8, 36, 3]),
}


def _make(name: str) -> None:
    block, layers = _CONFIGS[name]

    def build(*, num_classes: int, in_chans: int, img_size: int, zero_init_residual: bool = False) -> ResNet:
        return ResNet(block, layers, num_classes=num_classes, in_chans=in_chans,
                      zero_init_residual=zero_init_residual)

    build.__name__ = name
    register_model(name, family="resnet",
                   description=f"CIFAR-style ResNet-{name[6:]}, {block.__name__} {layers} (He et al. 2016)")(build)


for _name in _CONFIGS:
    _make(_name)
