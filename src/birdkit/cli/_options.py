"""Options shared by the commands, and how flags and a ``--config`` YAML become one typed job.

A command builds a nested dict from its YAML (``--config``) and lays the flags that were given
over it (a flag always wins), then validates it with pydantic. A validation error names the
flag when the value came from a flag, else the key in the file, and says what is allowed; the
entry point prints it as one line with exit status 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from birdkit.errors import ConfigError

# -- dataset options: every command that reads data takes them -------------------------------
DatasetOpt = typer.Option(None, "--dataset", help="Dataset name (birdkit datasets).")
RootOpt = typer.Option(None, "--root", help="Folder to read the dataset from (an image folder's root).")
ChannelsOpt = typer.Option(None, "--channels", help="Image channels, 1 or 3 (default: the dataset's, or the model's).")
ImgSizeOpt = typer.Option(None, "--img-size", help="Image height = width (default: the dataset's, or the model's).")
ClassesOpt = typer.Option(None, "--classes", help="Class subset, e.g. '0-4' or '0,3,7'.")
ConfigOpt = typer.Option(None, "--config", help="YAML config of the command (see its docs); flags override it.")

#: dotted job keys -> the flag that sets them (for error messages)
FLAGS = {
    "model.name": "--model", "data.dataset": "--dataset", "data.root": "--root", "data.channels": "--channels",
    "data.img_size": "--img-size", "data.classes": "--classes", "train.epochs": "--epochs",
    "train.optim.lr": "--lr", "train.batch_size": "--batch-size", "train.seed": "--seed",
    "train.max_train_samples": "--max-samples", "method.name": "--method", "method.alpha": "--alpha",
    "method.beta": "--beta", "method.kernel": "--kernel", "teacher": "--teacher", "student": "--student",
    "max_test_samples": "--max-samples", "seed": "--seed",
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


def data_flags(dataset, root, channels, img_size, classes) -> dict[str, Any]:
    """The dataset flags as ``data.*`` keys (only those given)."""
    return given({"data.dataset": dataset, "data.root": str(root) if root else None, "data.channels": channels,
                  "data.img_size": img_size, "data.classes": parse_classes(classes)})


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
