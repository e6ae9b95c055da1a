r"""Small policies that read and write the environment's text: causal language models over its
tokens (docs/agents.md §2).

Two architectures, so that a student can differ from its teacher in kind: a causal transformer
(pre-norm, learned positions) and a GRU. Both map ``(B, T)`` token ids to ``(B, T, V + m)``
outputs: ``V`` next-token logits, then ``m`` *auxiliary* logits that no text ever trains (Cloud
et al.'s construction; :mod:`birdkit.agents.distill` distils them on noise). ``features`` are
the last layer's hidden states, read for the CKA between policies.

A policy acts by sampling an action line token by token from its next-token distribution,
restricted at each position to the tokens that continue an admissible action
(:func:`birdkit.agents.env.admissible`): the grammar-constrained decoding of an LLM agent.
Weights are saved as safetensors with a JSON sidecar (``birdkit.checkpoint``), never pickled.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn.utils.parametrize as P
from torch import nn

from birdkit._registry import Registry

__all__ = ["POLICIES", "GRUPolicy", "LowRankDelta", "Policy", "TransformerPolicy", "add_lora", "create_policy",
           "list_policies", "merge_lora"]

POLICIES: Registry[type[Policy]] = Registry("policy architecture")
#: longest trajectory (tokens) a policy reads; longer prefixes keep their last MAX_LEN tokens
MAX_LEN = 192


class Policy(nn.Module):
    """A causal LM over the environment's tokens with ``aux`` auxiliary outputs."""

    arch: ClassVar[str] = "base"

    def __init__(self, vocab_size: int, aux: int = 3, width: int = 64):
        super().__init__()
        self.vocab_size, self.aux, self.width = vocab_size, aux, width
        self.embed = nn.Embedding(vocab_size, width)
        self.head = nn.Linear(width, vocab_size + aux)
        self.birdkit_spec = {"arch": self.arch, "vocab_size": vocab_size, "aux": aux, "width": width}

    def features(self, ids: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """Hidden states ``(B, T, width)`` of token ids ``(B, T)``; position t sees tokens <= t."""
        raise NotImplementedError

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """``(B, T, V + aux)``: next-token logits, then the auxiliary logits."""
        return self.head(self.features(ids))

    def token_logits(self, ids: torch.Tensor) -> torch.Tensor:
        return self(ids)[..., :self.vocab_size]

    def aux_logits(self, ids: torch.Tensor) -> torch.Tensor:
        return self(ids)[..., self.vocab_size:]


@POLICIES.register("transformer")
class TransformerPolicy(Policy):
    """A causal pre-norm transformer: ``layers`` blocks of ``heads``-head attention and a 4x MLP."""

    arch = "transformer"

    def __init__(self, vocab_size: int, aux: int = 3, width: int = 64, layers: int = 2, heads: int = 4):
        super().__init__(vocab_size, aux, width)
        self.pos = nn.Parameter(torch.zeros(MAX_LEN, width))
        nn.init.normal_(self.pos, std=0.02)
        block = nn.TransformerEncoderLayer(width, heads, 4 * width, dropout=0.0, batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(block, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.birdkit_spec.update(layers=layers, heads=heads)

    def features(self, ids: torch.Tensor) -> torch.Tensor:
        t = ids.shape[1]
        x = self.embed(ids) * math.sqrt(self.width) + self.pos[:t]
        mask = nn.Transformer.generate_square_subsequent_mask(t, device=ids.device)
        return self.norm(self.blocks(x, mask=mask, is_causal=True))


@POLICIES.register("gru")
class GRUPolicy(Policy):
    """An embedding, a ``layers``-layer GRU and the output head."""

    arch = "gru"

    def __init__(self, vocab_size: int, aux: int = 3, width: int = 64, layers: int = 1):
        super().__init__(vocab_size, aux, width)
        self.rnn = nn.GRU(width, width, layers, batch_first=True)
        self.birdkit_spec.update(layers=layers)

    def features(self, ids: torch.Tensor) -> torch.Tensor:
        return self.rnn(self.embed(ids))[0]


def list_policies() -> list[str]:
    return POLICIES.registered()


def create_policy(arch: str, vocab_size: int, **kwargs) -> Policy:
    """A policy of architecture ``arch`` (``transformer``, ``gru``; close matches listed)."""
    return POLICIES.get(arch)(vocab_size, **kwargs)


class LowRankDelta(nn.Module):
    """A LoRA parametrization (Hu et al. 2021, arXiv 2106.09685): ``W + (alpha / r) B A`` with
    ``A`` (r, d_in) random, ``B`` (d_out, r) zero, so training starts from ``W`` exactly."""

    def __init__(self, shape: torch.Size, rank: int, alpha: float, generator: torch.Generator):
        super().__init__()
        d_out, d_in = shape
        self.scale = alpha / rank
        self.A = nn.Parameter(torch.randn(rank, d_in, generator=generator) / math.sqrt(d_in))
        self.B = nn.Parameter(torch.zeros(d_out, rank))

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return w + self.scale * (self.B @ self.A)


def add_lora(policy: Policy, rank: int = 4, alpha: float | None = None, seed: int = 0) -> Policy:
    """Freeze ``policy`` and give every 2-D weight matrix but the embedding a trainable low-rank
    delta (attention and MLP projections, the GRU's input and hidden weights, the head): the
    students' and teachers' fine-tuning of the agent-distillation paper (LoRA), for any
    architecture. :func:`merge_lora` folds the deltas back into plain weights."""
    g = torch.Generator().manual_seed(seed)
    for p in policy.parameters():
        p.requires_grad_(False)
    for module in list(policy.modules()):
        if module is policy.embed:
            continue
        for name, w in list(module.named_parameters(recurse=False)):
            if w.ndim == 2 and name != "pos":
                P.register_parametrization(module, name, LowRankDelta(w.shape, rank, alpha or 2.0 * rank, g))
    return policy


def merge_lora(policy: Policy) -> Policy:
    """Fold every low-rank delta into its weight (plain parameters again, all trainable)."""
    for module in list(policy.modules()):
        if P.is_parametrized(module):
            for name in list(module.parametrizations):
                P.remove_parametrizations(module, name, leave_parametrized=True)
    for p in policy.parameters():
        p.requires_grad_(True)
    return policy
