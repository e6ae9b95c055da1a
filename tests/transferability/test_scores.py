"""Transferability baselines against brute-force loops and independent closed forms."""

import math

import numpy as np
import pytest
from scipy import optimize, stats

from birdkit.transferability import h_score, leep, log_evidence, logme, nce


def _data(n=120, d=6, z=4, k=3, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    f = rng.normal(size=(n, d)) + np.eye(k, d)[y] * 1.5
    logits = rng.normal(size=(n, z)) + np.eye(k, z)[y]
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return f, p, y


def test_leep_equals_a_brute_force_loop():
    _, p, y = _data()
    n, nz = p.shape
    joint = {(a, b): sum(p[i, b] for i in range(n) if y[i] == a) / n for a in range(3) for b in range(nz)}
    pz = {b: sum(joint[(a, b)] for a in range(3)) for b in range(nz)}
    ref = np.mean([math.log(sum(joint[(y[i], b)] / pz[b] * p[i, b] for b in range(nz))) for i in range(n)])
    assert leep(p, y) == pytest.approx(ref, rel=1e-12)
    # a source that already predicts the target perfectly scores log 1 = 0, the maximum
    assert leep(np.eye(3)[y], y) == pytest.approx(0.0, abs=1e-12)


def test_nce_is_minus_the_conditional_entropy():
    _, p, y = _data()
    z = p.argmax(1)
    n = len(y)
    ref = 0.0
    for a in np.unique(y):
        for b in np.unique(z):
            pj = np.mean((y == a) & (z == b))
            if pj > 0:
                ref += pj * math.log(pj / np.mean(z == b))
    assert nce(z, y) == pytest.approx(ref, rel=1e-12)
    assert nce(y, y) == pytest.approx(0.0, abs=1e-12)  # labels determined by z: H(Y|Z) = 0
    assert n == 120


def test_h_score_equals_the_definition_and_is_invariant_to_linear_maps():
    f, _, y = _data()
    g = f - f.mean(0)
    cov = np.cov(g, rowvar=False, bias=True)
    cond = np.stack([g[y == y[i]].mean(0) for i in range(len(y))])
    ref = np.trace(np.linalg.pinv(cov) @ np.cov(cond, rowvar=False, bias=True))
    assert h_score(f, y) == pytest.approx(ref, rel=1e-9)
    a = np.random.default_rng(3).normal(size=(6, 6))
    assert h_score(f @ a, y) == pytest.approx(h_score(f, y), rel=1e-7)
    assert h_score(np.eye(3)[y], y) == pytest.approx(2.0, rel=1e-9)  # k - 1 when the features are the labels


def test_log_evidence_is_the_gaussian_marginal_likelihood():
    f, _, y = _data(n=40, d=5)
    t = (y == 1).astype(float)
    alpha, beta = 0.7, 2.3
    cov = np.eye(40) / beta + f @ f.T / alpha
    assert log_evidence(f, t, alpha, beta) == pytest.approx(
        stats.multivariate_normal(np.zeros(40), cov).logpdf(t), rel=1e-9)


@pytest.mark.parametrize("n, d", [(120, 6), (15, 30)])
def test_logme_reaches_the_maximum_a_generic_optimiser_finds(n, d):
    f, _, y = _data(n=n, d=d)
    best = []
    for c in range(3):
        t = (y == c).astype(float)
        res = optimize.minimize(lambda v, t=t: -log_evidence(f, t, math.exp(v[0]), math.exp(v[1])), x0=[0.0, 0.0],
                                method="Nelder-Mead", options={"xatol": 1e-8, "fatol": 1e-10, "maxiter": 4000})
        best.append(-res.fun / n)
    assert logme(f, y) == pytest.approx(np.mean(best), abs=1e-4)


def test_scores_rank_an_informative_source_above_noise():
    f, p, y = _data(n=300)
    rng = np.random.default_rng(9)
    noise_f, noise_p = rng.normal(size=f.shape), rng.dirichlet(np.ones(4), size=300)
    assert logme(f, y) > logme(noise_f, y) and h_score(f, y) > h_score(noise_f, y)
    assert leep(p, y) > leep(noise_p, y) and nce(p.argmax(1), y) > nce(noise_p.argmax(1), y)


def test_bad_labels_are_refused():
    f, p, _ = _data()
    with pytest.raises(ValueError, match="expected 120 integer labels"):
        leep(p, np.zeros(5, dtype=int))
    with pytest.raises(ValueError, match="non-negative integers"):
        h_score(f, np.full(120, -1))
