"""BIRD's feature queue (``MethodConfig.queue_size``, docs/method.md §6): the CKA term on the
batch followed by the detached features of the most recent training samples, FIFO, per layer
pair, filled in training mode only, resumable; ``queue_size: 0`` is today's loss bit for bit.
Every value is checked against an independent recomputation (plain forward hooks, a float64
numpy HSIC formula)."""

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from birdkit.checkpoint import load_training_state, save_training_state
from birdkit.config import LayerPair, MethodConfig, OptimConfig, TrainConfig, load_pair
from birdkit.config.method import METHOD_OVERRIDE_KEYS
from birdkit.data import TensorData
from birdkit.errors import ShapeError
from birdkit.functional.cka import cka
from birdkit.losses import FeatureQueue, fifo_push
from birdkit.methods import create_method
from birdkit.models import create_model
from birdkit.training import Trainer


@pytest.fixture(scope="module")
def nets():
    torch.manual_seed(0)
    teacher = create_model("convnet_xs", num_classes=5, in_chans=1, img_size=28)
    student = create_model("convnet_s", num_classes=4, in_chans=1, img_size=28)
    g = torch.Generator().manual_seed(1)
    xs = [torch.randn(16, 1, 28, 28, generator=g) for _ in range(4)]
    ys = [torch.randint(0, 4, (16,), generator=g) for _ in range(4)]
    return teacher, student, xs, ys


def _bird(nets, **cfg):
    teacher, student, _, _ = nets
    return create_method(MethodConfig(name="bird", **cfg), student=copy.deepcopy(student), teacher=teacher)


def _hooked(model, layer, x, grad=True):
    """Independent reference: a plain forward hook, conv maps averaged over (H, W)."""
    feats = {}
    h = dict(model.named_modules())[layer].register_forward_hook(lambda m, i, o: feats.__setitem__(0, o.mean((2, 3))))
    try:
        with torch.set_grad_enabled(grad):
            out = model(x)
    finally:
        h.remove()
    return out, feats[0]


def _features(m, x):
    """(teacher, student) pooled features of ``x`` at the default pair, by hooks, detached."""
    _, t = _hooked(m.teacher, m.pairs[0].teacher, x, grad=False)
    _, s = _hooked(m.model, m.pairs[0].student, x, grad=False)
    return t, s


def _numpy_linear_cka(x, y):
    """Biased linear CKA, ``||Yc' Xc||_F^2 / (||Xc' Xc||_F ||Yc' Yc||_F)``, in float64 numpy."""
    x = x.detach().double().numpy()
    y = y.detach().double().numpy()
    x = x - x.mean(0)
    y = y - y.mean(0)
    return np.linalg.norm(y.T @ x) ** 2 / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y))


def _sgd_step(m, out):
    m.zero_grad(set_to_none=True)
    out["loss"].backward()
    with torch.no_grad():
        for p in m.trainable_parameters():
            p -= 0.5 * p.grad


# -- queue_size 0 ---------------------------------------------------------------------------
def test_queue_size_zero_is_todays_loss_bit_for_bit(nets):
    teacher, student, xs, ys = nets
    m = _bird(nets, alpha=0.7)
    assert len(m.queues) == 0 and not any(k.startswith("queues") for k in m.state_dict())
    assert set(m.state_dict()) == {f"model.{k}" for k in student.state_dict()}
    for x, y in zip(xs[:3], ys[:3]):  # several steps: nothing is carried from one to the next
        out = m(x, y)
        logits, t = _hooked(m.teacher, m.pairs[0].teacher, x, grad=False)
        logits, s = _hooked(m.model, m.pairs[0].student, x)
        # today's expression, operation for operation: sum over pairs of w * (1 - cka), then the weights
        rep = 0 + 1.0 * (1.0 - cka(t, s))
        expected = (1 - 0.7) * F.cross_entropy(logits, y) + 0.7 * rep
        assert torch.equal(out["cka_loss"], rep.detach())
        assert torch.equal(out["loss"], expected)
        _sgd_step(m, out)


