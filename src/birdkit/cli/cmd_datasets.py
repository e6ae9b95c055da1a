"""``birdkit datasets``: which datasets birdkit knows, where it reads them, whether they are on disk."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from birdkit.cli.main import app, console


def _size(info: dict) -> str:
    s = info["image_size"]
    return f"{s[0]}x{s[1]}" if s else "any"


def _on_disk(info: dict) -> str:
    if info["on_disk"]:
        return "[green]yes[/]"
    if not info["looked"]:
        return f"[yellow]n/a[/]: {info['command']}"
    return f"[red]no[/]: {info['command']}"


@app.command("datasets")
def datasets(
    pattern: str = typer.Argument(None, help="Shell wildcard on names, e.g. 'fashion*'."),
    root: Path = typer.Option(None, "--root", help="Look in this folder instead of the default places."),
    download: str = typer.Option(None, "--download", metavar="NAME",
                                 help="Download NAME (fashion-mnist, cifar10, cifar100, tinyimagenet); "
                                 "needs internet."),
) -> None:
    """List the datasets: classes, image size, channels, where each is read from, and whether it is on disk."""
    from birdkit.data import create_dataset, dataset_info, list_datasets

    if download:
        for split in ("train_full", "test"):
            ds = create_dataset(download, split, root=root, download=True)
            console.print(f"{download} [{split}]: {len(ds)} images in {ds.source}")
        return
    names = list_datasets(pattern)
    if not names:
        console.print(f"No dataset matches {pattern!r}.")
        raise typer.Exit(1)
    table = Table(title="birdkit datasets", show_lines=False)
    for col in ("name", "classes", "size", "channels"):
        table.add_column(col, no_wrap=True)  # names and sizes never break mid-word
    table.add_column("where it is read from", overflow="fold", ratio=3)  # paths have no spaces to wrap at
    table.add_column("on disk?", overflow="fold", ratio=2)
    for name in names:
        info = dataset_info(name, root=root)
        where = info["location"] or (", ".join(info["looked"]) if info["looked"] else info["source"])
        if info["parent"]:
            where += f"  (classes {list(info['classes'])} of {info['parent']})"
        table.add_row(
            name,
            str(info["num_classes"]) if info["num_classes"] else "any",
            _size(info),
            str(info["in_chans"]) if info["in_chans"] else "1 or 3",
            where,
            _on_disk(info),
        )
    console.print(table)
