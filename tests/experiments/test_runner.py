"""The end-to-end pipeline on the built-in pairs (shrunk) and on the paper's pair configs with
tiny fake data in the real on-disk formats."""

import csv
import math

import pytest
import torch
from safetensors.torch import load_file

from birdkit.config import builtin_pairs, load_pair
from birdkit.corruptions import MNISTC_CORRUPTIONS
from birdkit.errors import UnknownNameError
from birdkit.experiments import PairRunner, derive_seed
from birdkit.models import count_parameters, create_model
from pairs import run_pair
from pairs import shrink as _shrink


def test_builtin_pairs_validate_and_sizes():
    names = builtin_pairs()
    assert {"fmnist-split", "mnist5k-to-fmnist", "fmnist-split-w2s", "cifar10-to-cifar100",
            "cifar100-to-tinyimagenet", "cifar10-to-tinyimagenet"} <= set(names)

    def ratio(name):
        cfg = load_pair(name)
        t = count_parameters(create_model(cfg.teacher_model.name, num_classes=10, in_chans=1, img_size=28))
        s = count_parameters(create_model(cfg.student_model.name, num_classes=10, in_chans=1, img_size=28))
        return s / t

    assert ratio("fmnist-split") >= 3 and ratio("mnist5k-to-fmnist") >= 3
    assert 20 <= ratio("fmnist-split-w2s") <= 30
    with pytest.raises(UnknownNameError, match="fmnist-split"):
        load_pair("fmnist_split")


def test_fmnist_split_end_to_end(tmp_path):
    cfg = _shrink(load_pair("fmnist-split"))
    # the built-in config skips the training corruptions on the test set; evaluate them here too
    cfg = cfg.model_copy(update={"eval": cfg.eval.model_copy(update={"training_corruptions": True})})
    summary = run_pair(cfg, tmp_path, seed=0)
    methods = [r["method"] for r in summary]
    assert methods == ["none", "oracle", "ft", "lp", "lpft", "lwf", "hints", "bird", *cfg.variants]
    assert list(cfg.variants) == ["bird-debiased"]
    by = {r["method"]: r for r in summary}
    for r in summary:  # PGR recomputes from the robust accuracies by the formula
        expect = (r["robust_heldout"] - by["none"]["robust_heldout"]) / (
            by["oracle"]["robust_heldout"] - by["none"]["robust_heldout"])
        assert math.isclose(r["pgr_heldout"], expect, rel_tol=1e-9) or math.isnan(expect)
        assert 0 <= r["clean_acc"] <= 1 and 0 <= r["cka_to_teacher"] <= 1 + 1e-6
    assert by["lp"]["cka_to_teacher"] > 0.999  # LP keeps the teacher's features exactly
    root = tmp_path / "fmnist-split" / "seed0"
    rows = list(csv.DictReader((root / "eval.csv").open()))
    # clean, 4 ImageNet-C x 5 + 8 MNIST-C x 1 (its own severity) held-out, 15 training corruptions x 5
    assert len(rows) == len(methods) * (1 + 4 * 5 + 8 + 15 * 5)
    assert {r["severity"] for r in rows if r["split"] == "mnistc"} == {"3"}
    assert {r["corruption"] for r in rows if r["split"] == "mnistc"} == set(MNISTC_CORRUPTIONS)
    # the summary's robust accuracies recompute from the tidy rows
    for split in ("heldout", "mnistc"):
        bird = [float(r["accuracy"]) for r in rows if r["model"] == "bird" and r["split"] == split]
        assert math.isclose(sum(bird) / len(bird), by["bird"][f"robust_{split}"], rel_tol=1e-9)
    # ... and from the saved per-image predictions
    preds = load_file(root / "predictions.safetensors")
    for r in rows:
        if r["split"] != "train":
            hit = (preds[f"{r['model']}|{r['corruption']}|{r['severity']}"].long() == preds["targets"])
            assert math.isclose(hit.float().mean().item(), float(r["accuracy"]), rel_tol=1e-6)
    # the independent recomputation used for BENCHMARKS.md agrees with the run's summary
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "recompute_tables", Path(__file__).parents[2] / "benchmarks" / "recompute_tables.py")
    rt = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rt)
    df = rt.recompute(tmp_path / "fmnist-split")
    assert list(df.method) == methods
    assert "| bird |" in rt.table(df, "fmnist-split")
    # a second run reuses every finished stage (no retraining): same numbers
    again = run_pair(cfg, tmp_path, seed=0)
    assert [r["robust_heldout"] for r in again] == [r["robust_heldout"] for r in summary]


