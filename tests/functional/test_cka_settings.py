"""Tests of CKASettings: validation in one place (messages name the option and the range,
unknown names list close matches), and that the settings object and the keyword options give
the same values in cka, hsic and hsic_terms."""

from __future__ import annotations

import dataclasses
import importlib

import pytest
import torch

import birdkit.functional
from birdkit.errors import BirdkitError, ConfigError, ShapeError, UnknownNameError
from birdkit.functional.cka import (
    DEFAULT_EPS,
    CKASettings,
    center_features,
    cka,
    gram_linear,
    gram_rbf,
    hsic,
    hsic_terms,
    median_sigma,
)

F = importlib.import_module("birdkit.functional.cka")

OPTIONS = [
    {},
    {"debiased": True},
    {"kernel": "rbf"},
    {"kernel": "rbf", "debiased": True, "sigma_heuristic": "median_all", "sigma_scale": 2.0},
    {"kernel": "rbf", "sigma": (3.0, None), "debiased": True},
    {"kernel": "rbf", "sigma": torch.tensor(2.5)},
    {"kernel": "linear", "eps": 1e-3},
]


def pair(n=32, p1=10, p2=6, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, p1, generator=g, dtype=dtype)
    return x, x[:, :p2] + 0.5 * torch.randn(n, p2, generator=g, dtype=dtype)


# ----------------------------------------------------------------------------------------
# construction and validation
# ----------------------------------------------------------------------------------------
def test_defaults_frozen_hashable_and_exported():
    s = CKASettings()
    assert (s.kernel, s.debiased, s.sigma, s.sigma_heuristic, s.sigma_scale, s.eps) == (
        "linear", False, None, "median_nonzero", 1.0, None,
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.kernel = "rbf"  # type: ignore[misc]
    assert s == CKASettings() and hash(s) == hash(CKASettings())
    assert len({s, CKASettings(), CKASettings(debiased=True)}) == 2
    assert birdkit.functional.CKASettings is CKASettings
    assert birdkit.functional.hsic_terms is hsic_terms
    assert sorted(birdkit.functional.__all__) == sorted(F.__all__)
    assert all(getattr(birdkit.functional, name) is getattr(F, name) for name in F.__all__)


def test_list_sigma_becomes_tuple_and_replace_validates():
    s = CKASettings(kernel="rbf", sigma=[2.0, None])
    assert s.sigma == (2.0, None)
    hash(s)
    t = s.replace(debiased=True)
    assert t.debiased and t.sigma == (2.0, None) and not s.debiased
    with pytest.raises(ConfigError, match=r"sigma_scale"):
        s.replace(sigma_scale=-1.0)
    with pytest.raises(UnknownNameError, match=r"Unknown CKA option 'kernal'.*Did you mean: 'kernel'"):
        s.replace(kernal="rbf")


def test_unknown_names_list_close_matches():
    with pytest.raises(UnknownNameError, match=r"Unknown kernel 'rbff'.*Did you mean: 'rbf'.*Known: linear, rbf"):
        CKASettings(kernel="rbff")
    with pytest.raises(UnknownNameError, match=r"Unknown sigma heuristic 'median'.*Did you mean: 'median_all'"):
        CKASettings(sigma_heuristic="median")
    with pytest.raises(UnknownNameError, match=r"Unknown CKA option 'debias'.*Did you mean: 'debiased'"):
        CKASettings.resolve(debias=True)
    # an unknown option is an error in every layer, and still a KeyError
    with pytest.raises(KeyError):
        cka(*pair(), kernal="rbf")


@pytest.mark.parametrize(
    ("options", "pattern"),
    [
        ({"kernel": None}, r"CKASettings\.kernel: expected one of 'linear', 'rbf', got None"),
        ({"debiased": 1}, r"CKASettings\.debiased: expected True or False, got 1"),
        ({"debiased": "yes"}, r"CKASettings\.debiased: expected True or False"),
        ({"sigma_scale": 0.0}, r"CKASettings\.sigma_scale: expected a positive finite number, in \(0, inf\), got 0\.0"),
        ({"sigma_scale": float("inf")}, r"CKASettings\.sigma_scale: .*\(0, inf\)"),
        ({"sigma_scale": "2"}, r"CKASettings\.sigma_scale: .*got '2'"),
        ({"eps": -1e-3}, r"CKASettings\.eps: expected a finite number in \[0, inf\) or None"),
        ({"eps": float("nan")}, r"CKASettings\.eps: "),
        ({"sigma": 0.0}, r"sigma must be a positive number in \(0, inf\).*got 0\.0"),
        ({"sigma": -2}, r"sigma must be a positive number"),
        ({"sigma": float("nan")}, r"sigma must be a positive number"),
        ({"sigma": True}, r"sigma must be a positive number"),
        ({"sigma": (1.0, 2.0, 3.0)}, r"CKASettings\.sigma: expected a number or a pair \(sigma_x, sigma_y\)"),
        ({"sigma": (1.0, -1.0)}, r"sigma must be a positive number.*got -1\.0"),
        ({"sigma": torch.ones(2)}, r"sigma must be a single number, got a tensor of shape \(2,\)"),
    ],
)
def test_bad_values_name_the_option_and_range(options, pattern):
    with pytest.raises(ConfigError, match=pattern):
        CKASettings(**options)
    # ConfigError is a BirdkitError and a ValueError
    with pytest.raises(BirdkitError):
        cka(*pair(), **options)
    with pytest.raises(ValueError):
        CKASettings(**options)


def test_valid_edge_values():
    CKASettings(eps=0.0)
    CKASettings(eps=0)
    CKASettings(kernel="rbf", sigma=(None, None))
    CKASettings(kernel="rbf", sigma=torch.tensor([0.5]))
    CKASettings(sigma_scale=3)


def test_resolve():
    s = CKASettings(kernel="rbf")
    assert CKASettings.resolve(s) is s
    assert CKASettings.resolve(None, kernel="rbf") == s
    assert CKASettings.resolve() == CKASettings()
    with pytest.raises(ConfigError, match=r"either settings= or CKA options.*not both.*debiased="):
        CKASettings.resolve(s, debiased=True)
    with pytest.raises(ConfigError, match=r"settings: expected a CKASettings, got str 'rbf'"):
        CKASettings.resolve("rbf")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"not both"):
        cka(*pair(), settings=s, kernel="rbf")


