"""The model contract: every birdkit model can be a teacher and a student.

BIRD (Pogoncheff & Beyeler, arXiv 2505.23933) aligns one *guiding* layer of a frozen teacher
with one *guided* layer of a student. The transfer baselines (linear probe, fine-tuning, LP-FT,
LwF) put a new head on the teacher. Both need the same small interface on every network,
modelled on timm's feature contract:

- ``forward(x)`` returns logits ``(N, num_classes)`` and equals
  ``forward_head(forward_features(x))``;
- ``forward_features(x)`` returns the *unpooled* output of the last feature block:
  ``(N, C, H, W)`` for convolutional networks, ``(N, T, D)`` tokens for transformers;
- ``forward_head(f, pre_logits=True)`` returns the pooled ``(N, num_features)`` vector that the
  classifier reads (dropout included), so ``get_classifier()(forward_head(f, pre_logits=True))``
  equals ``forward_head(f)``;
- ``default_layer`` is the dotted name (in ``dict(model.named_modules())``) of the module whose
  output *is* ``forward_features(x)``: the default guiding/guided layer of BIRD and Hints;
- ``birdkit_spec`` holds the arguments that rebuild the architecture with
  ``create_model(**model.birdkit_spec)`` (checkpoints store it);
- ``get_classifier()`` returns the final ``nn.Linear`` and ``reset_classifier(n)`` replaces it by
  a freshly initialised one with ``n`` outputs.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class BirdkitModel(nn.Module):
    """Base class of all birdkit models (see the module docstring for the contract).

    Subclasses build their modules, set :attr:`num_features`, :attr:`num_classes`,
    :attr:`default_layer` and :attr:`classifier_name`, and implement :meth:`forward_features`.
    The default :meth:`forward_head` global-average-pools a ``(N, C, H, W)`` map, applies
    ``self.head_drop`` when the subclass defines one, then the classifier.

    Attributes:
        num_features: width of the pooled feature vector the classifier reads.
        num_classes: number of classifier outputs.
        default_layer: dotted module name of the last feature block before pooling.
        classifier_name: dotted module name of the final ``nn.Linear``.
        birdkit_spec: ``{"name", "num_classes", "in_chans", "img_size", **kwargs}``, set by
            :func:`birdkit.models.create_model`; ``create_model(**spec)`` rebuilds the
            architecture.
    """

    num_features: int
    num_classes: int
    default_layer: str
    classifier_name: str = "fc"

    def __init__(self) -> None:
        super().__init__()
        self.birdkit_spec: dict[str, Any] = {}

    # -- the contract ----------------------------------------------------------------------
    def forward_features(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """Unpooled output of the last feature block (the output of :attr:`default_layer`)."""
        raise NotImplementedError

    def pool_features(self, f: torch.Tensor) -> torch.Tensor:
        """Global average pooling of a ``(N, C, H, W)`` map to ``(N, C)``."""
        return f.mean(dim=(2, 3))

    def forward_head(self, f: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Pool the features, apply head dropout, and classify.

        Args:
            f: output of :meth:`forward_features`.
            pre_logits: return the pooled ``(N, num_features)`` vector instead of logits.
        """
        x = self.pool_features(f)
        drop = getattr(self, "head_drop", None)
        if drop is not None:
            x = drop(x)
        return x if pre_logits else self.get_classifier()(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    # -- the classifier --------------------------------------------------------------------
    def get_classifier(self) -> nn.Linear:
        """The final linear layer (pooled features -> logits)."""
        return self.get_submodule(self.classifier_name)

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the classifier by a freshly initialised ``nn.Linear`` with ``num_classes``
        outputs, on the old one's device and dtype; updates :attr:`num_classes` and
        :attr:`birdkit_spec`.

        Transfer baselines (LP, FT, LP-FT, LwF) use this to put a new head on a teacher.
        """
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"Expected num_classes to be a positive int, got {num_classes!r}.")
        old = self.get_classifier()
        new = nn.Linear(old.in_features, num_classes, bias=old.bias is not None,
                        device=old.weight.device, dtype=old.weight.dtype)
        self._init_classifier(new)
        self.set_submodule(self.classifier_name, new)
        self.num_classes = num_classes
        if self.birdkit_spec:
            self.birdkit_spec["num_classes"] = num_classes

    def _build_head(self, num_features: int, num_classes: int, default_layer: str,
                    drop_rate: float | None = None) -> None:
        """Set what every model's head shares: ``num_features`` and ``num_classes``, head dropout
        (when ``drop_rate`` is given), a fresh ``nn.Linear`` classifier under
        :attr:`classifier_name`, and the default BIRD layer."""
        self.num_features, self.num_classes = num_features, num_classes
        if drop_rate is not None:
            self.head_drop = nn.Dropout(drop_rate)
        self.set_submodule(self.classifier_name, nn.Linear(num_features, num_classes), strict=False)
        self.default_layer = default_layer

    def _init_classifier(self, layer: nn.Linear) -> None:
        """Initialise a new classifier; PyTorch's default ``nn.Linear`` init unless overridden."""

    def extra_repr(self) -> str:
        spec = ", ".join(f"{k}={v!r}" for k, v in self.birdkit_spec.items())
        return spec


def conv_bn_act(in_chans: int, out_chans: int, kernel_size: int = 3, stride: int = 1,
                groups: int = 1, act: type[nn.Module] | None = nn.ReLU) -> nn.Sequential:
    """``Conv2d (no bias, 'same' padding) -> BatchNorm2d -> activation`` as a Sequential
    (children ``0``, ``1``, ``2``, as in torchvision's ``Conv2dNormActivation``).

    Activations are never in place, so a hook on any layer sees that layer's own output.
    """
    layers: list[nn.Module] = [
        nn.Conv2d(in_chans, out_chans, kernel_size, stride=stride, padding=(kernel_size - 1) // 2,
                  groups=groups, bias=False),
        nn.BatchNorm2d(out_chans),
    ]
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


def init_conv_bn(module: nn.Module) -> None:
    """He-normal (fan_out) convolutions, unit/zero batch norms, as torchvision's ResNet
    (He et al. 2015, "Delving deep into rectifiers")."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
