r"""Centered kernel alignment (CKA) and the Hilbert-Schmidt independence criterion (HSIC).

BIRD (Pogoncheff & Beyeler, arXiv 2505.23933) aligns the representation *structure* of a
student layer with that of a teacher layer by maximising CKA between the two layers'
features on the same batch. This module holds the pure, differentiable functions; the loss
(:class:`birdkit.losses.cka.CKALoss`) and the accumulating metric
(:class:`birdkit.evaluation.similarity.CKAMetric`) are thin wrappers around them.

Definitions (rows are examples; ``X`` is ``(n, p1)``, ``Y`` is ``(n, p2)``;
``K``, ``L`` their ``n x n`` Gram matrices; ``H = I - 11^T / n``):

* Biased HSIC (Gretton et al. 2005)::

      HSIC_0(K, L) = tr(K H L H) / (n - 1)^2

* Unbiased HSIC (Song et al. 2012), with ``K~``, ``L~`` the Gram matrices with zeroed
  diagonals, defined for ``n >= 4`` (it can be slightly negative)::

      HSIC_1(K, L) = [ tr(K~ L~) + (1^T K~ 1)(1^T L~ 1) / ((n-1)(n-2))
                       - 2/(n-2) * 1^T K~ L~ 1 ] / (n (n - 3))

* CKA (Kornblith et al. 2019, "Similarity of neural network representations revisited")::

      CKA(K, L) = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L))

  "Debiased CKA" (Nguyen, Raghu & Kornblith 2021) uses ``HSIC_1`` in all three places.

* Linear CKA in feature space (``X``, ``Y`` column-centred)::

      CKA = ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F)

  (the denominator norms are *not* squared; squaring them breaks scale invariance).

* RBF kernel: ``K_ij = exp(-||x_i - x_j||^2 / (2 sigma^2))``.

Numerical choices (see ``docs/cka.md``):

1. Features are column-centred *before* any product. Forming ``X X^T`` first and centring
   the Gram matrix afterwards loses float32 precision when the features share a large
   offset (offset 1000: 0.34 instead of 0.93). Centring is done in two passes (the second
   removes the rounding residue of the first mean).
2. After centring, each side is divided by its (detached) largest absolute entry. CKA is
   invariant to isotropic scaling of either side (and, for RBF, the bandwidth is scaled the
   same way), so this changes neither the value nor the gradient, but it keeps every
   intermediate quantity of order ``n``..``n^2 p`` whatever the feature scale: no float32
   overflow or underflow, and ``eps`` acts on a scale-free quantity.
3. The computation runs in float32 at least (float64 inputs, or one float64 side, give
   float64) with ``torch.autocast`` disabled, so it is safe inside a bf16/fp16 autocast
   region; low-precision inputs are cast up.
4. A side with no variance (all rows identical, e.g. constant features) makes CKA 0/0. It
   is *defined* as 0, with a zero (finite) gradient; the check is exact (every column's
   max equals its min), not a tolerance, and is applied with a ``where`` on the result.
5. Biased linear CKA picks the feature-space form (cost ``n (p1^2 + p1 p2 + p2^2)``) when
   ``p1^2 + p1 p2 + p2^2 <= n (p1 + p2)``, otherwise the Gram form (cost
   ``n^2 (p1 + p2)``). Gram centring is ``O(n^2)`` (row means, column means, grand mean);
   no ``n x n`` centring matrix is ever built.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Literal

import torch
from torch import Tensor

from birdkit.errors import BirdkitError, ShapeError, UnknownNameError

__all__ = [
    "KERNELS",
    "SIGMA_HEURISTICS",
    "center_features",
    "center_gram",
    "cka",
    "cka_from_hsic",
    "gram_linear",
    "gram_rbf",
    "hsic",
    "median_sigma",
    "pairwise_sq_dists",
]

logger = logging.getLogger(__name__)

Kernel = Literal["linear", "rbf"]
SigmaHeuristic = Literal["median_nonzero", "median_all"]
Sigma = float | Tensor | tuple[float, float] | None

#: Kernels understood by :func:`cka`.
KERNELS: tuple[str, ...] = ("linear", "rbf")
#: Median conventions for the RBF bandwidth (see :func:`median_sigma`).
SIGMA_HEURISTICS: tuple[str, ...] = ("median_nonzero", "median_all")


# --------------------------------------------------------------------------------------
# validation and dtype handling
# --------------------------------------------------------------------------------------
def _check_kernel(kernel: str) -> None:
    if kernel not in KERNELS:
        raise UnknownNameError("kernel", kernel, KERNELS)


def _check_heuristic(heuristic: str) -> None:
    if heuristic not in SIGMA_HEURISTICS:
        raise UnknownNameError("sigma heuristic", heuristic, SIGMA_HEURISTICS)


def _min_n(debiased: bool) -> int:
    return 4 if debiased else 2


def _check_n(n: int, debiased: bool, what: str = "examples") -> None:
    need = _min_n(debiased)
    if n < need:
        kind = "debiased CKA/HSIC (unbiased HSIC divides by n(n-3))" if debiased else "CKA/HSIC"
        raise ShapeError(f"{kind} needs at least {need} {what} (rows); got n={n}.")


def _as_2d(x: Tensor, name: str) -> Tensor:
    """``(n, ...)`` -> ``(n, p)``: all dimensions after the first are flattened."""
    if not isinstance(x, Tensor):
        raise BirdkitError(f"{name}: expected a torch.Tensor of shape (n, p), got {type(x).__name__}.")
    if x.dim() < 2:
        raise ShapeError(
            f"{name}: expected a tensor of shape (n, p) (rows are examples), got shape "
            f"{tuple(x.shape)}; for a single feature use {name}[:, None]."
        )
    if x.is_complex():
        raise BirdkitError(f"{name}: expected a real tensor, got dtype {x.dtype}.")
    x2 = x.reshape(x.shape[0], -1)
    if x2.shape[1] == 0:
        raise ShapeError(f"{name}: expected at least one feature per example, got shape {tuple(x.shape)}.")
    return x2


def _compute_dtype(*tensors: Tensor) -> torch.dtype:
    """float64 if any input is float64, else float32 (half/bfloat16/integer inputs go up)."""
    return torch.float64 if any(t.dtype == torch.float64 for t in tensors) else torch.float32


@contextlib.contextmanager
def _no_autocast(device: torch.device) -> Iterator[None]:
    """Disable autocast for ``device`` (a no-op for device types autocast does not know)."""
    try:
        ctx = torch.autocast(device_type=device.type, enabled=False)
    except RuntimeError:  # pragma: no cover - exotic device types
        ctx = contextlib.nullcontext()
    with ctx:
        yield


# --------------------------------------------------------------------------------------
# centring and Gram matrices
# --------------------------------------------------------------------------------------
def center_features(x: Tensor) -> Tensor:
    """Subtract column means: ``X - 1 mean(X)``, in two passes.

    The second pass removes the rounding residue of the first one (with a large shared
    offset, the float32 mean is off by up to an ulp of the offset). Both passes are the same
    linear projection, so the gradient is that of one centring.
    """
    xc = x - x.mean(dim=0, keepdim=True)
    return xc - xc.mean(dim=0, keepdim=True)


def center_gram(k: Tensor, *, unbiased: bool = False) -> Tensor:
    """Centre a Gram matrix in ``O(n^2)``.

    Biased (default): ``H K H`` with ``H = I - 11^T/n``, computed as
    ``K - row means - column means + grand mean`` (never forming ``H``).

    Unbiased (``unbiased=True``, needs ``n >= 3``): the "U-centring" of Székely & Rizzo
    (2014) used by Nguyen, Raghu & Kornblith (2021): zero the diagonal, subtract
    ``m_i + m_j`` with ``m = K~ 1 / (n-2) - 1^T K~ 1 / (2 (n-1)(n-2))``, zero the diagonal
    again. Then ``<U(K), U(L)>_F / (n (n-3))`` equals the unbiased HSIC of Song et al.
    (2012) (see :func:`hsic`).

    Args:
        k: ``(n, n)`` Gram matrix.
        unbiased: U-centring instead of double centring.

    Returns:
        The centred ``(n, n)`` matrix.
    """
    _check_square(k, "k")
    if not unbiased:
        row = k.mean(dim=1, keepdim=True)
        col = k.mean(dim=0, keepdim=True)
        return k - row - col + k.mean()
    n = k.shape[0]
    if n < 3:
        raise ShapeError(f"unbiased Gram centring needs n >= 3, got n={n}.")
    eye = torch.eye(n, dtype=torch.bool, device=k.device)
    kt = k.masked_fill(eye, 0.0)
    col = kt.sum(dim=0) / (n - 2)
    col = col - col.sum() / (2 * (n - 1))
    out = kt - col[:, None] - col[None, :]
    return out.masked_fill(eye, 0.0)


def _check_square(k: Tensor, name: str) -> None:
    if k.dim() != 2 or k.shape[0] != k.shape[1]:
        raise ShapeError(f"{name}: expected a square (n, n) Gram matrix, got shape {tuple(k.shape)}.")


def gram_linear(x: Tensor) -> Tensor:
    """Linear-kernel Gram matrix ``K = X X^T`` of ``x`` ``(n, p)`` (no centring).

    Centre the features first (:func:`center_features`) when they may carry a large offset:
    ``HSIC`` is invariant to the offset in exact arithmetic but not in float32.
    """
    x = _as_2d(x, "x")
    return x @ x.T


def pairwise_sq_dists(x: Tensor) -> Tensor:
    """Squared Euclidean distances ``||x_i - x_j||^2`` of the rows of ``x`` ``(n, p)``.

    Computed as ``|x_i|^2 + |x_j|^2 - 2 x_i.x_j`` (one matrix product), clamped at 0 against
    rounding, with an exact zero diagonal. The clamp keeps the gradient finite at
    coincident points (``sqrt`` is never taken).
    """
    x = _as_2d(x, "x")
    sq = (x * x).sum(dim=1)
    d2 = sq[:, None] + sq[None, :] - 2.0 * (x @ x.T)
    d2 = d2.clamp_min(0.0)
    eye = torch.eye(x.shape[0], dtype=torch.bool, device=x.device)
    return d2.masked_fill(eye, 0.0)


def _median(v: Tensor) -> Tensor:
    """Median of a 1-D tensor, averaging the two middle values for an even count (NumPy's
    convention; ``torch.median`` would return the lower one)."""
    m = v.numel()
    lo = torch.kthvalue(v, (m + 1) // 2).values
    if m % 2:
        return lo
    hi = torch.kthvalue(v, m // 2 + 1).values
    return (lo + hi) / 2


def _median_positive(v: Tensor, sync_free: bool | None = None) -> Tensor:
    """Median of the strictly positive entries of a non-negative 1-D tensor; 0 if none.

    On CPU: boolean mask, then :func:`_median`. Elsewhere (``sync_free``, default for
    non-CPU devices): sort and index with the count of positives held as a tensor, so that
    the data-dependent size never forces a device synchronisation.
    """
    if sync_free is None:
        sync_free = v.device.type != "cpu"
    if not sync_free:
        pos = v[v > 0]
        if pos.numel() == 0:
            return torch.zeros((), dtype=v.dtype, device=v.device)
        return _median(pos)
    m = v.numel()
    srt = v.sort().values  # zeros first, the c positives last
    c = (v > 0).sum()
    start = m - c
    lo = (start + (c - 1).clamp_min(0) // 2).clamp(0, m - 1)
    hi = (start + c // 2).clamp(0, m - 1)
    med = (srt[lo] + srt[hi]) / 2
    return torch.where(c > 0, med, torch.zeros_like(med))


def _median_sq_dist(d2: Tensor, heuristic: str) -> Tensor:
    _check_heuristic(heuristic)
    d2 = d2.detach()
    if heuristic == "median_all":
        return _median(d2.reshape(-1))
    n = d2.shape[0]
    iu = torch.triu_indices(n, n, offset=1, device=d2.device)
    # the median of the symmetric off-diagonal equals the median of one triangle; if all
    # points coincide it is 0 and median_sigma falls back to 1 (K = 11^T for any bandwidth)
    return _median_positive(d2[iu[0], iu[1]])


def median_sigma(
    x: Tensor,
    *,
    heuristic: SigmaHeuristic = "median_nonzero",
    scale: float = 1.0,
    d2: Tensor | None = None,
) -> Tensor:
    r"""RBF bandwidth from the median heuristic: ``sigma = scale * sqrt(median(D))``.

    ``D`` is the set of squared pairwise distances ``||x_i - x_j||^2``:

    * ``"median_nonzero"`` (default): the strictly positive off-diagonal entries (duplicate
      points excluded),
    * ``"median_all"``: all ``n^2`` entries including the zero diagonal (the convention of
      Kornblith et al.'s reference code, ``sigma^2 = threshold^2 * median``).

    The median of an even count is the mean of the two middle values. The result is
    detached: the bandwidth is treated as a constant, not differentiated through. If all
    distances are zero (every row identical) the bandwidth is 1 (the kernel is then all ones
    whatever the bandwidth).

    Args:
        x: ``(n, p)`` features (more dimensions are flattened).
        heuristic: ``"median_nonzero"`` or ``"median_all"``.
        scale: multiplier of the median distance (``sigma_scale`` in :func:`cka`).
        d2: precomputed :func:`pairwise_sq_dists` of ``x`` (saves a product).

    Returns:
        Scalar tensor ``sigma`` (detached).
    """
    _check_heuristic(heuristic)
    if d2 is None:
        d2 = pairwise_sq_dists(x)
    med = _median_sq_dist(d2, heuristic)
    sigma = scale * med.sqrt()
    return torch.where(med > 0, sigma, torch.ones_like(sigma))


def _check_sigma_value(sigma: float | Tensor) -> None:
    """A Python number must be > 0 and a tensor must hold one element (its sign is not
    checked: that would synchronise with the device on every call)."""
    if isinstance(sigma, Tensor):
        if sigma.numel() != 1:
            raise BirdkitError(f"RBF bandwidth sigma must be a single number, got a tensor of shape {tuple(sigma.shape)}.")
    elif not isinstance(sigma, int | float) or not sigma > 0:
        raise BirdkitError(f"RBF bandwidth sigma must be a positive number, got {sigma!r}.")


def gram_rbf(
    x: Tensor,
    sigma: float | Tensor | None = None,
    *,
    heuristic: SigmaHeuristic = "median_nonzero",
    scale: float = 1.0,
) -> Tensor:
    r"""RBF (Gaussian) Gram matrix ``K_ij = exp(-||x_i - x_j||^2 / (2 sigma^2))``.

    Args:
        x: ``(n, p)`` features (more dimensions are flattened).
        sigma: bandwidth; ``None`` picks it with :func:`median_sigma` (detached).
        heuristic: median convention when ``sigma`` is ``None``.
        scale: multiplier of the median distance when ``sigma`` is ``None``.

    Returns:
        ``(n, n)`` Gram matrix.
    """
    d2 = pairwise_sq_dists(x)
    if sigma is None:
        sigma = median_sigma(x, heuristic=heuristic, scale=scale, d2=d2)
    _check_sigma_value(sigma)
    sigma_t = torch.as_tensor(sigma, dtype=d2.dtype, device=d2.device)
    return torch.exp(-d2 / (2.0 * sigma_t * sigma_t))


# --------------------------------------------------------------------------------------
# HSIC and CKA
# --------------------------------------------------------------------------------------
def hsic(k: Tensor, l: Tensor, *, debiased: bool = False) -> Tensor:  # noqa: E741
    r"""HSIC between two ``(n, n)`` Gram matrices.

    Biased (Gretton et al. 2005)::

        HSIC_0(K, L) = tr(K H L H) / (n-1)^2 = <H K H, H L H>_F / (n-1)^2

    computed with ``O(n^2)`` centring (:func:`center_gram`), never an explicit ``H``.

    Unbiased (``debiased=True``; Song et al. 2012), defined for ``n >= 4``::

        HSIC_1(K, L) = [ tr(K~ L~) + (1^T K~ 1)(1^T L~ 1)/((n-1)(n-2))
                         - 2/(n-2) 1^T K~ L~ 1 ] / (n (n-3))

    computed as ``<U(K), U(L)>_F / (n (n-3))`` with the U-centring of
    :func:`center_gram` (an identity; fewer cancelling terms than the formula as written).
    It is shift-invariant (adding ``c`` or ``a_i + a_j`` to the kernel changes nothing) and
    can be slightly negative, but ``HSIC_1(K, K) = ||U(K)||_F^2 / (n (n-3)) >= 0``, so
    debiased CKA lies in [-1, 1] (Cauchy-Schwarz).

    Gram matrices of features with a large shared offset should be formed from *centred*
    features; centring the Gram matrix afterwards cannot recover the lost float32 digits.

    Args:
        k: ``(n, n)`` Gram matrix of the first representation.
        l: ``(n, n)`` Gram matrix of the second representation.
        debiased: unbiased estimator instead of the biased one.

    Returns:
        Scalar tensor.
    """
    _check_square(k, "k")
    _check_square(l, "l")
    if k.shape != l.shape:
        raise ShapeError(f"k and l must have the same shape (n, n); got {tuple(k.shape)} and {tuple(l.shape)}.")
    n = k.shape[0]
    _check_n(n, debiased)
    if debiased:
        return _frob(center_gram(k, unbiased=True), center_gram(l, unbiased=True)) / (n * (n - 3))
    return _frob(center_gram(k), center_gram(l)) / ((n - 1) ** 2)


def cka_from_hsic(hsic_xy: Tensor, hsic_xx: Tensor, hsic_yy: Tensor, eps: float = 1e-12) -> Tensor:
    r"""CKA from its three HSIC terms: ``HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L))``.

    Negative self-terms are clamped to 0 (they cannot come from :func:`hsic`, whose
    self-terms are squared norms ``||HKH||_F^2`` or ``||U(K)||_F^2``, but other estimators
    of the unbiased HSIC can be slightly negative). Where ``HSIC(K, K) HSIC(L, L) <= eps^2`` (a side without variance), the result is
    defined as 0, with a zero gradient (a gradient-safe ``where``: ``sqrt`` never sees 0).
    ``eps`` is absolute here: the HSIC terms carry the features' scale (squared, twice).

    Args:
        hsic_xy: ``HSIC(K, L)``.
        hsic_xx: ``HSIC(K, K)``.
        hsic_yy: ``HSIC(L, L)``.
        eps: floor of ``sqrt(HSIC(K, K) HSIC(L, L))`` below which CKA is 0.

    Returns:
        Tensor of the broadcast shape of the inputs.
    """
    prod = hsic_xx.clamp_min(0.0) * hsic_yy.clamp_min(0.0)
    ok = prod > eps * eps
    safe = torch.where(ok, prod, torch.ones_like(prod))
    return torch.where(ok, hsic_xy / safe.sqrt(), torch.zeros_like(hsic_xy))


def _no_variance(x: Tensor) -> Tensor:
    """Boolean scalar: all rows identical (every column constant: max == min)."""
    return (x.amax(dim=0) == x.amin(dim=0)).all()  # ~10x faster than aminmax(dim=0) on CPU


def _prepare(x: Tensor, dtype: torch.dtype, rescale: bool = True) -> tuple[Tensor, Tensor, Tensor]:
    """Cast, centre, and rescale by the detached max-abs; flag a side without variance.

    Returns ``(xs, s, no_var)`` with ``xs = centred(x) / s`` (``s = 1`` without rescaling).
    The caller zeroes the result where ``no_var`` (one ``where`` on the scalar output, which
    also zeroes the gradient); ``xs`` itself stays finite whatever the input (an exactly
    constant side centres to 0, a rounding residue is rescaled to O(1)).
    """
    x = x.to(dtype)
    no_var = _no_variance(x.detach())
    xc = center_features(x)
    if not rescale:
        return xc, torch.ones((), dtype=dtype, device=x.device), no_var
    s = xc.detach().abs().amax()
    s = torch.where(s > 0, s, torch.ones_like(s))
    return xc / s, s, no_var


def _frob(a: Tensor, b: Tensor) -> Tensor:
    """Frobenius inner product ``<A, B>_F`` as one BLAS dot (no temporary ``A * B``)."""
    if a.dtype != b.dtype:
        dt = torch.promote_types(a.dtype, b.dtype)
        a, b = a.to(dt), b.to(dt)
    return torch.dot(a.reshape(-1), b.reshape(-1))


def _sqnorm(a: Tensor) -> Tensor:
    """Squared Frobenius norm ``||A||_F^2``."""
    return _frob(a, a)


def _linear_cka_feature(x: Tensor, y: Tensor, eps: float) -> Tensor:
    """Biased linear CKA, feature-space form, on centred (scaled) features:
    ``||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F)``. Cost ``O(n (p1^2 + p1 p2 + p2^2))``."""
    return cka_from_hsic(_sqnorm(y.T @ x), _sqnorm(x.T @ x), _sqnorm(y.T @ y), eps)


def _linear_cka_gram(x: Tensor, y: Tensor, eps: float) -> Tensor:
    """Biased linear CKA, Gram form, on centred (scaled) features: ``X X^T`` of centred
    features is already doubly centred, so ``HSIC_0 ∝ <K, L>_F``. Cost ``O(n^2 (p1 + p2))``."""
    k = x @ x.T
    l = y @ y.T  # noqa: E741
    return cka_from_hsic(_frob(k, l), _sqnorm(k), _sqnorm(l), eps)


def _use_feature_form(n: int, p1: int, p2: int) -> bool:
    """Feature form when its flop count ``n (p1^2 + p1 p2 + p2^2)`` is at most the Gram
    form's ``n^2 (p1 + p2)``, i.e. ``p1^2 + p1 p2 + p2^2 <= n (p1 + p2)`` (roughly
    ``n >= 1.5 p`` for ``p1 = p2 = p``)."""
    return p1 * p1 + p1 * p2 + p2 * p2 <= n * (p1 + p2)


def _cka_from_grams(k: Tensor, l: Tensor, debiased: bool, eps: float) -> Tensor:  # noqa: E741
    kc = center_gram(k, unbiased=debiased)
    lc = center_gram(l, unbiased=debiased)
    return cka_from_hsic(_frob(kc, lc), _sqnorm(kc), _sqnorm(lc), eps)


def _split_sigma(sigma: Sigma) -> tuple[float | Tensor | None, float | Tensor | None]:
    if isinstance(sigma, tuple | list):
        if len(sigma) != 2:
            raise BirdkitError(f"sigma: expected a number or a pair (sigma_x, sigma_y), got {sigma!r}.")
        return sigma[0], sigma[1]
    return sigma, sigma


def _rbf_gram_scaled(
    xs: Tensor, s: Tensor, sigma: float | Tensor | None, heuristic: str, scale: float
) -> Tensor:
    """RBF Gram of the rescaled features ``xs = xc / s``; an explicit ``sigma`` (in the
    units of the input) is rescaled by the same ``s`` so that ``K`` is unchanged."""
    d2 = pairwise_sq_dists(xs)
    if sigma is None:
        sig = median_sigma(xs, heuristic=heuristic, scale=scale, d2=d2)  # type: ignore[arg-type]
    else:
        _check_sigma_value(sigma)
        sig = torch.as_tensor(sigma, dtype=xs.dtype, device=xs.device).detach().reshape(()) / s
    return torch.exp(-d2 / (2.0 * sig * sig))


def _hsic_terms(
    x: Tensor,
    y: Tensor,
    *,
    kernel: str = "linear",
    debiased: bool = False,
    sigma: Sigma = None,
    sigma_heuristic: str = "median_nonzero",
    sigma_scale: float = 1.0,
    dtype: torch.dtype | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """``(HSIC(K, L), HSIC(K, K), HSIC(L, L))`` of one batch, in the features' own scale.

    Used by :class:`birdkit.evaluation.similarity.CKAMetric`, which averages these terms
    over batches. Same conventions as :func:`cka` (centring first, autocast off, a side
    without variance gives exact zeros) but no rescaling: the terms keep their scale
    (biased: ``/(n-1)^2``, debiased: ``/(n(n-3))``) so batches average correctly.
    ``dtype=None`` computes in float32 at least (float64 for float64 input).
    """
    _check_kernel(kernel)
    x2 = _as_2d(x, "x")
    y2 = _as_2d(y, "y")
    if x2.shape[0] != y2.shape[0]:
        raise ShapeError(
            f"x and y must hold the same examples (same size of dim 0); got n={x2.shape[0]} "
            f"(x shape {tuple(x.shape)}) and n={y2.shape[0]} (y shape {tuple(y.shape)})."
        )
    n, p1, p2 = x2.shape[0], x2.shape[1], y2.shape[1]
    _check_n(n, debiased)
    dtype = dtype or _compute_dtype(x2, y2)
    norm = n * (n - 3) if debiased else (n - 1) ** 2
    one = torch.ones((), dtype=dtype, device=x2.device)
    with _no_autocast(x2.device):
        xs, _, zx = _prepare(x2, dtype, rescale=False)
        ys, _, zy = _prepare(y2, dtype, rescale=False)
        if kernel == "linear" and not debiased and _use_feature_form(n, p1, p2):
            xy, xx, yy = _sqnorm(ys.T @ xs), _sqnorm(xs.T @ xs), _sqnorm(ys.T @ ys)
        else:
            if kernel == "linear":
                k, l = xs @ xs.T, ys @ ys.T  # noqa: E741
            else:
                sig_x, sig_y = _split_sigma(sigma)
                k = _rbf_gram_scaled(xs, one, sig_x, sigma_heuristic, sigma_scale)
                l = _rbf_gram_scaled(ys, one, sig_y, sigma_heuristic, sigma_scale)  # noqa: E741
            kc = center_gram(k, unbiased=debiased)
            lc = center_gram(l, unbiased=debiased)
            xy, xx, yy = _frob(kc, lc), _sqnorm(kc), _sqnorm(lc)
        zero = torch.zeros((), dtype=dtype, device=xs.device)
        return (
            torch.where(zx | zy, zero, xy / norm),
            torch.where(zx, zero, xx / norm),
            torch.where(zy, zero, yy / norm),
        )


def cka(
    x: Tensor,
    y: Tensor,
    *,
    kernel: Kernel = "linear",
    debiased: bool = False,
    sigma: Sigma = None,
    sigma_heuristic: SigmaHeuristic = "median_nonzero",
    sigma_scale: float = 1.0,
    eps: float = 1e-12,
) -> Tensor:
    r"""Centered kernel alignment between two representations of the same ``n`` examples.

    ``CKA = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L))`` (Kornblith et al. 2019), with the
    biased HSIC or, when ``debiased``, the unbiased HSIC of Song et al. (2012) ("debiased
    CKA", Nguyen, Raghu & Kornblith 2021). Biased CKA lies in [0, 1]; it is strongly biased
    upwards for small ``n`` relative to the feature dimension (independent 512- and
    256-dimensional Gaussian features give about 0.9 at ``n = 32``); debiased CKA is
    close to 0 there and can be slightly negative.

    Differentiable in both arguments. Choices (details in the module docstring and
    ``docs/cka.md``):

    * Inputs with more than two dimensions are flattened to ``(n, prod(rest))`` (e.g.
      ``(n, C, H, W)`` maps; pool them first if that is what you want).
    * Features are column-centred first; computation in float32 at least (float64 if
      either input is float64) with autocast disabled.
    * ``kernel="linear"``, biased: feature-space form ``||Y^T X||_F^2 / (||X^T X||_F
      ||Y^T Y||_F)`` when ``p1^2 + p1 p2 + p2^2 <= n (p1 + p2)``, else the Gram form.
      Debiased and RBF always use ``O(n^2)``-centred Gram matrices.
    * ``kernel="rbf"``: ``K_ij = exp(-||x_i - x_j||^2 / (2 sigma^2))``, each side with its
      own bandwidth; ``sigma=None`` uses ``sigma = sigma_scale * sqrt(median squared
      distance)`` (:func:`median_sigma`), detached (not differentiated through).
    * A side whose rows are all identical (no variance) gives CKA = 0 with zero gradient.

    Args:
        x: ``(n, p1, ...)`` first representation (e.g. teacher features).
        y: ``(n, p2, ...)`` second representation (e.g. student features).
        kernel: ``"linear"`` or ``"rbf"``.
        debiased: use the unbiased HSIC (needs ``n >= 4``; biased needs ``n >= 2``).
        sigma: explicit RBF bandwidth in input units: one number for both sides or a pair
            ``(sigma_x, sigma_y)``; ``None`` for the median heuristic. Ignored for linear.
        sigma_heuristic: ``"median_nonzero"`` (strictly positive off-diagonal squared
            distances) or ``"median_all"`` (all ``n^2`` including the zero diagonal).
        sigma_scale: multiplier of the median distance.
        eps: CKA is 0 where ``sqrt(HSIC(K,K) HSIC(L,L)) <= eps``; the HSIC terms are those of
            features rescaled to max-abs 1, so ``eps`` is scale-free here.

    Returns:
        Scalar tensor (float32, or float64 for float64 input).

    Raises:
        ShapeError: ``x`` and ``y`` disagree on ``n``, ``n`` is too small, or an input is
            not at least 2-D.
        UnknownNameError: unknown ``kernel`` or ``sigma_heuristic``.
    """
    _check_kernel(kernel)
    if kernel == "rbf" and sigma is None:
        _check_heuristic(sigma_heuristic)
    x2 = _as_2d(x, "x")
    y2 = _as_2d(y, "y")
    if x2.shape[0] != y2.shape[0]:
        raise ShapeError(
            f"x and y must hold the same examples (same size of dim 0); got n={x2.shape[0]} "
            f"(x shape {tuple(x.shape)}) and n={y2.shape[0]} (y shape {tuple(y.shape)})."
        )
    n, p1, p2 = x2.shape[0], x2.shape[1], y2.shape[1]
    _check_n(n, debiased)
    dtype = _compute_dtype(x2, y2)
    with _no_autocast(x2.device):
        xs, sx, zx = _prepare(x2, dtype)
        ys, sy, zy = _prepare(y2, dtype)
        if kernel == "linear":
            if debiased:
                out = _cka_from_grams(xs @ xs.T, ys @ ys.T, True, eps)
            elif _use_feature_form(n, p1, p2):
                out = _linear_cka_feature(xs, ys, eps)
            else:
                out = _linear_cka_gram(xs, ys, eps)
        else:
            sig_x, sig_y = _split_sigma(sigma)
            k = _rbf_gram_scaled(xs, sx, sig_x, sigma_heuristic, sigma_scale)
            l = _rbf_gram_scaled(ys, sy, sig_y, sigma_heuristic, sigma_scale)  # noqa: E741
            out = _cka_from_grams(k, l, debiased, eps)
        return torch.where(zx | zy, torch.zeros_like(out), out)
