"""Tests of birdkit.functional.cka against float64 NumPy references written from the formulas
of docs/method.md §2 (explicit centring matrix H, the unbiased-HSIC formula as printed, SciPy
distances for the RBF kernel), plus properties, gradients and numerical traps."""

from __future__ import annotations

import functools
import importlib

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

import birdkit
from birdkit.errors import BirdkitError, ShapeError, UnknownNameError
from birdkit.functional.cka import (
    center_features,
    center_gram,
    cka,
    cka_from_hsic,
    gram_linear,
    gram_rbf,
    hsic,
    median_sigma,
    pairwise_sq_dists,
)

F = importlib.import_module("birdkit.functional.cka")  # the package attribute `cka` is the function

# ----------------------------------------------------------------------------------------
# float64 NumPy references, straight from the formulas
# ----------------------------------------------------------------------------------------


def ref_gram_linear(x: np.ndarray) -> np.ndarray:
    return x @ x.T


def ref_sq_dists(x: np.ndarray) -> np.ndarray:
    return cdist(x, x, "sqeuclidean")


def ref_median_sigma(x: np.ndarray, heuristic: str, scale: float = 1.0) -> float:
    d = ref_sq_dists(x)
    vals = d.ravel() if heuristic == "median_all" else d[d > 0]
    return scale * float(np.sqrt(np.median(vals)))


def ref_gram_rbf(x: np.ndarray, sigma: float) -> np.ndarray:
    return np.exp(-ref_sq_dists(x) / (2.0 * sigma**2))


def ref_hsic(k: np.ndarray, l: np.ndarray) -> float:  # noqa: E741
    """Biased HSIC: tr(K H L H) / (n-1)^2 with the explicit H = I - 11^T/n."""
    n = k.shape[0]
    h = np.eye(n) - np.ones((n, n)) / n
    return float(np.trace(k @ h @ l @ h)) / (n - 1) ** 2


def ref_hsic_unbiased(k: np.ndarray, l: np.ndarray) -> float:  # noqa: E741
    """Unbiased HSIC (Song et al. 2012), the formula of docs/method.md as printed."""
    n = k.shape[0]
    kt = k.copy()
    lt = l.copy()
    np.fill_diagonal(kt, 0.0)
    np.fill_diagonal(lt, 0.0)
    one = np.ones(n)
    term1 = np.trace(kt @ lt)
    term2 = (one @ kt @ one) * (one @ lt @ one) / ((n - 1) * (n - 2))
    term3 = 2.0 / (n - 2) * (one @ kt @ lt @ one)
    return float(term1 + term2 - term3) / (n * (n - 3))


def ref_cka_grams(k: np.ndarray, l: np.ndarray, debiased: bool) -> float:  # noqa: E741
    h = ref_hsic_unbiased if debiased else ref_hsic
    return h(k, l) / np.sqrt(h(k, k) * h(l, l))


def ref_cka(x, y, kernel="linear", debiased=False, sigma=None, heuristic="median_nonzero", scale=1.0):
    """Reference CKA. The biased one works on the raw features (explicit H). For the
    debiased one the features are centred first (HSIC_1 is shift-invariant): the printed
    formula applied to the raw Gram matrix cancels catastrophically with a large offset,
    even in float64 (see test_unbiased_formula_on_raw_offset_gram_loses_digits_in_float64)."""
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    if debiased:
        x, y = x - x.mean(0), y - y.mean(0)
    if kernel == "linear":
        k, l = ref_gram_linear(x), ref_gram_linear(y)  # noqa: E741
    else:
        sx, sy = sigma if isinstance(sigma, tuple) else (sigma, sigma)
        sx = ref_median_sigma(x, heuristic, scale) if sx is None else sx
        sy = ref_median_sigma(y, heuristic, scale) if sy is None else sy
        k, l = ref_gram_rbf(x, sx), ref_gram_rbf(y, sy)  # noqa: E741
    return ref_cka_grams(k, l, debiased)


# ----------------------------------------------------------------------------------------
# data
# ----------------------------------------------------------------------------------------
CASES = ("gaussian", "orthogonal", "lowrank", "offset", "mixed_scales")


