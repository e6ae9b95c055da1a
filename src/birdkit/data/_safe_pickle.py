"""A restricted unpickler for the CIFAR python batch files.

The CIFAR-10/100 "python version" batches are Python pickles. Unpickling runs whatever
callables the file names, so ``pickle.load`` on a file someone handed you can run arbitrary
code (``os.system`` and friends). The batches only hold dicts, lists, strings, ints, bytes
and numpy arrays; of these, only numpy arrays need a *global* (a callable looked up by
``find_class``): ``numpy.core.multiarray._reconstruct`` builds the empty array,
``numpy.ndarray`` is its class and ``numpy.dtype`` its element type; ``ndarray.__setstate__``
then fills in the raw bytes. :class:`RestrictedUnpickler` allows exactly these three
globals (under both module spellings: ``numpy.core`` in files written by numpy 1,
``numpy._core`` by numpy 2) and refuses every other one with :class:`UnsafePickleError`,
before anything is called.

Consequences: files written by Python 3 with pickle protocol 2 (which encodes ``bytes`` via
``_codecs.encode``) or protocol 5 (arrays via ``numpy._core.numeric._frombuffer``) are
refused too; the official files (Python 2, protocol 2) and files written with protocols 3-4
load. Persistent ids are refused by ``pickle.Unpickler`` itself.
"""

from __future__ import annotations

import io
import os
import pickle
from typing import Any

import numpy as np

from birdkit.errors import BirdkitError, DataFormatError

__all__ = [
    "ALLOWED_GLOBALS", "RestrictedUnpickler", "UnsafePickleError", "safe_load", "safe_loads",
]

try:  # numpy >= 2 moved it; pickled arrays name either place
    from numpy._core.multiarray import _reconstruct as _np_reconstruct
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.multiarray import _reconstruct as _np_reconstruct


class UnsafePickleError(BirdkitError, pickle.UnpicklingError):
    """A pickle asked for a global outside the allow-list (it could run code); nothing was run."""


def _reconstruct() -> Any:
    return _np_reconstruct


#: The only globals a CIFAR batch may reference: ``(module, name)`` pairs.
ALLOWED_GLOBALS: frozenset[tuple[str, str]] = frozenset({
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
})


class RestrictedUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` whose ``find_class`` allows only :data:`ALLOWED_GLOBALS`.

    Args:
        file: binary file object.
        name: file name shown in errors.
    """

    def __init__(self, file: io.BufferedIOBase | Any, name: str = "<pickle>"):
        # latin1: the official batches were written by Python 2; their byte strings become
        # str, which numpy's ndarray.__setstate__ accepts (it encodes them back with latin1).
        super().__init__(file, encoding="latin1")
        self.name = name

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in ALLOWED_GLOBALS:
            raise UnsafePickleError(
                f"{self.name}: refusing to unpickle the global {module}.{name}. CIFAR batch files only "
                "contain dicts, lists, strings and numpy arrays, so birdkit allows only "
                "numpy's _reconstruct, ndarray and dtype; any other global could run code. "
                "This file is not a genuine CIFAR batch (or was written with pickle protocol 2 or 5 "
                "under Python 3: re-save it with protocol 4)."
            )
        if name == "_reconstruct":
            return _reconstruct()
        return np.ndarray if name == "ndarray" else np.dtype


def safe_load(path: str | os.PathLike[str]) -> Any:
    """Unpickle a file with :class:`RestrictedUnpickler`.

    Raises:
        UnsafePickleError: the file references a global outside the allow-list.
        DataFormatError: the file is not a readable pickle.
    """
    with open(path, "rb") as f:
        try:
            return RestrictedUnpickler(f, name=str(path)).load()
        except UnsafePickleError:
            raise
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
                KeyError, UnicodeDecodeError) as e:
            raise DataFormatError(f"{path}: not a readable CIFAR pickle ({type(e).__name__}: {e})") from None


def safe_loads(data: bytes, name: str = "<bytes>") -> Any:
    """:func:`safe_load` for bytes in memory."""
    return RestrictedUnpickler(io.BytesIO(data), name=name).load()
