"""Tests of CKALoss: it is 1 - cka with the module's settings, trains, and fails early."""

from __future__ import annotations

import copy

import pytest
import torch

import birdkit
from birdkit.errors import ConfigError, ShapeError, UnknownNameError
from birdkit.functional.cka import CKASettings, cka
from birdkit.losses import CKALoss


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"debiased": True},
        {"kernel": "rbf"},
        {"kernel": "rbf", "sigma_heuristic": "median_all", "sigma_scale": 2.0},
        {"kernel": "rbf", "sigma": (3.0, 1.5), "debiased": True},
    ],
)
def test_equals_one_minus_cka(kwargs):
    x = torch.randn(32, 10)
    y = x[:, :6] + 0.5 * torch.randn(32, 6)
    loss = CKALoss(**kwargs)(x, y)
    assert loss.shape == ()
    assert loss.item() == pytest.approx(1.0 - cka(x, y, **kwargs).item(), abs=1e-7)


def test_zero_for_same_structure_and_gradient_flows():
    x = torch.randn(16, 8)
    q, _ = torch.linalg.qr(torch.randn(8, 8))
    assert CKALoss()(x, 2.0 * x @ q).item() == pytest.approx(0.0, abs=1e-6)
    y = torch.randn(16, 5, requires_grad=True)
    CKALoss()(x, y).backward()
    assert y.grad is not None and torch.isfinite(y.grad).all() and y.grad.abs().sum() > 0


def test_minimising_aligns_a_linear_student():
    """A few optimiser steps on the loss raise CKA (the BIRD structure term does its job)."""
    g = torch.Generator().manual_seed(0)
    inputs = torch.randn(64, 6, generator=g)
    teacher = torch.tanh(inputs @ torch.randn(6, 10, generator=g))
    student = torch.nn.Linear(6, 4)
    loss_fn = CKALoss()
    opt = torch.optim.SGD(student.parameters(), lr=0.5)
    start = loss_fn(teacher, student(inputs)).item()
    for _ in range(30):
        opt.zero_grad()
        loss = loss_fn(teacher, student(inputs))
        loss.backward()
        opt.step()
    assert loss.item() < start - 0.05


def test_constant_student_gives_loss_one_finite_grad():
    x = torch.randn(8, 4)
    y = torch.zeros(8, 3, requires_grad=True)
    loss = CKALoss()(x, y)
    loss.backward()
    assert loss.item() == 1.0
    assert torch.isfinite(y.grad).all()


def test_extra_repr_and_module():
    assert isinstance(CKALoss(), torch.nn.Module)
    assert list(CKALoss().parameters()) == []
    assert repr(CKALoss()) == "CKALoss(kernel='linear', debiased=False, eps=1e-12)"
    r = repr(CKALoss(kernel="rbf", debiased=True, sigma_heuristic="median_all"))
    assert "kernel='rbf'" in r and "debiased=True" in r and "median_all" in r
    assert "sigma=2.0" in repr(CKALoss(kernel="rbf", sigma=2.0))
    assert birdkit.CKALoss is CKALoss


def test_errors():
    with pytest.raises(UnknownNameError, match=r"Unknown kernel 'gauss'"):
        CKALoss(kernel="gauss")
    with pytest.raises(UnknownNameError, match=r"Unknown sigma heuristic 'mean'"):
        CKALoss(kernel="rbf", sigma_heuristic="mean")
    with pytest.raises(ShapeError, match=r"same examples.*n=4.*n=5"):
        CKALoss()(torch.randn(4, 2), torch.randn(5, 2))
    with pytest.raises(ShapeError, match=r"debiased.*at least 4.*n=3"):
        CKALoss(debiased=True)(torch.randn(3, 2), torch.randn(3, 2))


def test_backward_under_autocast_bf16():
    """Inside a bf16 autocast region (as in mixed-precision training) the loss is computed in
    float32 and the gradient reaches bf16 features."""
    lin = torch.nn.Linear(6, 5)
    inputs = torch.randn(32, 6)
    teacher = torch.randn(32, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        feats = lin(inputs)
        assert feats.dtype == torch.bfloat16
        loss = CKALoss()(teacher, feats)
    assert loss.dtype == torch.float32
    loss.backward()
    assert torch.isfinite(lin.weight.grad).all() and lin.weight.grad.abs().sum() > 0


def test_settings_object_same_as_keywords():
    kwargs = {"kernel": "rbf", "debiased": True, "sigma_heuristic": "median_all", "sigma_scale": 0.7}
    s = CKASettings(**kwargs)
    x = torch.randn(24, 9)
    y = x[:, :5] + 0.4 * torch.randn(24, 5)
    by_settings, by_keywords = CKALoss(s), CKALoss(**kwargs)
    assert by_settings.settings is s and by_keywords.settings == s
    assert torch.equal(by_settings(x, y), by_keywords(x, y))
    assert torch.equal(CKALoss(settings=s)(x, y), 1.0 - cka(x, y, settings=s))
    assert repr(by_settings) == repr(by_keywords)
    assert repr(CKALoss(CKASettings(eps=1e-6))) == "CKALoss(kernel='linear', debiased=False, eps=1e-06)"
    clone = copy.deepcopy(by_settings)
    assert clone.settings == s and torch.equal(clone(x, y), by_settings(x, y))


def test_settings_errors():
    with pytest.raises(ConfigError, match=r"not both"):
        CKALoss(CKASettings(), debiased=True)
    with pytest.raises(ConfigError, match=r"settings: expected a CKASettings, got str 'rbf'.*kernel='rbf'"):
        CKALoss("rbf")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"CKASettings\.sigma_scale: expected a positive finite number, in \(0, inf"):
        CKALoss(kernel="rbf", sigma_scale=-1.0)
    with pytest.raises(UnknownNameError, match=r"Unknown CKA option 'kernal'.*Did you mean: 'kernel'"):
        CKALoss(kernal="rbf")