def make_case(case: str, n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """float32 (x, y) pairs; the references use the same float32 values in float64."""
    g = np.random.default_rng(seed)
    p1, p2 = (32, 24) if n >= 128 else (12, 9)
    x = g.standard_normal((n, p1))
    if case == "gaussian":
        y = g.standard_normal((n, p2))
    elif case == "orthogonal":
        q, _ = np.linalg.qr(g.standard_normal((p1, p1)))
        y = x @ q
    elif case == "lowrank":  # a rank-2 nonlinear function of x, plus a little noise
        a = g.standard_normal((p1, 2))
        y = np.tanh(x @ a / np.sqrt(p1)) @ g.standard_normal((2, p2)) + 0.05 * g.standard_normal((n, p2))
    elif case == "offset":  # correlated features sharing a large offset (docs/method.md trap 2)
        y = x @ g.standard_normal((p1, p2)) / np.sqrt(p1) + 0.5 * g.standard_normal((n, p2))
        x, y = x + 1000.0, y + 1000.0
    elif case == "mixed_scales":
        y = x[:, :p2] * 0.3 + g.standard_normal((n, p2))
        x = x * 10.0 ** g.uniform(-3, 3, size=p1)
        y = y * 10.0 ** g.uniform(-3, 3, size=p2)
    else:
        raise AssertionError(case)
    return torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)


@functools.cache
def cached_case(case: str, n: int):
    x, y = make_case(case, n)
    xd, yd = x.double().numpy(), y.double().numpy()
    return x, y, xd, yd


# (kernel, heuristic, explicit-sigma factor): the explicit sigma is 1.3 x the reference median
# distance, passed as a pair (sigma_x, sigma_y) in input units.
KERNEL_CONFIGS = {
    "linear": ("linear", "median_nonzero", None),
    "rbf_nonzero": ("rbf", "median_nonzero", None),
    "rbf_all": ("rbf", "median_all", None),
    "rbf_sigma": ("rbf", "median_nonzero", 1.3),
}


@functools.cache
def reference_value(case: str, n: int, config: str, debiased: bool) -> float:
    _, _, xd, yd = cached_case(case, n)
    kernel, heuristic, factor = KERNEL_CONFIGS[config]
    sigma = None
    if factor is not None:
        sigma = (factor * ref_median_sigma(xd, heuristic), factor * ref_median_sigma(yd, heuristic))
    return ref_cka(xd, yd, kernel, debiased, sigma, heuristic)


def birdkit_value(case: str, n: int, config: str, debiased: bool) -> float:
    x, y, xd, yd = cached_case(case, n)
    kernel, heuristic, factor = KERNEL_CONFIGS[config]
    sigma = None
    if factor is not None:
        sigma = (factor * ref_median_sigma(xd, heuristic), factor * ref_median_sigma(yd, heuristic))
    out = cka(x, y, kernel=kernel, debiased=debiased, sigma=sigma, sigma_heuristic=heuristic)
    assert out.dtype == torch.float32 and out.shape == ()
    return out.item()


# ----------------------------------------------------------------------------------------
# agreement with the references
# ----------------------------------------------------------------------------------------
GRID = [
    (case, n, config, debiased)
    for n in (4, 16, 128, 1024)
    for case in CASES
    for config in KERNEL_CONFIGS
    for debiased in (False, True)
    # n = 1024: every case for linear, two cases for each RBF variant (keeps the suite short)
    if n < 1024 or config == "linear" or case in ("gaussian", "offset")
]


@pytest.mark.parametrize(("case", "n", "config", "debiased"), GRID)
def test_matches_float64_reference(case, n, config, debiased):
    ref = reference_value(case, n, config, debiased)
    got = birdkit_value(case, n, config, debiased)
    assert np.isfinite(ref)
    assert got == pytest.approx(ref, abs=1e-5)