def test_eps_or_and_describe():
    assert CKASettings().eps_or(DEFAULT_EPS) == 1e-12
    assert CKASettings().eps_or(0.0) == 0.0
    assert CKASettings(eps=1e-3).eps_or(0.0) == 1e-3
    assert CKASettings().describe() == "kernel='linear', debiased=False"
    assert CKASettings(kernel="rbf").describe() == (
        "kernel='rbf', debiased=False, sigma_heuristic='median_nonzero', sigma_scale=1.0"
    )
    assert CKASettings(kernel="rbf", sigma=(1.0, 2.0)).describe() == "kernel='rbf', debiased=False, sigma=(1.0, 2.0)"


def test_median_sigma_checks_its_own_options():
    x = torch.randn(8, 3)
    with pytest.raises(UnknownNameError, match=r"Unknown sigma heuristic 'mean'"):
        median_sigma(x, heuristic="mean")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"median_sigma: scale: expected a positive finite number, in \(0, inf\)"):
        median_sigma(x, scale=0.0)
    with pytest.raises(ConfigError, match=r"sigma must be a positive number"):
        gram_rbf(x, -1.0)


# ----------------------------------------------------------------------------------------
# settings= and keyword options give identical values
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("options", OPTIONS)
@pytest.mark.parametrize(("n", "p1", "p2"), [(32, 10, 6), (16, 64, 32)])  # feature / Gram form
def test_settings_equal_keywords_in_cka_and_hsic_terms(options, n, p1, p2):
    x, y = pair(n, p1, p2)
    s = CKASettings(**options)
    xa, ya = x.clone().requires_grad_(), y.clone().requires_grad_()
    xb, yb = x.clone().requires_grad_(), y.clone().requires_grad_()
    a = cka(xa, ya, **options)
    b = cka(xb, yb, settings=s)
    a.backward()
    b.backward()
    assert torch.equal(a, b) and torch.equal(xa.grad, xb.grad) and torch.equal(ya.grad, yb.grad)
    for ta, tb in zip(hsic_terms(x, y, **options), hsic_terms(x, y, settings=s), strict=True):
        assert torch.equal(ta, tb)


def test_hsic_with_settings():
    x, y = pair(12, 5, 4)
    k, l = gram_linear(center_features(x)), gram_linear(center_features(y))  # noqa: E741
    for deb in (False, True):
        assert torch.equal(hsic(k, l, debiased=deb), hsic(k, l, settings=CKASettings(debiased=deb)))
    assert torch.equal(hsic(k, l), hsic(k, l, debiased=False))
    with pytest.raises(ConfigError, match=r"not both"):
        hsic(k, l, debiased=True, settings=CKASettings())
    with pytest.raises(ShapeError, match=r"at least 4"):
        hsic(torch.eye(3), torch.eye(3), settings=CKASettings(debiased=True))


@pytest.mark.parametrize("debiased", [False, True])
def test_hsic_terms_match_hsic_of_centred_grams(debiased):
    """hsic_terms are the HSIC estimates of the (unrescaled) centred features' Gram matrices."""
    x, y = pair(20, 7, 5, dtype=torch.float64)
    xc, yc = center_features(x), center_features(y)
    xy, xx, yy = hsic_terms(x, y, debiased=debiased)
    k, l = gram_linear(xc), gram_linear(yc)  # noqa: E741
    assert xy.item() == pytest.approx(hsic(k, l, debiased=debiased).item(), rel=1e-12)
    assert xx.item() == pytest.approx(hsic(k, k, debiased=debiased).item(), rel=1e-12)
    assert yy.item() == pytest.approx(hsic(l, l, debiased=debiased).item(), rel=1e-12)
    s = CKASettings(kernel="rbf", sigma=(2.0, 1.5), debiased=debiased)
    xy, _, _ = hsic_terms(x, y, settings=s)
    assert xy.item() == pytest.approx(hsic(gram_rbf(xc, 2.0), gram_rbf(yc, 1.5), debiased=debiased).item(), rel=1e-12)


def test_hsic_terms_dtype():
    x, y = pair(10, 4, 3)
    assert all(t.dtype == torch.float32 for t in hsic_terms(x, y))
    assert all(t.dtype == torch.float64 for t in hsic_terms(x, y, dtype=torch.float64))
    with pytest.raises(ConfigError, match=r"dtype: expected a floating torch.dtype"):
        hsic_terms(x, y, dtype=torch.int64)
