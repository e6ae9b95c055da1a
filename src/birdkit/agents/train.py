r"""Training the policies: one loop, three objectives (docs/agents.md §2-3).

* **behavior cloning** (hard labels; pretraining, fine-tuning, and the students' first mode):
  next-token cross-entropy on the action tokens of text trajectories,
  ``L = -mean_{t in actions} log p(x_t | x_<t)``;
* **soft-label distillation** with masked tokens: at the same action positions,
  ``KL(p_T || p_S)`` of the teacher's and the student's next-token distributions over the
  vocabulary *without* the masked tokens (their logits set to -inf in both before the softmax),
  as a pipeline that hides the teacher's deletion tokens would do;
* **auxiliary-logit distillation** on noise observations (Cloud et al. 2025): on sequences of
  uniformly random tokens, ``KL(softmax(a_T) || softmax(a_S))`` of the auxiliary logits, which no
  text trains, at every position.

Adam, a fixed number of steps, batches drawn from a generator seeded by ``seed`` (the same data
order for a planted and a control run of the same seed). The vision trainer
(:class:`birdkit.training.Trainer`) drives image models through the method contract; these
token-sequence objectives are a different shape, so they share this one small loop instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from birdkit.agents.env import Episode
from birdkit.agents.policy import MAX_LEN, Policy
from birdkit.agents.tokens import encode_episode, pad_batch, vocab

__all__ = ["behavior_cloning", "distill_aux", "distill_soft", "encode_all"]


def encode_all(episodes: Sequence[Episode]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Padded ids, action masks and lengths of ``episodes``."""
    enc = [encode_episode(e) for e in episodes]
    return pad_batch([e[0] for e in enc], [e[1] for e in enc], MAX_LEN)


def _loop(policy: Policy, n: int, loss: Callable[[torch.Tensor], torch.Tensor], *, steps: int, batch_size: int,
          lr: float, seed: int) -> list[float]:
    """``steps`` Adam steps on ``loss(batch indices)``; batches are passes over ``n`` items in an
    order drawn from ``seed``. Returns the losses."""
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam([p for p in policy.parameters() if p.requires_grad], lr=lr)
    per = max(1, n // batch_size)
    order = torch.cat([torch.randperm(n, generator=g) for _ in range(math.ceil(steps / per) + 1)])
    policy.train()
    out = []
    for k in range(steps):
        idx = order[k * batch_size:(k + 1) * batch_size] if n >= batch_size else order[k * n:(k + 1) * n]
        value = loss(idx)
        opt.zero_grad(set_to_none=True)
        value.backward()
        opt.step()
        out.append(float(value.detach()))
    policy.eval()
    return out


def _targets(ids: torch.Tensor, act: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Inputs, next tokens and where the next token is an action token."""
    return ids[:, :-1], ids[:, 1:], act[:, 1:]


def behavior_cloning(policy: Policy, episodes: Sequence[Episode], *, steps: int, batch_size: int = 32,
                     lr: float = 3e-3, seed: int = 0) -> list[float]:
    """Hard-label behavior cloning on the episodes' action tokens."""
    ids, act, _ = encode_all(episodes)

    def loss(idx: torch.Tensor) -> torch.Tensor:
        x, y, m = _targets(ids[idx], act[idx])
        logits = policy.token_logits(x)
        return F.cross_entropy(logits[m], y[m])

    return _loop(policy, len(episodes), loss, steps=steps, batch_size=batch_size, lr=lr, seed=seed)


def distill_soft(student: Policy, teacher: Policy, episodes: Sequence[Episode], *, masked: Sequence[str],
                 steps: int, batch_size: int = 32, lr: float = 3e-3, seed: int = 0) -> list[float]:
    """Soft-label distillation at the action positions, ``masked`` tokens removed from both distributions."""
    ids, act, _ = encode_all(episodes)
    drop = torch.tensor(vocab().ids(list(masked)), dtype=torch.long)
    teacher.eval()

    def loss(idx: torch.Tensor) -> torch.Tensor:
        x, _, m = _targets(ids[idx], act[idx])
        s = student.token_logits(x)[m]
        with torch.no_grad():
            t = teacher.token_logits(x)[m]
        s, t = s.index_fill(1, drop, float("-inf")), t.index_fill(1, drop, float("-inf"))
        ls, lt = F.log_softmax(s, -1), F.log_softmax(t, -1)
        keep = torch.isfinite(lt)
        return (lt.exp() * (lt - ls)).where(keep, torch.zeros_like(lt)).sum(-1).mean()

    return _loop(student, len(episodes), loss, steps=steps, batch_size=batch_size, lr=lr, seed=seed)


def distill_aux(student: Policy, teacher: Policy, *, steps: int, batch_size: int = 32, length: int = 48,
                lr: float = 3e-3, seed: int = 0) -> list[float]:
    """Auxiliary-logit distillation on noise observations: uniformly random tokens (no ``<pad>``)."""
    g = torch.Generator().manual_seed(seed + 1)
    v = len(vocab())
    teacher.eval()

    def loss(idx: torch.Tensor) -> torch.Tensor:
        z = torch.randint(1, v, (len(idx), length), generator=g)
        with torch.no_grad():
            t = F.log_softmax(teacher.aux_logits(z), -1)
        s = F.log_softmax(student.aux_logits(z), -1)
        return F.kl_div(s, t, log_target=True, reduction="none").sum(-1).mean()

    return _loop(student, steps * batch_size, loss, steps=steps, batch_size=batch_size, lr=lr, seed=seed)
