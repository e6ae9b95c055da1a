"""``birdkit methods``: the transfer methods, what each needs and what it trains."""

from __future__ import annotations

import typer
from rich.table import Table

from birdkit.cli.main import app, console


@app.command("methods")
def methods(pattern: str = typer.Argument(None, help="Shell wildcard on names, e.g. 'lp*'.")) -> None:
    """List the methods: what each needs (teacher, student), where it starts, whether it aligns
    layer pairs, what `birdkit select` tunes, and whether `birdkit demo` runs it."""
    from birdkit.methods import list_methods, method_info

    names = list_methods(pattern)
    if not names:
        console.print(f"No method matches {pattern!r}. Try `birdkit methods`.")
        raise typer.Exit(1)
    t = Table(title="birdkit methods")
    for h in ("name", "needs", "starts from", "layer pairs", "tuned by select", "in demo"):
        t.add_column(h, no_wrap=h in ("name", "needs"))
    for n in names:
        i = method_info(n)
        needs = "+".join(x for x, on in (("teacher", i["uses_teacher"]), ("student", i["needs_student"])) if on)
        t.add_row(n, needs, i["starts_from"], "yes" if i["has_layers"] else "", ", ".join(i["tunable"]),
                  "yes" if i["in_benchmark"] else "")
    console.print(t)
    for n in names:
        console.print(f"[bold]{n}[/]: {method_info(n)['summary']}")
