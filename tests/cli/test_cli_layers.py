"""``birdkit layers``: the table of layer names, types, shapes and parameters, with the default
layer marked; depth and name filters; unknown models reported with close matches."""

from __future__ import annotations

import torch
from typer.testing import CliRunner

from birdkit.cli import main as cli_main
from birdkit.errors import UnknownNameError

cli_main._register_commands()
app = cli_main.app
runner = CliRunner()

MNIST_NET = ["layers", "convnet_xs", "--in-chans", "1", "--img-size", "28", "--num-classes", "3"]


def _rows(output: str) -> dict[str, list[str]]:
    """Table rows by layer name: the cells between the box-drawing bars."""
    rows = {}
    for line in output.splitlines():
        if line.startswith("│"):
            cells = [c.strip() for c in line.strip("│").split("│")]
            rows[cells[0].replace(" ★", "")] = cells
    return rows


def test_help_lists_the_command():
    r = runner.invoke(app, ["--help"])
    assert r.exit_code == 0 and "layers" in r.output


def test_table_with_default_marked():
    from birdkit.models import create_model

    r = runner.invoke(app, MNIST_NET)
    assert r.exit_code == 0, r.output
    model = create_model("convnet_xs", num_classes=3, in_chans=1, img_size=28)
    names = [n for n, _ in model.named_modules() if n]
    rows = _rows(r.output)
    assert list(rows) == names  # every named module, in order
    default = model.default_layer
    assert f"{default} ★" in r.output
    feats = model.eval().forward_features(torch.randn(1, 1, 28, 28))
    assert rows[default][2] == str(tuple(feats.shape))
    fc = rows[model.classifier_name]
    fc_params = sum(p.numel() for p in model.get_classifier().parameters())
    assert fc[1] == "Linear" and fc[2] == "(1, 3)" and fc[3] == f"{fc_params:,}"
    total = sum(p.numel() for p in model.parameters())
    assert f"{len(names)} of {len(names)} layers listed; {total:,} parameters" in r.output
    assert "default layer" in r.output


def test_depth_and_filter():
    r = runner.invoke(app, [*MNIST_NET, "--depth", "2"])
    assert r.exit_code == 0, r.output
    assert all(name.count(".") <= 1 for name in _rows(r.output))
    r = runner.invoke(app, [*MNIST_NET, "--filter", "conv2"])  # no wildcard: substring
    rows = _rows(r.output)
    assert rows and all("conv2" in n for n in rows)
    r = runner.invoke(app, [*MNIST_NET, "--filter", "stages.1*", "--depth", "2"])
    assert list(_rows(r.output)) == ["stages.1"]
    assert "not in this listing" in r.output  # the default layer was filtered out


def test_filter_without_match_fails():
    r = runner.invoke(app, [*MNIST_NET, "--filter", "no_such_layer"])
    assert r.exit_code == 1 and "No layer matches" in r.output


def test_torchvision_model():
    r = runner.invoke(app, ["layers", "tv_resnet18", "--depth", "1"])
    assert r.exit_code == 0, r.output
    rows = _rows(r.output)
    assert rows["fc"][2] == "(1, 10)" and rows["layer4"][1] == "Sequential"
    assert "layer4 ★" in r.output


def test_unknown_model_suggests():
    r = runner.invoke(app, ["layers", "convnet_xss"])
    assert isinstance(r.exception, UnknownNameError)
    assert "Did you mean: 'convnet_xs'" in str(r.exception)


def test_bad_depth_is_a_usage_error():
    r = runner.invoke(app, [*MNIST_NET, "--depth", "0"])
    assert r.exit_code == 2
