r"""BIRD's representation term as a torchdistill loss: ``BIRDCKALoss``
(``pip install birdkit[torchdistill]``; docs/integrations.md).

torchdistill (Matsubara 2021, PyPI ``torchdistill``) runs knowledge distillation from a YAML
file: forward hooks store the inputs/outputs of named teacher and student modules in two "io
dicts", and the criterion sums registered losses that read them. Importing this module registers
:class:`BIRDCKALoss` as a torchdistill *mid-level* loss (``register_mid_level_loss``), so a
torchdistill config gets BIRD (Pogoncheff & Beyeler, arXiv 2505.23933; docs/method.md §1) as

    L = w_ce CE(f(B), y) + w_bird (1 - CKA(u(B), v(B)))

with a ``WeightedSumLoss`` of torchdistill's cross entropy and this term (BIRD: ``w_ce = 0.1``,
``w_bird = 0.9``), where ``u(B)`` and ``v(B)`` are the teacher's and the student's hooked
outputs on the batch, pooled as birdkit's capture pools them (``"avg"``: global average pooling
of ``(N, C, H, W)`` maps, mean over the tokens of ``(N, T, D)``) and compared by birdkit's
:class:`~birdkit.losses.CKALoss` (same options, same numerics as ``birdkit``'s own BIRD). List
the module under the config's ``dependencies`` so torchdistill's scripts import it.

The teacher's features are detached, as BIRD's teacher is frozen; several layer pairs are several
sub-terms with their weights. birdkit's feature queue (``queue_size``) is not part of this term.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from birdkit.errors import ConfigError, MissingExtraError, one_line
from birdkit.features.capture import pool_features
from birdkit.losses.cka import CKALoss

__all__ = ["KEY", "BIRDCKALoss", "register"]

#: the name of the loss in torchdistill configs (``criterion: {key: BIRDCKALoss, kwargs: ...}``)
KEY = "BIRDCKALoss"
_IOS = ("input", "output")
_POOLS = ("avg", "flatten", None)


def _read(io_dict: dict[str, Any], side: str, path: str, io: str) -> Tensor:
    """The hooked tensor ``io_dict[path][io]``, or a ConfigError naming the missing hook."""
    value = io_dict.get(path, {}).get(io)
    if value is None:
        hooked = sorted(p for p, v in io_dict.items() if v)
        raise ConfigError(f"BIRDCKALoss: the {side} io_dict has no {io!r} of module {path!r}; add {path!r} to "
                          f"{side}.forward_hook.{io} in the torchdistill config (hooked: {hooked}).")
    if not isinstance(value, Tensor):
        raise ConfigError(f"BIRDCKALoss: the {io} of {side} module {path!r} is a {type(value).__name__}, not a "
                          "tensor; hook a module that returns one tensor.")
    return value


class BIRDCKALoss(nn.Module):
    """``1 - CKA`` between a hooked teacher module and a hooked student module, for torchdistill.

    Args:
        student_module_path, teacher_module_path: the hooked modules' dotted names (as in
            ``forward_hook``); ``'.'`` is the model's own output.
        student_module_io, teacher_module_io: ``"output"`` (default) or ``"input"``.
        pool: how a layer output becomes one vector per sample (:func:`birdkit.features.capture.pool_features`):
            ``"avg"`` (BIRD's, default), ``"flatten"`` or ``None``.
        **cka_options: :class:`~birdkit.losses.CKALoss` options (``kernel``, ``debiased``, ``sigma`` ...).

    Raises:
        ConfigError: an unknown ``*_module_io`` or ``pool``; at call time, a module the config
            does not hook.
    """

    def __init__(self, student_module_path: str, teacher_module_path: str, student_module_io: str = "output",
                 teacher_module_io: str = "output", pool: str | None = "avg", **cka_options: Any) -> None:
        super().__init__()
        for name, io in (("student_module_io", student_module_io), ("teacher_module_io", teacher_module_io)):
            if io not in _IOS:
                raise ConfigError(f"BIRDCKALoss: {name} must be 'input' or 'output', got {io!r}.")
        if pool not in _POOLS:
            raise ConfigError(f"BIRDCKALoss: pool must be one of {_POOLS}, got {pool!r}.")
        self.student_module_path, self.student_module_io = student_module_path, student_module_io
        self.teacher_module_path, self.teacher_module_io = teacher_module_path, teacher_module_io
        self.pool = pool
        self.cka_loss = CKALoss(**cka_options)

    def forward(self, student_io_dict: dict[str, Any], teacher_io_dict: dict[str, Any], *args: Any,
                **kwargs: Any) -> Tensor:
        """torchdistill's mid-level signature ``(student_io_dict, teacher_io_dict, targets, ...)``."""
        s = _read(student_io_dict, "student", self.student_module_path, self.student_module_io)
        t = _read(teacher_io_dict, "teacher", self.teacher_module_path, self.teacher_module_io)
        return self.cka_loss(pool_features(t, self.pool).detach(), pool_features(s, self.pool))

    def extra_repr(self) -> str:
        return (f"teacher={self.teacher_module_path}:{self.teacher_module_io}, "
                f"student={self.student_module_path}:{self.student_module_io}, pool={self.pool!r}")


def register(key: str = KEY) -> type[BIRDCKALoss]:
    """Register :class:`BIRDCKALoss` with torchdistill under ``key`` (done once on import).

    Raises:
        MissingExtraError: torchdistill is not installed.
    """
    try:
        from torchdistill.losses.registry import register_mid_level_loss  # optional extra: birdkit[torchdistill]
    except ImportError as e:
        raise MissingExtraError(f"birdkit.losses.torchdistill needs torchdistill ({one_line(e)}): "
                                "pip install birdkit[torchdistill]") from None
    return register_mid_level_loss(key=key)(BIRDCKALoss)


register()
