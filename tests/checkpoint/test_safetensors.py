"""The weights file (birdkit.checkpoint._safetensors): truncated, empty, torch.save (zip),
legacy pickle and random files are refused by name and never unpickled; tensors are prepared
(detached, contiguous, unshared) before writing."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch

from birdkit.checkpoint import load_checkpoint, save_checkpoint, sidecar_path
from birdkit.checkpoint._safetensors import device_str, prepare_tensors, read_safetensors, sniff, write_safetensors
from birdkit.errors import CheckpointError
from birdkit.io import sha256_file


def test_truncated_file(tmp_path, net_cls):
    p = save_checkpoint(tmp_path / "m.safetensors", net_cls())
    data = p.read_bytes()
    p.write_bytes(data[: len(data) - 40])
    with pytest.raises(CheckpointError, match="is truncated"):
        load_checkpoint(p, net_cls())
    with pytest.raises(CheckpointError, match="is truncated"):
        load_checkpoint(p, net_cls(), verify=False)
    p.write_bytes(data[:5])
    with pytest.raises(CheckpointError, match="only 5 bytes"):
        load_checkpoint(p, net_cls())


@pytest.mark.parametrize("legacy", [False, True])
def test_torch_save_file_is_refused_not_unpickled(tmp_path, legacy, monkeypatch, net_cls):
    p = tmp_path / "m.safetensors"
    torch.save(net_cls().state_dict(), p, _use_new_zipfile_serialization=not legacy)
    sidecar_path(p).write_text(json.dumps({"format": "birdkit-checkpoint", "format_version": 1, "kind": "model"}))

    def boom(*a, **k):  # pragma: no cover - must never be called
        raise AssertionError("unpickled")

    monkeypatch.setattr(torch, "load", boom)
    monkeypatch.setattr(pickle, "load", boom)
    monkeypatch.setattr(pickle, "loads", boom)
    match = "Python pickle" if legacy else "zip archive, as written by torch.save"
    with pytest.raises(CheckpointError, match=match) as info:
        load_checkpoint(p, net_cls())
    assert "never unpickles" in str(info.value)


def test_random_bytes(tmp_path, net_cls):
    p = tmp_path / "m.safetensors"
    p.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(CheckpointError, match="not a safetensors file"):
        load_checkpoint(p, net_cls())


def test_sniff_messages(tmp_path):
    p = tmp_path / "x.safetensors"
    p.write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"is not a safetensors file: only 0 bytes \(empty or truncated\)"):
        sniff(p)
    p.write_bytes((4).to_bytes(8, "little") + b"[1] ")  # a header that is JSON but not an object
    with pytest.raises(CheckpointError, match=r"header length 4, file size 12"):
        sniff(p)
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        sniff(tmp_path / "missing.safetensors")


def test_write_and_read(tmp_path):
    p = tmp_path / "w.safetensors"
    tensors = {"a": torch.arange(6.0).reshape(2, 3), "b": torch.tensor([1, 2], dtype=torch.int64)}
    sha, size = write_safetensors(p, tensors, {"kind": "test"})
    assert sha == sha256_file(p) and size == p.stat().st_size
    back = read_safetensors(p, "cpu")
    assert back.keys() == tensors.keys() and all(torch.equal(back[k], tensors[k]) for k in tensors)
    assert sorted(f.name for f in tmp_path.iterdir()) == ["w.safetensors"]


def test_prepare_tensors():
    base = torch.arange(12.0, requires_grad=True)
    tensors = {"w": base, "tied": base, "view": base.detach()[2:8], "t": torch.ones(3, 4).t()}
    out = prepare_tensors(tensors, "state_dict")
    assert all(not t.requires_grad and t.is_contiguous() for t in out.values())
    ptrs = [t.untyped_storage().data_ptr() for t in out.values()]
    assert len(set(ptrs)) == len(ptrs)  # no two share memory: safetensors refuses shared tensors
    assert all(torch.equal(out[k], tensors[k].detach()) for k in tensors)
    with pytest.raises(CheckpointError, match=r"training state entry 'x' is a str, not a tensor; "
                                              r"safetensors stores tensors only"):
        prepare_tensors({"x": "no"}, "training state")


def test_device_str():
    assert device_str(None) == "cpu" and device_str("cpu") == "cpu" and device_str(torch.device("cpu")) == "cpu"
