"""Read intermediate layer outputs during a forward pass: ``capture`` and ``list_layers``.

BIRD aligns a frozen teacher layer with a student layer (Pogoncheff & Beyeler, arXiv
2505.23933, Sec. 3): both are read from ordinary forward passes through forward hooks. The
capture is a context manager that

* validates every layer name against ``model.named_modules()`` *before* it registers any hook
  (an unknown name raises :class:`~birdkit.errors.UnknownNameError` with close matches),
* unwraps ``DistributedDataParallel`` / ``DataParallel`` (``.module``) and ``torch.compile``
  (``._orig_mod``), so layer names are the same with or without those wrappers,
* always removes its hooks, also when the forward pass raises,
* keeps gradients by default (``detach=False``): the student's features must carry gradients
  for the representation loss; the caller runs the teacher under ``torch.no_grad()``.

Example:
    >>> import torch, torchvision
    >>> from birdkit.features.capture import capture
    >>> model = torchvision.models.resnet18(num_classes=10).eval()
    >>> with capture(model, ["layer4", "fc"], pool="avg") as feats:
    ...     logits = model(torch.randn(2, 3, 32, 32))
    >>> tuple(feats["layer4"].shape), tuple(feats["fc"].shape)
    ((2, 512), (2, 10))
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DataParallel, DistributedDataParallel

from birdkit.errors import BirdkitError, ShapeError, UnknownNameError

__all__ = [
    "Features",
    "LayerInfo",
    "LayerNotRunError",
    "capture",
    "list_layers",
    "pool_features",
    "unwrap_model",
    "validate_layers",
]

log = logging.getLogger(__name__)

PoolSpec = str | Callable[[torch.Tensor], torch.Tensor] | None
Select = int | str | None

_POOLS = ("avg", "flatten", None)
_LAYER_HINT = (
    "List a model's layers with `birdkit.list_layers(model)` or, for a registered model, "
    "`birdkit layers MODEL_NAME`."
)
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")


class LayerNotRunError(BirdkitError, KeyError):
    """A captured layer was not called during the forward pass (or no forward pass ran)."""

    def __str__(self) -> str:  # KeyError.__str__ would repr() the message
        return str(self.args[0])


# ---------------------------------------------------------------------------------------------
# wrappers
# ---------------------------------------------------------------------------------------------
def _is_compiled_wrapper(model: nn.Module) -> bool:
    return isinstance(getattr(model, "_orig_mod", None), nn.Module)


def unwrap_model(model: nn.Module) -> nn.Module:
    """The module that holds the layers, with parallel and compile wrappers removed.

    Strips, repeatedly and in any order, ``DistributedDataParallel`` / ``DataParallel``
    (their ``.module``) and ``torch.compile``'s ``OptimizedModule`` (its ``._orig_mod``).

    Args:
        model: a module, possibly wrapped.

    Returns:
        The innermost wrapped module (``model`` itself when it is not wrapped).
    """
    seen = 0
    while seen < 16:  # wrappers nest a few levels at most; guard against odd cycles
        seen += 1
        if isinstance(model, (DataParallel, DistributedDataParallel)):
            model = model.module
        elif _is_compiled_wrapper(model):
            model = model._orig_mod
        else:
            break
    return model


def _compiled_wrappers(model: nn.Module) -> list[nn.Module]:
    """The ``torch.compile`` wrappers met while unwrapping ``model`` (outermost first)."""
    out = []
    for _ in range(16):
        if isinstance(model, (DataParallel, DistributedDataParallel)):
            model = model.module
        elif _is_compiled_wrapper(model):
            out.append(model)
            model = model._orig_mod
        else:
            break
    return out


def _warn_multi_device_dp(model: nn.Module) -> None:
    if isinstance(model, DataParallel) and len(model.device_ids or []) > 1:
        log.warning(
            "capture: DataParallel over %d devices runs one replica per device; each replica's "
            "hook overwrites the captured value, so features hold one chunk of the batch only. "
            "Use DistributedDataParallel (one process per device) instead.",
            len(model.device_ids),
        )


def _strip_wrapper_prefix(name: str) -> str:
    changed = True
    while changed:
        changed = False
        for p in _WRAPPER_PREFIXES:
            if name.startswith(p):
                name, changed = name[len(p):], True
    return name


def validate_layers(model: nn.Module, layers: str | Sequence[str]) -> dict[str, nn.Module]:
    """Resolve layer names to modules without touching the model.

    Names are dotted paths from ``named_modules()`` of the unwrapped model (``"layer4"``,
    ``"layer4.1.conv2"``, ``"features.7"``). Names written with a wrapper prefix
    (``"module.layer4"`` for a ``DataParallel`` model, ``"_orig_mod.layer4"`` for a compiled
    one) are accepted too and mean the same layer. The empty string means the model itself.

    Args:
        model: the model, possibly wrapped in ``DataParallel``/``DDP``/``torch.compile``.
        layers: one name or a sequence of names; duplicates are dropped (first one kept).

    Returns:
        ``{name: module}`` in the order given, keyed by the names as the caller wrote them.

    Raises:
        UnknownNameError: a name is not a module of the model; the message lists close matches
            and how to list all layers.
        TypeError: ``layers`` is not a string or a sequence of strings.
        ValueError: ``layers`` is empty.
    """
    if isinstance(layers, str):
        layers = [layers]
    if not isinstance(layers, Sequence) or not all(isinstance(n, str) for n in layers):
        raise TypeError(f"Expected `layers` to be a str or a sequence of str, got {layers!r}")
    if len(layers) == 0:
        raise ValueError("Expected at least one layer name, got an empty sequence")
    inner = unwrap_model(model)
    modules = dict(inner.named_modules())
    out: dict[str, nn.Module] = {}
    for name in dict.fromkeys(layers):
        mod = modules.get(name)
        if mod is None and inner is not model:
            mod = modules.get(_strip_wrapper_prefix(name))
        if mod is None:
            known = [n for n in modules if n]
            raise UnknownNameError("layer", name, known, hint=_LAYER_HINT)
        out[name] = mod
    return out


# ---------------------------------------------------------------------------------------------
# output selection and pooling
# ---------------------------------------------------------------------------------------------
def _first_tensor(obj: Any) -> torch.Tensor | None:
    if isinstance(obj, torch.Tensor):
        return obj
    if isinstance(obj, Mapping):
        items: Any = obj.values()
    elif isinstance(obj, (tuple, list)):
        items = obj
    else:
        return None
    for item in items:
        t = _first_tensor(item)
        if t is not None:
            return t
    return None


def _select_output(output: Any, select: Select, layer: str) -> torch.Tensor:
    if select is None:
        t = _first_tensor(output)
        if t is None:
            raise ShapeError(
                f"Layer {layer!r} returned {type(output).__name__}, which holds no tensor to capture"
            )
        return t
    try:
        t = output[select]
    except (KeyError, IndexError, TypeError) as e:
        raise ShapeError(
            f"select={select!r} does not index the output of layer {layer!r} "
            f"({type(output).__name__}): {e}"
        ) from None
    if not isinstance(t, torch.Tensor):
        raise ShapeError(
            f"select={select!r} picks a {type(t).__name__} from the output of layer {layer!r}; "
            "expected a tensor"
        )
    return t


def pool_features(x: torch.Tensor, pool: PoolSpec = "avg") -> torch.Tensor:
    """Reduce a layer output to what the similarity measure compares.

    * ``"avg"``: global average pooling. ``(N, C, H, W)`` -> mean over ``H, W``;
      ``(N, C, D, H, W)`` -> mean over ``D, H, W``; ``(N, T, D)`` -> mean over the tokens
      ``T`` (transformer convention; for ``Conv1d`` outputs ``(N, C, L)`` pass a callable);
      ``(N, D)`` unchanged.
    * ``"flatten"``: ``x.reshape(N, -1)``.
    * ``None``: the raw output.
    * a callable: ``pool(x)``.

    Args:
        x: the layer output, batch first.
        pool: one of the above.

    Returns:
        The pooled tensor (shares the autograd graph with ``x``).

    Raises:
        ShapeError: ``"avg"``/``"flatten"`` on a tensor without a batch and a feature dim.
        ValueError: an unknown pooling name.
    """
    if pool is None:
        return x
    if callable(pool):
        return pool(x)
    if pool == "avg":
        if x.dim() == 2:
            return x
        if x.dim() == 3:
            return x.mean(dim=1)
        if x.dim() >= 4:
            return x.mean(dim=tuple(range(2, x.dim())))
        raise ShapeError(f"pool='avg' expects a (N, D), (N, T, D) or (N, C, H, W) tensor, got shape {tuple(x.shape)}")
    if pool == "flatten":
        if x.dim() < 1:
            raise ShapeError("pool='flatten' expects a batch dimension, got a scalar")
        return x.reshape(x.shape[0], -1)
    raise ValueError(f"Expected pool to be one of {_POOLS} or a callable, got {pool!r}")


def _check_pool(pool: PoolSpec) -> None:
    if pool is None or callable(pool) or pool in ("avg", "flatten"):
        return
    raise ValueError(f"Expected pool to be one of {_POOLS} or a callable, got {pool!r}")


# ---------------------------------------------------------------------------------------------
# capture
# ---------------------------------------------------------------------------------------------
class _StopForward(Exception):
    """Raised by a hook to end the forward pass early (``stop_at_last=True``)."""

    def __init__(self, owner: object):
        super().__init__("forward pass stopped after the last captured layer")
        self.owner = owner


class Features(Mapping[str, torch.Tensor]):
    """The captured outputs, by layer name: a read-only mapping filled by the hooks.

    Only layers that ran count as keys (``len``, iteration, ``in``); ``feats[name]`` of a
    requested layer that did not run raises :class:`LayerNotRunError`, of a name that was not
    requested :class:`~birdkit.errors.UnknownNameError`. Each forward call overwrites the
    previous value, so after several calls the mapping holds the last one. The tensors stay
    readable after the ``with`` block.

    Attributes:
        layers: the requested layer names, in order.
        calls: how many times each layer ran while the capture was active.
    """

    def __init__(self, layers: Sequence[str], compiled: bool = False):
        self.layers: tuple[str, ...] = tuple(layers)
        self.calls: dict[str, int] = {n: 0 for n in self.layers}
        self._data: dict[str, torch.Tensor] = {}
        self._compiled = compiled

    def _store(self, name: str, value: torch.Tensor) -> None:
        self._data[name] = value
        self.calls[name] += 1

    def __getitem__(self, name: str) -> torch.Tensor:
        try:
            return self._data[name]
        except KeyError:
            pass
        if name not in self.calls:
            raise UnknownNameError("captured layer", name, self.layers)
        msg = f"layer {name!r} did not run in the forward pass"
        if not any(self.calls.values()):
            msg += " (no captured layer ran: was the model called inside the `with capture(...)` block?)"
        else:
            msg += " (the forward pass does not call this module, or calls it only on some branches)"
        if self._compiled:
            msg += (
                ". The model is torch.compile'd: hooks added after compilation are not seen "
                "unless torch._dynamo.config.skip_nnmodule_hook_guards is False"
            )
        raise LayerNotRunError(msg)

    def __contains__(self, name: object) -> bool:
        return name in self._data

    def __iter__(self) -> Iterator[str]:
        return (n for n in self.layers if n in self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        shapes = ", ".join(f"{n!r}: {tuple(self._data[n].shape)}" for n in self)
        missing = [n for n in self.layers if n not in self._data]
        return f"Features({{{shapes}}}" + (f", not run: {missing})" if missing else ")")


class capture:  # noqa: N801 - used like a function: ``with capture(model, ...) as feats``
    """Capture layer outputs of ``model`` during the forward passes inside a ``with`` block.

    Args:
        model: the model; ``DataParallel``/``DistributedDataParallel``/``torch.compile``
            wrappers are looked through, so names are those of the wrapped model.
        layers: a dotted module name or a list of them (``named_modules()`` names).
        pool: ``"avg"`` (global average pooling, default for BIRD), ``"flatten"``, ``None``
            (raw output) or a callable; see :func:`pool_features`.
        detach: detach the captured tensors. Default ``False``: the student's features must
            keep their gradient; run the teacher under ``torch.no_grad()`` instead.
        select: which part of a tuple/list/dict output to keep: an index or a key. ``None``
            (default) keeps the first tensor found, depth first (``(out, hidden)`` -> ``out``;
            a dict -> its first tensor value in insertion order).
        stop_at_last: end the forward pass as soon as every requested layer has run (saves
            the rest of the network when only features are wanted). The early stop is an
            internal exception that the ``with`` statement swallows, so statements after the
            model call inside the block do not run; read the features after the block.

    Raises:
        UnknownNameError: a layer name is unknown (raised before any hook is registered).
        ValueError: an unknown ``pool`` name.

    Example (BIRD's two captures)::

        with torch.no_grad(), capture(teacher, "layer4") as tf:
            teacher(x)
        with capture(student, "features.18") as sf:
            logits = student(x)
        loss = cka_loss(tf["layer4"], sf["features.18"])  # gradients reach the student

    Nested or repeated captures of the same model are fine: each registers its own hooks.
    For a ``torch.compile``'d model, hooks registered after compilation are invisible to the
    compiled graph while ``torch._dynamo.config.skip_nnmodule_hook_guards`` is ``True`` (the
    default); the capture then runs the original (eager) module for calls inside the block
    and logs a warning once. Set that flag to ``False`` before compiling to keep the compiled
    graph (dynamo then recompiles once for the hooked variant).
    """

    _warned_compiled: set[int] = set()

    def __init__(
        self,
        model: nn.Module,
        layers: str | Sequence[str],
        *,
        pool: PoolSpec = "avg",
        detach: bool = False,
        select: Select = None,
        stop_at_last: bool = False,
    ):
        _check_pool(pool)
        if select is not None and not isinstance(select, (int, str)):
            raise TypeError(f"Expected select to be an int index, a str key or None, got {select!r}")
        self._modules = validate_layers(model, layers)  # before any hook exists
        self.model = model
        self.pool, self.detach, self.select, self.stop_at_last = pool, detach, select, stop_at_last
        self._handles: list[Any] = []
        self._patched: list[tuple[nn.Module, Any]] = []
        self.features: Features | None = None

    def _hook(self, name: str) -> Callable[..., None]:
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            feats = self.features
            assert feats is not None
            t = _select_output(output, self.select, name)
            if self.detach:
                t = t.detach()
            feats._store(name, pool_features(t, self.pool))
            if self.stop_at_last and all(feats.calls.values()):
                raise _StopForward(self)

        return hook

    def _eager_fallback(self) -> bool:
        """Route calls of compiled wrappers to the eager module while hooks are active."""
        wrappers = _compiled_wrappers(self.model)
        if not wrappers:
            return False
        try:  # optional: torch._dynamo is heavy to import and absent from some builds
            import torch._dynamo.config as dynamo_config

            guarded = not getattr(dynamo_config, "skip_nnmodule_hook_guards", True)
        except Exception:  # pragma: no cover - dynamo unavailable
            guarded = False
        if guarded:
            return True
        for w in wrappers:
            if id(w) not in capture._warned_compiled:
                capture._warned_compiled.add(id(w))
                log.warning(
                    "capture: %s is torch.compile'd and torch._dynamo.config.skip_nnmodule_hook_guards "
                    "is True, so the compiled graph would not run the capture hooks; forward calls "
                    "inside capture blocks run the eager module instead. Set the flag to False "
                    "before compiling to keep the compiled graph.",
                    type(w._orig_mod).__name__,
                )
            self._patched.append((w, w.__dict__.get("forward")))
            w.__dict__["forward"] = w._orig_mod.__call__  # restored on exit
        return True

    def __enter__(self) -> Features:
        self.features = Features(list(self._modules))
        try:
            self.features._compiled = self._eager_fallback()
            _warn_multi_device_dp(self.model)
            for name, module in self._modules.items():
                self._handles.append(module.register_forward_hook(self._hook(name)))
        except BaseException:
            self._remove()
            raise
        log.debug("capture: hooks on %s", list(self._modules))
        return self.features

    def _remove(self) -> None:
        while self._handles:
            self._handles.pop().remove()
        while self._patched:
            w, forward = self._patched.pop()
            if forward is None:
                w.__dict__.pop("forward", None)
            else:
                w.__dict__["forward"] = forward

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        self._remove()
        return isinstance(exc, _StopForward) and exc.owner is self


# ---------------------------------------------------------------------------------------------
# list_layers
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LayerInfo:
    """One named module of a model, as seen in one forward pass.

    Attributes:
        name: dotted name from ``named_modules()`` (the capture name).
        type: the module's class name (``"Conv2d"``, ``"BasicBlock"``).
        output_shape: shape of the module's (first tensor) output in the probing forward
            pass, batch dimension included; ``None`` if the module did not run or returned no
            tensor. With an input built from ``input_shape`` or the model spec the batch is 1.
        num_params: number of parameters of the module, its children included.
        finished: rank at which the module finished in the probing forward pass (0 first), or
            ``None`` if it did not run: the order in which the network computes its layers.
        output_key: identifies the output tensor object of the probing pass: two modules with the
            same key returned the very same tensor (a container and its last child).
    """

    name: str
    type: str
    output_shape: tuple[int, ...] | None
    num_params: int
    finished: int | None = field(default=None, compare=False)
    output_key: int | None = field(default=None, compare=False, repr=False)

    @property
    def depth(self) -> int:
        """Nesting depth: ``"layer4"`` is 1, ``"layer4.0.conv1"`` is 3."""
        return self.name.count(".") + 1


def _param_device_dtype(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    for p in model.parameters():
        dtype = p.dtype if p.is_floating_point() else torch.float32
        return p.device, dtype
    for b in model.buffers():
        if b.is_floating_point():
            return b.device, b.dtype
    return torch.device("cpu"), torch.float32


def _example_from_spec(model: nn.Module, input_shape: Sequence[int] | None) -> torch.Tensor:
    if input_shape is None:
        spec = getattr(model, "birdkit_spec", None)
        if not isinstance(spec, Mapping):
            raise ValueError(
                "list_layers needs an input: pass example_input=... or input_shape=(C, H, W); "
                "only models from birdkit.create_model (with a `birdkit_spec`) build one themselves"
            )
        input_shape = (int(spec.get("in_chans", 3)), int(spec.get("img_size", 32)), int(spec.get("img_size", 32)))
    device, dtype = _param_device_dtype(model)
    return torch.randn((1, *tuple(int(s) for s in input_shape)), device=device, dtype=dtype)


def list_layers(
    model: nn.Module,
    example_input: Any = None,
    *,
    input_shape: Sequence[int] | None = None,
    depth: int | None = None,
    pattern: str | None = None,
) -> list[LayerInfo]:
    """Every named module with its type, output shape and parameter count.

    Runs one forward pass under ``torch.no_grad()`` in eval mode with a temporary hook on
    every named module; each module's ``training`` flag is restored afterwards and every hook
    is removed, also when the forward pass fails. The model itself (the empty name) is not
    listed.

    Args:
        model: the model (wrappers are looked through, as in :class:`capture`).
        example_input: a tensor (``model(x)``), a tuple/list (``model(*x)``) or a dict
            (``model(**x)``). If ``None``, a random batch of one is built from ``input_shape``
            or, failing that, from the model's ``birdkit_spec`` (``in_chans``, ``img_size``).
        input_shape: input shape without the batch dimension, e.g. ``(3, 32, 32)``.
        depth: only list names with at most this many dotted parts (1 = top-level children).
        pattern: only list names matching this shell wildcard (``"layer4*"``).

    Returns:
        A :class:`LayerInfo` per module, in ``named_modules()`` order.

    Raises:
        ValueError: no input given and none can be built.
    """
    inner = unwrap_model(model)
    if example_input is None:
        example_input = _example_from_spec(inner, input_shape)
    shapes: dict[str, tuple[int, ...] | None] = {}
    keys: dict[str, int | None] = {}
    alive: list[torch.Tensor] = []  # held until the end, so no two outputs share an id
    named = [(n, m) for n, m in inner.named_modules() if n]

    def make_hook(name: str) -> Callable[..., None]:
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            t = _first_tensor(output)
            shapes.pop(name, None)  # a module run twice counts where it finished last
            shapes[name] = tuple(t.shape) if t is not None else None
            if t is not None:
                alive.append(t)
            keys[name] = id(t) if t is not None else None

        return hook

    modes = {m: m.training for m in inner.modules()}
    handles = []
    try:
        for name, module in named:
            handles.append(module.register_forward_hook(make_hook(name)))
        inner.eval()
        with torch.no_grad():
            if isinstance(example_input, Mapping):
                inner(**example_input)
            elif isinstance(example_input, (tuple, list)):
                inner(*example_input)
            else:
                inner(example_input)
    finally:
        for h in handles:
            h.remove()
        for m, mode in modes.items():
            m.training = mode

    rank = {name: i for i, name in enumerate(shapes)}  # dict order: the order hooks fired
    out = []
    for name, module in named:
        info = LayerInfo(
            name=name,
            type=type(module).__name__,
            output_shape=shapes.get(name),
            num_params=sum(p.numel() for p in module.parameters()),
            finished=rank.get(name),
            output_key=keys.get(name),
        )
        if depth is not None and info.depth > depth:
            continue
        if pattern is not None and not fnmatch.fnmatchcase(name, pattern):
            continue
        out.append(info)
    return out
