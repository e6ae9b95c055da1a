"""``torchrun -m birdkit transfer`` with 2 CPU processes: killed after an epoch, resumed, and
equal to one process holding the whole batch (docs/distributed.md)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from birdkit.io import read_csv
from clitools import invoke_ok

ROOT = Path(__file__).resolve().parents[2]
COMMON = ["--dataset", "fashion-mnist", "--classes", "5-9", "--max-samples", "512", "--epochs", "6", "--lr", "0.05"]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("torchrun")
    common = ["--dataset", "fashion-mnist", "--epochs", "1", "--max-samples", "256"]
    invoke_ok(["train", "--model", "convnet_xxs", "--classes", "0-4", "--out", str(d / "teacher"), *common])
    invoke_ok(["train", "--model", "convnet_xs", "--classes", "5-9", "--out", str(d / "student"), *common])
    return d


def _transfer_args(d: Path, out: str, batch: int) -> list[str]:
    return ["transfer", "--method", "bird", "--teacher", str(d / "teacher" / "model.safetensors"), "--student",
            str(d / "student" / "model.safetensors"), *COMMON, "--batch-size", str(batch), "--out", str(d / out)]


def _torchrun(d: Path, out: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT / "src")}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "birdkit",
           *_transfer_args(d, out, 32)]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def test_torchrun_transfer_resumes_after_a_kill_and_matches_one_process(models):
    d = models
    invoke_ok(_transfer_args(d, "one", 64))
    proc = _torchrun(d, "two")
    metrics, deadline = d / "two" / "metrics.csv", time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if metrics.is_file() and len(read_csv(metrics)) >= 2:
            break
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()[0][-3000:]
    os.killpg(proc.pid, signal.SIGKILL)  # torchrun and both workers
    proc.wait()
    done = len(read_csv(metrics))
    assert 2 <= done < 6 and not (d / "two" / "model.safetensors").exists()
    proc = _torchrun(d, "two")
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out[-3000:]
    log = (d / "two" / "train.log").read_text()
    assert "resume at epoch" in log and "(2 processes x 32)" in log
    one, two = read_csv(d / "one" / "metrics.csv"), read_csv(d / "two" / "metrics.csv")
    assert len(one) == len(two) == 6
    for r1, r2 in zip(one, two, strict=True):  # float32: the two sum in different orders
        for k in ("train_loss", "train_ce", "train_cka_loss", "train_acc", "val_acc"):
            tol = 0.01 if k.endswith("acc") else 2e-3  # an accuracy moves in steps of one image (1/512)
            assert float(r2[k]) == pytest.approx(float(r1[k]), rel=tol, abs=tol), (r1["epoch"], k, r1[k], r2[k])
