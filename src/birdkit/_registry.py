"""A small generic registry: names -> constructors, with wildcard listing and close-match errors.

One instance per kind of thing (models, datasets, corruptions, methods, similarity measures).
Modelled on timm's ``_registry.py``: variants register with a decorator and are listed with
shell-style wildcards.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from birdkit.errors import UnknownNameError

T = TypeVar("T", bound=Callable[..., Any])


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

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, self._items, hint=self.list_hint) from None

    def meta(self, name: str) -> dict[str, Any]:
        self.get(name)
        return self._meta[name]

    def names(self, pattern: str | None = None) -> list[str]:
        """Sorted names, optionally filtered by a shell wildcard (``'resnet*'``)."""
        names = sorted(self._items)
        if pattern:
            names = [n for n in names if fnmatch.fnmatchcase(n, pattern)]
        return names

    def registered(self) -> list[str]:
        """Names in registration order (for catalogues whose order means something)."""
        return list(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)
