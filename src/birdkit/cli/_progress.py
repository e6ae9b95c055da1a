"""A rich progress display fed by the trainer's and pipeline's event dicts."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class TrainingProgress:
    """Callable progress sink: ``prog(event_dict)``; a context manager owning a rich Progress."""

    def __init__(self, console: Console):
        self.console = console
        self.title = ""
        self._p = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                           TextColumn("{task.fields[info]}"), TimeElapsedColumn(), console=console,
                           transient=False)
        self._stage = None
        self._task = None

    def __enter__(self) -> TrainingProgress:
        self._p.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._p.__exit__(*exc)

    def __call__(self, ev: dict[str, Any]) -> None:
        kind = ev.get("event")
        if kind == "stage":
            self._stage = ev["name"]
        elif kind == "epoch_start":
            desc = f"{self.title} {self._stage or ''} ep {ev['epoch'] + 1}".strip()
            self._task = self._p.add_task(desc, total=ev["steps"], info="")
        elif kind == "step" and self._task is not None:
            self._p.update(self._task, completed=ev["step"], info=f"loss {ev['loss']:.3f}")
        elif kind == "epoch_end" and self._task is not None:
            info = f"train acc {ev.get('train_acc', 0):.3f}"
            if "val_acc" in ev:
                info += f"  val acc {ev['val_acc']:.3f}"
            self._p.update(self._task, info=info)
        elif kind == "evaluate":
            self.console.log(f"evaluating {ev['name']}")
