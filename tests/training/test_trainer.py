"""The trainer: resume reproduces an uninterrupted run; a NaN stops with the checkpoint kept."""

import csv

import pytest
import torch

from birdkit.config import AugmentConfig, OptimConfig, TrainConfig
from birdkit.data import TensorData
from birdkit.errors import ShapeError
from birdkit.methods import create_method
from birdkit.models import create_model
from birdkit.training import NonFiniteLossError, Trainer


def _data(n=96, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 1, 28, 28), generator=g, dtype=torch.uint8)
    targets = torch.randint(0, classes, (n,), generator=g)
    # make the task learnable: brighten a class-dependent block
    for c in range(classes):
        images[targets == c, :, c * 8:(c + 1) * 8, :] = 255
    return TensorData(images, targets, (0.5,), (0.25,))


def _cfg(epochs=3, **kw):
    return TrainConfig(epochs=epochs, batch_size=32, optim=OptimConfig(lr=0.05), tensorboard=False, **kw)


def _method():
    torch.manual_seed(0)
    return create_method("task", student=create_model("convnet_xs", num_classes=3, in_chans=1, img_size=28))


def test_resume_reproduces_uninterrupted_run(tmp_path):
    data = _data()
    full = Trainer(_method(), data, _cfg(3), tmp_path / "full")
    full.fit()
    # interrupted after one epoch: run 1 epoch into a dir, then continue with the full budget
    part = Trainer(_method(), data, _cfg(3), tmp_path / "part")
    calls = {"n": 0}

    def stop_after_first_epoch(ev):
        if ev["event"] == "epoch_end":
            calls["n"] += 1
        if ev["event"] == "epoch_start" and calls["n"] == 1:
            raise KeyboardInterrupt

    part.progress = stop_after_first_epoch
    with pytest.raises(KeyboardInterrupt):
        part.fit()
    resumed = Trainer(_method(), data, _cfg(3), tmp_path / "part")
    res = resumed.fit()
    assert res.resumed_from == 1 and res.epochs_run == 2
    a = full.method.model.state_dict()
    b = resumed.method.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    rows = list(csv.DictReader((tmp_path / "part" / "metrics.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    log = (tmp_path / "part" / "train.log").read_text().splitlines()
    assert "start: method task, 3 epochs" in log[0]
    assert "stopped by KeyboardInterrupt during epoch 2; 1 finished epochs are checkpointed" in log[2]
    assert "resume at epoch 1" in log[3] and log[-1].endswith("finished: model.safetensors written")
    assert sum(" epoch epoch=" in line for line in log) == 3


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    data = _data()
    m = _method()
    trainer = Trainer(m, data, _cfg(3, checkpoint_every=1), tmp_path / "run")
    original_forward = m.forward
    epochs_done = {"n": 0}

    def poisoned(x, y):
        out = original_forward(x, y)
        if epochs_done["n"] >= 1:
            out["loss"] = out["loss"] * float("nan")
        return out

    m.forward = poisoned
    trainer.progress = lambda ev: epochs_done.__setitem__("n", epochs_done["n"] + (ev["event"] == "epoch_end"))
    with pytest.raises(NonFiniteLossError, match="last good checkpoint is kept"):
        trainer.fit()
    from birdkit.checkpoint import load_training_state

    assert (tmp_path / "run" / "state.safetensors").exists()
    net = _method()
    info = load_training_state(tmp_path / "run" / "state.safetensors", model=net)
    assert all(torch.isfinite(p).all() for p in net.parameters())
    assert int(info["epoch"]) == 1
    log = (tmp_path / "run" / "train.log").read_text()
    assert "stopped: Loss became nan at epoch 2" in log and "finished" not in log


def test_learns_and_writes_records(tmp_path):
    data = _data(192)
    t = Trainer(_method(), data, _cfg(4), tmp_path / "run", val=_data(64, seed=1))
    res = t.fit()
    assert res.history[-1]["train_acc"] > 0.8
    assert (tmp_path / "run" / "model.safetensors").exists()
    assert (tmp_path / "run" / "metrics.csv").exists()


def test_augmentation_is_deterministic_and_changes_images(tmp_path):
    from birdkit.training.augment import CorruptionAugment

    data = _data()
    aug = CorruptionAugment(AugmentConfig(severities=[3, 4, 5]), len(data), seed=1)
    idx = torch.arange(10)
    x = data.images[idx].float() / 255
    a, b = aug(x, idx), aug(x, idx)
    assert torch.equal(a, b) and not torch.equal(a, x)
    # batch composition does not matter
    c = aug(x[5:], idx[5:])
    assert torch.equal(a[5:], c)
    aug.set_epoch(1)
    assert not torch.equal(aug(x, idx), a)


def test_batch_size_larger_than_data_is_an_error(tmp_path):
    with pytest.raises(ShapeError, match="batch_size 512 exceeds"):
        Trainer(_method(), _data(), TrainConfig(batch_size=512), tmp_path)


def _snapshot(d):
    return {p.name: p.read_bytes() for p in sorted(d.iterdir()) if p.is_file()}


@pytest.mark.parametrize("change, expect", [
    (lambda: dict(cfg=_cfg(3, seed=1)), "train.seed: 0 -> 1"),
    (lambda: dict(cfg=TrainConfig(epochs=3, batch_size=32, optim=OptimConfig(lr=0.01), tensorboard=False)),
     "train.optim.lr: 0.05 -> 0.01"),
    (lambda: dict(data=_data(seed=1)), "data.sha256"),
    (lambda: dict(meta={"method_config": {"alpha": 0.5}}), "meta.method_config"),
])
def test_a_directory_holding_another_run_is_refused_untouched(tmp_path, change, expect):
    from birdkit.errors import RunMismatchError

    d = tmp_path / "run"
    Trainer(_method(), _data(), _cfg(1), d, checkpoint_meta={"method_config": {"alpha": 0.9}}).fit()
    before = _snapshot(d)
    kw = {"cfg": _cfg(1), "data": _data(), "meta": {"method_config": {"alpha": 0.9}}, **change()}
    if kw["cfg"].epochs == 3:
        kw["cfg"] = kw["cfg"].model_copy(update={"epochs": 1})
    t = Trainer(_method(), kw["data"], kw["cfg"], d, checkpoint_meta=kw["meta"])
    with pytest.raises(RunMismatchError, match="holds a different run") as e:
        t.fit()
    assert expect in str(e.value) and "Nothing was changed" in str(e.value)
    assert _snapshot(d) == before  # nothing written, nothing lost


def test_other_starting_weights_are_a_different_run(tmp_path):
    from birdkit.errors import RunMismatchError

    d = tmp_path / "run"
    Trainer(_method(), _data(), _cfg(1), d).fit()
    torch.manual_seed(123)
    other = create_method("task", student=create_model("convnet_xs", num_classes=3, in_chans=1, img_size=28))
    with pytest.raises(RunMismatchError, match="init_sha256"):
        Trainer(other, _data(), _cfg(1), d).fit()


def test_execution_only_settings_do_not_block_resume(tmp_path):
    d = tmp_path / "run"
    Trainer(_method(), _data(), _cfg(2), d).fit()
    # same run, other threads / eval batch / checkpoint cadence: accepted, nothing retrained
    res = Trainer(_method(), _data(), _cfg(2, threads=1, eval_batch_size=64, checkpoint_every=2), d).fit()
    assert res.epochs_run == 0 and res.resumed_from == 2
