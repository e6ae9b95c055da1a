"""The ``birdkit`` command: one typer app, one sub-module per command group."""

from __future__ import annotations

import logging

import typer
from rich.console import Console
from rich.logging import RichHandler

app = typer.Typer(
    name="birdkit",
    help="Behavior transfer (BIRD) between neural networks, and audits of what transferred.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",  # docstring paragraphs reflow to the terminal's width
)
console = Console()


@app.callback()
def _root(verbose: int = typer.Option(0, "--verbose", "-v", count=True, help="-v: info logs, -vv: debug.")) -> None:
    logging.basicConfig(
        level={0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG),
        format="%(message)s",
        handlers=[RichHandler(console=Console(stderr=True), show_path=False)],
    )


def _register_commands() -> None:
    # Each command module registers itself on `app`; imported here so `birdkit --help` lists all.
    import importlib
    import pkgutil

    import birdkit.cli as pkg

    for mod in pkgutil.iter_modules(pkg.__path__):
        if mod.name.startswith("cmd_"):
            importlib.import_module(f"birdkit.cli.{mod.name}")


def main() -> None:
    _register_commands()
    from birdkit.errors import BirdkitError

    try:
        app()
    except BirdkitError as e:  # clear one-line errors for the user, no traceback
        msg = " ".join(str(e).split())  # one line, whatever the message held
        Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {msg}", highlight=False, markup=True)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
