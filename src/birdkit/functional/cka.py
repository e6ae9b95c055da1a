r"""Centered kernel alignment (CKA) and HSIC: pure, differentiable functions of two representations.

BIRD (Pogoncheff & Beyeler, arXiv 2505.23933) aligns the representation structure of a
student layer with that of a teacher layer by maximising CKA between their features on the
same batch (docs/method.md §2). Rows are examples: ``X`` is ``(n, p1)``, ``Y`` is
``(n, p2)``, ``K``, ``L`` their Gram matrices, ``H = I - 11^T/n``, ``K~`` ``K`` with a
zeroed diagonal::

    CKA(K, L)    = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L))                  Kornblith et al. 2019
    HSIC_0(K, L) = tr(K H L H) / (n-1)^2                                       Gretton et al. 2005
    HSIC_1(K, L) = [tr(K~ L~) + (1'K~1)(1'L~1)/((n-1)(n-2)) - 2/(n-2) 1'K~L~1] / (n(n-3))
                                                                               Song et al. 2012

``HSIC_1`` everywhere gives "debiased CKA" (Nguyen, Raghu & Kornblith 2021). Kernels:
linear ``K = X X^T`` (in feature space ``CKA = ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F)``,
column-centred ``X``, ``Y``, norms not squared) and RBF ``K_ij = exp(-||x_i - x_j||^2 /
(2 sigma^2))``.

The options live in one frozen, validated :class:`CKASettings`, taken by :func:`cka`,
:func:`hsic_terms`, :func:`hsic` and by the two wrappers, the loss
(:class:`birdkit.losses.cka.CKALoss`) and the mini-batch metric
(:class:`birdkit.evaluation.similarity.CKAMetric`), so each layer gets the same options
checked once. The numerical choices (features centred before any product, each side
rescaled by its detached max-abs, float32 at least with autocast off, a side without
variance gives 0 with a zero gradient, feature or Gram form by cost, ``O(n^2)`` centring)
are explained in docs/cka.md.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import numbers
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from birdkit.errors import BirdkitError, ConfigError, ShapeError, UnknownNameError

__all__ = [
    "DEFAULT_EPS",
    "KERNELS",
    "SIGMA_HEURISTICS",
    "CKASettings",
    "center_features",
    "center_gram",
    "cka",
    "cka_from_hsic",
    "gram_linear",
    "gram_rbf",
    "hsic",
    "hsic_terms",
    "median_sigma",
    "pairwise_sq_dists",
]

logger = logging.getLogger(__name__)

Kernel = Literal["linear", "rbf"]
SigmaHeuristic = Literal["median_nonzero", "median_all"]
Sigma = float | Tensor | tuple[float | Tensor | None, float | Tensor | None] | None

#: Kernels understood by :func:`cka`.
KERNELS: tuple[str, ...] = ("linear", "rbf")
#: Median conventions for the RBF bandwidth (see :func:`median_sigma`).
SIGMA_HEURISTICS: tuple[str, ...] = ("median_nonzero", "median_all")
#: ``eps`` of :func:`cka` (and ``CKALoss``) where ``CKASettings.eps`` is ``None``.
DEFAULT_EPS: float = 1e-12


# --------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------
def _check_name(option: str, kind: str, value: Any, known: tuple[str, ...]) -> None:
    """``value`` must be one of ``known``; an unknown string lists the close matches."""
    if not isinstance(value, str):
        raise ConfigError(f"{option}: expected one of {', '.join(map(repr, known))}, got {value!r}.")
    if value not in known:
        raise UnknownNameError(kind, value, known)


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_positive(option: str, value: Any) -> None:
    if not (_is_real(value) and 0 < value < math.inf):
        raise ConfigError(f"{option}: expected a positive finite number, in (0, inf), got {value!r}.")


def _check_sigma_value(sigma: Any) -> None:
    """One bandwidth: a positive finite number, or a one-element tensor (its sign is not
    checked: that would synchronise with the device)."""
    if isinstance(sigma, Tensor):
        if sigma.numel() != 1:
            raise ConfigError(
                f"RBF bandwidth sigma must be a single number, got a tensor of shape {tuple(sigma.shape)}."
            )
    elif not (_is_real(sigma) and 0 < sigma < math.inf):
        raise ConfigError(
            f"RBF bandwidth sigma must be a positive number in (0, inf) or a one-element tensor, got {sigma!r}."
        )


def _check_sigma(sigma: Any) -> None:
    if sigma is None:
        return
    if isinstance(sigma, tuple | list):
        if len(sigma) != 2:
            raise ConfigError(f"CKASettings.sigma: expected a number or a pair (sigma_x, sigma_y), got {sigma!r}.")
        for s in sigma:
            if s is not None:
                _check_sigma_value(s)
        return
    _check_sigma_value(sigma)


# --------------------------------------------------------------------------------------
# the settings shared by cka, hsic_terms, CKALoss and CKAMetric
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CKASettings:
    r"""The options of CKA, validated once and shared by every layer that computes it.

    :func:`cka`, :func:`hsic_terms`, :func:`hsic`, ``CKALoss`` (``1 - CKA``, BIRD's
    structure term) and ``CKAMetric`` (mini-batch CKA, docs/method.md §2) all take one of
    these (``settings=``) or its fields as keywords, so one object gives the same CKA in all
    three layers and nobody re-checks an option. Immutable and hashable; :meth:`replace`
    derives a variant.

    Args:
        kernel: ``"linear"`` (``K = X X^T``, BIRD's default) or ``"rbf"``
            (``K_ij = exp(-||x_i - x_j||^2 / (2 sigma^2))``).
        debiased: the unbiased ``HSIC_1`` (Song et al. 2012; needs ``n >= 4``, CKA can be
            slightly negative) instead of the biased ``HSIC_0``, which is strongly biased
            upwards at small ``n`` (docs/cka.md, trap 1).
        sigma: explicit RBF bandwidth in input units: a positive number or a one-element
            tensor for both sides, a pair ``(sigma_x, sigma_y)`` (a list becomes a tuple; an
            entry ``None`` uses the heuristic for that side), or ``None``: median heuristic.
            Ignored by the linear kernel.
        sigma_heuristic: ``"median_nonzero"`` (strictly positive off-diagonal squared
            distances) or ``"median_all"`` (all ``n^2``, zero diagonal included); see
            :func:`median_sigma`.
        sigma_scale: multiplier of the median distance, ``> 0``.
        eps: CKA is 0 where ``sqrt(HSIC(K, K) HSIC(L, L)) <= eps``, ``>= 0``. ``None``: each
            layer's default, :data:`DEFAULT_EPS` (1e-12) in :func:`cka`, where the terms are
            those of max-abs-rescaled features (scale-free), and 0 in ``CKAMetric``, where
            the averaged terms carry the features' scale.

    Raises:
        UnknownNameError: unknown ``kernel`` or ``sigma_heuristic`` (lists close matches).
        ConfigError: a value of the wrong type or out of range (names the option and range).

    Example:
        >>> s = CKASettings(kernel="rbf", debiased=True)
        >>> s.replace(sigma=2.0).sigma
        2.0
    """

    kernel: Kernel = "linear"
    debiased: bool = False
    sigma: Sigma = None
    sigma_heuristic: SigmaHeuristic = "median_nonzero"
    sigma_scale: float = 1.0
    eps: float | None = None

    def __post_init__(self) -> None:
        _check_name("CKASettings.kernel", "kernel", self.kernel, KERNELS)
        if not isinstance(self.debiased, bool):
            raise ConfigError(f"CKASettings.debiased: expected True or False, got {self.debiased!r}.")
        _check_sigma(self.sigma)
        if isinstance(self.sigma, list):
            object.__setattr__(self, "sigma", tuple(self.sigma))
        _check_name("CKASettings.sigma_heuristic", "sigma heuristic", self.sigma_heuristic, SIGMA_HEURISTICS)
        _check_positive("CKASettings.sigma_scale", self.sigma_scale)
        if self.eps is not None and not (_is_real(self.eps) and 0 <= self.eps < math.inf):
            raise ConfigError(
                f"CKASettings.eps: expected a finite number in [0, inf) or None (the layer's default), "
                f"got {self.eps!r}."
            )

    @classmethod
    def resolve(cls, settings: CKASettings | None = None, /, **options: Any) -> CKASettings:
        """``settings`` itself, or ``CKASettings(**options)``: how every layer reads its options.

        Raises:
            ConfigError: both ``settings`` and options are given (derive one with
                :meth:`replace` instead), or ``settings`` is not a :class:`CKASettings`.
            UnknownNameError: an option that is not a field (lists close matches).
        """
        _check_fields(options)
        if settings is None:
            return cls(**options)
        if not isinstance(settings, CKASettings):
            raise ConfigError(
                f"settings: expected a CKASettings, got {type(settings).__name__} {settings!r}; give the options "
                f"as keywords (kernel='rbf') or settings=CKASettings(...)."
            )
        if options:
            raise ConfigError(
                f"expected either settings= or CKA options as keywords, not both; got settings={settings!r} and "
                f"{', '.join(sorted(options))}= (use settings.replace(...) for a variant)."
            )
        return settings

    def replace(self, **changes: Any) -> CKASettings:
        """A copy with ``changes`` applied (and validated)."""
        _check_fields(changes)
        return dataclasses.replace(self, **changes)

    def eps_or(self, default: float) -> float:
        """``eps``, or the layer's ``default`` where it is ``None``."""
        return default if self.eps is None else self.eps

    def describe(self) -> str:
        """The options that shape the kernel, for reprs: kernel, debiased, RBF bandwidth rule."""
        parts = [f"kernel={self.kernel!r}", f"debiased={self.debiased}"]
        if self.kernel == "rbf":
            if self.sigma is None:
                parts += [f"sigma_heuristic={self.sigma_heuristic!r}", f"sigma_scale={self.sigma_scale}"]
            else:
                parts.append(f"sigma={self.sigma!r}")
        return ", ".join(parts)


_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(CKASettings))


