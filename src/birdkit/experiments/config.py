"""The config of a teacher -> student benchmark pair (one YAML file per built-in pair)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from pydantic import Field, field_validator

from birdkit.errors import UnknownNameError
from birdkit.training.config import (
    AugmentConfig, DataConfig, MethodConfig, ModelRef, OptimConfig, TrainConfig, _Strict, load_yaml,
)

ALL_METHODS = ["none", "oracle", "ft", "lp", "lpft", "lwf", "hints", "bird"]


class EvalConfig(_Strict):
    """Robust evaluation: which test images, which corruptions (default: 4 held-out + 15 training)."""

    max_test_samples: int | None = Field(None, ge=1)
    train_corruption_samples: int | None = Field(None, ge=1, description="test subset for the 15 training corruptions")
    severities: list[int] = Field(default_factory=lambda: [1, 2, 3, 4, 5])
    seed: int = 0
    cka_samples: int = Field(2048, ge=4)


class PairConfig(_Strict):
    """A teacher -> student pair and the full protocol run on it by ``birdkit demo``."""

    name: str
    description: str = ""
    teacher_data: DataConfig
    student_data: DataConfig
    teacher_model: ModelRef
    student_model: ModelRef
    teacher_train: TrainConfig = Field(default_factory=lambda: TrainConfig(augment=AugmentConfig()))
    student_train: TrainConfig = Field(default_factory=TrainConfig)
    transfer_train: TrainConfig = Field(default_factory=TrainConfig)
    oracle_init: str = Field("scratch", pattern="^(scratch|student)$",
                             description="oracle trained from scratch (paper) or fine-tuned from the clean student")
    methods: list[str] = Field(default_factory=lambda: list(ALL_METHODS))
    method: MethodConfig = Field(default_factory=MethodConfig, description="shared method parameters")
    overrides: dict[str, dict] = Field(default_factory=dict, description="per-method MethodConfig/TrainConfig.optim overrides")
    eval: EvalConfig = Field(default_factory=EvalConfig)

    @field_validator("overrides")
    @classmethod
    def _known_overrides(cls, v: dict[str, dict]) -> dict[str, dict]:
        allowed = set(MethodConfig.model_fields) - {"name"} | {"lr"}
        for method, fields in v.items():
            if method not in ALL_METHODS:
                raise ValueError(f"overrides: unknown method {method!r}; expected one of {ALL_METHODS}")
            bad = sorted(set(fields) - allowed)
            if bad:
                raise ValueError(f"overrides.{method}: unknown keys {bad}; allowed: {sorted(allowed)}")
        return v


def builtin_configs(package: str = "birdkit.configs") -> list[str]:
    """Names of the YAML configs shipped in ``package``."""
    return sorted(p.stem for p in resources.files(package).iterdir() if p.name.endswith(".yaml"))


def load_config(name_or_path: str | Path, model, *, package: str = "birdkit.configs", kind: str = "config"):
    """A built-in config of ``package`` by name, or a YAML file path, validated as ``model``;
    an unknown name lists close matches."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") and p.exists():
        return load_yaml(p, model)
    names = builtin_configs(package)
    if str(name_or_path) not in names:
        raise UnknownNameError(kind, str(name_or_path), names)
    with resources.as_file(resources.files(package) / f"{name_or_path}.yaml") as f:
        return load_yaml(f, model)


def builtin_pairs() -> list[str]:
    return builtin_configs()


def load_pair(name_or_path: str | Path) -> PairConfig:
    """A built-in pair by name (``fmnist-split``) or a YAML file path."""
    return load_config(name_or_path, PairConfig, kind="benchmark pair")


__all__ = ["ALL_METHODS", "EvalConfig", "PairConfig", "builtin_pairs", "load_pair", "OptimConfig"]
