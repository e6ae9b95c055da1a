"""File helpers shared by the whole package: atomic writes, typed CSV, JSON, hashes, clocks.

Every file birdkit writes goes through :func:`atomic_path`: the data goes to a fresh
temporary name in the target's folder, is flushed and fsynced, and is then moved over the
target with ``os.replace`` (atomic on POSIX and Windows), so a crash or a Ctrl-C leaves the
previous version intact and never a half-written file. It is the only place in ``src/``
that replaces files.

CSV files are tidy tables: :func:`write_csv` takes a list of dicts (the columns are the union
of their keys, in first-seen order), :func:`read_csv` gives them back with numbers parsed
(integers stay ``int``, other numbers ``float``, the rest ``str``), so a table written and
read again compares equal.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import datetime as _dt
import hashlib
import io
import json
import os
import secrets
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import torch

from birdkit.errors import RunLockedError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None

__all__ = [
    "LOCK_FILE",
    "TEMP_PREFIX",
    "atomic_path",
    "directory_lock",
    "cache_dir",
    "json_diff",
    "jsonable",
    "parse_value",
    "read_csv",
    "read_json",
    "sha256_bytes",
    "sha256_file",
    "utc_now",
    "write_bytes",
    "write_csv",
    "write_json",
    "write_text",
]

#: environment variable naming birdkit's machine-wide cache (default ``~/.cache/birdkit``)
CACHE_ENV = "BIRDKIT_CACHE"

#: the lock file of a directory being written (see :func:`directory_lock`)
LOCK_FILE = ".lock"
_HELD: dict[str, int] = {}  # directories this process holds, with their nesting depth

#: temporary files are named ``.<target name>.<TEMP_PREFIX>...``; a killed writer's leftovers
#: can be found (and removed) by this pattern.
TEMP_PREFIX = "tmp-"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield an unused temporary path next to ``path`` for the caller to write; on success the
    file is fsynced and moved over ``path`` (and the folder fsynced); on failure it is deleted.

    The temporary file is not pre-created (``mkstemp`` would make it mode 0600 instead of
    following the umask)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(6)}"
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _fsync_dir(directory: Path) -> None:
    if sys.platform.startswith("win"):  # pragma: no cover - directories cannot be opened there
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some file systems refuse
        pass
    finally:
        os.close(fd)


def write_bytes(path: str | os.PathLike, data: bytes | memoryview) -> Path:
    """Write ``data`` to ``path`` atomically (in 16 MiB chunks, so large buffers are not copied)."""
    path = Path(path)
    view = memoryview(data)
    with atomic_path(path) as tmp, open(tmp, "xb") as f:
        for i in range(0, len(view), 1 << 24):
            f.write(view[i:i + (1 << 24)])
    return path


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj: Any, *, indent: int | None = 2, sort_keys: bool = False) -> Path:
    """Write ``obj`` as JSON atomically (NaN and infinities allowed, as Python's json writes them)."""
    return write_text(path, json.dumps(obj, indent=indent, sort_keys=sort_keys, allow_nan=True) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file (plain data: nothing is ever unpickled)."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_csv(path: str | os.PathLike, rows: Iterable[Mapping[str, Any]]) -> Path:
    """Write ``rows`` (dicts) as a CSV table atomically; columns are the union of the keys in
    first-seen order, missing cells are empty."""
    rows = list(rows)
    keys: dict[str, None] = {}
    for r in rows:
        keys.update(dict.fromkeys(r))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(keys))  # RFC 4180 line ends, as csv writes by default
    w.writeheader()
    w.writerows(rows)
    return write_text(path, buf.getvalue())


def parse_value(text: str) -> Any:
    """A CSV cell as ``int`` (digits only), ``float`` (any other number, ``nan``, ``inf``) or
    the text itself (empty cells and words stay strings)."""
    try:
        f = float(text)
    except (TypeError, ValueError):
        return text
    stripped = text.strip().lstrip("+-")
    return int(text) if stripped.isdigit() else f


def read_csv(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Read a CSV table written by :func:`write_csv` (or any CSV with a header row), numbers
    parsed by :func:`parse_value`."""
    with open(path, newline="", encoding="utf-8") as f:
        return [{k: parse_value(v) for k, v in row.items()} for row in csv.DictReader(f)]


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 22) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_bytes(data: bytes | memoryview) -> str:
    return hashlib.sha256(data).hexdigest()


def cache_dir(*parts: str) -> Path:
    """``$BIRDKIT_CACHE/<parts>`` (default ``~/.cache/birdkit/<parts>``): data birdkit derives
    once per machine and reuses (corrupted test sets); safe to delete at any time."""
    root = os.environ.get(CACHE_ENV) or os.path.join(os.path.expanduser("~"), ".cache", "birdkit")
    return Path(root).joinpath(*parts)


def utc_now() -> str:
    """The current time, UTC, ISO 8601 to the second."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def jsonable(obj: Any, where: str = "value", *, strict: bool = True) -> Any:
    """Plain JSON data for metadata: pydantic models and dataclasses as dicts, paths as strings,
    tensors and NumPy values as numbers or lists, tuples and sets as lists, dtypes and devices as
    strings.

    Anything else raises ``TypeError`` naming ``where`` (``strict``), or becomes its ``repr``."""
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if hasattr(obj, "model_dump"):  # pydantic
        return jsonable(obj.model_dump(mode="json"), where, strict=strict)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return jsonable(dataclasses.asdict(obj), where, strict=strict)
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, torch.Tensor):
        return obj.item() if obj.numel() == 1 else obj.tolist()
    if hasattr(obj, "tolist") and hasattr(obj, "dtype"):  # NumPy arrays and scalars
        return obj.tolist()
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v, f"{where}.{k}", strict=strict) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [jsonable(v, f"{where}[{i}]", strict=strict) for i, v in enumerate(obj)]
    if isinstance(obj, (torch.dtype, torch.device)):
        return str(obj)
    if strict:
        raise TypeError(f"{where} holds a {type(obj).__name__} ({obj!r:.80}), which JSON cannot store")
    return repr(obj)


