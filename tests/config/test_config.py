"""Typed configs: strict validation, one-line messages naming the key or flag, safe YAML only."""

import pytest

from birdkit.config import (
    METHOD_OVERRIDE_KEYS,
    MethodConfig,
    PairConfig,
    TrainConfig,
    TrainJob,
    builtin_pairs,
    builtin_studies,
    dump_yaml,
    load_pair,
    load_study,
    load_yaml,
    read_yaml,
    validate,
)
from birdkit.errors import ConfigError, UnknownNameError


def test_messages_name_the_flag_or_the_key():
    with pytest.raises(ConfigError) as e:
        validate(TrainConfig, {"batch_size": 0, "optim": {"lr": float("inf")}, "epoch": 3},
                 names={"batch_size": "--batch-size"}, source="run.yaml")
    msg = str(e.value)
    assert "\n" not in msg
    assert "--batch-size: input should be greater than or equal to 1 (got 0)" in msg
    assert "run.yaml: optim.lr: input should be a finite number" in msg
    assert "run.yaml: epoch: unknown key" in msg


def test_nan_and_unknown_keys_are_refused():
    with pytest.raises(ConfigError, match="finite"):
        validate(MethodConfig, {"alpha": float("nan")})
    with pytest.raises(ConfigError, match="unknown key"):
        validate(TrainJob, {"model": {"name": "x"}, "data": {"dataset": "y"}, "trian": {}})


def test_yaml_is_safe_and_round_trips(tmp_path):
    (tmp_path / "evil.yaml").write_text("a: !!python/object/apply:os.system [touch pwned]\n")
    with pytest.raises(ConfigError, match="not plain YAML"):
        read_yaml(tmp_path / "evil.yaml")
    assert not (tmp_path / "pwned").exists()
    (tmp_path / "list.yaml").write_text("- 1\n")
    with pytest.raises(ConfigError, match="mapping"):
        read_yaml(tmp_path / "list.yaml")
    with pytest.raises(ConfigError, match="does not exist"):
        read_yaml(tmp_path / "missing.yaml")
    cfg = load_pair("fmnist-split")
    assert load_yaml(dump_yaml(cfg, tmp_path / "pair.yaml"), PairConfig) == cfg


def test_builtins_and_override_keys():
    assert "fmnist-split" in builtin_pairs() and "fmnist-teachers" in builtin_studies()
    assert load_study("fmnist-teachers").pair == "fmnist-split"
    with pytest.raises(UnknownNameError, match="fmnist-split"):
        load_pair("fmnist-splt")
    assert "lr" in METHOD_OVERRIDE_KEYS and "name" not in METHOD_OVERRIDE_KEYS and "alpha" in METHOD_OVERRIDE_KEYS
    with pytest.raises(ConfigError, match=r"unknown keys \['lrr'\]"):
        validate(PairConfig, {**load_pair("fmnist-split").model_dump(), "overrides": {"bird": {"lrr": 1}}})


def test_with_lr_and_seed_offset():
    c = TrainConfig(seed=3)
    assert c.with_lr(None) is c and c.with_lr(0.1).optim.lr == 0.1 and c.optim.lr == 0.005
    assert c.with_seed_offset(2).seed == 5 and c.seed == 3
