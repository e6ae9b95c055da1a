"""The factory: names, wildcards, argument errors (matched by message), specs, the CLI table."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from birdkit.errors import BirdkitError, UnknownNameError
from birdkit.models import (
    MODELS,
    BirdkitModel,
    ModelArgumentError,
    create_model,
    list_models,
    model_info,
)


def test_unknown_name_suggests_close_matches():
    with pytest.raises(UnknownNameError, match="resnet18") as e:
        create_model("resnet19")
    assert "Unknown model 'resnet19'" in str(e.value)
    assert "birdkit models" in str(e.value)  # says how to list them all
    assert isinstance(e.value, KeyError)
    with pytest.raises(UnknownNameError, match="convnet_s"):
        create_model("convnet-s")
    with pytest.raises(UnknownNameError, match="tv_resnet18"):
        model_info("tv_resnet_18")


@pytest.mark.parametrize("bad", [0, -1, 2.0, "3", True, None])
def test_bad_in_chans(bad):
    with pytest.raises(ModelArgumentError, match=r"`in_chans` of model 'resnet18' to be a positive int, got"):
        create_model("resnet18", in_chans=bad)


@pytest.mark.parametrize("arg", ["num_classes", "img_size"])
def test_bad_sizes(arg):
    with pytest.raises(ModelArgumentError, match=rf"`{arg}`.*got 0"):
        create_model("convnet_s", **{arg: 0})


def test_argument_errors_are_birdkit_errors_and_value_errors():
    with pytest.raises(BirdkitError):
        create_model("convnet_s", in_chans=0)
    with pytest.raises(ValueError):
        create_model("convnet_s", in_chans=0)


def test_unknown_kwarg_lists_accepted_ones():
    with pytest.raises(ModelArgumentError, match=r"unexpected keyword argument\(s\) 'width'.*drop_rate"):
        create_model("convnet_s", width=3)


def test_vit_image_size_must_fit_the_patch():
    with pytest.raises(ModelArgumentError, match="divisible by patch_size"):
        create_model("vit_nano", img_size=30)
    assert create_model("vit_nano", img_size=30, patch_size=5).pos_embed.shape == (1, 37, 128)


def test_list_models_wildcards():
    assert list_models("resnet*") == ["resnet101", "resnet152", "resnet18", "resnet34", "resnet50"]
    assert list_models("convnet_x*") == ["convnet_xl", "convnet_xs", "convnet_xxs"]
    assert list_models("convnet_?") == ["convnet_l", "convnet_m", "convnet_s"]
    assert list_models("densenet1[26]9") == ["densenet169"]
    assert "tv_densenet121" in list_models("*densenet*") and "densenet121" in list_models("*densenet*")
    assert list_models("no_such_model*") == []
    assert list_models() == sorted(list_models()) == list_models(None)
    assert len(list_models()) == len(MODELS)
    tv = list_models("tv_*")
    assert {"tv_resnet18", "tv_efficientnet_b0", "tv_vit_b_16", "tv_mobilenet_v3_small"} <= set(tv)
    assert not set(list_models("resnet*")) & set(tv)


def test_torchvision_names_mirror_torchvision():
    from torchvision import models as tvm

    from birdkit.models.torchvision_models import UNSUPPORTED

    expected = {f"tv_{n}" for n in tvm.list_models(module=tvm) if n not in UNSUPPORTED}
    assert set(list_models("tv_*")) == expected


def test_model_info_fields():
    info = model_info("mobilenetv2")
    assert info["family"] == "mobilenetv2" and "Sandler" in info["description"]
    assert info["default_layer"] == "features.18" and info["params"] == 2_236_682
    tv = model_info("tv_resnet18")
    assert tv["family"] == "tv/resnet" and tv["torchvision_name"] == "resnet18" and tv["default_layer"] == "layer4"
    # sizes a model cannot take are reported, not raised
    bad = model_info("tv_vit_h_14", img_size=32)
    assert bad["params"] is None and "patch" in bad["error"]
    # the count follows the arguments
    assert model_info("resnet18", num_classes=100)["params"] == 11_173_962 + 512 * 90 + 90


def test_spec_rebuilds_with_kwargs_after_json():
    m = create_model("convnet", num_classes=4, in_chans=1, img_size=28, widths=[4, 8], depths=[1, 2])
    spec = json.loads(json.dumps(m.birdkit_spec))
    assert spec == {"name": "convnet", "num_classes": 4, "in_chans": 1, "img_size": 28,
                    "widths": [4, 8], "depths": [1, 2]}
    again = create_model(**spec)
    assert {k: v.shape for k, v in again.state_dict().items()} == {k: v.shape for k, v in m.state_dict().items()}
    again.load_state_dict(m.state_dict())
    m.eval(), again.eval()
    x = torch.randn(2, 1, 28, 28)
    torch.testing.assert_close(again(x), m(x))
    assert m.default_layer == "stages.1"


def test_spec_of_torchvision_kwargs():
    m = create_model("tv_mobilenet_v3_small", num_classes=5, dropout=0.5)
    assert m.birdkit_spec == {"name": "tv_mobilenet_v3_small", "num_classes": 5, "in_chans": 3, "img_size": 32,
                              "dropout": 0.5}
    assert m.classifier[2].p == 0.5


def test_reset_classifier_validates_and_keeps_device_dtype():
    m = create_model("convnet_xxs").double()
    m.reset_classifier(3)
    assert m.fc.weight.dtype == torch.float64 and m.fc.out_features == 3
    with pytest.raises(ValueError, match="positive int"):
        m.reset_classifier(0)


def test_reset_classifier_gives_a_fresh_head():
    torch.manual_seed(0)
    m = create_model("vit_nano")
    old = m.get_classifier()
    m.reset_classifier(10)
    assert m.get_classifier() is not old
    assert not torch.equal(m.get_classifier().weight, old.weight)


def test_every_model_is_a_birdkit_model():
    assert isinstance(create_model("convnet_xxs"), BirdkitModel)
    assert isinstance(create_model("tv_shufflenet_v2_x0_5"), BirdkitModel)


def test_library_does_not_print(capsys):
    create_model("convnet_xxs")
    model_info("resnet18")
    list_models("*")
    assert capsys.readouterr().out == ""


# -- the command line -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cli():
    from birdkit.cli import main as cli_main

    cli_main._register_commands()
    return cli_main.app


def test_cli_models_table(cli):
    from birdkit.cli.main import console

    old = console.width
    console.width = 160
    try:
        res = CliRunner().invoke(cli, ["models", "resnet1*"])
    finally:
        console.width = old
    assert res.exit_code == 0, res.output
    assert "resnet18" in res.output and "11,173,962" in res.output and "layer4" in res.output
    assert "resnet152" in res.output and "58,156,618" in res.output
    assert "convnet" not in res.output


def test_cli_models_no_match(cli):
    res = CliRunner().invoke(cli, ["models", "zzz*"])
    assert res.exit_code == 1
    assert "No model matches 'zzz*'" in res.output
