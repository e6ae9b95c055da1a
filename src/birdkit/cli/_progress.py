"""A progress display fed by the runner's and the trainer's event dicts.

On a terminal: rich progress bars, one per epoch. Otherwise (output sent to a file or a pipe,
where rich would draw nothing until the end): one plain line per stage, epoch and evaluation,
flushed as it happens.
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class TrainingProgress:
    """Callable progress sink: ``prog(event_dict)``; a context manager owning the display."""

    def __init__(self, console: Console, *, live: bool | None = None):
        self.console = console
        self.live = console.is_terminal if live is None else live
        self.title = ""
        self._p = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                           TextColumn("{task.fields[info]}"), TimeElapsedColumn(), console=console,
                           transient=False) if self.live else None
        self._stage = None
        self._task = None
        self._t0 = time.perf_counter()

    def __enter__(self) -> TrainingProgress:
        if self._p is not None:
            self._p.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self._p is not None:
            self._p.__exit__(*exc)

    def _line(self, text: str) -> None:
        elapsed = time.perf_counter() - self._t0
        self.console.print(f"[{elapsed:7.1f} s] {text}", highlight=False, soft_wrap=True)
        self.console.file.flush()

    def __call__(self, ev: dict[str, Any]) -> None:
        kind = ev.get("event")
        if kind == "run":
            self.title = ev["title"]
        elif kind == "stage":
            self._stage = ev["name"]
            if not self.live:
                self._line(f"{self.title} {self._stage}".strip())
        elif kind == "epoch_start" and self._p is not None:
            desc = f"{self.title} {self._stage or ''} ep {ev['epoch'] + 1}".strip()
            self._task = self._p.add_task(desc, total=ev["steps"], info="")
        elif kind == "step" and self._p is not None and self._task is not None:
            self._p.update(self._task, completed=ev["step"], info=f"loss {ev['loss']:.3f}")
        elif kind == "epoch_end":
            info = f"train acc {ev.get('train_acc', 0):.3f}"
            if "val_acc" in ev:
                info += f"  val acc {ev['val_acc']:.3f}"
            if self._p is not None and self._task is not None:
                self._p.update(self._task, info=info)
            elif not self.live:
                self._line(f"{self.title} {self._stage or ''} epoch {ev['epoch']}: {info} "
                           f"({ev.get('seconds', 0):.1f} s)".replace("  ", " "))
        elif kind == "study":
            eta = ev.get("eta_s")
            left = f", about {eta / 60:.0f} min left" if eta else ""
            self._line(f"study {ev['phase']}: {ev['done']}/{ev['total']} done, {ev['running']} running, "
                       f"{ev['failed']} failed{left}")
        elif kind == "evaluate":
            if self.live:
                self.console.log(f"evaluating {ev['name']}")
            else:
                self._line(f"{self.title} evaluating {ev['name']}".strip())