@pytest.mark.parametrize("pair", ["cifar10-to-cifar100", "cifar100-to-tinyimagenet", "cifar10-to-tinyimagenet"])
def test_paper_pair_configs_on_fake_data(tmp_path, pair):
    from fakedata import write_cifar10, write_cifar100, write_tinyimagenet

    cfg = load_pair(pair)
    writers = {"cifar10": write_cifar10, "cifar100": write_cifar100, "tinyimagenet": write_tinyimagenet}
    roots = {}
    for role in ("teacher_data", "student_data"):
        ds = getattr(cfg, role).dataset
        roots[role] = tmp_path / ds
        if not roots[role].exists():
            writers[ds](roots[role])
    # the paper's architecture is built for the pair's shapes; the run itself uses small nets
    assert create_model(cfg.student_model.name, num_classes=10)(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    small = {"teacher_model": cfg.teacher_model.model_copy(update={"name": "convnet_xxs"}),
             "student_model": cfg.student_model.model_copy(update={"name": "convnet_xxs"}),
             "teacher_data": cfg.teacher_data.model_copy(update={"root": str(roots["teacher_data"]),
                                                                 "val_fraction": 0.2}),
             "student_data": cfg.student_data.model_copy(update={"root": str(roots["student_data"]),
                                                                 "val_fraction": 0.2}),
             "methods": ["none", "oracle", "lp", "bird"]}
    cfg = _shrink(cfg, n=None, test=None, **small)
    cfg = cfg.model_copy(update={k: getattr(cfg, k).model_copy(update={"batch_size": 8})
                                 for k in ("teacher_train", "student_train", "transfer_train")})
    summary = run_pair(cfg, tmp_path / "runs", seed=0)
    assert [r["method"] for r in summary] == ["none", "oracle", "lp", "bird"]


def test_override_typos_are_errors():
    from pydantic import ValidationError

    cfg = load_pair("fmnist-split")
    data = cfg.model_dump()
    data["overrides"] = {"bird": {"lrr": 0.1}}
    with pytest.raises(ValidationError, match="unknown keys \\['lrr'\\]"):
        type(cfg).model_validate(data)
    # method names are checked against the registry before any work
    data["overrides"] = {"brid": {"lr": 0.1}}
    with pytest.raises(UnknownNameError, match="Did you mean: 'bird'"):
        PairRunner(type(cfg).model_validate(data), "/nonexistent")
    data["overrides"], data["methods"] = {}, ["none", "lpf"]
    with pytest.raises(UnknownNameError, match="'lpft'"):
        PairRunner(type(cfg).model_validate(data), "/nonexistent").run()


def test_rerun_reuses_and_a_changed_override_is_refused(tmp_path):
    from birdkit.errors import RunMismatchError

    cfg = _shrink(load_pair("fmnist-split"), n=128, test=32,
                  methods=["none", "oracle", "hints", "bird"])
    first = run_pair(cfg, tmp_path, seed=0)
    # a second call with the same config reuses every run directory and reproduces the numbers
    again = run_pair(cfg, tmp_path, seed=0)
    assert [r["robust_heldout"] for r in again] == [r["robust_heldout"] for r in first]
    # Hints' run removed (as after an interruption): its regressor is seeded per (seed, method),
    # so redoing it alone, with every earlier run reused, gives the uninterrupted run's model
    import shutil
    shutil.rmtree(tmp_path / "fmnist-split" / "seed0" / "hints")
    redo = run_pair(cfg, tmp_path, seed=0)
    assert [r["robust_heldout"] for r in redo] == [r["robust_heldout"] for r in first]
    # asking for another BIRD alpha in the same directory is refused, naming the difference
    alpha = cfg.overrides["bird"]["alpha"]
    changed = cfg.model_copy(update={"overrides": {**cfg.overrides, "bird": {**cfg.overrides["bird"], "alpha": 0.8}}})
    with pytest.raises(RunMismatchError, match=rf"method_config\.alpha: {alpha} -> 0\.8"):
        run_pair(changed, tmp_path, seed=0)


def test_derive_seed_and_method_config_resolution():
    from birdkit.experiments import resolve_method_config, resolve_transfer_train
    from birdkit.methods import benchmark_methods

    assert derive_seed(4, "teacher") == 4
    assert derive_seed(4, "student") == derive_seed(4, "oracle") == 5
    order = benchmark_methods()
    assert [derive_seed(2, m) for m in ("ft", "bird")] == [2000 + 17 * order.index(m) for m in ("ft", "bird")]
    assert len({derive_seed(s, m) for s in range(20) for m in order[2:]}) == 20 * len(order[2:])
    cfg = load_pair("fmnist-split")
    bird = resolve_method_config(cfg, "bird")
    assert bird.name == "bird" and bird.alpha == cfg.overrides["bird"]["alpha"]
    assert [p.model_dump() for p in bird.layers] == [{**p, "weight": 1.0} for p in cfg.overrides["bird"]["layers"]]
    assert resolve_method_config(cfg, "lwf").temperature == cfg.method.temperature
    tc = resolve_transfer_train(cfg, "bird", seed=3)
    assert tc.optim.lr == cfg.overrides["bird"]["lr"] and tc.seed == cfg.transfer_train.seed + 3
    with pytest.raises(UnknownNameError, match="'bird'"):
        resolve_method_config(cfg, "brid")


def test_a_variant_runs_like_a_method_paired_with_its_base(tmp_path):
    from birdkit.experiments import resolve_method_config, resolve_transfer_train

    cfg = _shrink(load_pair("fmnist-split")).model_copy(update={
        "variants": {"bird-debiased": {"method": "bird", "debiased": True, "lr": 0.002}}})
    mc = resolve_method_config(cfg, "bird-debiased")
    assert mc.name == "bird" and mc.debiased and mc.alpha == cfg.overrides["bird"]["alpha"]
    assert mc.layers == resolve_method_config(cfg, "bird").layers  # the base's overrides, then the variant's
    assert resolve_transfer_train(cfg, "bird-debiased").optim.lr == 0.002
    summary = run_pair(cfg, tmp_path, seed=0, methods=["none", "oracle", "bird", "bird-debiased"])
    assert [r["method"] for r in summary] == ["none", "oracle", "bird", "bird-debiased"]
    by = {r["method"]: r for r in summary}
    assert by["bird-debiased"]["layers"] == by["bird"]["layers"]
    assert by["bird-debiased"]["robust_heldout"] != by["bird"]["robust_heldout"]
    with pytest.raises(ValueError, match="needs a 'method'"):
        cfg.model_copy(update={"variants": {}}).model_validate({**cfg.model_dump(), "variants": {"x": {"lr": 1}}})
    with pytest.raises(UnknownNameError, match="bird-debiased"):
        run_pair(cfg, tmp_path / "b", seed=0, methods=["none", "bird-debiasd"])


def test_demo_reads_back_finished_seeds_and_reruns_a_changed_one(tmp_path, monkeypatch):
    from birdkit.experiments import PairRunner, run_demo

    cfg = _shrink(load_pair("fmnist-split")).model_copy(update={"methods": ["none", "oracle", "lp"]})
    first = run_demo(cfg, tmp_path, seeds=2)

    def boom(*a, **k):
        raise AssertionError("a finished seed was evaluated again")

    monkeypatch.setattr(PairRunner, "evaluate", boom)
    again = run_demo(cfg, tmp_path, seeds=2)
    assert [r["robust_heldout"] for r in again.summary] == pytest.approx([r["robust_heldout"] for r in first.summary])
    monkeypatch.undo()
    changed = cfg.model_copy(update={"eval": cfg.eval.model_copy(update={"mnistc": False})})
    third = run_demo(changed, tmp_path, seeds=1)  # another config: the seed is evaluated again
    assert "robust_mnistc" not in third.summary[0]