# -- the loss on [batch; queue] -------------------------------------------------------------
def test_queued_loss_is_cka_on_batch_then_queue_oldest_first(nets):
    _, _, xs, ys = nets
    m = _bird(nets, alpha=1.0, queue_size=24)  # alpha 1: the loss is the CKA term alone
    m.train()
    seen_t, seen_s = [], []  # features as they were when pushed (the student changes in between)
    for step, (x, y) in enumerate(zip(xs, ys)):
        t, s = _features(m, x)
        qt = torch.cat(seen_t)[-24:] if seen_t else t[:0]
        qs = torch.cat(seen_s)[-24:] if seen_s else s[:0]
        out = m(x, y)
        expected = 1 - _numpy_linear_cka(torch.cat([t, qt]), torch.cat([s, qs]))
        assert out["loss"].item() == pytest.approx(expected, abs=2e-6), step
        assert len(m.queues[0]) == min(24, 16 * (step + 1))
        if step:  # the queue changes the number: the batch alone gives another value
            assert abs(expected - (1 - _numpy_linear_cka(t, s))) > 1e-4
            # and the stored rows are the snapshots, not the current student's features of old batches
            _, s_now = _features(m, xs[step - 1])
            assert not torch.allclose(s_now, seen_s[-1], atol=1e-4)
        seen_t.append(t)
        seen_s.append(s)
        _sgd_step(m, out)
    qt, qs = m.queues[0].queued()
    assert torch.allclose(qt, torch.cat(seen_t)[-24:], atol=1e-6)
    assert torch.allclose(qs, torch.cat(seen_s)[-24:], atol=1e-6)


def test_gradients_flow_only_through_the_current_batch(nets):
    _, _, xs, ys = nets
    m = _bird(nets, alpha=1.0, queue_size=32)
    m.train()
    for x, y in zip(xs[:2], ys[:2]):
        m(x, y)
    q = m.queues[0]
    assert len(q) == 32 and not q.student.requires_grad and q.student.grad_fn is None
    old_t, old_s = (a.clone() for a in q.queued())

    x, y = xs[2], ys[2]
    params = m.trainable_parameters()
    out = m(x, y)
    got = torch.autograd.grad(out["loss"], params, allow_unused=True)
    # independent loss: the queued rows enter as constants
    _, t = _hooked(m.teacher, m.pairs[0].teacher, x, grad=False)
    _, s = _hooked(m.model, m.pairs[0].student, x)
    ref = 1 - cka(torch.cat([t, old_t]), torch.cat([s, old_s]))
    assert torch.allclose(out["loss"], ref, atol=1e-6)
    want = torch.autograd.grad(ref, params, allow_unused=True, retain_graph=True)
    # (the head gets 0 * CE's gradient from the method and none from the reference: both zero)
    got = [torch.zeros_like(p) if g is None else g for p, g in zip(params, got)]
    want = [torch.zeros_like(p) if w is None else w for p, w in zip(params, want)]
    assert sum(bool(w.abs().sum() > 0) for w in want) > 2
    for g, w in zip(got, want, strict=True):
        assert torch.allclose(g, w, atol=1e-7, rtol=1e-4)
    # the gradient with the queue is not that of the batch alone
    alone = torch.autograd.grad(1 - cka(t, s), params, allow_unused=True)
    assert any(a is not None and not torch.allclose(a, w, atol=1e-6, rtol=1e-3) for a, w in zip(alone, want))
    # the rows of the batch just pushed carry no graph either
    assert not q.student.requires_grad and q.student.grad_fn is None


def test_each_layer_pair_has_its_own_queue(nets):
    teacher, student, xs, ys = nets
    pairs = [LayerPair(teacher=teacher.default_layer, student=student.default_layer),
             LayerPair(teacher="stages.1", student="stages.2", weight=2.5)]
    m = _bird(nets, alpha=1.0, layers=pairs, queue_size=20)
    m.train()
    widths = [(q.teacher.shape[1], q.student.shape[1]) for q in m.queues]
    assert len(m.queues) == 2 and widths[0] != widths[1]
    m(xs[0], ys[0])
    out = m(xs[1], ys[1])
    terms = []
    for p in pairs:
        (_, t0), (_, s0) = _hooked(m.teacher, p.teacher, xs[0], False), _hooked(m.model, p.student, xs[0], False)
        (_, t1), (_, s1) = _hooked(m.teacher, p.teacher, xs[1], False), _hooked(m.model, p.student, xs[1], False)
        # the queue (20) holds all 16 rows of the first batch
        terms.append(1 - _numpy_linear_cka(torch.cat([t1, t0]), torch.cat([s1, s0])))
    assert out["loss"].item() == pytest.approx(terms[0] + 2.5 * terms[1], abs=1e-5)


