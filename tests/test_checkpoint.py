"""Checkpoints: safetensors + JSON sidecar, atomic, verified, never unpickled; resumable
training state (optimiser, scheduler, RNG) round-trips bit-identically."""

from __future__ import annotations

import json
import os
import random

import numpy as np
import pytest
import torch
from torch import nn

import birdkit
from birdkit.checkpoint import (
    FORMAT_VERSION,
    load_checkpoint,
    load_training_state,
    read_checkpoint_meta,
    save_checkpoint,
    save_training_state,
    sidecar_path,
)
from birdkit.errors import CheckpointError


class Net(nn.Module):
    def __init__(self, hidden=6, tie=False):
        super().__init__()
        self.emb = nn.Embedding(5, hidden)
        self.body = nn.Sequential(nn.Linear(hidden, hidden), nn.BatchNorm1d(hidden), nn.ReLU())
        self.out = nn.Linear(hidden, 5, bias=False)
        if tie:
            self.out.weight = self.emb.weight

    def forward(self, idx):
        return self.out(self.body(self.emb(idx)))


def same_state(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


# ---------------------------------------------------------------------------------------------
# model checkpoints
# ---------------------------------------------------------------------------------------------
def test_round_trip_with_sidecar(tmp_path):
    net = Net()
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

    other = Net()
    loaded, meta2 = load_checkpoint(p, other)
    assert loaded is other and meta2 == meta and same_state(net, other)
    assert not list(p.parent.glob("*.tmp"))  # no temporary files left behind
    assert birdkit.save_checkpoint is save_checkpoint and birdkit.load_checkpoint is load_checkpoint


def test_tied_weights_and_non_contiguous(tmp_path):
    net = Net(tie=True)
    net.body[0].weight.data = net.body[0].weight.data.t().contiguous().t()  # non-contiguous view
    assert not net.body[0].weight.is_contiguous()
    p = save_checkpoint(tmp_path / "m.safetensors", net)
    other = Net(tie=True)
    load_checkpoint(p, other)
    assert same_state(net, other)
    assert other.out.weight is other.emb.weight  # tie kept on the receiving model


def test_wrappers_are_removed_from_keys(tmp_path):
    net = Net()
    p = save_checkpoint(tmp_path / "m.safetensors", nn.DataParallel(net))
    from safetensors import safe_open

    with safe_open(str(p), "pt") as f:
        assert not any(k.startswith("module.") for k in f.keys())
    other = Net()
    load_checkpoint(p, nn.DataParallel(other))
    assert same_state(net, other)


def test_rebuild_from_spec(tmp_path):
    models = pytest.importorskip("birdkit.models")
    net = models.create_model("convnet_xs", num_classes=3, in_chans=1, img_size=28)
    p = save_checkpoint(tmp_path / "m.safetensors", net, metrics={"acc": 0.5})
    assert read_checkpoint_meta(p)["spec"] == net.birdkit_spec
    rebuilt, meta = load_checkpoint(p)
    assert type(rebuilt) is type(net) and rebuilt.birdkit_spec == net.birdkit_spec
    assert same_state(net, rebuilt) and not rebuilt.training
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(net.eval()(x), rebuilt(x))


def test_no_spec_and_no_model(tmp_path):
    p = save_checkpoint(tmp_path / "m.safetensors", Net())
    with pytest.raises(CheckpointError, match="records no model spec.*pass model="):
        load_checkpoint(p)


def test_overwrite_is_atomic_and_consistent(tmp_path):
    p = tmp_path / "m.safetensors"
    save_checkpoint(p, Net(), metrics={"v": 1})
    net2 = Net()
    save_checkpoint(p, net2, metrics={"v": 2})
    model, meta = load_checkpoint(p, Net())
    assert meta["metrics"] == {"v": 2} and same_state(model, net2)
    assert sorted(f.name for f in tmp_path.iterdir()) == ["m.json", "m.safetensors"]


def test_file_mode_follows_umask(tmp_path):
    p = save_checkpoint(tmp_path / "m.safetensors", Net())
    old = os.umask(0)
    os.umask(old)
    assert (p.stat().st_mode & 0o777) == (0o666 & ~old)
    assert (sidecar_path(p).stat().st_mode & 0o777) == (0o666 & ~old)


# --- failures, each by its message ------------------------------------------------------------
def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "nope.safetensors", Net())


def test_missing_sidecar(tmp_path):
    p = save_checkpoint(tmp_path / "m.safetensors", Net())
    sidecar_path(p).unlink()
    with pytest.raises(CheckpointError, match=r"metadata sidecar .*m\.json is missing"):
        load_checkpoint(p, Net())