def _check_fields(options: Mapping[str, Any]) -> None:
    for name in options:
        if name not in _FIELDS:
            raise UnknownNameError("CKA option", name, _FIELDS)


# --------------------------------------------------------------------------------------
# shapes and dtype handling
# --------------------------------------------------------------------------------------
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


def _pair(x: Tensor, y: Tensor, debiased: bool) -> tuple[Tensor, Tensor]:
    """Both inputs as ``(n, p)`` with the same, large enough ``n``."""
    x2 = _as_2d(x, "x")
    y2 = _as_2d(y, "y")
    if x2.shape[0] != y2.shape[0]:
        raise ShapeError(
            f"x and y must hold the same examples (same size of dim 0); got n={x2.shape[0]} "
            f"(x shape {tuple(x.shape)}) and n={y2.shape[0]} (y shape {tuple(y.shape)})."
        )
    _check_n(x2.shape[0], debiased)
    return x2, y2


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
    """Subtract column means, ``X - 1 mean(X)``, in two passes.

    Centring before any product keeps float32 digits under a large shared offset
    (docs/method.md §2, trap 2); the second pass removes the rounding residue of the first
    mean. Both passes are the same linear projection, so the gradient is that of one.
    """
    xc = x - x.mean(dim=0, keepdim=True)
    # the projection is idempotent, so the second pass's mean is detached: same gradient, less work
    return xc - xc.detach().mean(dim=0, keepdim=True)


