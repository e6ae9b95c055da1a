r"""CKA representation loss: ``1 - CKA(x, y)``, the structure term of BIRD.

BIRD (Pogoncheff & Beyeler, arXiv 2505.23933) trains the student with

    L = (1 - a) CE(f(B), y) + a (1 - CKA(u(B), v(B)))

where ``u(B)`` (teacher, ``n x p_t``) and ``v(B)`` (student, ``n x p_s``) are the guiding
and guided layers' pooled features on the same batch. :class:`CKALoss` is the second term
without the weight; the kernel options and numerical choices are those of
:func:`birdkit.functional.cka.cka` (Kornblith et al. 2019; debiased: Song et al. 2012,
Nguyen, Raghu & Kornblith 2021).
"""

from __future__ import annotations

from torch import Tensor, nn

from birdkit.functional.cka import (
    Kernel,
    Sigma,
    SigmaHeuristic,
    _check_heuristic,
    _check_kernel,
    cka,
)

__all__ = ["CKALoss"]


class CKALoss(nn.Module):
    r"""``1 - CKA(x, y)``: 0 for representations with the same structure, up to 1 (biased)
    for unrelated ones.

    The loss is symmetric in its arguments, has no parameters and no state; it is a module
    so that it can sit in a model or method and show its settings in ``repr``.

    Args:
        kernel: ``"linear"`` (default, as in BIRD) or ``"rbf"``.
        debiased: use the unbiased HSIC (Song et al. 2012); removes the strong upward bias
            of CKA at small batch sizes but needs batches of at least 4 and can exceed 1
            slightly (CKA slightly negative).
        sigma: explicit RBF bandwidth (a number or a pair ``(sigma_x, sigma_y)``); ``None``
            uses the median heuristic, detached.
        sigma_heuristic: ``"median_nonzero"`` or ``"median_all"``.
        sigma_scale: multiplier of the median distance.
        eps: below this ``sqrt(HSIC(K,K) HSIC(L,L))`` (on max-abs-rescaled features) CKA is
            0, i.e. the loss is 1 with zero gradient (e.g. constant features).

    Shape:
        ``x``: ``(n, p1, ...)``, ``y``: ``(n, p2, ...)`` (extra dimensions are flattened);
        output: scalar.

    Example:
        >>> loss_fn = CKALoss()
        >>> loss = loss_fn(teacher_feats.detach(), student_feats)  # doctest: +SKIP
    """

    def __init__(
        self,
        kernel: Kernel = "linear",
        debiased: bool = False,
        sigma: Sigma = None,
        sigma_heuristic: SigmaHeuristic = "median_nonzero",
        sigma_scale: float = 1.0,
        eps: float = 1e-12,
    ) -> None:
        super().__init__()
        _check_kernel(kernel)
        _check_heuristic(sigma_heuristic)
        self.kernel = kernel
        self.debiased = debiased
        self.sigma = sigma
        self.sigma_heuristic = sigma_heuristic
        self.sigma_scale = sigma_scale
        self.eps = eps

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """``1 - cka(x, y, ...)`` with this module's settings."""
        return 1.0 - cka(
            x,
            y,
            kernel=self.kernel,
            debiased=self.debiased,
            sigma=self.sigma,
            sigma_heuristic=self.sigma_heuristic,
            sigma_scale=self.sigma_scale,
            eps=self.eps,
        )

    def extra_repr(self) -> str:
        parts = [f"kernel={self.kernel!r}", f"debiased={self.debiased}"]
        if self.kernel == "rbf":
            if self.sigma is None:
                parts += [f"sigma_heuristic={self.sigma_heuristic!r}", f"sigma_scale={self.sigma_scale}"]
            else:
                parts.append(f"sigma={self.sigma!r}")
        parts.append(f"eps={self.eps}")
        return ", ".join(parts)
