r"""CKA representation loss ``1 - CKA(x, y)``, the structure term of BIRD.

BIRD (Pogoncheff & Beyeler, arXiv 2505.23933; docs/method.md §1) trains the student with

    L = (1 - a) CE(f(B), y) + a (1 - CKA(u(B), v(B)))

where ``u(B)`` (teacher, ``n x p_t``) and ``v(B)`` (student, ``n x p_s``) are the guiding
and guided layers' pooled features on the same batch. :class:`CKALoss` is the second term
without the weight; CKA (Kornblith et al. 2019; debiased: Song et al. 2012, Nguyen, Raghu &
Kornblith 2021) and its options are those of :func:`birdkit.functional.cka.cka` and
:class:`birdkit.functional.cka.CKASettings` (docs/cka.md).
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from birdkit.functional.cka import DEFAULT_EPS, CKASettings, cka

__all__ = ["CKALoss"]


class CKALoss(nn.Module):
    r"""``1 - CKA(x, y)``: 0 for representations with the same structure, up to 1 (biased)
    for unrelated ones.

    Symmetric in its arguments, without parameters or state; a module so that it can sit in
    a model or method and show its settings in ``repr``. Options are validated once, at
    construction, into :attr:`settings`.

    Args:
        settings: a :class:`~birdkit.functional.cka.CKASettings` (e.g. one shared with a
            ``CKAMetric``).
        **options: its fields as keywords instead (``kernel="linear"``, BIRD's default, or
            ``"rbf"``; ``debiased``, which removes the strong upward bias of CKA at small
            batches but needs batches of at least 4; ``sigma``, ``sigma_heuristic``,
            ``sigma_scale``; ``eps``, below which CKA is 0 and the loss 1 with a zero
            gradient, e.g. for constant features).

    Shape:
        ``x``: ``(n, p1, ...)``, ``y``: ``(n, p2, ...)`` (extra dimensions are flattened);
        output: scalar.

    Example:
        >>> loss_fn = CKALoss(kernel="linear", debiased=True)
        >>> loss = loss_fn(teacher_feats.detach(), student_feats)  # doctest: +SKIP
    """

    def __init__(self, settings: CKASettings | None = None, **options: Any) -> None:
        super().__init__()
        self.settings = CKASettings.resolve(settings, **options)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """``1 - cka(x, y)`` with this module's settings."""
        return 1.0 - cka(x, y, settings=self.settings)

    def extra_repr(self) -> str:
        return f"{self.settings.describe()}, eps={self.settings.eps_or(DEFAULT_EPS)}"