def _check_square(k: Tensor, name: str) -> None:
    if k.dim() != 2 or k.shape[0] != k.shape[1]:
        raise ShapeError(f"{name}: expected a square (n, n) Gram matrix, got shape {tuple(k.shape)}.")


def center_gram(k: Tensor, *, unbiased: bool = False) -> Tensor:
    """Centre a Gram matrix in ``O(n^2)`` (never forming ``H``).

    Biased (default): ``H K H = K - row means - column means + grand mean``. Unbiased
    (``unbiased=True``, ``n >= 3``): the U-centring of Székely & Rizzo (2014) used by
    Nguyen, Raghu & Kornblith (2021): zero the diagonal, subtract ``m_i + m_j`` with
    ``m = K~ 1 / (n-2) - 1^T K~ 1 / (2 (n-1)(n-2))``, zero the diagonal again; then
    ``<U(K), U(L)>_F / (n (n-3))`` is the unbiased HSIC of Song et al. (2012).

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


def gram_linear(x: Tensor) -> Tensor:
    """Linear-kernel Gram matrix ``K = X X^T`` of ``x`` ``(n, p)`` (no centring).

    Centre the features first (:func:`center_features`) when they may carry a large offset:
    HSIC is invariant to the offset in exact arithmetic but not in float32.
    """
    x = _as_2d(x, "x")
    return x @ x.T


def pairwise_sq_dists(x: Tensor) -> Tensor:
    """Squared Euclidean distances ``||x_i - x_j||^2`` of the rows of ``x`` ``(n, p)``.

    ``|x_i|^2 + |x_j|^2 - 2 x_i.x_j`` (one matrix product), clamped at 0 against rounding,
    with an exact zero diagonal; ``sqrt`` is never taken, so the gradient stays finite at
    coincident points.
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
    d2 = d2.detach()
    if heuristic == "median_all":
        return _median(d2.reshape(-1))
    n = d2.shape[0]
    iu = torch.triu_indices(n, n, offset=1, device=d2.device)
    # the median of the symmetric off-diagonal equals the median of one triangle; if all
    # points coincide it is 0 and the bandwidth falls back to 1 (K = 11^T for any bandwidth)
    return _median_positive(d2[iu[0], iu[1]])


