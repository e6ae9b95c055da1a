"""Exceptions raised by birdkit.

Every error says what was expected and what came, and, for names, lists close matches.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class BirdkitError(Exception):
    """Base class of birdkit's own errors."""


class UnknownNameError(BirdkitError, KeyError):
    """An unknown model, layer, dataset, corruption or method name.

    Subclasses ``KeyError`` so ``except KeyError`` keeps working, but ``str()`` is the plain
    message (``KeyError`` would quote it).
    """

    def __init__(self, kind: str, name: str, known: Iterable[str], hint: str | None = None):
        known = sorted(known)
        self.kind, self.name, self.known = kind, name, known
        close = suggest(name, known)
        msg = f"Unknown {kind} {name!r}."
        if close:
            msg += " Did you mean: " + ", ".join(repr(c) for c in close) + "?"
        if hint:
            msg += " " + hint
        elif len(known) <= 25:
            msg += " Known: " + ", ".join(known) + "."
        super().__init__(msg)

    def __str__(self) -> str:  # KeyError.__str__ would repr() the message
        return str(self.args[0])


class DataNotFoundError(BirdkitError, FileNotFoundError):
    """A dataset is not on disk and cannot be fetched; the message names the command that gets it."""


class CheckpointError(BirdkitError, ValueError):
    """A checkpoint file is missing, truncated, foreign or inconsistent."""


class RunMismatchError(CheckpointError):
    """A run directory holds a run with a different set-up (config, method, data) than the one
    asked for; reusing or resuming it would silently mix the two, so nothing is touched."""


class RunLockedError(BirdkitError):
    """Another process is writing the run directory; writing beside it would interleave files."""


class ConfigError(BirdkitError, ValueError):
    """A config value, key or file is invalid; the message names the key or flag and what is allowed."""


class ShapeError(BirdkitError, ValueError):
    """Tensor shapes or batch sizes do not fit."""


class DataFormatError(BirdkitError, ValueError):
    """A data file exists but is not in the expected format (bad header, truncated, wrong keys)."""


class ModelArgumentError(BirdkitError, ValueError):
    """An invalid argument to ``create_model`` (in_chans, num_classes, img_size, kwargs)."""


class IntegrityError(BirdkitError, ValueError):
    """A materialised file does not match its manifest (truncated, edited or foreign)."""


class UnsupportedModelError(BirdkitError, ValueError):
    """An architecture birdkit's adapter cannot wrap (no single linear classifier, channels-last
    features): ``create_model`` raises it, ``model_info`` reports it as the name's ``error``."""


class MissingExtraError(BirdkitError, ImportError):
    """An optional dependency is not installed; the message names the ``pip install birdkit[extra]``
    that adds it (timm for ``timm:`` models, torchdistill for its loss adapter)."""


def suggest(name: str, known: Iterable[str], n: int = 5) -> list[str]:
    """Close matches of ``name`` among ``known``: difflib ratio first, then substring hits."""
    known = list(known)
    lower = {k.lower(): k for k in known}
    hits = [lower[m] for m in difflib.get_close_matches(name.lower(), list(lower), n=n, cutoff=0.6)]
    for k in known:
        if len(hits) >= n:
            break
        if k not in hits and name and (name.lower() in k.lower() or k.lower() in name.lower()):
            hits.append(k)
    return hits


def one_line(err: BaseException | str) -> str:
    """An exception's (or a text's) message on one line, whitespace runs collapsed."""
    return " ".join(str(err).split())
