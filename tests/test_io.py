"""birdkit.io: atomic writes keep the old file on failure; CSV round-trips; JSON-able metadata."""

import csv
import math

import numpy as np
import pytest
import torch

from birdkit.io import (
    TEMP_PREFIX,
    atomic_path,
    jsonable,
    parse_value,
    read_csv,
    read_json,
    sha256_file,
    write_csv,
    write_json,
    write_text,
)


def test_atomic_write_replaces_or_keeps_the_old_file(tmp_path):
    p = tmp_path / "sub" / "f.txt"
    write_text(p, "old")
    assert p.read_text() == "old"
    with pytest.raises(RuntimeError):
        with atomic_path(p) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert p.read_text() == "old"  # the failed write left the previous version
    assert not [q for q in p.parent.iterdir() if TEMP_PREFIX in q.name]  # and no temporary
    write_text(p, "new")
    assert p.read_text() == "new"


def test_csv_round_trip_and_independent_reader(tmp_path):
    rows = [{"method": "bird", "seed": 0, "acc": 0.25, "layers": "a->b"},
            {"method": "none", "seed": 1, "acc": float("nan"), "extra": -3}]
    p = write_csv(tmp_path / "t.csv", rows)
    back = read_csv(p)
    assert back[0] == {"method": "bird", "seed": 0, "acc": 0.25, "layers": "a->b", "extra": ""}
    assert back[1]["seed"] == 1 and math.isnan(back[1]["acc"]) and back[1]["extra"] == -3
    with open(p, newline="") as f:  # the standard library reads the same table
        std = list(csv.DictReader(f))
    assert list(std[0]) == ["method", "seed", "acc", "layers", "extra"] and std[0]["acc"] == "0.25"


@pytest.mark.parametrize("text, value", [("3", 3), ("-3", -3), ("3.0", 3.0), ("1e3", 1000.0), ("", ""),
                                         ("True", "True"), ("a", "a")])
def test_parse_value(text, value):
    got = parse_value(text)
    assert got == value and type(got) is type(value)


def test_jsonable_and_json_files(tmp_path):
    obj = {"t": torch.tensor([1.0, 2.0]), "s": torch.tensor(3), "n": np.float32(0.5), "a": np.arange(2),
           "p": tmp_path, "tup": (1, 2), "d": torch.float32}
    got = jsonable(obj)
    assert got == {"t": [1.0, 2.0], "s": 3, "n": 0.5, "a": [0, 1], "p": str(tmp_path), "tup": [1, 2],
                   "d": "torch.float32"}
    with pytest.raises(TypeError, match=r"meta\.x holds a object"):
        jsonable({"x": object()}, "meta")
    assert jsonable(object(), strict=False).startswith("<object")
    write_json(tmp_path / "m.json", got)
    assert read_json(tmp_path / "m.json") == got


def test_sha256_file(tmp_path):
    import hashlib

    p = tmp_path / "b"
    p.write_bytes(b"x" * 10_000_000)
    assert sha256_file(p, chunk=1 << 16) == hashlib.sha256(b"x" * 10_000_000).hexdigest()


def _hold(path, seconds=30):
    """A separate process holding ``path``'s directory lock until killed."""
    import subprocess
    import sys
    import time

    code = ("import sys, time\nfrom birdkit.io import directory_lock\n"
            f"with directory_lock({str(path)!r}):\n    print('held', flush=True)\n    time.sleep({seconds})\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    time.sleep(0.05)
    return proc


def test_directory_lock_refuses_a_second_writer_and_dies_with_its_holder(tmp_path):
    import pytest

    from birdkit.errors import RunLockedError
    from birdkit.io import directory_lock

    proc = _hold(tmp_path / "run")
    try:
        with pytest.raises(RunLockedError, match=f"being written by process {proc.pid}"):
            with directory_lock(tmp_path / "run"):
                pass
    finally:
        proc.kill()
        proc.wait()
    with directory_lock(tmp_path / "run"):  # a killed holder leaves no stale lock
        with directory_lock(tmp_path / "run"):  # re-entrant in one process
            pass


def test_a_trainer_refuses_a_run_directory_another_process_is_writing(tmp_path):
    import pytest
    import torch

    from birdkit.config import TrainConfig
    from birdkit.data import TensorData
    from birdkit.errors import RunLockedError
    from birdkit.methods import create_method
    from birdkit.models import create_model
    from birdkit.training import Trainer

    data = TensorData(torch.randint(0, 255, (64, 1, 28, 28), dtype=torch.uint8), torch.arange(64) % 2, (0.5,),
                      (0.25,))
    net = create_model("convnet_xxs", num_classes=2, in_chans=1, img_size=28)
    trainer = Trainer(create_method("task", student=net), data, TrainConfig(epochs=1, batch_size=32, tensorboard=False),
                      tmp_path / "run")
    proc = _hold(tmp_path / "run")
    try:
        with pytest.raises(RunLockedError):
            trainer.fit()
        assert not (tmp_path / "run" / "metrics.csv").exists() and not (tmp_path / "run" / "run.json").exists()
    finally:
        proc.kill()
        proc.wait()
    trainer.fit()
    assert (tmp_path / "run" / "model.safetensors").is_file()


def test_json_diff_names_dotted_paths_and_shortens_values():
    from birdkit.io import json_diff

    a = {"train": {"seed": 0, "optim": {"lr": 0.05}}, "name": "x" * 60, "same": [1, 2]}
    b = {"train": {"seed": 1, "optim": {"lr": 0.05}}, "name": "y", "same": [1, 2], "new": None}
    d = json_diff(a, b)
    assert d == ['name: "' + "x" * 36 + '... -> "y"', "train.seed: 0 -> 1"]  # a missing key reads as null
    assert json_diff({"a": 1}, {"a": 1}) == []
