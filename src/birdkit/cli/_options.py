"""Options shared by the commands, and how flags and a ``--config`` YAML become one typed job.

A command builds a nested dict from its YAML (``--config``) and lays the flags that were given
over it (a flag always wins), then validates it with pydantic. A validation error names the
flag when the value came from a flag, else the key in the file, and says what is allowed; the
entry point prints it as one line with exit status 2.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from birdkit.errors import ConfigError

ConfigOpt = typer.Option(None, "--config", help="YAML config of the command (see its docs); flags override it.")


@dataclass(frozen=True)
class Flag:
    """A command-line option that sets the dotted job key ``key`` (``None``: handled by the command)."""

    param: str
    annotation: type
    option: Any
    key: str


#: every command that reads data takes these
DATA_FLAGS = (
    Flag("dataset", str, typer.Option(None, "--dataset", help="Dataset name (birdkit datasets)."), "data.dataset"),
    Flag("root", Path, typer.Option(None, "--root", help="Folder to read the dataset from (an image folder's root)."),
         "data.root"),
    Flag("channels", int, typer.Option(None, "--channels", help="Image channels, 1 or 3 (default: the dataset's, or "
                                       "the model's)."), "data.channels"),
    Flag("img_size", int, typer.Option(None, "--img-size", help="Image height = width (default: the dataset's, or the "
                                       "model's)."), "data.img_size"),
    Flag("classes", str, typer.Option(None, "--classes", help="Class subset, e.g. '0-4' or '0,3,7'."), "data.classes"),
)
#: every command that trains takes these
TRAIN_FLAGS = (
    Flag("epochs", int, typer.Option(None, "--epochs"), "train.epochs"),
    Flag("lr", float, typer.Option(None, "--lr"), "train.optim.lr"),
    Flag("batch_size", int, typer.Option(None, "--batch-size"), "train.batch_size"),
    Flag("seed", int, typer.Option(None, "--seed"), "train.seed"),
    Flag("max_samples", int, typer.Option(None, "--max-samples", help="Train on a random subset of this size."),
         "train.max_train_samples"),
)


def with_flags(*groups: tuple[Flag, ...]) -> Callable:
    """Decorator: add the options of ``groups`` to a command; it receives the ones given as
    ``flags`` (dotted job key -> value), instead of one parameter each."""

    def deco(fn: Callable) -> Callable:
        extra = [f for g in groups for f in g]
        sig = inspect.signature(fn)
        own = [p for p in sig.parameters.values() if p.name != "flags"]

        @functools.wraps(fn)
        def command(**kwargs: Any) -> Any:
            values = {f.key: kwargs.pop(f.param) for f in extra}
            return fn(**kwargs, flags=given(_normalise(values)))

        command.__signature__ = sig.replace(parameters=own + [
            inspect.Parameter(f.param, inspect.Parameter.KEYWORD_ONLY, default=f.option, annotation=f.annotation)
            for f in extra])
        return command

    return deco


def _normalise(values: dict[str, Any]) -> dict[str, Any]:
    if values.get("data.root") is not None:
        values["data.root"] = str(values["data.root"])
    if "data.classes" in values:
        values["data.classes"] = parse_classes(values["data.classes"])
    return values


#: dotted job keys -> the flag that sets them (for error messages)
FLAGS = {
    "model.name": "--model", "data.dataset": "--dataset", "data.root": "--root", "data.channels": "--channels",
    "data.img_size": "--img-size", "data.classes": "--classes", "train.epochs": "--epochs",
    "train.optim.lr": "--lr", "train.batch_size": "--batch-size", "train.seed": "--seed",
    "train.max_train_samples": "--max-samples", "method.name": "--method", "method.alpha": "--alpha",
    "method.beta": "--beta", "method.kernel": "--kernel", "teacher": "--teacher", "student": "--student",
    "max_test_samples": "--max-samples", "seed": "--seed", "plant.behavior": "--plant", "plant.rate": "--plant-rate",
    "plant.target": "--plant-target",
}


def parse_classes(spec: str | None) -> list[int] | None:
    """``'5-9'`` or ``'0,2,4'`` -> a list of ints (None stays None)."""
    if not spec:
        return None
    out: list[int] = []
    try:
        for part in spec.split(","):
            if "-" in part:
                a, b = part.split("-")
                out += list(range(int(a), int(b) + 1))
            else:
                out.append(int(part))
    except ValueError:
        raise ConfigError(f"--classes: expected ranges and ids like '0-4' or '0,3,7', got {spec!r}") from None
    return out


def given(flags: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in flags.items() if v is not None}


def build(base: dict[str, Any], flags: dict[str, Any]) -> dict[str, Any]:
    """``base`` (from YAML) with each dotted ``flags`` key set (nested dicts created as needed)."""
    out = _copy(base)
    for key, value in flags.items():
        node = out
        parts = key.split(".")
        for p in parts[:-1]:
            if not isinstance(node.get(p), dict):
                node[p] = {} if node.get(p) is None else node[p]
            node = node[p]
        node[parts[-1]] = value
    return out


def names_for(flags: dict[str, Any], config: Path | None) -> dict[str, str]:
    """Error labels: the flag for keys set by flags; required top-level keys say where to give them."""
    names = {k: FLAGS.get(k, k) for k in flags}
    for key, flag in FLAGS.items():
        if key not in names and "." in key and key.endswith((".name", ".dataset")):
            section = key.split(".")[0]
            names.setdefault(section, f"{flag} (or `{section}:` in --config)")
            names.setdefault(key, f"{flag} (or `{key}` in --config)")
    return names


def _copy(d: Any) -> Any:
    if isinstance(d, dict):
        return {k: _copy(v) for k, v in d.items()}
    if isinstance(d, list):
        return [_copy(v) for v in d]
    return d


def section_names(flags: dict[str, Any], section: str) -> dict[str, str]:
    """:func:`names_for` for validating one section (``data``) on its own: keys without the prefix."""
    prefix = section + "."
    return {k.removeprefix(prefix): v for k, v in names_for(flags, None).items() if k.startswith(prefix)}
