"""Model checkpoints (birdkit.checkpoint.model): round trip with sidecar, wrappers, tied
weights, rebuilding from the spec, atomic overwrite, umask, and architectures that do not fit."""

from __future__ import annotations

import json
import os

import pytest
import torch
from safetensors import safe_open
from torch import nn

import birdkit
from birdkit.checkpoint import FORMAT_VERSION, load_checkpoint, read_checkpoint_meta, save_checkpoint, sidecar_path
from birdkit.errors import CheckpointError
from birdkit.io import TEMP_PREFIX
from birdkit.models import create_model


def test_round_trip_with_sidecar(tmp_path, net_cls, same_state):
    net = net_cls()
    net.body[1].running_mean.add_(1.5)  # buffers are saved too
    p = save_checkpoint(tmp_path / "run" / "model.safetensors", net, config={"lr": 0.1, "betas": (0.9, 0.99)},
                        metrics={"acc": torch.tensor(0.75)}, extra={"method": "bird", "path": tmp_path})
    assert p == tmp_path / "run" / "model.safetensors" and p.exists()
    side = tmp_path / "run" / "model.json"
    assert sidecar_path(p) == side and side.exists()
    meta = json.loads(side.read_text())
    assert meta["format_version"] == FORMAT_VERSION and meta["kind"] == "model"
    assert meta["config"] == {"lr": 0.1, "betas": [0.9, 0.99]} and meta["metrics"] == {"acc": 0.75}
    assert meta["extra"]["method"] == "bird" and meta["extra"]["path"] == str(tmp_path)
    assert meta["versions"]["torch"] == torch.__version__ and meta["versions"]["birdkit"] == birdkit.__version__
    assert meta["created"].endswith("+00:00") and len(meta["sha256"]) == 64
    assert meta["spec"] is None
    assert read_checkpoint_meta(p) == meta == read_checkpoint_meta(side)

    other = net_cls()
    loaded, meta2 = load_checkpoint(p, other)
    assert loaded is other and meta2 == meta and same_state(net, other)
    assert not list(p.parent.glob("*.tmp"))  # no temporary files left behind
    assert not [f.name for f in p.parent.iterdir() if TEMP_PREFIX in f.name]  # birdkit.io's temporary names
    assert birdkit.save_checkpoint is save_checkpoint and birdkit.load_checkpoint is load_checkpoint


def test_sidecar_fields(tmp_path, net_cls):
    net = net_cls()
    p = save_checkpoint(tmp_path / "m.safetensors", net)
    meta = read_checkpoint_meta(p)
    assert list(meta) == ["format", "format_version", "kind", "weights_file", "model_class", "spec", "config",
                          "metrics", "extra", "versions", "created", "num_tensors", "num_params", "sha256",
                          "num_bytes"]
    assert meta["format"] == "birdkit-checkpoint" and meta["weights_file"] == "m.safetensors"
    assert meta["model_class"] == f"{type(net).__module__}.{type(net).__qualname__}"
    assert meta["num_tensors"] == len(net.state_dict()) and meta["num_bytes"] == p.stat().st_size
    assert meta["num_params"] == sum(t.numel() for t in net.parameters())
    assert set(meta["versions"]) == {"birdkit", "torch", "safetensors", "python"}
    assert meta["config"] is None and meta["metrics"] == {} and meta["extra"] == {}
    # the sidecar is indented JSON with a final newline, keys in the order written
    assert sidecar_path(p).read_text() == json.dumps(meta, indent=2) + "\n"
    with safe_open(str(p), "pt") as f:
        assert f.metadata() == {"format": "birdkit-checkpoint", "format_version": "1", "kind": "model"}


def test_tied_weights_and_non_contiguous(tmp_path, net_cls, same_state):
    net = net_cls(tie=True)
    net.body[0].weight.data = net.body[0].weight.data.t().contiguous().t()  # non-contiguous view
    assert not net.body[0].weight.is_contiguous()
    p = save_checkpoint(tmp_path / "m.safetensors", net)
    other = net_cls(tie=True)
    load_checkpoint(p, other)
    assert same_state(net, other)
    assert other.out.weight is other.emb.weight  # tie kept on the receiving model