def test_truncated_file(tmp_path):
    p = save_checkpoint(tmp_path / "m.safetensors", Net())
    data = p.read_bytes()
    p.write_bytes(data[: len(data) - 40])
    with pytest.raises(CheckpointError, match="is truncated"):
        load_checkpoint(p, Net())
    with pytest.raises(CheckpointError, match="is truncated"):
        load_checkpoint(p, Net(), verify=False)
    p.write_bytes(data[:5])
    with pytest.raises(CheckpointError, match="only 5 bytes"):
        load_checkpoint(p, Net())


def test_modified_weights_fail_sha256(tmp_path):
    p = save_checkpoint(tmp_path / "m.safetensors", Net())
    data = bytearray(p.read_bytes())
    data[-1] ^= 0xFF  # same size, one flipped bit in a weight
    p.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="sha256 of .* corrupted or was modified"):
        load_checkpoint(p, Net())
    load_checkpoint(p, Net(), verify=False)  # still a valid safetensors file


@pytest.mark.parametrize("legacy", [False, True])
def test_torch_save_file_is_refused_not_unpickled(tmp_path, legacy, monkeypatch):
    p = tmp_path / "m.safetensors"
    torch.save(Net().state_dict(), p, _use_new_zipfile_serialization=not legacy)
    sidecar_path(p).write_text(json.dumps({"format": "birdkit-checkpoint", "format_version": 1, "kind": "model"}))

    def boom(*a, **k):  # pragma: no cover - must never be called
        raise AssertionError("unpickled")

    monkeypatch.setattr(torch, "load", boom)
    import pickle

    monkeypatch.setattr(pickle, "load", boom)
    monkeypatch.setattr(pickle, "loads", boom)
    match = "Python pickle" if legacy else "zip archive, as written by torch.save"
    with pytest.raises(CheckpointError, match=match) as info:
        load_checkpoint(p, Net())
    assert "never unpickles" in str(info.value)


def test_random_bytes(tmp_path):
    p = tmp_path / "m.safetensors"
    p.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(CheckpointError, match="not a safetensors file"):
        load_checkpoint(p, Net())


def test_foreign_sidecar(tmp_path):
    p = save_checkpoint(tmp_path / "m.safetensors", Net())
    sidecar_path(p).write_text("{not json")
    with pytest.raises(CheckpointError, match="is not valid JSON"):
        load_checkpoint(p, Net())
    sidecar_path(p).write_text(json.dumps({"hello": 1}))
    with pytest.raises(CheckpointError, match="not a birdkit checkpoint sidecar"):
        load_checkpoint(p, Net())
    sidecar_path(p).write_text(json.dumps({"format": "birdkit-checkpoint", "format_version": 99}))
    with pytest.raises(CheckpointError, match="format version 99"):
        load_checkpoint(p, Net())


def test_architecture_mismatch(tmp_path):
    p = save_checkpoint(tmp_path / "m.safetensors", Net(hidden=6))
    with pytest.raises(CheckpointError, match=r"architecture differs; shape mismatch for emb.weight: "
                                              r"checkpoint \(5, 6\) vs model \(5, 8\)"):
        load_checkpoint(p, Net(hidden=8))

    class Bigger(Net):
        def __init__(self):
            super().__init__()
            self.extra = nn.Linear(2, 2)

    with pytest.raises(CheckpointError, match=r"missing keys extra.weight, extra.bias"):
        load_checkpoint(p, Bigger())
    with pytest.raises(CheckpointError, match="unexpected keys"):
        load_checkpoint(save_checkpoint(tmp_path / "b.safetensors", Bigger()), Net())
    m, _ = load_checkpoint(p, Bigger(), strict=False)  # extra keys tolerated when not strict


def test_bad_arguments(tmp_path):
    with pytest.raises(CheckpointError, match="suffix of the metadata sidecar"):
        save_checkpoint(tmp_path / "m.json", Net())
    with pytest.raises(CheckpointError, match=r"metrics.bad holds a object"):
        save_checkpoint(tmp_path / "m.safetensors", Net(), metrics={"bad": object()})
    assert not list(tmp_path.iterdir())  # nothing written when metadata is invalid


def test_wrong_kind(tmp_path):
    p = save_training_state(tmp_path / "s.safetensors", model=Net())
    with pytest.raises(CheckpointError, match="not a model checkpoint; use load_training_state"):
        load_checkpoint(p, Net())
    q = save_checkpoint(tmp_path / "m.safetensors", Net())
    with pytest.raises(CheckpointError, match="not a training state; use load_checkpoint"):
        load_training_state(q, model=Net())


# ---------------------------------------------------------------------------------------------
# training state
# ---------------------------------------------------------------------------------------------
def _make(kind: str):
    torch.manual_seed(123)
    net = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3))
    if kind == "sgd":
        opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4, nesterov=True)
    else:
        opt = torch.optim.AdamW([{"params": net[0].parameters()},
                                 {"params": list(net[1].parameters()) + list(net[3].parameters()), "lr": 3e-3}],
                                lr=1e-2, betas=(0.85, 0.98), weight_decay=0.05)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=12, eta_min=1e-4)
    return net, opt, sched


