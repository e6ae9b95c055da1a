"""Models: any registered network can be a BIRD teacher or student.

``create_model(name, num_classes=10, in_chans=3, img_size=32, **kwargs)`` builds a
:class:`BirdkitModel`; ``list_models('resnet*')`` lists names; ``model_info(name)`` describes
one (family, default layer, parameter count). Families:

- ``convnet_xxs`` ... ``convnet_xl``: small VGG-like CNNs, ~25k to ~1.8M parameters;
- ``resnet18`` ... ``resnet152``: CIFAR-style ResNets (He et al. 2016);
- ``mobilenetv2``: CIFAR-stride MobileNetV2 (Sandler et al. 2018);
- ``densenet121``, ``densenet169``, ``densenet201``: CIFAR-style DenseNet-BC (Huang et al. 2017);
- ``vit_nano``, ``vit_tiny``: small ViTs with 4 px patches (Dosovitskiy et al. 2021);
- ``tv_<name>``: every torchvision classification model (but SqueezeNet), random init;
- ``timm:<name>``: any timm model, random init, resolved on demand (``pip install birdkit[timm]``;
  listed by ``list_models('timm:pattern*')``).

See ``docs/models.md`` for the parameter counts and the teacher/student pairs.
"""

from __future__ import annotations

# Importing the family modules registers their models.
from birdkit.models import convnet, densenet, mobilenetv2, resnet, timm_models, torchvision_models, vit  # noqa: E402,F401
from birdkit.models._base import BirdkitModel
from birdkit.models._factory import (
    MODELS,
    ModelArgumentError,
    count_parameters,
    create_model,
    list_models,
    meta_init,
    model_info,
    register_model,
)

__all__ = [
    "MODELS", "BirdkitModel", "ModelArgumentError", "count_parameters", "create_model", "list_models",
    "meta_init", "model_info", "register_model",
]