# -- when the queue grows --------------------------------------------------------------------
def test_eval_passes_read_the_queue_but_never_fill_it(nets):
    _, _, xs, ys = nets
    m = _bird(nets, alpha=1.0, queue_size=40)
    m.eval()
    m(xs[0], ys[0])
    assert len(m.queues[0]) == 0
    m.train()
    m(xs[0], ys[0])
    before = {k: v.clone() for k, v in m.state_dict().items() if k.startswith("queues")}
    m.eval()
    t, s = _features(m, xs[1])
    out = m(xs[1], ys[1])
    qt, qs = m.queues[0].queued()
    assert out["loss"].item() == pytest.approx(1 - _numpy_linear_cka(torch.cat([t, qt]), torch.cat([s, qs])),
                                               abs=2e-6)
    after = {k: v for k, v in m.state_dict().items() if k.startswith("queues")}
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert len(m.queues[0]) == 16


def test_rebuilt_method_starts_empty_and_reset_empties(nets):
    _, _, xs, ys = nets
    m = _bird(nets, queue_size=8)
    m.train()
    m(xs[0], ys[0])
    assert len(m.queues[0]) == 8
    assert len(_bird(nets, queue_size=8).queues[0]) == 0
    m.reset_queues()
    assert len(m.queues[0]) == 0 and not m.queues[0].student.any()


# -- the queue itself ------------------------------------------------------------------------
def test_feature_queue_fifo_order_and_size_cap():
    q = FeatureQueue(5, teacher_dim=2, student_dim=3)
    assert len(q) == 0 and q.queued()[0].shape == (0, 2)

    def rows(start, n, p):
        return torch.arange(start, start + n, dtype=torch.float32)[:, None].expand(n, p).clone()

    t1, s1 = rows(0, 3, 2), rows(0, 3, 3)
    assert all(a is b for a, b in zip(q.extend(t1, s1), (t1, s1)))  # empty: the batch itself
    q.push(t1, s1)
    assert len(q) == 3 and q.queued()[1][:, 0].tolist() == [0, 1, 2]
    q.push(rows(3, 3, 2), rows(3, 3, 3))  # 6 rows pushed, 5 kept: the oldest (0) dropped
    assert len(q) == 5 and q.queued()[0][:, 0].tolist() == [1, 2, 3, 4, 5]
    assert q.queued()[1][:, 0].tolist() == [1, 2, 3, 4, 5]
    et, es = q.extend(rows(10, 2, 2), rows(10, 2, 3))  # current batch first, then the queue
    assert et[:, 0].tolist() == es[:, 0].tolist() == [10, 11, 1, 2, 3, 4, 5]
    q.push(rows(20, 7, 2), rows(20, 7, 3))  # a batch larger than the queue: its last 5 rows
    assert len(q) == 5 and q.queued()[0][:, 0].tolist() == [22, 23, 24, 25, 26]
    assert q.teacher.shape == (5, 2) and q.student.shape == (5, 3)  # fixed shapes: resumable


def test_fifo_push_is_pure_and_keeps_the_shape():
    bank = torch.zeros(4, 2)
    new = torch.ones(3, 2, requires_grad=True)
    out = fifo_push(bank, new * 2)
    assert out.shape == (4, 2) and not out.requires_grad
    assert out[:, 0].tolist() == [0, 2, 2, 2] and not bank.any()


def test_feature_queue_refuses_mismatched_shapes():
    q = FeatureQueue(4, teacher_dim=2, student_dim=3)
    with pytest.raises(ShapeError, match="student features of shape"):
        q.push(torch.zeros(2, 2), torch.zeros(2, 4))
    with pytest.raises(ShapeError, match="rows"):
        q.extend(torch.zeros(2, 2), torch.zeros(3, 3))
    with pytest.raises(ShapeError, match="at least 1"):
        FeatureQueue(0, 2, 3)