@pytest.mark.parametrize("n", [16, 128])
@pytest.mark.parametrize("case", CASES)
def test_feature_and_gram_forms_agree(case, n):
    x, y, xd, yd = cached_case(case, n)
    xs, _, _ = F._prepare(x, torch.float32)
    ys, _, _ = F._prepare(y, torch.float32)
    feat = F._linear_cka_feature(xs, ys, 1e-12).item()
    gram = F._linear_cka_gram(xs, ys, 1e-12).item()
    ref = reference_value(case, n, "linear", False)
    assert feat == pytest.approx(ref, abs=1e-5)
    assert gram == pytest.approx(ref, abs=1e-5)


def test_form_choice_by_shape():
    assert F._use_feature_form(1024, 32, 24)
    assert not F._use_feature_form(16, 512, 256)
    assert F._use_feature_form(1536, 1024, 1024)  # p1^2+p1p2+p2^2 = 3p^2 <= n 2p  <=>  n >= 1.5 p
    assert not F._use_feature_form(1535, 1024, 1024)
    # the public function on a wide input (Gram path) matches the reference
    g = np.random.default_rng(3)
    x = g.standard_normal((24, 300))
    y = x[:, :100] + g.standard_normal((24, 100))
    got = cka(torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)).item()
    assert got == pytest.approx(ref_cka(x, y), abs=1e-5)


def test_cka_float64_is_float64_and_tight():
    x, y, xd, yd = cached_case("lowrank", 128)
    for kernel in ("linear", "rbf"):
        for debiased in (False, True):
            out = cka(x.double(), y.double(), kernel=kernel, debiased=debiased)
            assert out.dtype == torch.float64
            assert out.item() == pytest.approx(ref_cka(xd, yd, kernel, debiased), abs=1e-12)
    # one float64 side is enough to compute in float64
    assert cka(x.double(), y).dtype == torch.float64


def test_more_than_two_dims_are_flattened():
    x = torch.randn(10, 2, 3, 4)
    y = torch.randn(10, 5)
    assert cka(x, y).item() == pytest.approx(cka(x.reshape(10, 24), y).item(), abs=1e-7)
    assert cka(x, y, kernel="rbf").item() == pytest.approx(cka(x.reshape(10, 24), y, kernel="rbf").item(), abs=1e-7)


# ----------------------------------------------------------------------------------------
# helpers on Gram matrices
# ----------------------------------------------------------------------------------------
def test_center_gram_equals_hkh():
    g = np.random.default_rng(1)
    a = g.standard_normal((9, 5))
    k = a @ a.T + 3.0
    n = 9
    h = np.eye(n) - 1.0 / n
    got = center_gram(torch.tensor(k)).numpy()
    np.testing.assert_allclose(got, h @ k @ h, atol=1e-12)


def test_hsic_biased_and_unbiased_match_formulas():
    g = np.random.default_rng(2)
    x = g.standard_normal((11, 4)) + 2.0
    y = g.standard_normal((11, 3)) + x[:, :3]
    k, l = ref_gram_linear(x), ref_gram_rbf(y, 1.7)  # noqa: E741
    kt, lt = torch.tensor(k), torch.tensor(l)
    assert hsic(kt, lt).item() == pytest.approx(ref_hsic(k, l), rel=1e-12)
    assert hsic(kt, lt, debiased=True).item() == pytest.approx(ref_hsic_unbiased(k, l), rel=1e-10)
    # the unbiased estimator is invariant to adding a_i + a_j + c to the kernel
    a = g.standard_normal(11)
    k2 = k + a[:, None] + a[None, :] + 5.0
    assert hsic(torch.tensor(k2), lt, debiased=True).item() == pytest.approx(ref_hsic_unbiased(k, l), rel=1e-9)
    # cka_from_hsic on these terms equals the reference CKA
    val = cka_from_hsic(hsic(kt, lt), hsic(kt, kt), hsic(lt, lt)).item()
    assert val == pytest.approx(ref_cka_grams(k, l, False), rel=1e-12)


