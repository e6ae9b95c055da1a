r"""Representation similarity accumulated over a dataset: mini-batch CKA.

:class:`CKAMetric` measures CKA (Kornblith et al. 2019) between two representations of the
same examples when they come in mini-batches. Following docs/method.md §2 (and Nguyen, Raghu
& Kornblith 2021, who use it with the unbiased HSIC of Song et al. 2012), the three HSIC
terms are averaged over the ``k`` batches and the ratio is formed at the end::

    CKA_minibatch = mean_b HSIC(K_b, L_b) / sqrt(mean_b HSIC(K_b, K_b) * mean_b HSIC(L_b, L_b))

which is *not* the mean of per-batch CKA values: batches with larger HSIC terms weigh more,
and with ``debiased=True`` the numerator and the denominator are each unbiased estimates
(the mean of per-batch ratios is not). The per-batch terms come from
:func:`birdkit.functional.cka.hsic_terms`, with the same :class:`CKASettings` as
:func:`~birdkit.functional.cka.cka` and ``CKALoss`` (docs/cka.md).
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import Tensor

from birdkit.errors import BirdkitError, ShapeError
from birdkit.functional.cka import CKASettings, cka_from_hsic, hsic_terms

__all__ = ["CKAMetric"]

logger = logging.getLogger(__name__)


class CKAMetric:
    r"""Mini-batch CKA: average the three HSIC terms over batches, then take the ratio.

    Every batch is weighted equally, whatever its size (the paper's convention; use equal
    batch sizes, or drop a short last batch, for a clean estimate). Per-batch terms are
    computed and accumulated in ``dtype`` (float64 by default), without gradients. With
    ``kernel="rbf"`` and ``sigma=None`` each batch gets its own median bandwidth (so the
    kernel varies slightly across batches); give ``sigma`` for one fixed kernel.

    Args:
        settings: a :class:`~birdkit.functional.cka.CKASettings` (e.g. the one of the
            ``CKALoss`` being trained). Its ``eps`` is absolute here (the averaged terms
            carry the features' scale); ``None`` means 0: only a side with no variance in
            any batch gives 0.
        dtype: computation and accumulation dtype.
        **options: the settings' fields as keywords instead (``kernel``, ``debiased``,
            ``sigma``, ``sigma_heuristic``, ``sigma_scale``, ``eps``).

    Example:
        >>> metric = CKAMetric(kernel="linear")
        >>> for xb, yb in batches:  # doctest: +SKIP
        ...     metric.update(teacher(xb), student(xb))
        >>> metric.compute()  # doctest: +SKIP
    """

    def __init__(self, settings: CKASettings | None = None, *, dtype: torch.dtype = torch.float64, **options: Any):
        self.settings = CKASettings.resolve(settings, **options)
        self.dtype = dtype
        self.reset()

    def reset(self) -> None:
        """Forget all batches."""
        self._sums: Tensor | None = None  # (3,) sums of HSIC(K,L), HSIC(K,K), HSIC(L,L)
        self._num_batches = 0
        self._dims: tuple[int, int] | None = None

    @property
    def num_batches(self) -> int:
        """Number of batches seen since the last :meth:`reset`."""
        return self._num_batches

    @torch.no_grad()
    def update(self, x: Tensor, y: Tensor) -> None:
        """Add one batch: ``x`` ``(n, p1, ...)`` and ``y`` ``(n, p2, ...)`` for the same
        ``n`` examples (extra dimensions are flattened).

        Raises:
            ShapeError: ``n`` differs between ``x`` and ``y``, ``n`` is too small, or the
                feature dimensions differ from those of earlier batches.
        """
        dims = (x[0].numel() if x.dim() >= 2 else -1, y[0].numel() if y.dim() >= 2 else -1)
        if self._dims is not None and dims != self._dims:
            raise ShapeError(
                f"CKAMetric: feature dimensions changed between batches: expected (p1, p2) = "
                f"{self._dims} as in earlier batches, got {dims}; call reset() first."
            )
        batch = torch.stack(hsic_terms(x.detach(), y.detach(), settings=self.settings, dtype=self.dtype))
        self._sums = batch if self._sums is None else self._sums.to(batch.device) + batch
        self._dims = dims
        self._num_batches += 1

    def hsic_means(self) -> tuple[Tensor, Tensor, Tensor]:
        """The averaged terms ``(mean HSIC(K,L), mean HSIC(K,K), mean HSIC(L,L))``."""
        if self._sums is None:
            raise BirdkitError("CKAMetric.compute(): expected at least one update() before compute(), got none.")
        means = self._sums / self._num_batches
        return means[0], means[1], means[2]

    @torch.no_grad()
    def compute(self) -> Tensor:
        """CKA from the averaged HSIC terms (scalar tensor of ``dtype``)."""
        return cka_from_hsic(*self.hsic_means(), self.settings.eps_or(0.0))

    def __repr__(self) -> str:
        return f"CKAMetric({self.settings.describe()}, num_batches={self._num_batches})"
