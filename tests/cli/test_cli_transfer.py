"""train -> transfer -> evaluate -> report through the command line, on small subsets."""

import csv

import pytest
from typer.testing import CliRunner

from birdkit.cli.main import _register_commands, app
from clitools import invoke_ok

_register_commands()
runner = CliRunner()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    common = ["--dataset", "fashion-mnist", "--epochs", "1", "--max-samples", "256"]
    invoke_ok(["train", "--model", "convnet_xxs", "--classes", "0-4", "--robust", "--out", str(d / "teacher"), *common])
    invoke_ok(["train", "--model", "convnet_xs", "--classes", "5-9", "--out", str(d / "student"), *common])
    return d


def test_transfer_evaluate_report(trained):
    d = trained
    out = invoke_ok(["transfer", "--method", "bird", "--teacher", str(d / "teacher" / "model.safetensors"),
               "--student", str(d / "student" / "model.safetensors"), "--dataset", "fashion-mnist",
               "--classes", "5-9", "--teacher-layer", "stages.2", "--epochs", "1", "--max-samples", "256",
               "--out", str(d / "bird")])
    assert "teacher stages.2 -> student stages.3" in out  # the layers used are always reported
    invoke_ok(["evaluate", "--model", str(d / "bird" / "model.safetensors"), "--dataset", "fashion-mnist",
         "--classes", "5-9", "--max-samples", "40", "--out", str(d / "eval")])
    rows = list(csv.DictReader((d / "eval" / "eval.csv").open()))
    assert len(rows) == 1 + 19 * 5
    assert {r["split"] for r in rows} == {"clean", "heldout", "train"}
    # the same evaluation from a typed YAML config gives the same rows
    (d / "eval.yaml").write_text("data: {dataset: fashion-mnist, classes: [5, 6, 7, 8, 9]}\nmax_test_samples: 40\n")
    invoke_ok(["evaluate", "--model", str(d / "bird" / "model.safetensors"), "--config", str(d / "eval.yaml"),
         "--out", str(d / "eval2")])
    rows2 = list(csv.DictReader((d / "eval2" / "eval.csv").open()))
    assert [r["accuracy"] for r in rows2] == [r["accuracy"] for r in rows]
    out = invoke_ok(["report", str(d / "eval")])
    assert "robust acc (held-out)" in out and (d / "eval" / "report.md").exists()
    assert (d / "eval" / "severity.png").exists()


def test_layer_search_uses_training_corruptions_only(trained, monkeypatch):
    d = trained
    import birdkit.selection._score as sel  # where selection evaluates its candidates

    seen = []
    real = sel.evaluate_robustness

    def spy(*a, **kw):
        seen.append(tuple(kw["corruptions"]))
        return real(*a, **kw)

    monkeypatch.setattr(sel, "evaluate_robustness", spy)
    out = invoke_ok(["transfer", "--method", "bird", "--teacher", str(d / "teacher" / "model.safetensors"),
               "--student", str(d / "student" / "model.safetensors"), "--dataset", "fashion-mnist",
               "--classes", "5-9", "--layer-search", "--epochs", "1", "--max-samples", "128",
               "--out", str(d / "search")])
    from birdkit.corruptions import HELDOUT_CORRUPTIONS

    assert seen and all(not set(c) & set(HELDOUT_CORRUPTIONS) for c in seen)
    assert "layer search" in out and "layers: teacher" in out


def test_bad_names_get_clear_errors(trained):
    d = trained
    res = runner.invoke(app, ["transfer", "--method", "brid", "--teacher", str(d / "teacher" / "model.safetensors"),
                              "--student", str(d / "student" / "model.safetensors"), "--dataset", "fashion-mnist",
                              "--classes", "5-9", "--out", str(d / "x")])
    assert res.exit_code != 0 and "Did you mean: 'bird'" in str(res.exception)
    res = runner.invoke(app, ["transfer", "--method", "bird", "--teacher", str(d / "teacher" / "model.safetensors"),
                              "--student", str(d / "student" / "model.safetensors"), "--dataset", "fashion-mnist",
                              "--classes", "5-9", "--student-layer", "stages.9", "--out", str(d / "y")])
    assert res.exit_code != 0 and "stages.3" in str(res.exception)


def test_properties_command(trained, tmp_path):
    import json

    d = trained
    out = invoke_ok(["properties", "--teacher", str(d / "teacher" / "model.safetensors"),
               "--student", str(d / "student" / "model.safetensors"), "--dataset", "fashion-mnist",
               "--classes", "5-9", "--max-samples", "200", "--robust-samples", "40", "--out", str(tmp_path / "p.json")])
    assert "task relevance" in out and "behavioral relevance" in out
    props = json.loads((tmp_path / "p.json").read_text())
    assert 0 <= props["task_relevance"] <= 1 and props["reduce"] == "inf"
    assert props["teacher_layer"] == "stages.3"