def test_gram_functions_match_reference():
    g = np.random.default_rng(4)
    x = g.standard_normal((20, 6))
    xt = torch.tensor(x)
    np.testing.assert_allclose(gram_linear(xt).numpy(), ref_gram_linear(x), atol=1e-12)
    np.testing.assert_allclose(pairwise_sq_dists(xt).numpy(), ref_sq_dists(x), atol=1e-10)
    for heuristic in ("median_nonzero", "median_all"):
        s = median_sigma(xt, heuristic=heuristic, scale=0.7).item()
        assert s == pytest.approx(ref_median_sigma(x, heuristic, 0.7), rel=1e-10)
        np.testing.assert_allclose(
            gram_rbf(xt, heuristic=heuristic).numpy(), ref_gram_rbf(x, ref_median_sigma(x, heuristic)), atol=1e-12
        )
    np.testing.assert_allclose(gram_rbf(xt, 2.5).numpy(), ref_gram_rbf(x, 2.5), atol=1e-12)


def test_median_conventions_differ_and_handle_duplicates():
    # with duplicated rows, "nonzero" drops the zero distances and "all" keeps them
    x = torch.tensor([[0.0], [0.0], [0.0], [1.0], [3.0]], dtype=torch.float64)
    xd = x.numpy()
    for h in ("median_nonzero", "median_all"):
        assert median_sigma(x, heuristic=h).item() == pytest.approx(ref_median_sigma(xd, h))
    assert median_sigma(x, heuristic="median_all").item() < median_sigma(x, heuristic="median_nonzero").item()
    # all rows identical: bandwidth 1 (documented), finite kernel
    assert median_sigma(torch.ones(4, 2)).item() == 1.0


@pytest.mark.parametrize("sync_free", [False, True])
def test_median_positive_paths_agree(sync_free):
    g = torch.Generator().manual_seed(0)
    for m, zeros in [(1, 0), (2, 0), (7, 3), (8, 3), (9, 9), (50, 11), (51, 0)]:
        v = torch.rand(m, generator=g, dtype=torch.float64) + 0.1
        v[:zeros] = 0.0
        v = v[torch.randperm(m, generator=g)]
        pos = v[v > 0].numpy()
        expect = float(np.median(pos)) if len(pos) else 0.0
        assert F._median_positive(v, sync_free=sync_free).item() == pytest.approx(expect, abs=1e-15)


def test_center_features_two_pass():
    x = torch.randn(257, 8) + 1000.0
    xc = center_features(x)
    ref = x.double() - x.double().mean(0)
    assert (xc.double() - ref).abs().max().item() < 1e-4
    assert xc.mean(0).abs().max().item() < 1e-6


# ----------------------------------------------------------------------------------------
# properties
# ----------------------------------------------------------------------------------------
def _pair(n=40, p1=12, p2=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, p1, generator=g, dtype=torch.float64)
    w = torch.randn(p2, p2, generator=g, dtype=torch.float64)
    y = x[:, :p2] @ w + torch.randn(n, p2, generator=g, dtype=torch.float64)
    return x, y


def _orth(p, seed):
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(p, p, generator=g, dtype=torch.float64))
    return q


@pytest.mark.parametrize("debiased", [False, True])
@pytest.mark.parametrize("n", [40, 6])  # feature form (n large) and Gram form (n small)
def test_linear_invariances(debiased, n):
    x, y = _pair(n=n)
    base = cka(x, y, debiased=debiased).item()
    q1, q2 = _orth(12, 1), _orth(8, 2)
    assert cka(x @ q1, y @ q2, debiased=debiased).item() == pytest.approx(base, abs=1e-12)
    assert cka(3.7 * x, 0.01 * y, debiased=debiased).item() == pytest.approx(base, abs=1e-12)
    assert cka(x + 5.0, y - 2.0, debiased=debiased).item() == pytest.approx(base, abs=1e-12)
    d = torch.logspace(-2, 2, 12, dtype=torch.float64)  # anisotropic scaling changes CKA
    assert abs(cka(x * d, y, debiased=debiased).item() - base) > 0.05