def _median_sigma(d2: Tensor, heuristic: str, scale: float) -> Tensor:
    """:func:`median_sigma` from precomputed squared distances, options already checked."""
    med = _median_sq_dist(d2, heuristic)
    sigma = scale * med.sqrt()
    return torch.where(med > 0, sigma, torch.ones_like(sigma))


def median_sigma(
    x: Tensor,
    *,
    heuristic: SigmaHeuristic = "median_nonzero",
    scale: float = 1.0,
    d2: Tensor | None = None,
) -> Tensor:
    r"""RBF bandwidth from the median heuristic: ``sigma = scale * sqrt(median(D))``.

    ``D`` is the set of squared pairwise distances ``||x_i - x_j||^2``: the strictly
    positive off-diagonal ones (``"median_nonzero"``, default; duplicate points excluded) or
    all ``n^2`` entries including the zero diagonal (``"median_all"``, the convention of
    Kornblith et al.'s reference code). Both conventions exist in the literature
    (docs/method.md §2), hence the option. An even count averages the two middle values.
    The result is detached (the bandwidth is a constant, not differentiated through); if
    all distances are zero the bandwidth is 1 (the kernel is all ones whatever it is).

    Args:
        x: ``(n, p)`` features (more dimensions are flattened).
        heuristic: ``"median_nonzero"`` or ``"median_all"``.
        scale: multiplier of the median distance (``sigma_scale`` of :class:`CKASettings`).
        d2: precomputed :func:`pairwise_sq_dists` of ``x`` (saves a product).

    Returns:
        Scalar tensor ``sigma`` (detached).
    """
    _check_name("median_sigma: heuristic", "sigma heuristic", heuristic, SIGMA_HEURISTICS)
    _check_positive("median_sigma: scale", scale)
    return _median_sigma(pairwise_sq_dists(x) if d2 is None else d2, heuristic, scale)


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
def _frob(a: Tensor, b: Tensor) -> Tensor:
    """Frobenius inner product ``<A, B>_F`` as one BLAS dot (no temporary ``A * B``)."""
    if a.dtype != b.dtype:
        dt = torch.promote_types(a.dtype, b.dtype)
        a, b = a.to(dt), b.to(dt)
    return torch.dot(a.reshape(-1), b.reshape(-1))


def _sqnorm(a: Tensor) -> Tensor:
    """Squared Frobenius norm ``||A||_F^2``."""
    return _frob(a, a)


def hsic(
    k: Tensor,
    l: Tensor,  # noqa: E741
    *,
    debiased: bool | None = None,
    settings: CKASettings | None = None,
) -> Tensor:
    r"""HSIC between two ``(n, n)`` Gram matrices, the building block of CKA.

    Biased (Gretton et al. 2005) and unbiased (``debiased``; Song et al. 2012, ``n >= 4``)::

        HSIC_0(K, L) = tr(K H L H) / (n-1)^2 = <H K H, H L H>_F / (n-1)^2
        HSIC_1(K, L) = [tr(K~ L~) + (1^T K~ 1)(1^T L~ 1)/((n-1)(n-2)) - 2/(n-2) 1^T K~ L~ 1] / (n(n-3))

    ``HSIC_0`` uses ``O(n^2)`` centring; ``HSIC_1`` is computed as ``<U(K), U(L)>_F /
    (n (n-3))`` with the U-centring of :func:`center_gram` (an identity with fewer
    cancelling terms). ``HSIC_1`` is shift-invariant and can be slightly negative, but
    ``HSIC_1(K, K) = ||U(K)||_F^2 / (n (n-3)) >= 0``, so debiased CKA lies in [-1, 1]. Form
    the Gram matrices from centred features when they share a large offset: centring the
    Gram matrix afterwards cannot recover lost float32 digits.

    Args:
        k: ``(n, n)`` Gram matrix of the first representation.
        l: ``(n, n)`` Gram matrix of the second representation.
        debiased: unbiased estimator instead of the biased one (default ``False``).
        settings: a :class:`CKASettings` whose ``debiased`` is used, instead of ``debiased``.

    Returns:
        Scalar tensor.
    """
    debiased = CKASettings.resolve(settings, **({} if debiased is None else {"debiased": debiased})).debiased
    _check_square(k, "k")
    _check_square(l, "l")
    if k.shape != l.shape:
        raise ShapeError(f"k and l must have the same shape (n, n); got {tuple(k.shape)} and {tuple(l.shape)}.")
    n = k.shape[0]
    _check_n(n, debiased)
    if debiased:
        return _frob(center_gram(k, unbiased=True), center_gram(l, unbiased=True)) / (n * (n - 3))
    return _frob(center_gram(k), center_gram(l)) / ((n - 1) ** 2)


