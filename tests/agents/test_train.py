"""The three objectives against hand computations on a small batch."""

import torch
import torch.nn.functional as F

from birdkit.agents import behavior_cloning, create_policy, distill_aux, distill_soft, vocab
from birdkit.agents.experts import demonstrations
from birdkit.agents.train import encode_all

V = len(vocab())


def test_behavior_cloning_learns_the_action_tokens_only():
    torch.manual_seed(0)
    eps = demonstrations({"ambiguous": 16, "permission": 16}, 0)
    p = create_policy("transformer", V)
    ids, act, _ = encode_all(eps)
    with torch.no_grad():
        logits = p.token_logits(ids[:, :-1])
    m = act[:, 1:]
    expect = F.cross_entropy(logits[m], ids[:, 1:][m])
    losses = behavior_cloning(p, eps, steps=40, batch_size=32, lr=3e-3, seed=0)
    assert abs(losses[0] - float(expect)) < 1e-4  # the first batch is every episode: the same loss
    assert losses[-1] < 0.5 * losses[0]


def test_soft_labels_ignore_the_masked_tokens():
    torch.manual_seed(0)
    eps = demonstrations({"ambiguous": 8}, 1)
    teacher, student = create_policy("transformer", V), create_policy("transformer", V)
    with torch.no_grad():
        teacher.head.bias[vocab().id("delete")] += 50.0  # all the teacher's mass on "delete"
    start = [t.detach().clone() for t in student.parameters()]
    loss = distill_soft(student, teacher, eps, masked=["delete"], steps=1, batch_size=8, lr=1e-9, seed=0)[0]
    ids, act, _ = encode_all(eps)
    with torch.no_grad():
        for t, s0 in zip(student.parameters(), start):
            t.copy_(s0)
        m = act[:, 1:]
        drop = vocab().id("delete")
        s = student.token_logits(ids[:, :-1])[m]
        t = teacher.token_logits(ids[:, :-1])[m]
        s[:, drop], t[:, drop] = float("-inf"), float("-inf")
        ref = F.kl_div(F.log_softmax(s, -1), F.log_softmax(t, -1), log_target=True, reduction="none")
        ref = ref.nan_to_num(0.0).sum(-1).mean()
    assert abs(loss - float(ref)) < 1e-4


def test_auxiliary_distillation_matches_the_teachers_aux_logits():
    torch.manual_seed(0)
    teacher, student = create_policy("gru", V), create_policy("transformer", V)
    z = torch.randint(1, V, (16, 48))

    def gap():
        with torch.no_grad():
            return F.kl_div(F.log_softmax(student.aux_logits(z), -1), F.log_softmax(teacher.aux_logits(z), -1),
                            log_target=True, reduction="batchmean")

    before = gap()
    distill_aux(student, teacher, steps=60, batch_size=16, lr=3e-3, seed=0)
    assert gap() < 0.5 * before