def test_wrappers_are_removed_from_keys(tmp_path, net_cls, same_state):
    net = net_cls()
    p = save_checkpoint(tmp_path / "m.safetensors", nn.DataParallel(net))
    with safe_open(str(p), "pt") as f:
        assert not any(k.startswith("module.") for k in f.keys())
    other = net_cls()
    load_checkpoint(p, nn.DataParallel(other))
    assert same_state(net, other)


def test_rebuild_from_spec(tmp_path, same_state):
    net = create_model("convnet_xs", num_classes=3, in_chans=1, img_size=28)
    p = save_checkpoint(tmp_path / "m.safetensors", net, metrics={"acc": 0.5})
    assert read_checkpoint_meta(p)["spec"] == net.birdkit_spec
    rebuilt, meta = load_checkpoint(p)
    assert type(rebuilt) is type(net) and rebuilt.birdkit_spec == net.birdkit_spec
    assert same_state(net, rebuilt) and not rebuilt.training
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(net.eval()(x), rebuilt(x))


def test_no_spec_and_no_model(tmp_path, net_cls):
    p = save_checkpoint(tmp_path / "m.safetensors", net_cls())
    with pytest.raises(CheckpointError, match="records no model spec.*pass model="):
        load_checkpoint(p)


def test_overwrite_is_atomic_and_consistent(tmp_path, net_cls, same_state):
    p = tmp_path / "m.safetensors"
    save_checkpoint(p, net_cls(), metrics={"v": 1})
    net2 = net_cls()
    save_checkpoint(p, net2, metrics={"v": 2})
    model, meta = load_checkpoint(p, net_cls())
    assert meta["metrics"] == {"v": 2} and same_state(model, net2)
    assert sorted(f.name for f in tmp_path.iterdir()) == ["m.json", "m.safetensors"]


def test_file_mode_follows_umask(tmp_path, net_cls):
    p = save_checkpoint(tmp_path / "m.safetensors", net_cls())
    old = os.umask(0)
    os.umask(old)
    assert (p.stat().st_mode & 0o777) == (0o666 & ~old)
    assert (sidecar_path(p).stat().st_mode & 0o777) == (0o666 & ~old)


def test_architecture_mismatch(tmp_path, net_cls):
    p = save_checkpoint(tmp_path / "m.safetensors", net_cls(hidden=6))
    with pytest.raises(CheckpointError, match=r"architecture differs; shape mismatch for emb.weight: "
                                              r"checkpoint \(5, 6\) vs model \(5, 8\)"):
        load_checkpoint(p, net_cls(hidden=8))

    class Bigger(net_cls):
        def __init__(self):
            super().__init__()
            self.extra = nn.Linear(2, 2)

    with pytest.raises(CheckpointError, match=r"missing keys extra.weight, extra.bias"):
        load_checkpoint(p, Bigger())
    with pytest.raises(CheckpointError, match="unexpected keys"):
        load_checkpoint(save_checkpoint(tmp_path / "b.safetensors", Bigger()), net_cls())
    m, _ = load_checkpoint(p, Bigger(), strict=False)  # extra keys tolerated when not strict


def test_architecture_mismatch_lists_five_keys(tmp_path):
    p = save_checkpoint(tmp_path / "m.safetensors", nn.Sequential(*[nn.Linear(2, 2) for _ in range(4)]))
    with pytest.raises(CheckpointError, match=r"does not fit this model \(Sequential\).*"
                                              r"missing keys 4\.weight, 4\.bias, 5\.weight, 5\.bias, 6\.weight "
                                              r"\(\+1 more\)"):
        load_checkpoint(p, nn.Sequential(*[nn.Linear(2, 2) for _ in range(7)]))


def test_bad_arguments(tmp_path, net_cls):
    with pytest.raises(CheckpointError, match="suffix of the metadata sidecar"):
        save_checkpoint(tmp_path / "m.json", net_cls())
    with pytest.raises(CheckpointError, match=r"metrics.bad holds a object"):
        save_checkpoint(tmp_path / "m.safetensors", net_cls(), metrics={"bad": object()})
    assert not list(tmp_path.iterdir())  # nothing written when metadata is invalid


def test_non_tensor_state_entry(tmp_path, net_cls):
    net = net_cls()
    net.state_dict = lambda: {"w": torch.zeros(1), "n": 3}
    with pytest.raises(CheckpointError, match=r"state_dict entry 'n' is a int, not a tensor"):
        save_checkpoint(tmp_path / "m.safetensors", net)
    assert not list(tmp_path.iterdir())
