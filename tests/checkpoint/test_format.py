"""The two-file layout (birdkit.checkpoint._format): missing and foreign sidecars, newer
format versions, the wrong kind, size and sha256 checks, metadata that JSON cannot store,
and the package's layering (atomic writes only through birdkit.io; no import cycles)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import birdkit.checkpoint
from birdkit.checkpoint import (
    load_checkpoint,
    load_training_state,
    read_checkpoint_meta,
    save_checkpoint,
    save_training_state,
    sidecar_path,
)
from birdkit.checkpoint._format import meta_value
from birdkit.errors import CheckpointError


def test_public_api():
    assert birdkit.checkpoint.__all__ == ["FORMAT_VERSION", "load_checkpoint", "load_training_state",
                                          "read_checkpoint_meta", "save_checkpoint", "save_training_state",
                                          "sidecar_path"]
    assert birdkit.checkpoint.FORMAT_VERSION == 1


def test_sidecar_path():
    assert sidecar_path("run/model.safetensors") == Path("run/model.json")
    assert sidecar_path("run/ckpt") == Path("run/ckpt.json")


def test_missing_file(tmp_path, net_cls):
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "nope.safetensors", net_cls())
    with pytest.raises(CheckpointError, match="no training state at"):
        load_training_state(tmp_path / "nope.safetensors", model=net_cls())


def test_missing_sidecar(tmp_path, net_cls):
    p = save_checkpoint(tmp_path / "m.safetensors", net_cls())
    sidecar_path(p).unlink()
    with pytest.raises(CheckpointError, match=r"metadata sidecar .*m\.json is missing"):
        load_checkpoint(p, net_cls())
    with pytest.raises(CheckpointError, match=r"m\.json is missing \(expected next to m\.safetensors\)"):
        read_checkpoint_meta(sidecar_path(p))


def test_modified_weights_fail_sha256(tmp_path, net_cls):
    p = save_checkpoint(tmp_path / "m.safetensors", net_cls())
    data = bytearray(p.read_bytes())
    data[-1] ^= 0xFF  # same size, one flipped bit in a weight
    p.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="sha256 of .* corrupted or was modified"):
        load_checkpoint(p, net_cls())
    load_checkpoint(p, net_cls(), verify=False)  # still a valid safetensors file


def test_size_and_missing_hash_in_sidecar(tmp_path, net_cls):
    p = save_checkpoint(tmp_path / "m.safetensors", net_cls())
    meta = read_checkpoint_meta(p)
    sidecar_path(p).write_text(json.dumps({**meta, "num_bytes": meta["num_bytes"] + 1}))
    with pytest.raises(CheckpointError, match="truncated or was replaced"):
        load_checkpoint(p, net_cls())
    sidecar_path(p).write_text(json.dumps({**meta, "sha256": None}))
    with pytest.raises(CheckpointError, match="records no sha256; pass verify=False"):
        load_checkpoint(p, net_cls())
    load_checkpoint(p, net_cls(), verify=False)


def test_foreign_sidecar(tmp_path, net_cls):
    p = save_checkpoint(tmp_path / "m.safetensors", net_cls())
    sidecar_path(p).write_text("{not json")
    with pytest.raises(CheckpointError, match="is not valid JSON"):
        load_checkpoint(p, net_cls())
    sidecar_path(p).write_text(json.dumps({"hello": 1}))
    with pytest.raises(CheckpointError, match="not a birdkit checkpoint sidecar"):
        load_checkpoint(p, net_cls())
    sidecar_path(p).write_text(json.dumps({"format": "birdkit-checkpoint", "format_version": 99}))
    with pytest.raises(CheckpointError, match="format version 99"):
        load_checkpoint(p, net_cls())


def test_wrong_kind(tmp_path, net_cls):
    p = save_training_state(tmp_path / "s.safetensors", model=net_cls())
    with pytest.raises(CheckpointError, match="not a model checkpoint; use load_training_state"):
        load_checkpoint(p, net_cls())
    q = save_checkpoint(tmp_path / "m.safetensors", net_cls())
    with pytest.raises(CheckpointError, match="not a training state; use load_checkpoint"):
        load_training_state(q, model=net_cls())


def test_weights_path_may_not_be_json(tmp_path, net_cls):
    with pytest.raises(CheckpointError, match=r"m\.json ends in \.json, the suffix of the metadata sidecar"):
        load_checkpoint(tmp_path / "m.json", net_cls())
    with pytest.raises(CheckpointError, match="suffix of the metadata sidecar"):
        save_training_state(tmp_path / "s.json", model=net_cls())


def test_meta_value_names_the_place():
    assert meta_value({"a": (1, 2), "p": Path("x")}, "extra") == {"a": [1, 2], "p": "x"}
    with pytest.raises(CheckpointError,
                       match=r"^extra\.f\[1\] holds a object \(<object .*\), which JSON cannot store$"):
        meta_value({"f": [0, object()]}, "extra")


def test_writes_only_through_birdkit_io():
    sources = Path(birdkit.checkpoint.__file__).parent.glob("*.py")
    for src in sources:
        text = src.read_text()
        assert "os.replace" not in text and "os.rename" not in text, src.name


def test_lower_layers_do_not_import_checkpoint():
    code = ("import sys, birdkit.models, birdkit.features, birdkit.data; "
            "assert not [m for m in sys.modules if m.startswith('birdkit.checkpoint')]")
    subprocess.run([sys.executable, "-c", code], check=True)
