"""The base of every typed config: strict pydantic models, YAML in and out, one-line errors.

Every run saves its resolved config as YAML next to its results and checkpoints, and every
command accepts one (``--config run.yaml``). YAML is read with ``yaml.safe_load`` only, so a
``!!python/...`` tag is refused instead of executed. Unknown keys are errors
(``extra="forbid"``) and NaN or infinite numbers are refused, so a typo never silently falls
back to a default. A validation error becomes a :class:`~birdkit.errors.ConfigError` whose
message is one line per problem, naming the key (or, through ``names``, the command-line flag)
and what is allowed.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from birdkit.errors import ConfigError
from birdkit.io import write_text

__all__ = ["StrictModel", "check_severities", "dump_yaml", "load_yaml", "read_yaml", "validate", "validation_message",
           "yaml_text"]

M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    """A config section: unknown keys and non-finite numbers are errors; assignments are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


def check_severities(v: list[int], allowed: range = range(1, 6)) -> list[int]:
    """A pydantic field check: a non-empty list of corruption severities within ``allowed``."""
    if not v or any(x not in allowed for x in v):
        raise ValueError(f"severities must be a non-empty subset of {allowed.start}..{allowed.stop - 1}, got {v}")
    return v


def validation_message(err: ValidationError, *, source: str = "", names: Mapping[str, str] | None = None) -> str:
    """One line per problem of a pydantic ``ValidationError``: ``where: what is allowed (got X)``.

    ``names`` maps dotted config keys (``train.batch_size``) to what the user typed
    (``--batch-size``); ``source`` (a file name) prefixes keys not in ``names``."""
    names = names or {}
    parts = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"])
        where = names.get(key) or (f"{source}: {key}" if source else key) or source or "config"
        if e["type"] == "extra_forbidden":
            parts.append(f"{where}: unknown key")
            continue
        msg = e["msg"].removeprefix("Value error, ")
        got = e.get("input")
        shown = "" if isinstance(got, (dict, list)) or got is None else f" (got {got!r})"
        parts.append(f"{where}: {msg[0].lower() + msg[1:] if msg else 'invalid'}{shown}")
    return "; ".join(parts)


def validate(model: type[M], data: Any, *, source: str = "", names: Mapping[str, str] | None = None) -> M:
    """``model.model_validate(data)`` with errors turned into one-line :class:`ConfigError`."""
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise ConfigError(validation_message(e, source=source, names=names)) from None


def read_yaml(path: str | Path) -> dict[str, Any]:
    """The top-level mapping of a YAML file (safe loader only; a missing file, a tag such as
    ``!!python/object`` or a non-mapping is a one-line :class:`ConfigError`)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"Config file {str(path)!r} does not exist")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        mark = getattr(e, "problem_mark", None)
        at = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"Config {str(path)!r}: not plain YAML{at}: {first}; only plain YAML is read "
                          "(safe_load: no !!python tags)") from None
    if not isinstance(data, dict):
        raise ConfigError(f"Config {str(path)!r}: expected a mapping at top level, got {type(data).__name__}")
    return data


def load_yaml(path: str | Path, model: type[M]) -> M:
    """Load and validate a YAML config (safe loader only)."""
    return validate(model, read_yaml(path), source=str(path))


def yaml_text(cfg: BaseModel) -> str:
    """The resolved config as the YAML text :func:`dump_yaml` writes (so a written config can be
    compared with a config in memory)."""
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)


def dump_yaml(cfg: BaseModel, path: str | Path) -> Path:
    """Write the resolved config as YAML (atomic)."""
    return write_text(path, yaml_text(cfg))