def test_rbf_invariances():
    x, y = _pair()
    base = cka(x, y, kernel="rbf").item()
    # orthogonal maps and translations keep distances; isotropic scaling moves the median with it
    assert cka(x @ _orth(12, 1) + 3.0, 2.0 * y, kernel="rbf").item() == pytest.approx(base, abs=1e-12)
    # with a fixed bandwidth, scaling changes the kernel
    assert abs(cka(2.0 * x, y, kernel="rbf", sigma=3.0).item() - cka(x, y, kernel="rbf", sigma=3.0).item()) > 1e-3


@pytest.mark.parametrize("kernel", ["linear", "rbf"])
@pytest.mark.parametrize("debiased", [False, True])
def test_symmetry_and_self_similarity(kernel, debiased):
    x, y = _pair()
    assert cka(x, y, kernel=kernel, debiased=debiased).item() == pytest.approx(
        cka(y, x, kernel=kernel, debiased=debiased).item(), abs=1e-12
    )
    assert cka(x, x, kernel=kernel, debiased=debiased).item() == pytest.approx(1.0, abs=1e-12)
    assert cka(x.float(), x.float(), kernel=kernel, debiased=debiased).item() == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("kernel", ["linear", "rbf"])
def test_biased_range(kernel):
    g = torch.Generator().manual_seed(5)
    for _ in range(30):
        n = int(torch.randint(2, 30, (1,), generator=g))
        p1, p2 = (int(v) for v in torch.randint(1, 40, (2,), generator=g))
        x = torch.randn(n, p1, generator=g) * torch.rand(1, generator=g) * 100
        y = torch.randn(n, p2, generator=g)
        v = cka(x, y, kernel=kernel).item()
        assert -1e-6 <= v <= 1 + 1e-6
        vd = cka(x, y, kernel=kernel, debiased=True).item() if n >= 4 else 0.0
        assert -1 - 1e-6 <= vd <= 1 + 1e-6  # Cauchy-Schwarz on U-centred Gram matrices


# ----------------------------------------------------------------------------------------
# gradients
# ----------------------------------------------------------------------------------------
GRAD_CONFIGS = [
    dict(kernel="linear"),  # n = 7, p = 3, 2: feature form
    dict(kernel="linear", debiased=True),
    dict(kernel="rbf", sigma=1.5),
    dict(kernel="rbf", sigma=(1.1, 0.8), debiased=True),
]


@pytest.mark.parametrize("kwargs", GRAD_CONFIGS, ids=lambda d: "-".join(f"{k}={v}" for k, v in d.items()))
def test_gradcheck(kwargs):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(7, 3, generator=g, dtype=torch.float64, requires_grad=True)
    y = (x.detach()[:, :2] + torch.randn(7, 2, generator=g, dtype=torch.float64)).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a, b: cka(a, b, **kwargs), (x, y))


@pytest.mark.parametrize("debiased", [False, True])
def test_the_hand_written_linear_backward_equals_autograd(debiased):
    """cka()'s linear path has its own backward; autograd through the plain terms is the reference."""
    from birdkit.functional.cka import CKASettings, _prepare, _terms, cka_from_hsic

    g = torch.Generator().manual_seed(1)
    for n, p1, p2 in ((6, 2, 3), (9, 20, 14), (40, 5, 7)):  # feature form, Gram form, feature form
        x = (torch.randn(n, p1, generator=g, dtype=torch.float64) + 3).requires_grad_(True)
        y = (torch.randn(n, p2, generator=g, dtype=torch.float64) - 1).requires_grad_(True)
        fast = torch.autograd.grad(cka(x, y, debiased=debiased), (x, y))
        st = CKASettings(debiased=debiased)
        xs, sx, _ = _prepare(x, torch.float64)
        ys, sy, _ = _prepare(y, torch.float64)
        ref = torch.autograd.grad(cka_from_hsic(*_terms(xs, ys, sx, sy, st, centre_linear_gram=False)), (x, y))
        for a, b in zip(fast, ref, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)
        assert torch.autograd.gradcheck(lambda a, b: cka(a, b, debiased=debiased), (x, y))


