"""Shared fixtures of the checkpoint tests: a small model with embeddings, batch norm and
optional tied weights (``net_cls``), and a state-dict equality check (``same_state``).
Fixtures, because test modules are not a package."""

from __future__ import annotations

import pytest
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, hidden=6, tie=False):
        super().__init__()
        self.emb = nn.Embedding(5, hidden)
        self.body = nn.Sequential(nn.Linear(hidden, hidden), nn.BatchNorm1d(hidden), nn.ReLU())
        self.out = nn.Linear(hidden, 5, bias=False)
        if tie:
            self.out.weight = self.emb.weight

    def forward(self, idx):
        return self.out(self.body(self.emb(idx)))


def _same_state(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture
def net_cls():
    """The test model's class: ``net_cls(hidden=6, tie=False)``."""
    return Net


@pytest.fixture
def same_state():
    """``same_state(a, b)``: the two modules have the same state-dict keys and equal tensors."""
    return _same_state
