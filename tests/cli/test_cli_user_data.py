"""A new user's own data by flags alone, and bad input refused in one line (no traceback).

The image folders are generated here: grayscale 28x28 PNGs of two classes told apart by where a
bright bar sits (a task a small CNN learns in one epoch), and an RGB copy of them at 32x32.
"""


import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from birdkit.cli.main import _register_commands, app
from birdkit.io import read_csv
from clitools import cli as _cli
from clitools import invoke_ok
from clitools import one_line_error as _one_line_error

_register_commands()
runner = CliRunner()


def _write_folder(root, mode="L", size=28, per_class=(48, 16), seed=0):
    rng = np.random.default_rng(seed)
    for split, n in zip(("train", "test"), per_class):
        for c, name in enumerate(("left", "right")):
            d = root / split / name
            d.mkdir(parents=True)
            for i in range(n):
                img = rng.integers(0, 60, (size, size), dtype=np.uint8)
                cols = slice(2, size // 2 - 2) if c == 0 else slice(size // 2 + 2, size - 2)
                img[:, cols] = rng.integers(180, 255)
                im = Image.fromarray(img, "L")
                (im.convert("RGB") if mode == "RGB" else im).save(d / f"{i:03d}.png")
    return root


def _ok(args):
    return invoke_ok(args, width=200)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    d = tmp_path_factory.mktemp("userdata")
    return _write_folder(d / "gray"), _write_folder(d / "rgb", mode="RGB", size=32, seed=1), d


def test_gray_image_folder_train_transfer_evaluate_report_by_flags(folders):
    gray, _, d = folders
    data = ["--dataset", "imagefolder", "--root", str(gray), "--channels", "1"]
    _ok(["train", "--model", "convnet_xxs", *data, "--robust", "--epochs", "1", "--batch-size", "16",
         "--out", str(d / "teacher")])
    _ok(["train", "--model", "convnet_xs", *data, "--epochs", "1", "--batch-size", "16", "--out", str(d / "student")])
    # transfer and evaluate need no --channels: the models say they take 1-channel 28x28 images
    out = _ok(["transfer", "--method", "bird", "--teacher", str(d / "teacher" / "model.safetensors"),
               "--student", str(d / "student" / "model.safetensors"), "--dataset", "imagefolder", "--root", str(gray),
               "--epochs", "1", "--batch-size", "16", "--out", str(d / "bird")])
    assert "layers: teacher" in out
    _ok(["evaluate", "--model", str(d / "bird" / "model.safetensors"), "--dataset", "imagefolder",
         "--root", str(gray), "--out", str(d / "bird" / "eval")])
    rows = read_csv(d / "bird" / "eval" / "eval.csv")
    assert len(rows) == 1 + 19 * 5 and rows[0]["n"] == 32
    assert rows[0]["accuracy"] > 0.6  # the bar task is learnt: the model really saw the images
    out = _ok(["report", str(d / "bird" / "eval")])
    assert "| imagefolder | bird |" in out  # labelled by its data and run, not "run"


def test_rgb_folder_is_converted_for_a_gray_model_or_refused_in_one_line(folders, tmp_path):
    gray, rgb, d = folders
    model = d / "teacher" / "model.safetensors"
    if not model.exists():
        _ok(["train", "--model", "convnet_xxs", "--dataset", "imagefolder", "--root", str(gray), "--channels", "1",
             "--epochs", "1", "--batch-size", "16", "--out", str(d / "teacher")])
    # reconciled: the folder is decoded as the model expects (1 channel, 28 px)
    _ok(["evaluate", "--model", str(model), "--dataset", "imagefolder", "--root", str(rgb),
         "--out", str(tmp_path / "e")])
    # refused before any work when the flags contradict the model
    res = _cli("evaluate", "--model", str(model), "--dataset", "imagefolder", "--root", str(rgb), "--channels", "3",
               "--out", str(tmp_path / "refused"))
    _one_line_error(res, "expects 1-channel 28x28 images")
    assert not (tmp_path / "refused").exists()


@pytest.mark.parametrize("args, yaml_text, needles", [
    (["--batch-size", "0"], None, ["--batch-size", "greater than or equal to 1", "got 0"]),
    (["--epochs", "-1"], None, ["--epochs", "greater than or equal to 0", "got -1"]),
    (["--lr", "nan"], None, ["--lr", "finite number"]),
    ([], "train:\n  epochs: 1\n  bacth_size: 8\n", ["train.bacth_size", "unknown key"]),
    ([], "model: !!python/object/apply:os.system [echo hi]\n", ["not plain YAML", "!!python"]),
    ([], "train: {optim: {lr: -1}}\n", ["train.optim.lr", "greater than 0"]),
])
def test_bad_values_get_one_line_errors(tmp_path, args, yaml_text, needles):
    cmd = ["train", "--model", "convnet_xxs", "--dataset", "fashion-mnist", "--out", str(tmp_path / "run"), *args]
    if yaml_text is not None:
        (tmp_path / "job.yaml").write_text(yaml_text)
        cmd += ["--config", str(tmp_path / "job.yaml")]
    _one_line_error(_cli(*cmd), *needles)
    assert not (tmp_path / "run").exists()  # refused before anything is written


def test_train_config_alone_is_enough(tmp_path):
    (tmp_path / "job.yaml").write_text(
        "model: {name: convnet_xxs}\ndata: {dataset: fashion-mnist, classes: [0, 1]}\n"
        "train: {epochs: 1, batch_size: 32, max_train_samples: 64, tensorboard: false}\n")
    res = _cli("train", "--config", str(tmp_path / "job.yaml"), "--out", str(tmp_path / "run"))
    assert res.returncode == 0, res.stderr
    # not a terminal: a plain line per stage and epoch, as they happen
    assert "epoch 1: train acc" in res.stdout
    assert (tmp_path / "run" / "model.safetensors").exists() and (tmp_path / "run" / "job.yaml").exists()
    # a required part missing names both places it can come from
    (tmp_path / "nomodel.yaml").write_text("data: {dataset: fashion-mnist}\n")
    _one_line_error(_cli("train", "--config", str(tmp_path / "nomodel.yaml"), "--out", str(tmp_path / "x")),
                    "--model (or `model:` in --config)")


def test_unknown_method_refused_before_any_directory(tmp_path):
    res = _cli("transfer", "--method", "birdd", "--dataset", "fashion-mnist", "--out", str(tmp_path / "out"))
    _one_line_error(res, "Unknown method 'birdd'", "Did you mean: 'bird'", "birdkit methods")
    assert not (tmp_path / "out").exists()


def test_methods_command_lists_what_each_needs():
    out = _ok(["methods"])
    for name in ("none", "oracle", "ft", "lp", "lpft", "lwf", "hints", "bird"):
        assert f"{name}:" in out
    row = next(line for line in out.splitlines() if line.startswith("│ bird"))
    assert "teacher+student" in row and "yes" in row and "lr, alpha" in row
    assert "birdkit methods" in _ok(["transfer", "--help"])


def test_datasets_never_breaks_a_name_at_80_columns():
    res = runner.invoke(app, ["datasets"], terminal_width=80)
    assert res.exit_code == 0
    from birdkit.data import list_datasets

    cells = {c.strip() for line in res.output.splitlines() for c in line.split("│")}
    assert set(list_datasets()) <= cells
