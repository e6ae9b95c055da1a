"""``birdkit models``: the model catalogue with parameter counts and default BIRD layers."""

from __future__ import annotations

import typer
from rich.table import Table

from birdkit.cli.main import app, console


@app.command("models")
def models(
    pattern: str = typer.Argument(None, help="Shell wildcard on names, e.g. 'resnet*' or 'tv_*'."),
    num_classes: int = typer.Option(10, "--num-classes", help="Classifier outputs used for the count."),
    in_chans: int = typer.Option(3, "--in-chans", help="Input channels used for the count."),
    img_size: int = typer.Option(32, "--img-size", help="Image size used for the count (ViT position embeddings)."),
) -> None:
    """List the models: family, parameter count and default layer (the last feature block, which
    BIRD guides by default). Counts are for 10 classes, 3 channels and 32 px unless told; models
    are built without memory (meta device), so listing is fast."""
    from birdkit.models import list_models, model_info

    names = list_models(pattern)
    if not names:
        console.print(f"No model matches {pattern!r}. Try `birdkit models` or a wildcard such as 'resnet*'.")
        raise typer.Exit(1)
    table = Table(title=f"birdkit models (num_classes={num_classes}, in_chans={in_chans}, img_size={img_size})")
    table.add_column("name", no_wrap=True)
    table.add_column("family", overflow="fold")
    table.add_column("params", justify="right")
    table.add_column("default layer", overflow="fold")
    for name in names:
        info = model_info(name, num_classes=num_classes, in_chans=in_chans, img_size=img_size)
        if info["error"]:
            why = "not supported" if info["error"].startswith("UnsupportedModelError") else "not buildable at this size"
            params, layer = "[yellow]n/a[/]", f"[yellow]{why}[/]: {info['error'][:80]}"
        else:
            params, layer = f"{info['params']:,}", info["default_layer"]
        table.add_row(name, info["family"], params, layer)
    console.print(table)
