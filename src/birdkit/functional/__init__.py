"""Pure, differentiable functions of representations (no state, no modules).

* :mod:`birdkit.functional.cka`: centered kernel alignment (CKA) and HSIC, linear and RBF
  kernels, biased and debiased (Kornblith et al. 2019; Song et al. 2012; Nguyen, Raghu &
  Kornblith 2021), with :class:`~birdkit.functional.cka.CKASettings`, the options shared
  by the functions, the loss and the metric (docs/cka.md).

The package re-exports the module's public names, so ``birdkit.functional.cka`` as an
attribute is the function; ``importlib.import_module("birdkit.functional.cka")`` is the module.
"""

from __future__ import annotations

from birdkit.functional import cka as _cka_module
from birdkit.functional.cka import *  # noqa: F403  (the names listed in the module's __all__)

__all__ = list(_cka_module.__all__)
