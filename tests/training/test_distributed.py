"""Data-parallel training: 2 processes (torchrun, gloo) with b images each = 1 process with 2b."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import distributed_worker as w
from birdkit.checkpoint import load_checkpoint
from birdkit.io import read_csv
from birdkit.training import Trainer
from birdkit.training.distributed import GlobalBatchNorm, convert_global_batchnorm

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    path = os.pathsep.join([str(ROOT / "src"), str(ROOT / "tests")])
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": path}
    res = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                          str(ROOT / "tests" / "distributed_worker.py"), str(out)],
                         capture_output=True, text=True, timeout=600, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    return out


def test_one_step_on_two_processes_equals_one_process_with_the_whole_batch(two_processes):
    d = w.data()
    n = 2 * w.PER_PROCESS
    x, y = d.normalize(d.images[:n].double() / 255), d.targets[:n]
    torch.set_default_dtype(torch.float64)
    try:
        m = w.method()
    finally:
        torch.set_default_dtype(torch.float32)
    m.train()
    ref = w.step(m, x, y)
    ranks = [load_file(str(two_processes / f"step-rank{r}.safetensors")) for r in (0, 1)]
    # the CKA term is the global batch's on both ranks; the mean of the ranks' losses is the global loss
    for r in ranks:
        torch.testing.assert_close(r["cka_loss"], ref["cka_loss"], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close((ranks[0]["loss"] + ranks[1]["loss"]) / 2, ref["loss"], rtol=1e-5, atol=1e-6)
    grads = [k for k in ref if k.startswith("grad.")]
    assert len(grads) > 10 and set(grads) == set(ranks[0]) - {"loss", "cka_loss"}
    for k in grads:  # DDP's averaged gradients, identical on both ranks, equal the one-process gradients
        torch.testing.assert_close(ranks[0][k], ranks[1][k], rtol=0, atol=0)
        torch.testing.assert_close(ranks[0][k], ref[k], rtol=1e-9, atol=1e-12)  # float64: the same arithmetic


def test_per_process_cka_is_each_process_s_own_rows(two_processes):
    """``distributed_cka: local``: each rank's CKA term is that of its own b rows (batch norm still global)."""
    d = w.data()
    n = 2 * w.PER_PROCESS
    x = d.normalize(d.images[:n].double() / 255)
    glob = [load_file(str(two_processes / f"step-rank{r}.safetensors"))["cka_loss"] for r in (0, 1)]
    local = [load_file(str(two_processes / f"local-rank{r}.safetensors"))["cka_loss"] for r in (0, 1)]
    torch.set_default_dtype(torch.float64)
    try:
        m = w.method()
        m.train()
        with torch.no_grad():
            _, t, s = m.paired_forward(x)  # one process, the whole batch: the same BN statistics
        for r in (0, 1):
            rows = slice(r * w.PER_PROCESS, (r + 1) * w.PER_PROCESS)
            torch.testing.assert_close(local[r], m.rep_loss(t[0][rows], s[0][rows]).reshape(1), rtol=1e-9, atol=1e-12)
    finally:
        torch.set_default_dtype(torch.float32)
    assert not torch.allclose(local[0], glob[0]) and not torch.allclose(local[0], local[1])


def test_training_on_two_processes_matches_one_process(two_processes, tmp_path):
    Trainer(w.method(), w.data(), w.train_cfg(2 * w.PER_PROCESS), tmp_path / "one").fit()
    a, _ = load_checkpoint(tmp_path / "one" / "model.safetensors")
    b, _ = load_checkpoint(two_processes / "run" / "model.safetensors")
    sa, sb = a.state_dict(), b.state_dict()
    for k in sa:  # float32: gradients agree to ~1e-4 relative per step (the float64 step test is exact)
        diff = (sa[k].float() - sb[k].float()).norm() / sa[k].float().norm().clamp_min(1e-12)
        assert diff < 2e-2, k
    one, two = read_csv(tmp_path / "one" / "metrics.csv"), read_csv(two_processes / "run" / "metrics.csv")
    for r1, r2 in zip(one, two, strict=True):
        for k in ("train_loss", "train_ce", "train_cka_loss", "train_acc"):
            assert float(r2[k]) == pytest.approx(float(r1[k]), rel=1e-3, abs=1e-6)  # float32 order of sums
    log = (two_processes / "run" / "train.log").read_text()
    assert "(2 processes x 16)" in log and log.count(" start:") == 1  # one writer
    assert '"processes": 2' in (two_processes / "run" / "run.json").read_text()


def test_global_batchnorm_is_batchnorm_in_one_process():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Flatten(),
                              torch.nn.Linear(4 * 6 * 6, 5), torch.nn.BatchNorm1d(5))
    ref = {k: v.clone() for k, v in net.state_dict().items()}
    conv = convert_global_batchnorm(net)
    assert isinstance(conv[1], GlobalBatchNorm) and isinstance(conv[4], GlobalBatchNorm)
    assert conv.state_dict().keys() == ref.keys()
    x = torch.randn(8, 1, 8, 8)
    out = conv(x)
    base = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Flatten(),
                               torch.nn.Linear(4 * 6 * 6, 5), torch.nn.BatchNorm1d(5))
    base.load_state_dict(ref)
    torch.testing.assert_close(out, base(x))