def _steps(net, opt, sched, n):
    for _ in range(n):
        # every RNG source is used, so the RNG states must be restored too
        x = torch.randn(16, 8) * (1 + random.random()) + float(np.random.rand())
        y = torch.randint(0, 3, (16,))
        loss = nn.functional.cross_entropy(nn.functional.dropout(net(x), 0.2), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()


@pytest.mark.parametrize("kind", ["sgd", "adamw"])
def test_training_state_resumes_bit_identically(tmp_path, kind):
    random.seed(1)
    np.random.seed(1)
    ref = _make(kind)
    _steps(*ref, 10)

    random.seed(1)
    np.random.seed(1)
    net, opt, sched = _make(kind)
    _steps(net, opt, sched, 4)
    p = save_training_state(tmp_path / "state.safetensors", model=net, optimizer=opt, scheduler=sched,
                            step=4, epoch=0, extra={"stage": "ft", "best": float("inf")})
    _steps(net, opt, sched, 3)  # disturb every RNG and the objects

    # a fresh process would build new objects with different weights
    torch.manual_seed(999)
    net2 = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3))
    _, opt2, sched2 = _make(kind)
    opt2 = type(opt2)(net2.parameters() if kind == "sgd" else
                      [{"params": net2[0].parameters()},
                       {"params": list(net2[1].parameters()) + list(net2[3].parameters())}], lr=0.5)
    sched2 = torch.optim.lr_scheduler.CosineAnnealingLR(opt2, T_max=12, eta_min=1e-4)
    info = load_training_state(p, model=net2, optimizer=opt2, scheduler=sched2)
    assert info["step"] == 4 and info["epoch"] == 0 and info["stage"] == "ft" and info["best"] == float("inf")
    assert info["extra"] == {"stage": "ft", "best": float("inf")}
    _steps(net2, opt2, sched2, 6)

    ref_net, ref_opt, ref_sched = ref
    assert same_state(ref_net, net2)
    assert sched2.get_last_lr() == ref_sched.get_last_lr()
    assert [g["lr"] for g in opt2.param_groups] == [g["lr"] for g in ref_opt.param_groups]
    if kind == "adamw":
        assert opt2.param_groups[0]["betas"] == (0.85, 0.98)  # tuples come back as tuples


def test_training_state_layout(tmp_path):
    net, opt, sched = _make("sgd")
    _steps(net, opt, sched, 1)
    p = save_training_state(tmp_path / "state.safetensors", model=net, optimizer=opt, scheduler=sched,
                            extra={"stage": 1, "epoch": 2})
    from safetensors import safe_open

    with safe_open(str(p), "pt") as f:
        keys = set(f.keys())
        assert f.metadata()["kind"] == "training_state"
    assert "optim/state/3/momentum_buffer" in keys and "model/0.weight" in keys and "rng/torch" in keys
    meta = read_checkpoint_meta(p)
    assert meta["epoch"] == 2 and meta["extra"] == {"stage": 1}  # extra["epoch"] means epoch=
    assert meta["state"]["scheduler"]["T_max"] == 12
    assert meta["state"]["rng"]["numpy"]["bit_generator"] == "MT19937"
    # the model-only form the trainer uses to read stage/epoch
    info = load_training_state(p, model=_make("sgd")[0], restore_rng=False)
    assert info["stage"] == 1 and info["epoch"] == 2


def test_training_state_errors(tmp_path):
    net, opt, sched = _make("sgd")
    with pytest.raises(CheckpointError, match="reserved keys"):
        save_training_state(tmp_path / "s.safetensors", model=net, extra={"meta": 1})
    with pytest.raises(CheckpointError, match="epoch=1 and extra\\['epoch'\\]=2 disagree"):
        save_training_state(tmp_path / "s.safetensors", model=net, epoch=1, extra={"epoch": 2})
    with pytest.raises(CheckpointError, match="cannot be stored without pickle"):
        save_training_state(tmp_path / "s.safetensors", model=net, optimizer=opt,
                            scheduler=type("S", (), {"state_dict": lambda self: {"f": lambda: 0}})())
    p = save_training_state(tmp_path / "s.safetensors", model=net)
    with pytest.raises(CheckpointError, match="holds no optimizer state"):
        load_training_state(p, model=net, optimizer=opt)
    p = save_training_state(tmp_path / "s.safetensors", model=net, optimizer=opt)
    other = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)
    with pytest.raises(CheckpointError, match="does not fit this optimizer"):
        load_training_state(p, model=net, optimizer=other)
    with pytest.raises(CheckpointError, match="architecture differs"):
        load_training_state(p, model=nn.Linear(2, 2))
    data = p.read_bytes()
    p.write_bytes(data[:-10])
    with pytest.raises(CheckpointError, match="truncated"):
        load_training_state(p, model=net)
