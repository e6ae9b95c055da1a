"""``birdkit layers``: the named layers of a model, with output shapes and parameter counts.

The names are the ones :func:`birdkit.capture` and the ``layers`` of a BIRD/Hints config take.
Shapes come from one forward pass of a random batch of one image (``--in-chans`` x
``--img-size`` x ``--img-size``) in eval mode, so the first dimension is always 1.
"""

from __future__ import annotations

import fnmatch

import typer
from rich.table import Table

from birdkit.cli.main import app, console


def _shape(shape: tuple[int, ...] | None) -> str:
    if shape is None:
        return "[dim]not run[/]"
    return "(" + ", ".join(str(s) for s in shape) + ")"


@app.command("layers")
def layers(
    model_name: str = typer.Argument(..., help="Registered model name (see `birdkit models`)."),
    num_classes: int = typer.Option(10, "--num-classes", help="Classifier outputs."),
    in_chans: int = typer.Option(3, "--in-chans", help="Input channels."),
    img_size: int = typer.Option(32, "--img-size", help="Input height and width."),
    depth: int = typer.Option(None, "--depth", min=1, help="Only names with at most N dotted parts (1 = top level)."),
    pattern: str = typer.Option(
        None, "--filter", help="Shell wildcard on layer names ('layer4*'); without wildcards, a substring."
    ),
) -> None:
    """List a model's layers: name (what `capture` and BIRD configs take), type, output shape
    for one input image, and parameters (children included). The default BIRD layer is marked."""
    from birdkit.features.capture import list_layers
    from birdkit.models import create_model

    if pattern is not None and not any(ch in pattern for ch in "*?["):
        pattern = f"*{pattern}*"
    model = create_model(model_name, num_classes=num_classes, in_chans=in_chans, img_size=img_size)
    default = getattr(model, "default_layer", None)
    all_infos = list_layers(model)
    infos = _filter(all_infos, depth, pattern)  # one forward pass; filtered here to keep the default's shape

    total = sum(p.numel() for p in model.parameters())
    table = Table(
        title=f"{model_name} (num_classes={num_classes}, in_chans={in_chans}, img_size={img_size})",
        caption="★ default layer (BIRD and Hints guide it unless told); shapes for a batch of 1",
    )
    table.add_column("layer", no_wrap=True)
    table.add_column("type", overflow="fold")
    table.add_column("output shape", no_wrap=True)
    table.add_column("params", justify="right", no_wrap=True)
    for info in infos:
        name = info.name
        if name == default:
            name = f"[bold green]{name} ★[/]"
        table.add_row(name, info.type, _shape(info.output_shape), f"{info.num_params:,}")
    console.print(table)
    by_name = {i.name: i for i in all_infos}
    summary = f"{len(infos)} of {len(all_infos)} layers listed; {total:,} parameters in all."
    if default in by_name:
        summary += f" Default layer {default!r}: output {_shape(by_name[default].output_shape)}."
        if default not in {i.name for i in infos}:
            summary += " (not in this listing: widen --depth/--filter)"
    console.print(summary)
    if not infos:
        console.print(f"No layer matches depth={depth} filter={pattern!r}.")
        raise typer.Exit(1)


def _filter(infos: list, depth: int | None, pattern: str | None) -> list:
    return [
        i for i in infos
        if (depth is None or i.depth <= depth) and (pattern is None or fnmatch.fnmatchcase(i.name, pattern))
    ]
