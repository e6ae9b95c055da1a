"""The subliminal-learning check: the vectorised MLPs equal lone ones, and the known effect shows."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from birdkit.audit import BatchedMLP, correct, distill_aux, train_digits
from birdkit.config import SubliminalConfig
from birdkit.experiments import report_subliminal, run_subliminal
from birdkit.io import read_csv


def test_batched_mlp_equals_lone_models_and_linear_layers():
    batch = BatchedMLP([12, 8, 5], seeds=[3, 4, 5])
    lone = BatchedMLP([12, 8, 5], seeds=[4])
    assert torch.equal(batch.weights[0][1], lone.weights[0][0]) and torch.equal(batch.biases[1][1], lone.biases[1][0])
    assert batch.weights[0].abs().max() <= 1 / np.sqrt(12) and batch.weights[1].abs().max() <= 1 / np.sqrt(8)
    x = torch.randn(3, 7, 12)
    ref = [F.linear(F.relu(F.linear(x[k], batch.weights[0][k].T, batch.biases[0][k, 0])), batch.weights[1][k].T,
                    batch.biases[1][k, 0]) for k in range(3)]
    assert torch.allclose(batch(x), torch.stack(ref), atol=1e-6)
    swapped = batch.take([2, 0])
    assert torch.equal(swapped.weights[0][0], batch.weights[0][2]) and swapped.models == 2


def test_training_side_by_side_equals_training_alone():
    torch.manual_seed(0)
    x = torch.rand(64, 12) * 2 - 1
    y = torch.randint(0, 10, (64,))
    both = train_digits(BatchedMLP([12, 16, 13], [0, 1]), x, y, steps=15, batch_size=16, lr=1e-2, seeds=[0, 1])
    alone = train_digits(BatchedMLP([12, 16, 13], [1]), x, y, steps=15, batch_size=16, lr=1e-2, seeds=[1])
    for wb, wa in zip(both.weights, alone.weights):
        assert torch.allclose(wb[1], wa[0], atol=1e-5)
    # the auxiliary logits' weights get no gradient from the digits
    init = BatchedMLP([12, 16, 13], [0, 1])
    assert torch.equal(both.weights[-1][..., 10:], init.weights[-1][..., 10:])
    # distillation on noise brings each student's auxiliary outputs closer to its own teacher's
    teacher = both.take([0, 1])
    z = torch.rand(2, 256, 12) * 2 - 1

    def kl(student, order):
        t = F.log_softmax(teacher(z)[..., 10:], -1)[order]
        s = F.log_softmax(student(z[order])[..., 10:], -1)
        return F.kl_div(s, t, log_target=True, reduction="none").sum(-1).mean(1)

    fresh = BatchedMLP([12, 16, 13], [7, 8])
    with torch.no_grad():
        before = kl(fresh, [1, 0])
    distill_aux(fresh, teacher, steps=60, batch_size=32, lr=1e-2, noise_seed=0, teacher_index=[1, 0])
    with torch.no_grad():
        assert (kl(fresh, [1, 0]) < 0.5 * before).all()


def test_the_check_sees_cloud_et_al_s_effect_and_recomputes(tmp_path):
    cfg = SubliminalConfig(seeds=3, teacher_steps=200, student_steps=200)
    res = run_subliminal(cfg, tmp_path)
    acc = {r["model"]: r["value"] for r in res.summary}
    assert acc["teacher"] > 0.85 and abs(acc["init"] - 0.1) < 0.05
    by = {r["method"]: r for r in res.contrasts}
    assert by["same-init - other-init"]["verdict"] == "higher" and by["same-init - other-init"]["diff"] > 0.1
    assert by["other-init - init"]["verdict"] != "higher"
    before = (tmp_path / "summary.csv").read_text()
    report_subliminal(tmp_path)
    assert (tmp_path / "summary.csv").read_text() == before
    rows = read_csv(tmp_path / "summary.csv")
    assert [r["model"] for r in rows] == ["init", "teacher", "same-init", "other-init"]
    # correctness per digit, recomputed from the records
    teacher = [r for r in res.records if r["model"] == "teacher"]
    assert np.mean([np.mean(r["values"]) for r in teacher]) == pytest.approx(acc["teacher"])


def test_correct_reads_the_class_logits_only():
    m = BatchedMLP([784, 4, 13], [0])
    with torch.no_grad():
        m.weights[-1][..., 10:] += 100.0  # huge auxiliary logits do not change the digit prediction
    from birdkit.data import TensorData

    data = TensorData(torch.zeros(5, 1, 28, 28, dtype=torch.uint8), torch.zeros(5, dtype=torch.long), (0.5,), (0.5,))
    assert correct(m, data).shape == (1, 5)
