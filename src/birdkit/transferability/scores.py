r"""Transferability scores from the literature, as baselines beside BIRD's teacher properties.

Each predicts how well a pretrained (source) model *fine-tunes* to a target task from one pass
over the target data, without training; the study asks whether any of them predicts *behavior*
transfer (docs/study.md). Pure functions on arrays (NumPy / SciPy), each checked in the tests
against a brute-force or independent computation.

* **LEEP** (Nguyen et al. 2020, "LEEP: A New Measure to Evaluate Transferability of Learned
  Representations"): with the source model's softmax ``theta(x)`` over source labels ``z`` and the
  target labels ``y``, the empirical joint ``P(y, z) = 1/n sum_i theta(x_i)_z 1[y_i = y]`` and
  conditional ``P(y | z) = P(y, z) / P(z)``,
  ``LEEP = 1/n sum_i log sum_z P(y_i | z) theta(x_i)_z``.
* **NCE** (Tran et al. 2019, "Transferability and Hardness of Supervised Classification
  Tasks"): with hard source labels ``z_i = argmax theta(x_i)``,
  ``NCE = -H(Y | Z) = sum_{y, z} P(y, z) log P(y | z)`` from the empirical counts.
* **H-score** (Bao et al. 2019, "An Information-Theoretic Approach to Transferability in Task
  Transfer Learning"): for features ``f`` (centred), ``H = tr(cov(f)^+ cov(E[f | y]))``, the
  pseudo-inverse where ``cov(f)`` is singular.
* **LogME** (You et al. 2021, "LogME: Practical Assessment of Pre-trained Models for Transfer
  Learning"): per target class ``k``, a Bayesian linear regression ``y_k = F w + e`` with
  ``w ~ N(0, alpha^-1 I)``, ``e ~ N(0, beta^-1 I)``; the log evidence
  ``log p(y_k | F, alpha, beta)`` is maximised over ``alpha, beta`` by the paper's fixed-point
  iteration (on the SVD of ``F``), divided by ``n`` and averaged over classes.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["h_score", "leep", "log_evidence", "logme", "nce"]


def _labels(y: ArrayLike, n: int) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != n:
        raise ValueError(f"expected {n} integer labels, got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer) or (y < 0).any():
        raise ValueError("labels must be non-negative integers")
    return y.astype(np.int64)


def leep(probs: ArrayLike, y: ArrayLike) -> float:
    """LEEP of source probabilities ``probs`` (n, |Z|; rows sum to 1) for target labels ``y``."""
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2:
        raise ValueError(f"probs must be (n, source classes), got shape {p.shape}")
    y = _labels(y, len(p))
    ny = int(y.max()) + 1
    joint = np.zeros((ny, p.shape[1]))
    np.add.at(joint, y, p)
    joint /= len(p)
    cond = joint / np.maximum(joint.sum(0, keepdims=True), 1e-300)  # P(y | z)
    eep = (p * cond[y]).sum(1)
    return float(np.mean(np.log(np.maximum(eep, 1e-300))))


def nce(source_labels: ArrayLike, y: ArrayLike) -> float:
    """NCE of hard source labels (n,) for target labels ``y`` (n,): ``-H(Y | Z)``."""
    z = np.asarray(source_labels)
    y = _labels(y, len(z))
    z = _labels(z, len(z))
    joint = np.zeros((int(y.max()) + 1, int(z.max()) + 1))
    np.add.at(joint, (y, z), 1.0)
    joint /= len(y)
    pz = joint.sum(0, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(joint > 0, joint * np.log(joint / pz), 0.0)
    return float(terms.sum())


def h_score(features: ArrayLike, y: ArrayLike) -> float:
    """H-score of features (n, d) for labels ``y``: ``tr(cov(f)^+ cov(E[f | y]))``."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2:
        raise ValueError(f"features must be (n, d), got shape {f.shape}")
    y = _labels(y, len(f))
    f = f - f.mean(0)
    cov = f.T @ f / len(f)
    means = np.zeros_like(f)
    for c in np.unique(y):
        means[y == c] = f[y == c].mean(0)
    cov_g = means.T @ means / len(f)
    return float(np.trace(np.linalg.pinv(cov, rcond=1e-10, hermitian=True) @ cov_g))


def log_evidence(f: np.ndarray, t: np.ndarray, alpha: float, beta: float) -> float:
    """``log p(t | F, alpha, beta)`` of the Bayesian linear regression (the closed form of
    Bishop 2006, eq. 3.86), for checking :func:`logme`'s optimiser."""
    n, d = f.shape
    a = alpha * np.eye(d) + beta * f.T @ f
    m = beta * np.linalg.solve(a, f.T @ t)
    e = beta / 2 * np.sum((t - f @ m) ** 2) + alpha / 2 * m @ m
    _, logdet = np.linalg.slogdet(a)
    return float(d / 2 * math.log(alpha) + n / 2 * math.log(beta) - e - logdet / 2 - n / 2 * math.log(2 * math.pi))


def logme(features: ArrayLike, y: ArrayLike, *, max_iter: int = 100, tol: float = 1e-5) -> float:
    """LogME of features (n, d) for labels ``y``: the maximised log evidence per sample, averaged
    over the one-hot target columns (You et al. 2021, Algorithm 1)."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2:
        raise ValueError(f"features must be (n, d), got shape {f.shape}")
    y = _labels(y, len(f))
    n, d = f.shape
    u, s, _ = np.linalg.svd(f, full_matrices=False)
    sigma = s ** 2  # eigenvalues of F^T F (at most min(n, d) non-zero)
    out = []
    for c in range(int(y.max()) + 1):
        t = (y == c).astype(np.float64)
        proj = u.T @ t  # t in the basis of F's left singular vectors
        rest = max(float(t @ t - proj @ proj), 0.0)  # |t|^2 outside F's column space
        alpha, beta = 1.0, 1.0
        for _ in range(max_iter):
            gamma = float(np.sum(beta * sigma / (alpha + beta * sigma)))
            m2 = float(np.sum((beta * s * proj / (alpha + beta * sigma)) ** 2))
            res2 = float(np.sum((proj * alpha / (alpha + beta * sigma)) ** 2)) + rest
            new_alpha = gamma / max(m2, 1e-300)
            new_beta = (n - gamma) / max(res2, 1e-300)
            done = abs(new_alpha - alpha) / alpha < tol and abs(new_beta - beta) / beta < tol
            alpha, beta = new_alpha, new_beta
            if done:
                break
        m2 = float(np.sum((beta * s * proj / (alpha + beta * sigma)) ** 2))
        res2 = float(np.sum((proj * alpha / (alpha + beta * sigma)) ** 2)) + rest
        logdet = float(np.sum(np.log(alpha + beta * sigma))) + (d - len(sigma)) * math.log(alpha)
        ev = (d / 2 * math.log(alpha) + n / 2 * math.log(beta) - beta / 2 * res2 - alpha / 2 * m2 - logdet / 2
              - n / 2 * math.log(2 * math.pi))
        out.append(ev / n)
    return float(np.mean(out))
