"""Make ``imagecorruptions`` 1.1.2 (the reference ImageNet-C code, test-only) run on today's stack.

It does not run as released:

* it imports ``pkg_resources`` (removed from setuptools >= 81) for ``resource_filename``;
* ``fog`` uses ``np.float_`` (removed in NumPy 2);
* ``gaussian_blur`` and ``glass_blur`` pass ``multichannel=True`` to ``skimage.filters.gaussian``
  (removed in scikit-image 0.19+; now ``channel_axis=-1``);
* its ``corrupt()`` refuses images under 32x32 (we call the per-corruption functions directly
  for smaller images);
* ``impulse_noise`` draws from scikit-image's own unseeded generator, so ``np.random.seed`` does
  not make it repeatable (we seed it from NumPy's global state).

All patches are scoped: the fake ``pkg_resources`` lives in ``sys.modules`` only while the
package is imported; ``np.float_`` and the ``gaussian`` and ``random_noise`` wrappers exist only
inside :func:`patched`. Nothing of the installed packages is modified on disk.

Usage::

    with patched() as ic:          # ic = the imagecorruptions package
        y = reference(x_uint8_hwc, "fog", 3)
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import sys
import types
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np

_MODULE: types.ModuleType | None = None


def available() -> bool:
    """Whether the ``imagecorruptions`` package is installed."""
    return importlib.util.find_spec("imagecorruptions") is not None


def _fake_pkg_resources() -> types.ModuleType:
    mod = types.ModuleType("pkg_resources")

    def resource_filename(package: str, resource: str) -> str:
        # pkg_resources resolves a module name to the folder holding that module.
        base = Path(sys.modules[package].__file__).parent
        return str((base / resource).resolve())

    mod.resource_filename = resource_filename  # type: ignore[attr-defined]
    return mod


def _import() -> types.ModuleType:
    global _MODULE
    if _MODULE is not None:
        return _MODULE
    had = "pkg_resources" in sys.modules
    saved = sys.modules.get("pkg_resources")
    sys.modules["pkg_resources"] = _fake_pkg_resources()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # scipy.ndimage.interpolation
            _MODULE = importlib.import_module("imagecorruptions")
    finally:
        if had:
            sys.modules["pkg_resources"] = saved  # type: ignore[assignment]
        else:
            sys.modules.pop("pkg_resources", None)
    return _MODULE


def _gaussian_compat(gaussian):
    def wrapper(image, sigma=1, *args, multichannel=None, **kwargs):
        if multichannel is not None:
            kwargs.setdefault("channel_axis", -1 if multichannel else None)
        return gaussian(image, sigma, *args, **kwargs)

    return wrapper


def _seeded_random_noise(random_noise):
    # impulse_noise calls skimage's random_noise, which draws from its own unseeded Generator;
    # seed it from NumPy's legacy global state so np.random.seed() makes the reference repeatable.
    def wrapper(image, *args, rng=None, **kwargs):
        if rng is None:
            rng = int(np.random.randint(0, 2**31 - 1))
        return random_noise(image, *args, rng=rng, **kwargs)

    return wrapper


@contextlib.contextmanager
def patched() -> Iterator[types.ModuleType]:
    """The ``imagecorruptions`` package with the compatibility patches applied (restored on exit)."""
    ic = _import()
    impl = sys.modules["imagecorruptions.corruptions"]
    had_float = "float_" in np.__dict__
    original_gaussian = impl.gaussian
    if not had_float:
        np.float_ = np.float64  # type: ignore[attr-defined]
    impl.gaussian = _gaussian_compat(original_gaussian)
    original_noise = impl.sk.util.random_noise
    impl.sk.util.random_noise = _seeded_random_noise(original_noise)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield ic
    finally:
        impl.gaussian = original_gaussian
        impl.sk.util.random_noise = original_noise
        if not had_float:
            del np.float_


def reference(image: np.ndarray, name: str, severity: int) -> np.ndarray:
    """One image through imagecorruptions, as users call it (call inside :func:`patched`).

    ``image``: uint8 ``(H, W, 3)`` or ``(H, W)``. Images of at least 32x32 go through the
    package's ``corrupt()`` (its checks and uint8 conversion); smaller ones call the corruption
    function directly on a PIL image (``corrupt()`` refuses them), then ``np.uint8`` as
    ``corrupt()`` does. Returns uint8 of the input's shape, except that ``corrupt()`` turns a
    grayscale ``(H, W)`` input into ``(H, W, 3)``.
    """
    from PIL import Image

    ic = _import()
    if min(image.shape[:2]) >= 32:
        return ic.corrupt(image, severity=severity, corruption_name=name)
    return np.uint8(ic.corruption_dict[name](Image.fromarray(image), severity))


def reference_float(image: np.ndarray, name: str, severity: int) -> np.ndarray:
    """One uint8 image through the corruption function itself, before ``corrupt()``'s ``np.uint8``
    truncation: float64 in [0, 255] (call inside :func:`patched`). NaN where the reference
    produced NaN (``np.uint8`` would have turned it into 0)."""
    from PIL import Image

    ic = _import()
    return np.asarray(ic.corruption_dict[name](Image.fromarray(image), severity), dtype=np.float64)