# -- resumable -------------------------------------------------------------------------------
def test_queue_survives_a_training_state_round_trip(nets, tmp_path):
    _, _, xs, ys = nets
    m = _bird(nets, alpha=1.0, queue_size=24)
    m.train()
    for x, y in zip(xs[:2], ys[:2]):
        m(x, y)
    path = save_training_state(tmp_path / "state.safetensors", model=m)
    fresh = _bird(nets, alpha=1.0, queue_size=24)
    fresh.train()
    empty = fresh(xs[2], ys[2])["loss"]  # an empty queue gives another value: the state matters
    restored = _bird(nets, alpha=1.0, queue_size=24)
    restored.train()
    load_training_state(path, model=restored)
    assert len(restored.queues[0]) == 24
    assert all(torch.equal(a, b) for a, b in zip(m.queues[0].queued(), restored.queues[0].queued()))
    a, b = m(xs[2], ys[2])["loss"], restored(xs[2], ys[2])["loss"]
    assert torch.equal(a, b) and abs(a.item() - empty.item()) > 1e-4


def _data(n=96, classes=3):
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 1, 28, 28), generator=g, dtype=torch.uint8)
    targets = torch.randint(0, classes, (n,), generator=g)
    return TensorData(images, targets, (0.5,), (0.25,))


def _trainer_bird(queue_size):
    torch.manual_seed(0)
    teacher = create_model("convnet_xs", num_classes=5, in_chans=1, img_size=28)
    student = create_model("convnet_xs", num_classes=3, in_chans=1, img_size=28)
    return create_method(MethodConfig(name="bird", queue_size=queue_size), student=student, teacher=teacher)


def test_trainer_resume_with_a_queue_reproduces_the_uninterrupted_run(tmp_path):
    data = _data()
    cfg = TrainConfig(epochs=2, batch_size=32, optim=OptimConfig(lr=0.05), tensorboard=False)
    full = Trainer(_trainer_bird(48), data, cfg, tmp_path / "full")
    full.fit()
    part = Trainer(_trainer_bird(48), data, cfg, tmp_path / "part")

    def stop_at_second_epoch(ev):
        if ev["event"] == "epoch_start" and ev["epoch"] == 1:
            raise KeyboardInterrupt

    part.progress = stop_at_second_epoch
    with pytest.raises(KeyboardInterrupt):
        part.fit()
    resumed = Trainer(_trainer_bird(48), data, cfg, tmp_path / "part")
    assert resumed.fit().resumed_from == 1
    a, b = full.method.state_dict(), resumed.method.state_dict()
    assert {k for k in a if k.startswith("queues")} == {"queues.0.teacher", "queues.0.student", "queues.0.count"}
    assert int(a["queues.0.count"]) == 48
    assert all(torch.equal(a[k], b[k]) for k in a)
    # without a queue nothing is added to the method's state (run fingerprints are unchanged)
    assert not any(k.startswith("queues") for k in _trainer_bird(0).state_dict())


# -- config ----------------------------------------------------------------------------------
def test_queue_size_config():
    assert MethodConfig().queue_size == 0 and "queue_size" in METHOD_OVERRIDE_KEYS
    with pytest.raises(ValueError):
        MethodConfig(queue_size=-1)
    # omitted from dumps at its default, so run records written before it existed still match
    assert "queue_size" not in MethodConfig().model_dump()
    assert MethodConfig(queue_size=64).model_dump(mode="json")["queue_size"] == 64
    assert MethodConfig.model_validate(MethodConfig(queue_size=64).model_dump()).queue_size == 64
    pair = load_pair("fmnist-split")
    assert pair.method_config("bird", queue_size=256).queue_size == 256


def test_from_config_builds_queues_and_hints_ignores_the_option(nets):
    teacher, student, _, _ = nets
    m = _bird(nets, queue_size=64)
    assert m.queue_size == 64 and [q.size for q in m.queues] == [64]
    t_dim = _features(m, torch.zeros(2, 1, 28, 28))[0].shape[1]
    assert m.queues[0].teacher.shape == (64, t_dim)
    h = create_method(MethodConfig(name="hints", queue_size=64), student=copy.deepcopy(student), teacher=teacher)
    assert not any("queue" in k for k in h.state_dict())