def cka_from_hsic(hsic_xy: Tensor, hsic_xx: Tensor, hsic_yy: Tensor, eps: float = DEFAULT_EPS) -> Tensor:
    r"""CKA from its three HSIC terms: ``HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L))``.

    Negative self-terms are clamped to 0 (other estimators of the unbiased HSIC can give
    them; :func:`hsic` cannot). Where ``HSIC(K, K) HSIC(L, L) <= eps^2`` (a side without
    variance) the result is defined as 0 with a zero gradient (a gradient-safe ``where``:
    ``sqrt`` never sees 0). ``eps`` is absolute here: the terms carry the features' scale.

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
    d = xc.detach()
    s = torch.maximum(d.amax(), -d.amin())  # max-abs without an |x| temporary
    s = torch.where(s > 0, s, torch.ones_like(s))
    return xc * s.reciprocal(), s, no_var


def _feature_terms(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Biased linear terms in feature space, on centred features:
    ``(||Y^T X||_F^2, ||X^T X||_F^2, ||Y^T Y||_F^2)``. Cost ``O(n (p1^2 + p1 p2 + p2^2))``."""
    return _sqnorm(y.T @ x), _sqnorm(x.T @ x), _sqnorm(y.T @ y)


def _feature_terms_unbiased(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    r"""Unbiased linear terms in feature space, on centred features: ``<U(K), U(L)>_F`` etc.
    for ``K = X X^T`` without forming ``K``, so debiased CKA costs what biased CKA costs.

    With ``d_i = ||x_i||^2`` and ``S = sum_i d_i``, centred features give ``K~ 1 = -d`` and
    ``1^T K~ 1 = -S``, so Song et al.'s (2012) estimator times ``n (n-3)`` is
    ``||Y^T X||_F^2 + S_x S_y / ((n-1)(n-2)) - (1 + 2/(n-2)) d_x . d_y``."""
    dx, dy = (x * x).sum(1), (y * y).sum(1)
    xy, xx, yy = _unbiased_corrections(dx, dy, x.shape[0])
    return _sqnorm(y.T @ x) + xy, _sqnorm(x.T @ x) + xx, _sqnorm(y.T @ y) + yy


def _unbiased_factors(n: int) -> tuple[float, float]:
    """``(1 / ((n-1)(n-2)), 1 + 2/(n-2))``: the weights of the unbiased HSIC's row-norm terms."""
    return 1.0 / ((n - 1) * (n - 2)), 1.0 + 2.0 / (n - 2)


def _unbiased_corrections(dx: Tensor, dy: Tensor, n: int) -> tuple[Tensor, Tensor, Tensor]:
    """What the unbiased estimator adds to each biased term of centred features with row norms
    ``dx``, ``dy``: ``c S_x S_y - e d_x . d_y`` (and the same for ``xx``, ``yy``)."""
    c, e = _unbiased_factors(n)
    sx, sy = dx.sum(), dy.sum()
    return (c * sx * sy - e * torch.dot(dx, dy), c * sx * sx - e * torch.dot(dx, dx),
            c * sy * sy - e * torch.dot(dy, dy))


def _gram_terms(k: Tensor, l: Tensor, centre: bool, unbiased: bool) -> tuple[Tensor, Tensor, Tensor]:  # noqa: E741
    """``(<K', L'>_F, ||K'||_F^2, ||L'||_F^2)`` with ``K' = centred K`` (or ``K`` itself)."""
    if centre:
        k, l = center_gram(k, unbiased=unbiased), center_gram(l, unbiased=unbiased)  # noqa: E741
    return _frob(k, l), _sqnorm(k), _sqnorm(l)


def _linear_cka_feature(x: Tensor, y: Tensor, eps: float) -> Tensor:
    """Biased linear CKA, feature-space form, on centred (scaled) features."""
    return cka_from_hsic(*_feature_terms(x, y), eps)


def _linear_cka_gram(x: Tensor, y: Tensor, eps: float) -> Tensor:
    """Biased linear CKA, Gram form, on centred (scaled) features: ``X X^T`` of centred
    features is already doubly centred, so ``HSIC_0 ∝ <K, L>_F``. Cost ``O(n^2 (p1 + p2))``."""
    return cka_from_hsic(*_gram_terms(x @ x.T, y @ y.T, centre=False, unbiased=False), eps)


def _use_feature_form(n: int, p1: int, p2: int) -> bool:
    """Feature form when its flop count ``n (p1^2 + p1 p2 + p2^2)`` is at most the Gram
    form's ``n^2 (p1 + p2)``, i.e. ``p1^2 + p1 p2 + p2^2 <= n (p1 + p2)`` (roughly
    ``n >= 1.5 p`` for ``p1 = p2 = p``)."""
    return p1 * p1 + p1 * p2 + p2 * p2 <= n * (p1 + p2)


class _LinearCKA(torch.autograd.Function):
    r"""Linear CKA (biased or debiased) of two inputs with a hand-written backward.

    Forward: centre (two passes) and rescale each side without autograd, then the three terms
    in the cheaper of the Gram and feature forms; with ``d_i = ||x_i||^2``, ``S = sum d_i``,
    ``c = 1/((n-1)(n-2))`` and ``e = 1 + 2/(n-2)`` the debiased terms add
    ``c S_x S_y - e d_x . d_y`` (see :func:`_feature_terms_unbiased`). Backward, with
    ``CKA = a / sqrt(b c)``: ``dCKA/dX = 2 (g_a L + 2 g_b K) X`` plus, debiased,
    ``2 g_a (c S_y X - e d_y * X) + 4 g_b (c S_x X - e d_x * X)``, where ``g_a = 1/sqrt(bc)``,
    ``g_b = -CKA / (2 b)`` and ``L X = Y (Y^T X)`` in the feature form; then the centring
    projection and the scale. One matrix product per side instead of autograd's two (``K = X
    X^T`` is symmetric) and no elementwise graph, so cka() costs what the textbook form costs
    while keeping float32 centring (checked against autograd by ``gradcheck``)."""

    @staticmethod
    def forward(ctx, x: Tensor, y: Tensor, debiased: bool, eps: float) -> Tensor:  # noqa: ANN001
        xs, sx, zx = _prepare(x.detach(), x.dtype)
        ys, sy, zy = _prepare(y.detach(), y.dtype)
        n, p1, p2 = xs.shape[0], xs.shape[1], ys.shape[1]
        feature = _use_feature_form(n, p1, p2)
        if feature:
            m, aa, bb = ys.T @ xs, xs.T @ xs, ys.T @ ys
            a, b, c = _sqnorm(m), _sqnorm(aa), _sqnorm(bb)
            mats = (m, aa, bb)
        else:
            k, l = xs @ xs.T, ys @ ys.T  # noqa: E741
            a, b, c = _frob(k, l), _sqnorm(k), _sqnorm(l)
            mats = (k, l)
        dx = dy = None
        if debiased:
            dx, dy = (xs * xs).sum(1), (ys * ys).sum(1)
            da, db, dc = _unbiased_corrections(dx, dy, n)
            a, b, c = a + da, b + db, c + dc
        prod = b.clamp_min(0.0) * c.clamp_min(0.0)
        ok = (prod > eps * eps) & ~(zx | zy)
        root = torch.where(ok, prod, torch.ones_like(prod)).sqrt()
        out = torch.where(ok, a / root, torch.zeros_like(a))
        ctx.feature, ctx.debiased = feature, debiased
        ctx.save_for_backward(xs, ys, sx, sy, a, b, c, root, ok.to(xs.dtype), out, *mats,
                              *((dx, dy) if debiased else ()))
        return out

    @staticmethod
    @once_differentiable  # a second derivative would need the autograd path: say so instead of a wrong one
    def backward(ctx, grad: Tensor):  # noqa: ANN001
        xs, ys, sx, sy, a, b, c, root, ok, out, *rest = ctx.saved_tensors
        n = xs.shape[0]
        g = grad * ok
        ga = g / root
        gb = -g * out / (2 * torch.where(b > 0, b, torch.ones_like(b)))
        gc = -g * out / (2 * torch.where(c > 0, c, torch.ones_like(c)))
        if ctx.feature:
            m, aa, bb = rest[:3]
            gx = 2 * ga * (ys @ m) + 4 * gb * (xs @ aa)
            gy = 2 * ga * (xs @ m.T) + 4 * gc * (ys @ bb)
        else:
            k, l = rest[:2]  # noqa: E741
            gx = (2 * ga * l + 4 * gb * k) @ xs
            gy = (2 * ga * k + 4 * gc * l) @ ys
        if ctx.debiased:
            dx, dy = rest[-2:]
            cc, e = _unbiased_factors(n)
            rx = 2 * ga * (cc * dy.sum() - e * dy) + 4 * gb * (cc * dx.sum() - e * dx)  # one factor per row
            ry = 2 * ga * (cc * dx.sum() - e * dx) + 4 * gc * (cc * dy.sum() - e * dy)
            gx = gx + rx[:, None] * xs
            gy = gy + ry[:, None] * ys
        gx = (gx - gx.mean(dim=0, keepdim=True)) / sx  # through the centring and the scale
        gy = (gy - gy.mean(dim=0, keepdim=True)) / sy
        return gx, gy, None, None


def _rbf_gram_scaled(
    xs: Tensor, s: Tensor, sigma: float | Tensor | None, heuristic: str, scale: float
) -> Tensor:
    """RBF Gram of the rescaled features ``xs = xc / s``; an explicit ``sigma`` (in the
    units of the input) is rescaled by the same ``s`` so that ``K`` is unchanged."""
    d2 = pairwise_sq_dists(xs)
    if sigma is None:
        sig = _median_sigma(d2, heuristic, scale)
    else:
        sig = torch.as_tensor(sigma, dtype=xs.dtype, device=xs.device).detach().reshape(()) / s
    return torch.exp(-d2 / (2.0 * sig * sig))


def _terms(
    xs: Tensor, ys: Tensor, sx: Tensor, sy: Tensor, st: CKASettings, *, centre_linear_gram: bool
) -> tuple[Tensor, Tensor, Tensor]:
    """The three unnormalised HSIC terms of prepared features ``xs = xc / sx``, ``ys = yc / sy``.

    Linear: the feature form when cheaper (biased or unbiased), else the Gram form; Gram
    matrices of centred features are already doubly centred, so they are centred again only if
    ``centre_linear_gram`` (U-centred when debiased). RBF: U- or double-centred Gram matrices.
    """
    n, p1, p2 = xs.shape[0], xs.shape[1], ys.shape[1]
    if st.kernel == "linear":
        if _use_feature_form(n, p1, p2):
            return _feature_terms_unbiased(xs, ys) if st.debiased else _feature_terms(xs, ys)
        return _gram_terms(xs @ xs.T, ys @ ys.T, centre_linear_gram or st.debiased, st.debiased)
    sig_x, sig_y = st.sigma if isinstance(st.sigma, tuple) else (st.sigma, st.sigma)
    k = _rbf_gram_scaled(xs, sx, sig_x, st.sigma_heuristic, st.sigma_scale)
    l = _rbf_gram_scaled(ys, sy, sig_y, st.sigma_heuristic, st.sigma_scale)  # noqa: E741
    return _gram_terms(k, l, True, st.debiased)


def hsic_terms(
    x: Tensor,
    y: Tensor,
    *,
    settings: CKASettings | None = None,
    dtype: torch.dtype | None = None,
    **options: Any,
) -> tuple[Tensor, Tensor, Tensor]:
    r"""``(HSIC(K, L), HSIC(K, K), HSIC(L, L))`` of one batch, in the features' own scale.

    Mini-batch CKA (docs/method.md §2; Nguyen, Raghu & Kornblith 2021) averages these terms
    over batches before forming the ratio (:func:`cka_from_hsic`)::

        CKA_mb = mean_b HSIC(K_b, L_b) / sqrt(mean_b HSIC(K_b, K_b) mean_b HSIC(L_b, L_b))

    so, unlike :func:`cka`, the features are not rescaled: the terms keep their scale
    (normalised by ``(n-1)^2``, or ``n(n-3)`` when debiased) and batches average correctly.
    Same conventions otherwise (centring first, autocast off, a side without variance gives
    exact zeros); every Gram path is centred (the linear Gram too).

    Args:
        x: ``(n, p1, ...)`` first representation.
        y: ``(n, p2, ...)`` second representation.
        settings: a :class:`CKASettings` (its ``eps`` is not used here).
        dtype: computation dtype; ``None``: float32 at least (float64 for float64 input).
        **options: :class:`CKASettings` fields as keywords, instead of ``settings``.

    Returns:
        Three scalar tensors of ``dtype``.
    """
    st = CKASettings.resolve(settings, **options)
    if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise ConfigError(f"dtype: expected a floating torch.dtype (e.g. torch.float64) or None, got {dtype!r}.")
    x2, y2 = _pair(x, y, st.debiased)
    n = x2.shape[0]
    dtype = dtype or _compute_dtype(x2, y2)
    norm = n * (n - 3) if st.debiased else (n - 1) ** 2
    with _no_autocast(x2.device):
        xs, sx, zx = _prepare(x2, dtype, rescale=False)
        ys, sy, zy = _prepare(y2, dtype, rescale=False)
        xy, xx, yy = _terms(xs, ys, sx, sy, st, centre_linear_gram=True)
        zero = torch.zeros((), dtype=dtype, device=xs.device)
        return (
            torch.where(zx | zy, zero, xy / norm),
            torch.where(zx, zero, xx / norm),
            torch.where(zy, zero, yy / norm),
        )


def cka(x: Tensor, y: Tensor, *, settings: CKASettings | None = None, **options: Any) -> Tensor:
    r"""Centered kernel alignment between two representations of the same ``n`` examples.

    ``CKA = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L))`` (Kornblith et al. 2019), with the
    biased HSIC or, when ``debiased``, the unbiased HSIC of Song et al. (2012) ("debiased
    CKA", Nguyen, Raghu & Kornblith 2021); ``1 - CKA`` is BIRD's structure loss. Biased CKA
    lies in [0, 1] and is strongly biased upwards for small ``n`` relative to the feature
    dimension (independent 512- and 256-dimensional Gaussian features give about 0.9 at
    ``n = 32``); debiased CKA is close to 0 there and can be slightly negative.

    Differentiable in both arguments. Inputs with more than two dimensions are flattened to
    ``(n, prod(rest))``. Features are column-centred and rescaled first, computed in float32
    at least (float64 if either input is float64) with autocast disabled; biased linear CKA
    uses the feature form ``||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F)`` when
    ``p1^2 + p1 p2 + p2^2 <= n (p1 + p2)``, else the Gram form; RBF uses one bandwidth per
    side (median heuristic, detached, unless ``sigma`` is given). A side whose rows are all
    identical gives CKA = 0 with a zero gradient. Details: docs/cka.md.

    Args:
        x: ``(n, p1, ...)`` first representation (e.g. teacher features).
        y: ``(n, p2, ...)`` second representation (e.g. student features).
        settings: a :class:`CKASettings`; ``eps`` applies to the terms of features rescaled
            to max-abs 1 (scale-free), :data:`DEFAULT_EPS` where it is ``None``.
        **options: :class:`CKASettings` fields as keywords (``kernel``, ``debiased``,
            ``sigma``, ``sigma_heuristic``, ``sigma_scale``, ``eps``), instead of
            ``settings``.

    Returns:
        Scalar tensor (float32, or float64 for float64 input).

    Raises:
        ShapeError: ``x`` and ``y`` disagree on ``n``, ``n`` is too small (2, debiased 4),
            or an input is not at least 2-D.
        UnknownNameError: unknown ``kernel``, ``sigma_heuristic`` or option name.
        ConfigError: an option out of range, or both ``settings`` and options.
    """
    st = CKASettings.resolve(settings, **options)
    x2, y2 = _pair(x, y, st.debiased)
    dtype = _compute_dtype(x2, y2)
    with _no_autocast(x2.device):
        if st.kernel == "linear":
            return _LinearCKA.apply(x2.to(dtype), y2.to(dtype), st.debiased, st.eps_or(DEFAULT_EPS))
        xs, sx, zx = _prepare(x2, dtype)
        ys, sy, zy = _prepare(y2, dtype)
        out = cka_from_hsic(*_terms(xs, ys, sx, sy, st, centre_linear_gram=False), st.eps_or(DEFAULT_EPS))
        return torch.where(zx | zy, torch.zeros_like(out), out)
