"""Pure, differentiable functions of representations (no state, no modules).

* :mod:`birdkit.functional.cka`: centered kernel alignment (CKA) and HSIC, linear and RBF
  kernels, biased and debiased (Kornblith et al. 2019; Song et al. 2012; Nguyen, Raghu &
  Kornblith 2021).
"""

from __future__ import annotations

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

__all__ = [
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
