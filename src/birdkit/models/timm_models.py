"""Any timm model by name: ``create_model("timm:<name>")`` (``pip install birdkit[timm]``).

timm (PyTorch Image Models, PyPI ``timm``) holds about 1,300 image classifiers, and birdkit's
model contract is modelled on timm's own (``forward_features``, ``forward_head``,
``get_classifier``, ``reset_classifier``), so any of them can be a BIRD teacher or student
through a thin adapter (docs/models.md, "timm models"):

- ``create_model("timm:resnet18", num_classes=10, in_chans=1, img_size=28)`` calls
  ``timm.create_model("resnet18", pretrained=False, num_classes=10, in_chans=1)`` (plus
  ``img_size=28`` for the architectures that take it, such as ViTs) and wraps the result in
  :class:`TimmModel`. Weights are always random: birdkit never downloads any.
- :class:`TimmModel` *shares* the timm model's dictionaries of modules, parameters and buffers,
  so the layer names and state-dict keys are timm's (``layer4``, ``blocks.11``; a timm state
  dict loads as is), and runs timm's own ``forward_features`` / ``forward_head`` / ``forward``.
- ``default_layer`` is the module whose output *is* ``forward_features(x)``, found by hooks
  during one no-grad forward of a zero image at construction: timm's
  ``feature_info[-1]["module"]`` when it returned that tensor (``layer4``, ``stages.3``), else
  the outermost module that returned it (``norm`` for ViTs, whose ``forward_features`` ends with
  the final LayerNorm; ``bn2`` for EfficientNets, whose ends with the 1x1 head convolution).
- in-place activations are switched to out-of-place, so a hook on a layer sees its own output.

Names are resolved on demand (the ``timm`` namespace of the model registry): timm is imported
only when a ``timm:`` name is used; unknown names list close matches from ``timm.list_models()``.
Refused with one-line errors: the ``pretrained`` and ``features_only`` keywords
(:class:`~birdkit.errors.ModelArgumentError`), and (:class:`~birdkit.errors.UnsupportedModelError`,
which ``model_info`` reports instead of raising) classifiers that are not one ``nn.Linear``
(distilled DeiT and LeViT have two heads) and channels-last feature maps (``output_fmt ==
"NHWC"``: Swin, MambaOut), which birdkit's pooling would average over the wrong axes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from types import ModuleType
from typing import Any

import torch
from torch import nn

from birdkit.errors import MissingExtraError, ShapeError, UnknownNameError, UnsupportedModelError, one_line
from birdkit.models._base import BirdkitModel
from birdkit.models._factory import MODELS, ModelArgumentError

__all__ = ["PREFIX", "TimmModel", "list_timm_names"]

logger = logging.getLogger(__name__)

#: the registry namespace: ``create_model("timm:<timm name>")``
PREFIX = "timm"
_INSTALL = "pip install birdkit[timm]"
_LIST_HINT = "List them with birdkit.models.list_models('timm:pattern*') or `birdkit models 'timm:pattern*'`."
#: keywords birdkit refuses: it builds random weights, and a classifier with a linear head
_REFUSED = {
    "pretrained": "birdkit builds timm models with random weights (pretrained=False) and never downloads any",
    "features_only": "a features_only network has no classifier (the model contract needs one)",
}
#: the nn.Module dictionaries a TimmModel shares with its timm model
_SHARED = ("_parameters", "_buffers", "_non_persistent_buffers_set", "_modules")


def _import_timm() -> ModuleType:
    try:
        import timm  # optional extra: birdkit[timm]
    except ImportError as e:
        raise MissingExtraError(f"`timm:` models need timm ({one_line(e)}): {_INSTALL}") from None
    return timm


def list_timm_names() -> list[str]:
    """timm's architecture names (``timm.list_models()``), without the ``timm:`` prefix."""
    return list(_import_timm().list_models())


