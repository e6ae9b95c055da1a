"""``birdkit demo`` and ``birdkit select`` through the command line, on a shrunk pair YAML."""

import csv

import pytest
from typer.testing import CliRunner

from birdkit.cli.main import _register_commands, app
from birdkit.config import dump_yaml, load_pair
from pairs import shrink

_register_commands()
runner = CliRunner()


@pytest.fixture(scope="module")
def tiny_pair(tmp_path_factory):
    d = tmp_path_factory.mktemp("demo")
    cfg = shrink(load_pair("fmnist-split"), n=128, test=32)
    cfg = cfg.model_copy(update={"methods": ["none", "oracle", "hints", "bird"]})
    return dump_yaml(cfg, d / "tiny.yaml"), d


def test_demo_two_seeds_prints_table_and_layers(tiny_pair):
    yaml_path, d = tiny_pair
    res = runner.invoke(app, ["demo", "--pair", str(yaml_path), "--seeds", "2", "--out", str(d / "runs")],
                        catch_exceptions=False, terminal_width=200)
    assert res.exit_code == 0, res.output
    out = res.output
    # with several seeds the demo ends with `birdkit compare`'s tables: intervals, PGR, bird - X
    assert "fmnist-split: mean [95% CI] over seeds" in out
    for h in ("clean", "held-out", "MNIST-C", "PGR", "bird - X", "hints"):
        assert h in out
    # the layer pairs of BIRD and Hints come from the pair's overrides and are reported
    (lp,) = load_pair("fmnist-split").overrides["bird"]["layers"]
    used = f"{lp['teacher']}->{lp['student']}"
    assert f"bird {used}" in out and f"hints {used}" in out
    pair_dir = d / "runs" / "fmnist-split"
    rows = list(csv.DictReader((pair_dir / "seed1" / "summary.csv").open()))
    assert [r["method"] for r in rows] == ["none", "oracle", "hints", "bird"]
    assert {r["method"]: r["layers"] for r in rows}["bird"] == used
    assert (pair_dir / "report.md").exists() and (pair_dir / "summary_agg.csv").exists()
    cmp = list(csv.DictReader((pair_dir / "compare.csv").open()))
    assert {(r["vs"], r["metric"]) for r in cmp if r["kind"] == "paired"} == {
        (m, k) for m in ("none", "oracle", "hints") for k in ("clean_acc", "robust_heldout", "robust_mnistc")}
    assert {r["verdict"] for r in cmp if r["kind"] == "paired"} <= {"better", "worse", "not resolved"}
    assert all(r["n"] == "2" for r in cmp)


def test_demo_unknown_pair_lists_close_matches(tmp_path):
    res = runner.invoke(app, ["demo", "--pair", "fmnist-splitt", "--out", str(tmp_path)])
    assert res.exit_code != 0
    assert "Did you mean: 'fmnist-split'" in str(res.exception)


def test_select_prints_grid_and_overrides(tiny_pair):
    import json

    yaml_path, d = tiny_pair
    res = runner.invoke(app, ["select", "--pair", str(yaml_path), "--methods", "lp", "--out", str(d / "select")],
                        catch_exceptions=False, terminal_width=200)
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader((d / "select" / "fmnist-split" / "seed0" / "hparams.csv").open()))
    from birdkit.selection.hparams import LRS

    assert [float(r["lr"]) for r in rows] == LRS and {r["method"] for r in rows} == {"lp"}
    best = max(rows, key=lambda r: float(r["val_robust_train"]))
    overrides = json.loads(res.output.split("overrides: ", 1)[1].replace("\n", ""))
    assert overrides == {"lp": {"lr": float(best["lr"])}}


def test_select_unknown_method_lists_close_matches(tiny_pair):
    yaml_path, d = tiny_pair
    res = runner.invoke(app, ["select", "--pair", str(yaml_path), "--methods", "brid", "--out", str(d / "x")])
    assert res.exit_code != 0 and "Did you mean: 'bird'" in str(res.exception)
    assert not (d / "x").exists()  # refused before any training


def test_select_with_own_grid_seeds_and_rule(tiny_pair):
    yaml_path, d = tiny_pair
    res = runner.invoke(app, ["select", "--pair", str(yaml_path), "--methods", "lp", "--lrs", "0.01,0.1",
                              "--seeds", "2", "--rule", "mean-se", "--val-samples", "16", "--out", str(d / "sel2")],
                        catch_exceptions=False, terminal_width=200)
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader((d / "sel2" / "fmnist-split" / "seed0" / "hparams.csv").open()))
    assert [float(r["lr"]) for r in rows] == [0.01, 0.1] and all(r["seeds"] == "2" for r in rows)
    for r in rows:
        se = float(r["val_robust_train_std"]) / 2 ** 0.5
        assert abs(float(r["score"]) - (float(r["val_robust_train"]) - se)) < 1e-9


@pytest.mark.parametrize("args, flag", [(["--rule", "median"], "--rule"), (["--lrs", "0.1,-1"], "--lrs"),
                                        (["--lrs", "fast"], "--lrs")])
def test_select_bad_grid_options_are_one_line(tiny_pair, args, flag):
    yaml_path, d = tiny_pair
    res = runner.invoke(app, ["select", "--pair", str(yaml_path), "--out", str(d / "bad"), *args])
    assert res.exit_code == 2 and flag in res.output and "Traceback" not in res.output
    assert not (d / "bad").exists()