def test_gradcheck_gram_form():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(5, 9, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.randn(5, 7, generator=g, dtype=torch.float64, requires_grad=True)
    assert not F._use_feature_form(5, 9, 7)
    assert torch.autograd.gradcheck(lambda a, b: cka(a, b), (x, y))


@pytest.mark.parametrize("heuristic", ["median_nonzero", "median_all"])
def test_median_bandwidth_is_detached(heuristic):
    """The gradient with the median bandwidth equals the gradient with that bandwidth passed
    as a constant: the heuristic is not differentiated through."""
    x0, y0 = _pair(n=12)
    sx = median_sigma(x0, heuristic=heuristic, scale=0.8).item()
    sy = median_sigma(y0, heuristic=heuristic, scale=0.8).item()
    grads = []
    for sigma in (None, (sx, sy)):
        x, y = x0.clone().requires_grad_(True), y0.clone().requires_grad_(True)
        out = cka(x, y, kernel="rbf", sigma=sigma, sigma_heuristic=heuristic, sigma_scale=0.8)
        out.backward()
        grads.append((out.item(), x.grad, y.grad))
    assert grads[0][0] == pytest.approx(grads[1][0], abs=1e-12)
    torch.testing.assert_close(grads[0][1], grads[1][1], rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(grads[0][2], grads[1][2], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("kernel", ["linear", "rbf"])
@pytest.mark.parametrize("debiased", [False, True])
@pytest.mark.parametrize("which", ["x", "y", "both"])
def test_constant_features_finite_zero(kernel, debiased, which):
    x = torch.randn(8, 5)
    y = torch.randn(8, 3)
    if which in ("x", "both"):
        x = torch.full((8, 5), 0.1) + torch.arange(5.0)  # constant columns, different values
    if which in ("y", "both"):
        y = torch.full((8, 3), 1e4)
    x.requires_grad_(True)
    y.requires_grad_(True)
    out = cka(x, y, kernel=kernel, debiased=debiased)
    assert out.item() == 0.0
    (1 - out).backward()
    for t in (x, y):
        assert t.grad is not None and torch.isfinite(t.grad).all()


@pytest.mark.parametrize("kernel", ["linear", "rbf"])
@pytest.mark.parametrize("debiased", [False, True])
def test_no_variance_is_exact_not_rounding_dependent(monkeypatch, kernel, debiased):
    """A constant side is 0 by definition, even if centring left a rounding residue (here
    simulated: a one-pass centring plus a constant 1e-9 shift)."""
    monkeypatch.setattr(F, "center_features", lambda t: t - t.mean(dim=0, keepdim=True) + 1e-9)
    x = torch.full((7, 3), 0.1, requires_grad=True)
    y = torch.randn(7, 2)
    out = cka(x, y, kernel=kernel, debiased=debiased)
    assert out.item() == 0.0
    out.backward()
    assert torch.isfinite(x.grad).all()
    assert bool(F._no_variance(x.detach())) and not bool(F._no_variance(y))


@pytest.mark.parametrize("kernel", ["linear", "rbf"])
def test_one_constant_column_still_finite(kernel):
    x = torch.randn(16, 4, dtype=torch.float64)
    x[:, 2] = 7.0
    x.requires_grad_(True)
    y = torch.randn(16, 3, dtype=torch.float64, requires_grad=True)
    out = cka(x, y, kernel=kernel)
    out.backward()
    assert torch.isfinite(out) and torch.isfinite(x.grad).all() and torch.isfinite(y.grad).all()
    assert torch.autograd.gradcheck(lambda a, b: cka(a, b, kernel=kernel, sigma=2.0), (x, y))


def test_cka_from_hsic_zero_denominator_has_zero_grad():
    terms = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (0.0, 0.0, 2.0)]
    out = cka_from_hsic(*terms)
    out.backward()
    assert out.item() == 0.0
    assert all(t.grad is not None and torch.isfinite(t.grad).all() for t in terms)


# ----------------------------------------------------------------------------------------
# numerical and statistical traps (docs/method.md §2)
# ----------------------------------------------------------------------------------------
def _naive_gram_first_cka(x: torch.Tensor, y: torch.Tensor) -> float:
    """What docs/method.md warns about: Gram matrices of raw features, centred afterwards."""
    k, l = x @ x.T, y @ y.T  # noqa: E741
    return cka_from_hsic(hsic(k, l), hsic(k, k), hsic(l, l)).item()


def test_offset_trap():
    g = np.random.default_rng(7)
    n, p = 256, 64
    x = g.standard_normal((n, p))
    y = x @ g.standard_normal((p, p)) / np.sqrt(p) + 0.3 * g.standard_normal((n, p))
    xt = torch.tensor(x + 1000.0, dtype=torch.float32)
    yt = torch.tensor(y + 1000.0, dtype=torch.float32)
    ref = ref_cka(xt.double().numpy(), yt.double().numpy())
    assert 0.5 < ref < 0.99
    naive = _naive_gram_first_cka(xt, yt)
    assert not np.isfinite(naive) or abs(naive - ref) > 0.1  # the test can see the trap ...
    assert _naive_gram_first_cka(xt.double(), yt.double()) == pytest.approx(ref, abs=1e-6)
    for debiased in (False, True):  # ... and birdkit does not fall into it
        r = ref_cka(xt.double().numpy(), yt.double().numpy(), debiased=debiased)
        assert cka(xt, yt, debiased=debiased).item() == pytest.approx(r, abs=1e-5)
        r = ref_cka(xt.double().numpy(), yt.double().numpy(), "rbf", debiased)
        assert cka(xt, yt, kernel="rbf", debiased=debiased).item() == pytest.approx(r, abs=1e-5)


def test_unbiased_formula_on_raw_offset_gram_loses_digits_in_float64():
    """The trap also bites the unbiased-HSIC formula as printed, in float64: its terms are
    O(n^4 offset^4) and cancel. Centring the features first (what birdkit and the reference
    do) avoids it."""
    _, _, xd, yd = cached_case("offset", 128)
    raw = ref_cka_grams(ref_gram_linear(xd), ref_gram_linear(yd), True)
    centred = ref_cka(xd, yd, debiased=True)
    assert abs(raw - centred) > 1e-3
    x64 = torch.tensor(xd) - 1000.0  # the shift does not change the true value
    assert cka(torch.tensor(xd), torch.tensor(yd), debiased=True).item() == pytest.approx(centred, abs=1e-12)
    assert cka(x64, torch.tensor(yd), debiased=True).item() == pytest.approx(centred, abs=1e-12)


def test_extreme_scales_do_not_overflow():
    x, y = _pair()
    base = cka(x, y).item()
    for s in (1e-30, 1e25):
        xs, ys = (x * s).float(), (y * s).float()
        assert torch.isfinite(xs).all()
        assert cka(xs, ys).item() == pytest.approx(base, abs=1e-5)
        assert cka(xs, ys, kernel="rbf").item() == pytest.approx(cka(x, y, kernel="rbf").item(), abs=1e-5)


@pytest.mark.parametrize(("n", "low"), [(32, 0.85), (64, 0.78)])
def test_bias_of_biased_cka_and_debiased_is_near_zero(n, low):
    """Independent 512- and 256-dim Gaussian features: biased CKA is far from 0 at small n
    (docs/method.md: 0.91 at n=32, 0.84 at n=64); debiased CKA is ~0 (sd of one draw ~0.015)."""
    biased, debiased = [], []
    for seed in range(5):
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(n, 512, generator=g)
        y = torch.randn(n, 256, generator=g)
        biased.append(cka(x, y).item())
        debiased.append(cka(x, y, debiased=True).item())
    assert np.mean(biased) > low
    assert abs(np.mean(debiased)) < 0.04
    assert max(abs(v) for v in debiased) < 0.1


# ----------------------------------------------------------------------------------------
# autocast
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("kernel", ["linear", "rbf"])
@pytest.mark.parametrize("debiased", [False, True])
def test_autocast_bf16_is_disabled_inside(kernel, debiased):
    x, y, _, _ = cached_case("offset", 128)
    expect = cka(x, y, kernel=kernel, debiased=debiased).item()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert (x @ x.T).dtype == torch.bfloat16  # autocast is live here ...
        out = cka(x, y, kernel=kernel, debiased=debiased)
    assert out.dtype == torch.float32  # ... but not inside cka
    assert out.item() == pytest.approx(expect, abs=1e-5)


def test_low_precision_inputs_are_cast_up():
    x, y, _, _ = cached_case("gaussian", 128)
    out = cka(x.bfloat16(), y.half())
    assert out.dtype == torch.float32
    assert out.item() == pytest.approx(cka(x.bfloat16().float(), y.half().float()).item(), abs=1e-6)


# ----------------------------------------------------------------------------------------
# errors
# ----------------------------------------------------------------------------------------
def test_error_n_mismatch():
    with pytest.raises(ShapeError, match=r"same examples.*n=5.*n=6"):
        cka(torch.randn(5, 3), torch.randn(6, 3))


def test_error_debiased_needs_four():
    with pytest.raises(ShapeError, match=r"debiased.*at least 4.*n=3"):
        cka(torch.randn(3, 3), torch.randn(3, 2), debiased=True)
    cka(torch.randn(3, 3), torch.randn(3, 2))  # biased is fine at n=3
    with pytest.raises(ShapeError, match=r"at least 2.*n=1"):
        cka(torch.randn(1, 3), torch.randn(1, 2))
    with pytest.raises(ShapeError, match=r"at least 4"):
        hsic(torch.eye(3), torch.eye(3), debiased=True)


def test_error_unknown_kernel_and_heuristic():
    with pytest.raises(UnknownNameError, match=r"Unknown kernel 'rbff'.*Did you mean: 'rbf'"):
        cka(torch.randn(5, 3), torch.randn(5, 3), kernel="rbff")
    with pytest.raises(UnknownNameError, match=r"Unknown sigma heuristic 'median'"):
        cka(torch.randn(5, 3), torch.randn(5, 3), kernel="rbf", sigma_heuristic="median")


def test_error_shapes_and_sigma():
    with pytest.raises(ShapeError, match=r"expected a tensor of shape \(n, p\).*got shape \(5,\)"):
        cka(torch.randn(5), torch.randn(5, 2))
    with pytest.raises(ShapeError, match=r"square"):
        hsic(torch.randn(4, 3), torch.randn(4, 3))
    with pytest.raises(BirdkitError, match=r"sigma must be a positive number"):
        cka(torch.randn(5, 3), torch.randn(5, 3), kernel="rbf", sigma=0.0)


def test_top_level_exports():
    assert birdkit.cka is cka
    assert birdkit.hsic is hsic


@pytest.mark.parametrize(("n", "p1", "p2"), [(256, 8, 16), (40, 6, 3), (1024, 64, 32)])
def test_debiased_linear_feature_form_equals_the_u_centred_gram_form_with_gradients(n, p1, p2):
    from birdkit.functional.cka import _feature_terms_unbiased, _gram_terms, _use_feature_form, center_features

    assert _use_feature_form(n, p1, p2)  # what cka() takes for these shapes
    g = torch.Generator().manual_seed(n)
    x = torch.randn(n, p1, generator=g, dtype=torch.float64, requires_grad=True)
    y = (x[:, :1] + torch.randn(n, p2, generator=g, dtype=torch.float64)).detach().requires_grad_(True)
    xc, yc = center_features(x), center_features(y)
    fast = _feature_terms_unbiased(xc, yc)
    slow = _gram_terms(xc @ xc.T, yc @ yc.T, True, True)
    for a, b in zip(fast, slow, strict=True):
        assert a.item() == pytest.approx(b.item(), rel=1e-10)
    ga = torch.autograd.grad(fast[0] / (fast[1] * fast[2]).sqrt(), (x, y))
    gb = torch.autograd.grad(slow[0] / (slow[1] * slow[2]).sqrt(), (x, y))
    for a, b in zip(ga, gb, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-12)
    # and the public function agrees with the float64 reference in float32
    xf, yf = x.detach().float(), y.detach().float()
    ref = ref_cka(x.detach().numpy(), y.detach().numpy(), debiased=True)
    assert cka(xf, yf, debiased=True).item() == pytest.approx(ref, abs=1e-5)
