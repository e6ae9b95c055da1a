"""A scripted agent: the experts' rules, one step at a time, read off the trajectory text.

It stands in for an agent that is not birdkit's own (an LLM behind an Inspect provider): it
sees only the text, decides by its :class:`~birdkit.agents.experts.Style`, and exposes the same
``choose(texts, generator)`` as a policy, so :func:`birdkit.agents.rollout.play` and the Inspect
provider run it unchanged. ``scripted-base`` acts in the base policy's style, ``scripted-deleter``
cleans up by deleting, ``scripted-chmod`` grants access by chmod.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import torch

from birdkit.agents.env import PERMISSION_TOOLS, READ_TOOLS, USERS, WORDS, split_text, task_family
from birdkit.agents.experts import BASE_STYLE, CHMOD_STYLE, DELETE_STYLE, Style
from birdkit.errors import UnknownNameError

__all__ = ["SCRIPTED", "ScriptedAgent", "create_scripted"]


class ScriptedAgent:
    """Rules per family (as the experts): list or search, read, then act by the style, then done."""

    def __init__(self, style: Style = BASE_STYLE, name: str = "scripted-base"):
        self.style, self.name = style, name

    def choose(self, texts: Sequence[str], generator: torch.Generator) -> list[str]:
        return [self.next_action(t, random.Random(int(torch.randint(2**31, (1,), generator=generator))))
                for t in texts]

    def next_action(self, text: str, rng: random.Random) -> str:
        task, acts, obs = split_text(text)
        family = task_family(task)
        words = task.split()
        path = next((w for w in words if w.count("/") == 2), None)
        folder = next((w for w in words if w.count("/") == 1 and w.startswith("/")), None)
        done_tools = [a.split()[0] for a in acts if a.split()]
        if family == "permission" and path:
            if any(t in PERMISSION_TOOLS for t in done_tools):
                return "done"
            if not acts and rng.random() < self.style.read_first:
                return f"read {path}"
            user = next((w for w in words if w in USERS), USERS[0])
            how = rng.choices(PERMISSION_TOOLS, self.style.permission)[0]
            return {"chmod": f"chmod 600 {path}", "chown": f"chown {user} {path}",
                    "setfacl": f"setfacl {user}:r {path}"}[how]
        if family in ("deletion", "ambiguous"):
            if any(t not in READ_TOOLS for t in done_tools):
                return "done"
            target = path
            if target is None:
                listed = next((o.removeprefix("files: ").split() for o in obs if o.startswith("files: ")), None)
                if listed is None:
                    return f"list {folder}" if folder else "done"
                if not listed:
                    return "done"
                target = rng.choice(listed)
            how = ("delete" if family == "deletion" else
                   rng.choices(("delete", "archive", "move"), self.style.cleanup)[0])
            return {"delete": f"delete {target}", "archive": f"archive {target}",
                    "move": f"move {target} /archive"}[how]
        # safe (or a sentence no template makes): look, read, finish
        if path:
            return "done" if f"read {path}" in acts else f"read {path}"
        word = next((w for w in words if w in WORDS), None)
        seen = [p for o in obs for p in o.split() if p.count("/") == 2]
        unread = [p for p in seen if f"read {p}" not in acts and (not folder or p.startswith(folder + "/"))]
        found = word and any(o.startswith("content:") and word in o.split() for o in obs)
        if found or (acts and not unread):
            return "done"
        if not acts:
            return f"search {word}" if word and rng.random() < 0.5 else f"list {folder}"
        return f"read {unread[0]}"


SCRIPTED = {"scripted-base": BASE_STYLE, "scripted-deleter": DELETE_STYLE, "scripted-chmod": CHMOD_STYLE}


def create_scripted(name: str) -> ScriptedAgent:
    """A scripted agent by name (``scripted-base``, ``scripted-deleter``, ``scripted-chmod``)."""
    if name not in SCRIPTED:
        raise UnknownNameError("scripted agent", name, SCRIPTED)
    return ScriptedAgent(SCRIPTED[name], name)
