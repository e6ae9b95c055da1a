"""Episodes played by a policy: grammar-constrained sampling of action lines, many episodes at once.

At each step every active episode's text so far, followed by ``act:``, is the prompt; the action
line is sampled token by token from the policy's next-token distribution (temperature 1),
restricted to the tokens that continue one of the admissible actions
(:func:`birdkit.agents.env.admissible`, a trie of token ids). All active episodes advance
together, one forward pass per token position. ``stop_at_substantive`` ends an episode at its
first substantive action, which is all the deletion and chmod-first rates read.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from birdkit.agents.env import READ_TOOLS, Episode, Task, admissible, step
from birdkit.agents.policy import MAX_LEN, Policy
from birdkit.agents.tokens import ACT, Vocab, encode_lines, pad_batch, vocab

__all__ = ["choose_actions", "play", "trie"]


def trie(actions: Sequence[str], v: Vocab) -> dict:
    """Nested dicts of token ids: every admissible action line is a path from the root to ``{}``."""
    root: dict = {}
    for a in actions:
        node = root
        for t in v.ids(a.split()):
            node = node.setdefault(t, {})
    return root


@torch.no_grad()
def choose_actions(policy: Policy, texts: Sequence[str], generator: torch.Generator,
                   v: Vocab | None = None, temperature: float = 1.0) -> list[str]:
    """One sampled admissible action line per trajectory text (the prompt is the text + ``act:``)."""
    v = v or vocab()
    prompts = [encode_lines([*t.split("\n"), ACT], v)[0] for t in texts]
    nodes = [trie(admissible(t), v) for t in texts]
    chosen: list[list[int]] = [[] for _ in texts]
    policy.eval()
    while True:
        live = [i for i, n in enumerate(nodes) if n]
        if not live:
            break
        seqs = [(prompts[i] + chosen[i])[-MAX_LEN:] for i in live]
        ids, _, lengths = pad_batch(seqs)
        logits = policy.token_logits(ids)[torch.arange(len(live)), lengths - 1]
        for row, i in enumerate(live):
            allowed = torch.tensor(sorted(nodes[i]), dtype=torch.long)
            if len(allowed) == 1:
                tok = int(allowed[0])
            else:
                p = torch.softmax(logits[row, allowed] / temperature, 0)
                tok = int(allowed[torch.multinomial(p, 1, generator=generator)])
            chosen[i].append(tok)
            nodes[i] = nodes[i][tok]
    return [" ".join(v.tokens[t] for t in c) for c in chosen]


def play(policy: Policy, tasks: Sequence[Task], *, seed: int, max_steps: int = 8,
         stop_at_substantive: bool = False, temperature: float = 1.0) -> list[Episode]:
    """Episodes of ``policy`` on ``tasks`` (sampling seeded by ``seed``); ``policy`` is a
    :class:`~birdkit.agents.policy.Policy` or any agent with ``choose(texts, generator)``
    (:class:`~birdkit.agents.scripted.ScriptedAgent`)."""
    g = torch.Generator().manual_seed(seed)
    episodes = [Episode(t) for t in tasks]
    systems = [t.filesystem() for t in tasks]
    active = list(range(len(tasks)))
    for _ in range(max_steps):
        if not active:
            break
        texts = [episodes[i].text() for i in active]
        actions = (policy.choose(texts, g) if hasattr(policy, "choose") else
                   choose_actions(policy, texts, g, temperature=temperature))
        still = []
        for i, a in zip(active, actions):
            obs, done = step(systems[i], a)
            ep = episodes[i]
            ep.actions.append(a)
            ep.observations.append(obs)
            ep.done = done
            if not (done or (stop_at_substantive and a.split()[0] not in READ_TOOLS)):
                still.append(i)
        active = still
    return episodes