def json_diff(a: Any, b: Any, prefix: str = "") -> list[str]:
    """Dotted paths where two JSON values differ, as ``path: old -> new`` (values shortened to 40
    characters): what a refusal to mix two runs or two recipes names."""
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for k in sorted(set(a) | set(b), key=str):
            out += json_diff(a.get(k), b.get(k), f"{prefix}{k}.")
        return out
    if a == b:
        return []

    def short(v: Any) -> str:
        t = json.dumps(v, default=str)
        return t if len(t) <= 40 else t[:37] + "..."
    return [f"{prefix[:-1]}: {short(a)} -> {short(b)}"]


@contextlib.contextmanager
def directory_lock(directory: str | os.PathLike, what: str = "run directory") -> Iterator[Path]:
    """Hold ``directory``'s lock (``.lock``, an exclusive ``flock``) while writing it.

    A second process asking for the same directory gets :class:`~birdkit.errors.RunLockedError`
    at once, naming the process that holds it, instead of interleaving its files; the lock dies
    with its process (a killed writer leaves no stale lock; a finished one leaves it empty).
    Re-entrant within a process."""
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    key = str(path.resolve())
    if key in _HELD:
        _HELD[key] += 1
        try:
            yield path
        finally:
            _HELD[key] -= 1
        return
    if fcntl is None:  # pragma: no cover - not POSIX: no locking
        yield path
        return
    f = open(path / LOCK_FILE, "a+")  # noqa: SIM115 - held for the whole block
    try:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            raise RunLockedError(f"{path} is being written by {holder}; wait for it to finish or use another "
                                 f"{what}") from None
        f.seek(0)
        f.truncate()
        f.write(f"process {os.getpid()} since {utc_now()}")
        f.flush()
        _HELD[key] = 1
        try:
            yield path
        finally:
            del _HELD[key]
            f.truncate(0)  # a finished writer leaves an empty lock: no stale holder, same bytes each run
            f.flush()
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
    finally:
        f.close()
