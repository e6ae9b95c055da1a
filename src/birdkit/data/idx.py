"""Reader and writer of the IDX format of MNIST and Fashion-MNIST.

An IDX file is a 4-byte magic number ``00 00 TT DD`` (``TT`` the element type, ``DD`` the
number of dimensions), ``DD`` big-endian uint32 sizes, then the elements in C order,
big-endian. Files may be gzipped; the reader recognises gzip by its magic bytes
(``1f 8b``), whatever the file name says.
"""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np

from birdkit.errors import DataFormatError

__all__ = ["IDX_DTYPES", "read_idx", "write_idx"]

#: IDX element type code -> numpy dtype (big-endian as stored).
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {np.dtype(d).newbyteorder("=") if d.itemsize > 1 else d: c for c, d in IDX_DTYPES.items()}


def _read_bytes(path: str | os.PathLike[str]) -> bytes:
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise DataFormatError(f"{path}: broken gzip stream ({e})") from None
    return raw


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (raw or gzipped) into a native-endian numpy array.

    Args:
        path: the file.

    Returns:
        An array with the file's shape and element type (uint8 for images and labels).

    Raises:
        DataFormatError: not an IDX file, unknown type code, or a size that does not match
            the header (truncated or trailing data).
    """
    raw = _read_bytes(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataFormatError(f"{path}: not an IDX file (magic {raw[:4].hex() or 'empty'})")
    code, ndim = raw[2], raw[3]
    if code not in IDX_DTYPES:
        raise DataFormatError(f"{path}: unknown IDX element type 0x{code:02x}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataFormatError(f"{path}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = IDX_DTYPES[code]
    count = int(np.prod(shape, dtype=np.int64)) if ndim else 1
    if len(raw) - header != count * dtype.itemsize:
        raise DataFormatError(f"{path}: header says shape {shape} ({count * dtype.itemsize} bytes of data), "
                              f"file has {len(raw) - header} bytes after the header")
    arr = np.frombuffer(raw, dtype=dtype, count=count, offset=header).reshape(shape)
    return arr.astype(dtype.newbyteorder("="), copy=True)


def write_idx(path: str | os.PathLike[str], array: np.ndarray, *, compress: bool | None = None) -> Path:
    """Write an array as an IDX file.

    Args:
        path: destination.
        array: uint8, int8, int16, int32, float32 or float64 array (any rank up to 255).
        compress: gzip the file; default: when ``path`` ends with ``.gz``.

    Returns:
        The path written.

    Raises:
        DataFormatError: unsupported element type.
    """
    path = Path(path)
    a = np.asarray(array)
    native = a.dtype.newbyteorder("=") if a.dtype.itemsize > 1 else a.dtype
    if native not in _CODES:
        raise DataFormatError(f"IDX cannot store {a.dtype}; use one of uint8, int8, int16, int32, float32, float64")
    code = _CODES[native]
    data = (struct.pack(">BBBB", 0, 0, code, a.ndim) + struct.pack(f">{a.ndim}I", *a.shape)
            + np.ascontiguousarray(a, dtype=IDX_DTYPES[code]).tobytes())
    if compress is None:
        compress = path.name.endswith(".gz")
    if compress:
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)
    return path
