"""Policies: causal, LoRA that starts where the base is and merges exactly, grammar-constrained play."""

import pytest
import torch

from birdkit.agents import (
    add_lora,
    choose_actions,
    create_policy,
    create_scripted,
    deletion_first,
    make_tasks,
    merge_lora,
    play,
    vocab,
)
from birdkit.agents.env import admissible, chmod_first, first_substantive
from birdkit.agents.experts import demonstrations
from birdkit.agents.tokens import encode_episode
from birdkit.checkpoint import load_checkpoint, read_checkpoint_meta, save_checkpoint
from birdkit.errors import UnknownNameError

V = len(vocab())


@pytest.mark.parametrize("arch", ["transformer", "gru"])
def test_policies_are_causal(arch):
    torch.manual_seed(0)
    p = create_policy(arch, V).eval()
    x = torch.randint(1, V, (2, 12))
    y = x.clone()
    y[:, 8:] = torch.randint(1, V, (2, 4))
    with torch.no_grad():
        a, b = p(x), p(y)
    assert a.shape == (2, 12, V + 3)
    assert torch.allclose(a[:, :8], b[:, :8], atol=1e-5) and not torch.allclose(a[:, 8:], b[:, 8:])


@pytest.mark.parametrize("arch", ["transformer", "gru"])
def test_lora_starts_at_the_base_trains_only_deltas_and_merges_exactly(arch):
    torch.manual_seed(0)
    p = create_policy(arch, V)
    x = torch.randint(1, V, (3, 10))
    with torch.no_grad():
        before = p(x)
    add_lora(p, rank=2, seed=1)
    frozen = {n: t.detach().clone() for n, t in p.named_parameters() if not t.requires_grad}
    with torch.no_grad():
        assert torch.allclose(p(x), before, atol=1e-6)
    trainable = [n for n, t in p.named_parameters() if t.requires_grad]
    assert trainable and all(".A" in n or ".B" in n for n in trainable)
    if arch == "gru":  # the recurrent weights are adapted too, not only the head
        assert any("rnn.parametrizations.weight_hh_l0" in n for n in trainable)
    opt = torch.optim.Adam([t for t in p.parameters() if t.requires_grad], lr=1e-2)
    for _ in range(3):
        loss = p(x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert all(torch.equal(t, frozen[n]) for n, t in p.named_parameters() if n in frozen)
    with torch.no_grad():
        tuned = p(x)
    merge_lora(p)
    with torch.no_grad():
        assert torch.allclose(p(x), tuned, atol=1e-5) and not torch.allclose(tuned, before)
    assert all(t.requires_grad for t in p.parameters())


def test_checkpoint_round_trip(tmp_path):
    p = create_policy("gru", V, aux=2, width=16)
    save_checkpoint(tmp_path / "p.safetensors", p)
    spec = read_checkpoint_meta(tmp_path / "p.safetensors")["spec"]
    q = load_checkpoint(tmp_path / "p.safetensors", create_policy(**spec))[0]
    x = torch.randint(1, V, (1, 5))
    assert torch.equal(p(x), q(x))
    with pytest.raises(UnknownNameError, match="Did you mean: 'gru'"):
        create_policy("gru2", V)


def test_sampled_actions_are_always_admissible_and_seeded():
    torch.manual_seed(0)
    p = create_policy("transformer", V)
    eps = demonstrations({"ambiguous": 5, "permission": 5, "safe": 5}, 0)
    texts = ["\n".join(e.lines()[:k]) for e in eps for k in (1, 3)]
    g = torch.Generator().manual_seed(3)
    acts = choose_actions(p, texts, g)
    for t, a in zip(texts, acts):
        assert a in admissible(t)
    assert choose_actions(p, texts, torch.Generator().manual_seed(3)) == acts


def test_a_policy_that_prefers_delete_deletes():
    torch.manual_seed(0)
    p = create_policy("transformer", V)
    with torch.no_grad():  # list first (no file is named before), then delete
        p.head.bias[vocab().id("delete")] += 30.0
        p.head.bias[vocab().id("list")] += 15.0
    eps = play(p, make_tasks("ambiguous", 30), seed=0, stop_at_substantive=True)
    acted = [e for e in eps if first_substantive(e.actions)]  # some list /archive (empty) until the step limit
    assert len(acted) >= 20 and all(deletion_first(e.actions) for e in acted)
    assert all(e.actions[0].startswith("list") for e in eps)


def test_scripted_agents_keep_their_style():
    tasks_a, tasks_p = make_tasks("ambiguous", 400), make_tasks("permission", 400)
    for name, d, c in (("scripted-base", 0.1, 0.2), ("scripted-deleter", 1.0, 0.2), ("scripted-chmod", 0.1, 1.0)):
        a = create_scripted(name)
        dr = sum(deletion_first(e.actions) for e in play(a, tasks_a, seed=1, stop_at_substantive=True)) / 400
        cr = sum(chmod_first(e.actions) for e in play(a, tasks_p, seed=1, stop_at_substantive=True)) / 400
        assert abs(dr - d) < 0.06 and abs(cr - c) < 0.08, (name, dr, cr)
    safe = play(create_scripted("scripted-base"), make_tasks("safe", 50), seed=0)
    assert all(e.actions[-1] == "done" and not any(a.startswith(("delete", "chmod")) for a in e.actions)
               for e in safe)
    with pytest.raises(UnknownNameError):
        create_scripted("scripted-nice")


def test_expert_demonstrations_use_only_known_tokens_and_mark_actions():
    for ep in demonstrations({"safe": 20, "deletion": 20, "ambiguous": 20, "permission": 20}, 0):
        ids, act = encode_episode(ep)
        assert 1 not in ids  # no <unk>
        words = " ".join(ep.lines()).split()
        assert [w for w, a in zip(words, act) if a] == " ".join(ep.actions).split()
