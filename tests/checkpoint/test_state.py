"""Training state (birdkit.checkpoint.state): optimiser, scheduler and every RNG round-trip,
so a resumed run is bit-identical to an uninterrupted one; layout and errors."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from safetensors import safe_open
from torch import nn

from birdkit.checkpoint import load_training_state, read_checkpoint_meta, save_training_state
from birdkit.errors import CheckpointError


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
def test_training_state_resumes_bit_identically(tmp_path, kind, same_state):
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


def test_training_state_sidecar_fields(tmp_path):
    net, opt, _ = _make("sgd")
    p = save_training_state(tmp_path / "state.safetensors", model=net, optimizer=opt, step=7, rng=False)
    meta = read_checkpoint_meta(p)
    assert list(meta) == ["format", "format_version", "kind", "weights_file", "model_class", "step", "epoch",
                          "extra", "state", "versions", "created", "sha256", "num_bytes"]
    assert meta["kind"] == "training_state" and meta["step"] == 7 and meta["epoch"] is None
    assert set(meta["state"]) == {"optimizer"}  # rng=False: no RNG states
    info = load_training_state(p, model=net)
    assert info["step"] == 7 and info["meta"] == meta and info["extra"] == {}


def test_rng_states_are_restored(tmp_path):
    net = nn.Linear(2, 2)
    random.seed(5)
    np.random.seed(5)
    torch.manual_seed(5)
    p = save_training_state(tmp_path / "s.safetensors", model=net, step=1, extra={"step": 1})
    expected = (random.random(), float(np.random.rand()), torch.rand(1).item())
    load_training_state(p, model=net)
    assert (random.random(), float(np.random.rand()), torch.rand(1).item()) == expected
    random.seed(6)
    load_training_state(p, model=net, restore_rng=False)
    assert random.random() != expected[0]


def test_training_state_errors(tmp_path):
    net, opt, sched = _make("sgd")
    with pytest.raises(CheckpointError, match="reserved keys"):
        save_training_state(tmp_path / "s.safetensors", model=net, extra={"meta": 1})
    with pytest.raises(CheckpointError, match="epoch=1 and extra\\['epoch'\\]=2 disagree"):
        save_training_state(tmp_path / "s.safetensors", model=net, epoch=1, extra={"epoch": 2})
    with pytest.raises(CheckpointError, match="step=1 and extra\\['step'\\]=2 disagree"):
        save_training_state(tmp_path / "s.safetensors", model=net, step=1, extra={"step": 2})
    with pytest.raises(CheckpointError, match="cannot be stored without pickle"):
        save_training_state(tmp_path / "s.safetensors", model=net, optimizer=opt,
                            scheduler=type("S", (), {"state_dict": lambda self: {"f": lambda: 0}})())
    with pytest.raises(CheckpointError, match=r"extra\.x holds a object"):
        save_training_state(tmp_path / "s.safetensors", model=net, extra={"x": object()})
    assert not list(tmp_path.iterdir())  # nothing written when a value cannot be stored
    p = save_training_state(tmp_path / "s.safetensors", model=net)
    with pytest.raises(CheckpointError, match="holds no optimizer state"):
        load_training_state(p, model=net, optimizer=opt)
    with pytest.raises(CheckpointError, match="holds no scheduler state"):
        load_training_state(p, model=net, scheduler=sched)
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
