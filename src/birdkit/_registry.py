"""A small generic registry: names -> constructors, with wildcard listing and close-match errors.

One instance per kind of thing (models, datasets, corruptions, methods, similarity measures).
Modelled on timm's ``_registry.py``: variants register with a decorator and are listed with
shell-style wildcards. A *namespace* (``timm:``) resolves ``prefix:rest`` names on demand from
another library's own catalogue, so its thousand-odd names need no registration and its package
is imported only when such a name is used (docs/models.md, "timm models").
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, TypeVar

from birdkit.errors import UnknownNameError

T = TypeVar("T", bound=Callable[..., Any])
#: ``resolve(rest) -> (fn, meta)`` of a namespace (see :meth:`Registry.add_namespace`)
Resolver = Callable[[str], tuple[T, dict[str, Any]]]


class Registry(Generic[T]):
    """Maps names to callables.

    Args:
        kind: what the registry holds, used in error messages ("model", "dataset", ...).
        list_hint: how a user lists all names, appended to unknown-name errors.
    """

    def __init__(self, kind: str, list_hint: str | None = None):
        self.kind = kind
        self.list_hint = list_hint
        self._items: dict[str, T] = {}
        self._meta: dict[str, dict[str, Any]] = {}
        self._namespaces: dict[str, tuple[Resolver[T], Callable[[], Iterable[str]]]] = {}
        self._namespaces: dict[str, tuple[Resolver[T], Callable[[], Iterable[str]]]] = {}

    def register(self, name: str | None = None, **meta: Any) -> Callable[[T], T]:
        """Decorator: ``@registry.register("name", key=value)``; the name defaults to ``fn.__name__``."""

        def deco(fn: T) -> T:
            key = name or fn.__name__
            if key in self._items:
                raise ValueError(f"{self.kind} {key!r} is already registered")
            self._items[key] = fn
            self._meta[key] = dict(meta)
            return fn

        return deco

    def add(self, name: str, fn: T, **meta: Any) -> None:
        self.register(name, **meta)(fn)

    def add_namespace(self, prefix: str, resolve: Resolver[T], list_names: Callable[[], Iterable[str]]) -> None:
        """Resolve every name ``f"{prefix}:{rest}"`` on demand.

        Args:
            prefix: the namespace, written before a colon (``"timm"``).
            resolve: ``resolve(rest)`` returns ``(fn, meta)`` for a known ``rest`` and raises
                (:class:`~birdkit.errors.UnknownNameError` with close matches, or the error of
                a missing package) otherwise; called on every lookup, nothing is cached.
            list_names: the ``rest`` names, for :meth:`names` with a ``"prefix:..."`` pattern.
        """
        if prefix in self._namespaces or not prefix or ":" in prefix:
            raise ValueError(f"{self.kind} namespace {prefix!r} is already registered or not a plain word")
        self._namespaces[prefix] = (resolve, list_names)

    def _resolve(self, name: str) -> tuple[T, dict[str, Any]]:
        if name in self._items:
            return self._items[name], self._meta[name]
        prefix, sep, rest = name.partition(":")
        if sep and prefix in self._namespaces:
            return self._namespaces[prefix][0](rest)
        raise UnknownNameError(self.kind, name, self._items, hint=self.list_hint)

    def get(self, name: str) -> T:
        return self._resolve(name)[0]

    def meta(self, name: str) -> dict[str, Any]:
        return self._resolve(name)[1]

    def names(self, pattern: str | None = None) -> list[str]:
        """Sorted names, optionally filtered by a shell wildcard (``'resnet*'``).

        Namespaced names are listed only for a pattern that starts with their prefix and a colon
        (``'timm:resnet*'``): a namespace can hold thousands of names and need an optional package.
        """
        names = sorted(self._items)
        if pattern:
            names = [n for n in names if fnmatch.fnmatchcase(n, pattern)]
            prefix, sep, _ = pattern.partition(":")
            if sep and prefix in self._namespaces:
                spaced = (f"{prefix}:{n}" for n in self._namespaces[prefix][1]())
                names = sorted({*names, *(n for n in spaced if fnmatch.fnmatchcase(n, pattern))})
        return names

    def registered(self) -> list[str]:
        """Names in registration order (for catalogues whose order means something)."""
        return list(self._items)

    def __contains__(self, name: object) -> bool:
        """Registered, or resolvable in a namespace; a namespace whose package is missing raises
        its error (``pip install ...``) rather than answer False."""
        if name in self._items:
            return True
        if not isinstance(name, str):
            return False
        try:
            self._resolve(name)
        except UnknownNameError:
            return False
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)