class TimmModel(BirdkitModel):
    """A timm classifier behind the birdkit contract (see the module docstring).

    The adapter and ``timm_model`` share their modules, parameters and buffers (one set of
    tensors; ``model.to(...)``, ``load_state_dict`` and ``reset_classifier`` act on both);
    ``timm_model`` is not a submodule, so no layer is listed twice. Its ``training`` flag
    follows the adapter's.

    Args:
        model: a model made by ``timm.create_model`` with a linear classifier.
        timm_name: timm's name of the architecture, kept for ``repr``.
        in_chans, img_size: the input the default layer is traced with (one zero image).

    Attributes:
        timm_model: the timm model itself (for timm's own methods: ``set_grad_checkpointing``,
            ``pretrained_cfg``, ``feature_info`` ...).
    """

    timm_model: nn.Module

    def __init__(self, model: nn.Module, *, timm_name: str = "", in_chans: int = 3, img_size: int = 32):
        super().__init__()
        for key in _SHARED:
            self.__dict__[key] = model.__dict__[key]
        self.__dict__["timm_model"] = model  # not a submodule: its children already are this module's
        self.timm_name = timm_name
        if getattr(model, "output_fmt", "NCHW") == "NHWC":
            raise UnsupportedModelError(f"timm:{timm_name} returns channels-last (N, H, W, C) features; birdkit "
                                        "pools (N, C, H, W) maps and (N, T, D) tokens, so it is not supported.")
        fc = model.get_classifier()
        if not isinstance(fc, nn.Linear):
            raise UnsupportedModelError(f"timm:{timm_name}: the classifier is {type(fc).__name__}, not one "
                                        "nn.Linear (the model contract and the transfer baselines need one).")
        self.classifier_name = next(n for n, m in self.named_modules() if m is fc)
        self.num_features, self.num_classes = fc.in_features, fc.out_features
        for mod in self.modules():
            if isinstance(getattr(mod, "inplace", None), bool):
                mod.inplace = False
        self.default_layer = self._find_default_layer(in_chans, img_size)

    # -- timm's own forward, with the shared training flag -------------------------------------
    def _inner(self) -> nn.Module:
        inner = self.timm_model
        inner.training = self.training  # list_layers and others restore `training` module by module
        return inner

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self._inner().forward_features(x)

    def forward_head(self, f: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return self._inner().forward_head(f, pre_logits=pre_logits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._inner().forward(x)

    def train(self, mode: bool = True) -> TimmModel:
        super().train(mode)
        self.timm_model.training = mode
        return self

    def reset_classifier(self, num_classes: int) -> None:
        """A fresh ``nn.Linear`` with ``num_classes`` outputs in place of timm's classifier (see
        :meth:`BirdkitModel.reset_classifier`); timm's ``num_classes`` follows."""
        super().reset_classifier(num_classes)
        self.timm_model.num_classes = num_classes

    def extra_repr(self) -> str:
        return f"timm={self.timm_name!r}, " + super().extra_repr()

    # -- the default layer ---------------------------------------------------------------------
    def _find_default_layer(self, in_chans: int, img_size: int) -> str:
        """The module whose output is ``forward_features(x)`` (module docstring), from one
        forward pass; only the latest run of modules that returned the same tensor is kept."""
        run: list[str] = []
        last: list[Any] = [None]

        def make_hook(name: str) -> Callable[..., None]:
            def hook(module: nn.Module, args: Any, output: Any) -> None:
                if output is not last[0]:
                    run.clear()
                    last[0] = output
                run.append(name)

            return hook

        param = next(self.parameters(), None)
        x = torch.zeros(1, in_chans, img_size, img_size, device=param.device if param is not None else None)
        modes = {m: m.training for m in (*self.modules(), self.timm_model)}
        handles = [m.register_forward_hook(make_hook(n)) for n, m in self.named_modules() if n]
        try:
            self.eval()
            with torch.no_grad():
                f = self.forward_features(x)
        except Exception as e:  # noqa: BLE001 - any failure of timm's forward is a shape/size mismatch here
            raise ShapeError(f"timm:{self.timm_name} does not run on {in_chans}x{img_size}x{img_size} images: "
                             f"{one_line(e)}") from e
        finally:
            for h in handles:
                h.remove()
            for m, mode in modes.items():
                m.training = mode
        info = getattr(self.timm_model, "feature_info", None) or [{}]
        hinted = info[-1].get("module") if isinstance(info[-1], dict) else None
        if f is last[0] and run:
            return hinted if hinted in run else run[-1]
        if hinted in dict(self.named_modules()):
            logger.warning("timm:%s: no module returns forward_features(x) itself; default layer %r (timm's "
                           "last feature_info module) is read before timm's last operations", self.timm_name, hinted)
            return hinted
        raise UnsupportedModelError(f"timm:{self.timm_name}: no module returns forward_features(x) and timm names "
                                    "no feature module, so there is no default layer; it is not supported.")


def _create_timm(timm_name: str, num_classes: int, in_chans: int, img_size: int, kwargs: dict[str, Any]) -> nn.Module:
    for key, why in _REFUSED.items():
        if key in kwargs:
            raise ModelArgumentError(f"Model 'timm:{timm_name}' does not take {key}=: {why}.")
    timm = _import_timm()
    base = dict(pretrained=False, num_classes=num_classes, in_chans=in_chans, **kwargs)
    try:
        try:
            return timm.create_model(timm_name, img_size=img_size, **base)
        except TypeError as e:  # the architecture has no img_size (most CNNs): it pools adaptively
            if "img_size" not in str(e):
                raise
        return timm.create_model(timm_name, **base)
    except TypeError as e:
        raise ModelArgumentError(f"Model 'timm:{timm_name}': {one_line(e)}") from None


def _resolve(timm_name: str) -> tuple[Callable[..., TimmModel], dict[str, Any]]:
    """The registry's resolver of ``timm:<timm_name>``: a builder and its metadata."""
    timm = _import_timm()
    if not timm.is_model(timm_name):
        raise UnknownNameError("model", f"{PREFIX}:{timm_name}", [f"{PREFIX}:{n}" for n in timm.list_models()],
                               hint=_LIST_HINT)

    def build(*, num_classes: int, in_chans: int, img_size: int, **kwargs: Any) -> TimmModel:
        model = _create_timm(timm_name, num_classes, in_chans, img_size, kwargs)
        return TimmModel(model, timm_name=timm_name, in_chans=in_chans, img_size=img_size)

    build.__name__ = f"{PREFIX}_{timm_name}"
    module = timm.models.model_entrypoint(timm_name).__module__.rsplit(".", 1)[-1]
    meta = {"family": f"timm/{module}", "timm_name": timm_name,
            "description": f"timm.create_model({timm_name!r}), random init (timm {timm.__version__})"}
    return build, meta


MODELS.add_namespace(PREFIX, _resolve, list_timm_names)
