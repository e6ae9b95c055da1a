"""Tests of CKAMetric: the ratio of the batch-averaged HSIC terms (docs/method.md §2), checked
against float64 NumPy references, not the mean of per-batch CKA values."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

import birdkit
from birdkit.errors import BirdkitError, ConfigError, ShapeError, UnknownNameError
from birdkit.evaluation.similarity import CKAMetric
from birdkit.functional.cka import CKASettings, cka, hsic_terms
from birdkit.losses import CKALoss


def ref_hsic(k, l, debiased):  # noqa: E741
    n = k.shape[0]
    if not debiased:  # tr(K H L H) / (n-1)^2 with the explicit H
        h = np.eye(n) - 1.0 / n
        return np.trace(k @ h @ l @ h) / (n - 1) ** 2
    kt, lt = k.copy(), l.copy()  # unbiased HSIC (Song et al. 2012), as printed in docs/method.md
    np.fill_diagonal(kt, 0)
    np.fill_diagonal(lt, 0)
    one = np.ones(n)
    return (
        np.trace(kt @ lt)
        + (one @ kt @ one) * (one @ lt @ one) / ((n - 1) * (n - 2))
        - 2.0 / (n - 2) * (one @ kt @ lt @ one)
    ) / (n * (n - 3))


def ref_gram(x, kernel, sigma=None):
    x = x - x.mean(0)  # shift-invariant; keeps the unbiased formula well conditioned
    if kernel == "linear":
        return x @ x.T
    d = cdist(x, x, "sqeuclidean")
    if sigma is None:
        sigma = np.sqrt(np.median(d[d > 0]))
    return np.exp(-d / (2 * sigma**2))


def ref_terms(x, y, kernel, debiased, sigma=None):
    k, l = ref_gram(x, kernel, sigma), ref_gram(y, kernel, sigma)  # noqa: E741
    return ref_hsic(k, l, debiased), ref_hsic(k, k, debiased), ref_hsic(l, l, debiased)


def make_batches(k=4, n=32, seed=0):
    g = np.random.default_rng(seed)
    out = []
    for b in range(k):
        x = g.standard_normal((n, 12)) * (1 + b)  # batches of different scales
        y = np.tanh(x[:, :5]) + g.standard_normal((n, 5)) * 0.5 * (b + 1)
        out.append((x, y))
    return out


@pytest.mark.parametrize("kernel", ["linear", "rbf"])
@pytest.mark.parametrize("debiased", [False, True])
@pytest.mark.parametrize("n", [8, 32])  # Gram form / feature form of the linear kernel
def test_matches_ratio_of_mean_hsic_terms(kernel, debiased, n):
    batches = make_batches(n=n)
    metric = CKAMetric(kernel=kernel, debiased=debiased)
    terms = []
    for x, y in batches:
        metric.update(torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32))
        xf = torch.tensor(x, dtype=torch.float32).double().numpy()
        yf = torch.tensor(y, dtype=torch.float32).double().numpy()
        terms.append(ref_terms(xf, yf, kernel, debiased))
    hxy, hxx, hyy = np.mean(np.array(terms), axis=0)
    expect = hxy / np.sqrt(hxx * hyy)
    got = metric.compute()
    assert got.dtype == torch.float64 and metric.num_batches == len(batches)
    assert got.item() == pytest.approx(expect, abs=1e-10)
    means = metric.hsic_means()
    for m, e in zip(means, (hxy, hxx, hyy), strict=True):
        assert m.item() == pytest.approx(e, rel=1e-9)
    # and it is not the mean of per-batch CKA values here
    per_batch = np.mean([a / np.sqrt(b * c) for a, b, c in terms])
    assert abs(per_batch - expect) > 1e-3


def test_explicit_sigma_fixed_across_batches():
    batches = make_batches(k=3, n=16)
    metric = CKAMetric(kernel="rbf", sigma=(4.0, 2.0))
    terms = []
    for x, y in batches:
        metric.update(torch.tensor(x), torch.tensor(y))
        k, l = ref_gram(x, "rbf", 4.0), ref_gram(y, "rbf", 2.0)  # noqa: E741
        terms.append((ref_hsic(k, l, False), ref_hsic(k, k, False), ref_hsic(l, l, False)))
    hxy, hxx, hyy = np.mean(np.array(terms), axis=0)
    assert metric.compute().item() == pytest.approx(hxy / np.sqrt(hxx * hyy), abs=1e-12)


def test_crafted_example_differs_from_mean_of_batch_cka():
    """Batch 1: identical structure at a large scale (CKA 1); batch 2: independent features
    at a small scale (CKA ~0.2). The ratio of means is dominated by batch 1."""
    g = torch.Generator().manual_seed(0)
    x1 = 10.0 * torch.randn(64, 8, generator=g)
    x2, y2 = 0.1 * torch.randn(64, 8, generator=g), 0.1 * torch.randn(64, 8, generator=g)
    metric = CKAMetric()
    metric.update(x1, x1)
    metric.update(x2, y2)
    mean_of_cka = (cka(x1, x1).item() + cka(x2, y2).item()) / 2
    assert mean_of_cka < 0.7
    assert metric.compute().item() > 0.99
    # a single batch equals cka()
    single = CKAMetric(debiased=True)
    single.update(x2, y2)
    assert single.compute().item() == pytest.approx(cka(x2.double(), y2.double(), debiased=True).item(), abs=1e-12)


def test_reset_and_no_grad():
    metric = CKAMetric()
    x = torch.randn(16, 4, requires_grad=True)
    y = torch.randn(16, 3)
    metric.update(x, y)
    metric.update(x, x[:, :3])
    assert metric.num_batches == 2
    assert not metric.compute().requires_grad
    metric.reset()
    assert metric.num_batches == 0
    with pytest.raises(BirdkitError, match=r"at least one update\(\)"):
        metric.compute()
    metric.update(x, y)
    assert metric.num_batches == 1
    assert metric.compute().item() == pytest.approx(cka(x.detach().double(), y.double()).item(), abs=1e-12)


def test_constant_batch_and_offset():
    metric = CKAMetric()
    metric.update(torch.ones(8, 3), torch.randn(8, 2))
    assert metric.compute().item() == 0.0
    # offset features: float32 input, float64 accumulation, matches the reference
    g = np.random.default_rng(1)
    x = g.standard_normal((64, 10))
    y = x[:, :4] + 0.3 * g.standard_normal((64, 4))
    xt, yt = torch.tensor(x + 1000.0, dtype=torch.float32), torch.tensor(y + 1000.0, dtype=torch.float32)
    metric = CKAMetric()
    metric.update(xt, yt)
    a, b, c = ref_terms(xt.double().numpy(), yt.double().numpy(), "linear", False)
    assert metric.compute().item() == pytest.approx(a / np.sqrt(b * c), abs=1e-10)


def test_errors_and_repr():
    with pytest.raises(UnknownNameError, match=r"Unknown kernel 'lin'"):
        CKAMetric(kernel="lin")
    metric = CKAMetric(debiased=True)
    with pytest.raises(ShapeError, match=r"debiased.*at least 4.*n=3"):
        metric.update(torch.randn(3, 2), torch.randn(3, 2))
    with pytest.raises(ShapeError, match=r"same examples.*n=5.*n=4"):
        metric.update(torch.randn(5, 2), torch.randn(4, 2))
    metric.update(torch.randn(5, 2), torch.randn(5, 3))
    with pytest.raises(ShapeError, match=r"feature dimensions changed.*\(2, 3\).*\(2, 4\)"):
        metric.update(torch.randn(5, 2), torch.randn(5, 4))
    assert metric.num_batches == 1
    assert repr(metric) == "CKAMetric(kernel='linear', debiased=True, num_batches=1)"
    assert birdkit.CKAMetric is CKAMetric


SHARED = [
    CKASettings(),
    CKASettings(debiased=True),
    CKASettings(kernel="rbf"),
    CKASettings(kernel="rbf", debiased=True, sigma_heuristic="median_all", sigma_scale=1.5),
    CKASettings(kernel="rbf", sigma=(4.0, 2.0)),
]


@pytest.mark.parametrize("settings", SHARED, ids=lambda s: s.describe())
@pytest.mark.parametrize("n", [8, 64])  # Gram form / feature form of the linear kernel
def test_one_settings_object_for_the_three_layers(settings, n):
    """One CKASettings gives the same CKA in the function, the loss and the metric."""
    g = torch.Generator().manual_seed(n)
    x = torch.randn(n, 12, generator=g, dtype=torch.float64)
    y = torch.tanh(x[:, :5]) + 0.5 * torch.randn(n, 5, generator=g, dtype=torch.float64)
    value = cka(x, y, settings=settings)
    assert torch.equal(CKALoss(settings)(x, y), 1.0 - value)
    metric = CKAMetric(settings)
    metric.update(x, y)
    assert metric.settings is settings
    assert metric.compute().item() == pytest.approx(value.item(), abs=1e-12)
    for m, t in zip(metric.hsic_means(), hsic_terms(x, y, settings=settings, dtype=torch.float64), strict=True):
        assert torch.equal(m, t)
    # the same metric built from keywords is bit-identical
    fields = {f: getattr(settings, f) for f in ("kernel", "debiased", "sigma", "sigma_heuristic", "sigma_scale")}
    by_keywords = CKAMetric(**fields)
    by_keywords.update(x, y)
    assert torch.equal(by_keywords.compute(), metric.compute())


def test_shared_settings_eps_defaults_per_layer():
    """eps=None is 1e-12 on cka's rescaled terms but 0 on the metric's absolute terms, so a
    settings object shared with the loss does not zero small-scale features in the metric."""
    g = torch.Generator().manual_seed(0)
    x = 1e-4 * torch.randn(32, 10, generator=g, dtype=torch.float64)
    y = x[:, :4] + 1e-5 * torch.randn(32, 4, generator=g, dtype=torch.float64)
    shared = CKASettings()
    metric = CKAMetric(shared)
    metric.update(x, y)
    expect = cka(x, y, settings=shared).item()
    assert expect > 0.5
    assert metric.compute().item() == pytest.approx(expect, abs=1e-12)
    absolute = CKAMetric(shared.replace(eps=1e-12))  # 1e-12 absolute: these terms are far below it
    absolute.update(x, y)
    assert absolute.compute().item() == 0.0


def test_settings_errors_and_repr():
    with pytest.raises(ConfigError, match=r"not both"):
        CKAMetric(CKASettings(), kernel="rbf")
    with pytest.raises(ConfigError, match=r"settings: expected a CKASettings, got str 'linear'"):
        CKAMetric("linear")  # type: ignore[arg-type]
    with pytest.raises(UnknownNameError, match=r"Unknown sigma heuristic 'median'.*Did you mean"):
        CKAMetric(kernel="rbf", sigma_heuristic="median")
    with pytest.raises(ConfigError, match=r"CKASettings\.eps: expected a finite number in \[0, inf\)"):
        CKAMetric(eps=-1.0)
    assert repr(CKAMetric(CKASettings(kernel="rbf", sigma=2.0))) == (
        "CKAMetric(kernel='rbf', debiased=False, sigma=2.0, num_batches=0)"
    )
