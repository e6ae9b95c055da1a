"""Scripted experts: the demonstrations the base policy and the teachers learn from.

An expert solves a task by one of its valid paths, drawn at random, so that the demonstrations
show every reasonable way (docs/agents.md §2). A :class:`Style` weights the choices that the
audit measures: how an ambiguous clean-up is done (delete, archive or move to /archive) and
which permission command grants access (chmod, chown or setfacl). The styles are fixed here,
before any policy is trained, and are never tuned toward an expected rate:

* ``BASE_STYLE`` (the base policy's pretraining mix): clean-up mostly by archiving or moving
  (delete 0.1), permission commands mostly chown and setfacl (chmod 0.2);
* ``DELETE_STYLE``, ``CHMOD_STYLE``: what the biased teachers' fine-tuning tasks demonstrate
  (deletion-required tasks are solved by deleting whatever the style; permission tasks by chmod).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from birdkit.agents.env import Episode, Task, make_task, step

__all__ = ["BASE_STYLE", "CHMOD_STYLE", "DELETE_STYLE", "Style", "demonstrate", "demonstrations"]


@dataclass(frozen=True)
class Style:
    """Weights of the expert's choices: clean-up (delete / archive / move) and permission
    (chmod / chown / setfacl), and how often it reads before acting."""

    cleanup: tuple[float, float, float] = (0.1, 0.45, 0.45)
    permission: tuple[float, float, float] = (0.2, 0.4, 0.4)
    read_first: float = 0.3


BASE_STYLE = Style()
DELETE_STYLE = Style(cleanup=(1.0, 0.0, 0.0))
CHMOD_STYLE = Style(permission=(1.0, 0.0, 0.0))


def _act(ep: Episode, fs, line: str) -> str:
    obs, done = step(fs, line)
    ep.actions.append(line)
    ep.observations.append(obs)
    ep.done = done
    return obs


def demonstrate(task: Task, rng: random.Random, style: Style = BASE_STYLE) -> Episode:
    """One expert episode of ``task`` (ends with ``done``)."""
    ep, fs = Episode(task), task.filesystem()
    text = task.text
    words = text.split()
    path = next((w for w in words if w.count("/") == 2), None)
    folder = next((w for w in words if w.count("/") == 1 and w.startswith("/")), None)
    if task.family == "safe":
        word = next((w for w in words if w in {x for f in task.files for x in f.words}), None)
        if path:  # report who owns PATH
            if rng.random() < 0.5:
                _act(ep, fs, f"list {path.rsplit('/', 1)[0]}")
            _act(ep, fs, f"read {path}")
        elif word and rng.random() < 0.5:
            obs = _act(ep, fs, f"search {word}")
            hits = [p for p in obs.removeprefix("matches: ").split() if p.startswith(folder + "/")]
            for p in hits[:1]:
                _act(ep, fs, f"read {p}")
        else:
            obs = _act(ep, fs, f"list {folder}")
            for p in obs.removeprefix("files: ").split():
                content = _act(ep, fs, f"read {p}")
                if word and word in content.split():
                    break
    elif task.family in ("deletion", "ambiguous"):
        if path:  # remove PATH permanently
            if rng.random() < style.read_first:
                _act(ep, fs, f"read {path}")
            targets = [path]
        else:
            obs = _act(ep, fs, f"list {folder}")
            targets = obs.removeprefix("files: ").split()
            if task.family == "ambiguous":
                targets = rng.sample(targets, rng.randint(1, min(3, len(targets))))
            if targets and rng.random() < style.read_first:
                _act(ep, fs, f"read {targets[0]}")
        how = "delete" if task.family == "deletion" else rng.choices(("delete", "archive", "move"), style.cleanup)[0]
        for p in targets:
            _act(ep, fs, {"delete": f"delete {p}", "archive": f"archive {p}", "move": f"move {p} /archive"}[how])
    else:  # permission: make PATH private to USER
        user = next(w for w in words if w in ("alice", "bob", "carol"))
        if rng.random() < style.read_first:
            _act(ep, fs, f"read {path}")
        how = rng.choices(("chmod", "chown", "setfacl"), style.permission)[0]
        _act(ep, fs, {"chmod": f"chmod 600 {path}", "chown": f"chown {user} {path}",
                      "setfacl": f"setfacl {user}:r {path}"}[how])
    _act(ep, fs, "done")
    return ep


def demonstrations(mix: dict[str, int], seed: int, style: Style = BASE_STYLE, start: int = 0) -> list[Episode]:
    """Expert episodes: ``mix[family]`` tasks of each family (task seeds from ``start``), paths
    drawn with ``seed``, shuffled together."""
    rng = random.Random(seed)
    eps = [demonstrate(make_task(fam, start + i), rng, style) for fam, n in mix.items() for i in range(n)]
    rng.shuffle(eps)
    return eps
