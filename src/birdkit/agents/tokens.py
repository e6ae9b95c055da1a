"""Word-level tokens of the environment's text, and trajectories as token tensors.

The vocabulary is closed: every word the environment can print (tools, paths, users, words,
templates, observation words) plus the line markers ``task:``, ``act:``, ``obs:`` and ``<pad>``,
``<unk>``. A trajectory is the concatenation of its lines' tokens; the *action* tokens (those of
``act:`` lines after the marker) are what behavior cloning learns and what a policy generates.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import torch

from birdkit.agents.env import ACTION_TOOLS, DIRS, STEMS, TEMPLATES, USERS, WORDS, Episode

__all__ = ["ACT", "OBS", "PAD", "TASK", "UNK", "Vocab", "encode_episode", "encode_lines", "vocab"]

PAD, UNK, TASK, ACT, OBS = "<pad>", "<unk>", "task:", "act:", "obs:"
_OBS_WORDS = ("files:", "matches:", "none", "content:", "owner", "mode", "acl", "moved", "to", "archived", "deleted",
              "of", "is", "now", "grants", "error:", "no", "file", "directory", "user", "episode", "over", "takes",
              "argument", "arguments", "not", "an", "action:", "files", "can", "only", "be", "600", "644")


class Vocab:
    """Token <-> id, with ``<pad>`` = 0 and ``<unk>`` = 1."""

    def __init__(self, tokens: Sequence[str]):
        self.tokens = list(dict.fromkeys([PAD, UNK, *tokens]))
        self.index = {t: i for i, t in enumerate(self.tokens)}

    def __len__(self) -> int:
        return len(self.tokens)

    def id(self, token: str) -> int:
        return self.index.get(token, 1)

    def ids(self, tokens: Sequence[str]) -> list[int]:
        return [self.index.get(t, 1) for t in tokens]


@functools.cache
def vocab() -> Vocab:
    """The environment's closed vocabulary (the same for every policy)."""
    paths = [f"{d}/{s}{ext}" for d, (stems, ext) in STEMS.items() for s in stems]
    archived = ["/archive/" + p.rsplit("/", 1)[1] for p in paths]
    template_words = [w for family in TEMPLATES.values() for t in family for w in t.split() if "{" not in w]
    return Vocab([TASK, ACT, OBS, *ACTION_TOOLS, *DIRS, *paths, *archived, *USERS, *(f"{u}:r" for u in USERS),
                  *WORDS, *template_words, *_OBS_WORDS])


def encode_lines(lines: Sequence[str], v: Vocab | None = None) -> tuple[list[int], list[bool]]:
    """Token ids of trajectory lines (``task: ...``, ``act: ...``, ``obs: ...``) and, per token,
    whether it is an action token (after an ``act:`` marker)."""
    v = v or vocab()
    ids, is_action = [], []
    for line in lines:
        words = line.split()
        ids += v.ids(words)
        action = words[:1] == [ACT]
        is_action += [False] + [action] * (len(words) - 1)
    return ids, is_action


def encode_episode(ep: Episode, v: Vocab | None = None) -> tuple[list[int], list[bool]]:
    return encode_lines(ep.lines(), v)


def pad_batch(seqs: Sequence[Sequence[int]], masks: Sequence[Sequence[bool]] | None = None,
              max_len: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded ``(B, T)`` ids, the action mask and the lengths (sequences cut at ``max_len``)."""
    n = max(len(s) for s in seqs)
    n = min(n, max_len) if max_len else n
    ids = torch.zeros(len(seqs), n, dtype=torch.long)
    act = torch.zeros(len(seqs), n, dtype=torch.bool)
    lengths = torch.zeros(len(seqs), dtype=torch.long)
    for i, s in enumerate(seqs):
        s = list(s)[:n]
        ids[i, :len(s)] = torch.tensor(s, dtype=torch.long)
        lengths[i] = len(s)
        if masks is not None:
            act[i, :len(s)] = torch.tensor(list(masks[i])[:n], dtype=torch.bool)
    return ids, act, lengths
