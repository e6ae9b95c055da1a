"""The model registry and factory: ``create_model``, ``list_models``, ``model_info``.

Each family module registers its variants with :func:`register_model`; a builder is called as
``builder(num_classes=..., in_chans=..., img_size=..., **kwargs)`` and returns a
:class:`~birdkit.models._base.BirdkitModel`. The factory validates the common arguments, checks
the keyword arguments against the builder's signature, and records ``birdkit_spec``.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from birdkit._registry import Registry
from birdkit.models._base import BirdkitModel

logger = logging.getLogger(__name__)

MODELS: Registry[Callable[..., BirdkitModel]] = Registry(
    "model", list_hint="List them with birdkit.models.list_models('pattern*') or `birdkit models`."
)


from birdkit.errors import ModelArgumentError  # noqa: E402  (re-exported)


def register_model(name: str | None = None, *, family: str, description: str,
                   **meta: Any) -> Callable[[Callable[..., BirdkitModel]], Callable[..., BirdkitModel]]:
    """Decorator registering a model builder under ``name`` (default: the function name).

    Args:
        name: registry name.
        family: family shown by ``birdkit models`` (``convnet``, ``resnet``, ...).
        description: one line, with the paper the architecture follows.
        **meta: further metadata returned by :func:`model_info`.
    """
    return MODELS.register(name, family=family, description=description, **meta)


def list_models(pattern: str | None = None) -> list[str]:
    """Sorted registered model names, optionally filtered by a shell wildcard.

    Args:
        pattern: e.g. ``'resnet*'``, ``'convnet_?s'``, ``'tv_*'``; None lists all registered
            names. timm's names are listed only for a ``'timm:...'`` pattern (``'timm:resnet*'``).

    Example:
        >>> list_models("resnet1*")
        ['resnet101', 'resnet152', 'resnet18']
    """
    return MODELS.names(pattern)


def _check_positive_int(what: str, value: Any, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ModelArgumentError(
            f"Expected argument `{what}` of model {name!r} to be a positive int, got {value!r}.")


def _check_kwargs(name: str, fn: Callable[..., Any], kwargs: dict[str, Any]) -> None:
    params = inspect.signature(fn).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    allowed = [k for k, p in params.items()
               if p.kind is inspect.Parameter.KEYWORD_ONLY and k not in ("num_classes", "in_chans", "img_size")]
    bad = sorted(set(kwargs) - set(allowed))
    if bad:
        raise ModelArgumentError(
            f"Model {name!r} got unexpected keyword argument(s) {', '.join(map(repr, bad))}; "
            f"it accepts: {', '.join(allowed) if allowed else 'none'}.")


def create_model(name: str, *, num_classes: int = 10, in_chans: int = 3, img_size: int = 32,
                 **kwargs: Any) -> BirdkitModel:
    """Build a registered model with fresh (random) weights.

    Args:
        name: registry name (see :func:`list_models`), or ``"timm:<timm name>"`` for any timm
            model (docs/models.md); unknown names raise
            :class:`~birdkit.errors.UnknownNameError` listing close matches.
        num_classes: classifier outputs.
        in_chans: input channels (1 for grayscale, 3 for RGB; any positive int works).
        img_size: input height = width. CNNs pool adaptively (any size from 28 px up works);
            ViTs size their position embeddings from it and need it divisible by the patch.
        **kwargs: family options (widths, drop rates, ...). Keep them JSON values: they are
            stored in ``birdkit_spec`` and in checkpoint sidecars.

    Returns:
        A :class:`~birdkit.models._base.BirdkitModel` in train mode, on the CPU, whose
        ``birdkit_spec`` rebuilds it: ``create_model(**model.birdkit_spec)``.

    Raises:
        UnknownNameError: unknown ``name``.
        ModelArgumentError: invalid ``num_classes``, ``in_chans``, ``img_size`` or kwargs.
    """
    fn = MODELS.get(name)
    _check_positive_int("num_classes", num_classes, name)
    _check_positive_int("in_chans", in_chans, name)
    _check_positive_int("img_size", img_size, name)
    _check_kwargs(name, fn, kwargs)
    model = fn(num_classes=num_classes, in_chans=in_chans, img_size=img_size, **kwargs)
    model.birdkit_spec = {"name": name, "num_classes": num_classes, "in_chans": in_chans,
                          "img_size": img_size, **kwargs}
    if model.default_layer not in dict(model.named_modules()):  # a bug in the family module
        raise RuntimeError(f"Model {name!r}: default_layer {model.default_layer!r} is not a module.")
    logger.debug("created model %s (%s parameters)", name, f"{count_parameters(model):,}")
    return model


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameter elements (shared parameters counted once).

    Args:
        model: any module.
        trainable_only: count only parameters with ``requires_grad``.
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


_FACTORIES = {torch.empty, torch.zeros, torch.ones, torch.full, torch.rand, torch.randn}


class _MetaParams(TorchFunctionMode):
    """Allocates new parameters/buffers on the ``meta`` device (no memory, no init cost) while
    leaving other tensor ops on the CPU, so builders that compute widths with tensors (RegNet)
    still work. Used to count parameters of large models cheaply."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _FACTORIES and kwargs.get("device") is None:
            kwargs["device"] = "meta"
        return func(*args, **kwargs)


@contextlib.contextmanager
def meta_init() -> Iterator[None]:
    """Context manager: models built inside have their parameters on the ``meta`` device."""
    with _MetaParams():
        yield


def model_info(name: str, *, num_classes: int = 10, in_chans: int = 3, img_size: int = 32,
               **kwargs: Any) -> dict[str, Any]:
    """Family, description, default layer and parameter count of a registered model.

    The model is built on the ``meta`` device (no memory, no weights), so this is cheap even
    for large torchvision models.

    Args:
        name: registry name.
        num_classes, in_chans, img_size, **kwargs: as for :func:`create_model`; the parameter
            count and, for some families, the default layer depend on them.

    Returns:
        ``{"name", "family", "description", "default_layer", "num_features", "params",
        "error"}`` plus the family's extra metadata. If the model cannot be built with these
        arguments (e.g. a torchvision ViT whose patch does not divide ``img_size``),
        ``default_layer``, ``num_features`` and ``params`` are None and ``error`` says why.
    """
    meta = dict(MODELS.meta(name))
    info: dict[str, Any] = {"name": name, "family": meta.pop("family"),
                            "description": meta.pop("description"), **meta,
                            "default_layer": None, "num_features": None, "params": None, "error": None}
    try:
        with meta_init():
            model = create_model(name, num_classes=num_classes, in_chans=in_chans, img_size=img_size, **kwargs)
    except ModelArgumentError:
        raise
    except Exception as e:  # noqa: BLE001 - reported, not raised: the catalogue must list every name
        info["error"] = f"{type(e).__name__}: {e}"
        return info
    info.update(default_layer=model.default_layer, num_features=model.num_features,
                params=count_parameters(model))
    return info
