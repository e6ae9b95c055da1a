"""The teacher study: config, a two-teacher run on a shrunk pair, and the linear fit."""

import csv

import numpy as np
import pytest
from pydantic import ValidationError

from birdkit.config import StudyConfig, dump_yaml, load_pair, load_study
from birdkit.errors import UnknownNameError
from birdkit.experiments import PROPERTIES, fit_study, run_study
from pairs import shrink


def test_builtin_study_expands_its_grid():
    cfg = load_study("fmnist-teachers")
    names = [t.name for t in cfg.all_teachers()]
    assert len(names) == 18 == len(set(names))
    assert "convnet_s-mnist5k-clean" in names
    with pytest.raises(UnknownNameError, match="fmnist-teachers"):
        load_study("fmnist-teacher")
    with pytest.raises(ValidationError, match="needs teachers"):
        StudyConfig(name="x")


def test_fit_recovers_a_linear_relation():
    rng = np.random.default_rng(0)
    rows = [dict(zip(PROPERTIES, rng.random(3))) for _ in range(12)]
    for r in rows:
        r["robust_heldout"] = 0.5 + 0.2 * r["task_relevance"] - 0.1 * r["behavioral_relevance"]
    fit = fit_study(rows)
    assert fit["n"] == 12 and fit["r2"] == pytest.approx(1.0) and fit["r2_loo"] == pytest.approx(1.0)
    assert fit["r2_task_relevance"] > fit["r2_complementary_knowledge"]
    for r in rows:
        r["alt"] = r["behavioral_relevance"] ** 2
    assert fit_study(rows, behavioral="alt")["r2"] < 1.0  # another behavioral column is used
    for r in rows:
        r["robust_heldout"] = rng.random()  # unrelated: leave-one-out R^2 is poor
    assert fit_study(rows)["r2_loo"] < 0.3
    with pytest.raises(ValueError, match="at least 5"):
        fit_study(rows[:4])


def test_run_study_two_teachers(tmp_path):
    pair = shrink(load_pair("fmnist-split"), n=128, test=32)
    pair_yaml = dump_yaml(pair, tmp_path / "pair.yaml")
    cfg = StudyConfig(name="tiny", pair=str(pair_yaml), teachers=[
        {"name": "xxs-fmnist04", "model": {"name": "convnet_xxs"},
         "data": {"dataset": "fashion-mnist", "classes": [0, 1, 2, 3, 4]}},
        {"name": "xxs-mnist-clean", "model": {"name": "convnet_xxs"}, "data": {"dataset": "mnist5k"},
         "robust": False},
    ], properties={"probe_samples": 64, "robust_samples": 16, "severities": [2]})
    rows = run_study(cfg, tmp_path / "out", seed=0)
    student_layer = pair.overrides["bird"]["layers"][0]["student"]
    assert [r["teacher"] for r in rows] == ["xxs-fmnist04", "xxs-mnist-clean"]
    for r in rows:
        assert all(0 <= r[p] <= 1 for p in PROPERTIES)
        assert r["layers"] == f"stages.3->{student_layer}"  # student layer from the pair's BIRD override
        assert r["behavioral_relevance"] == r["behavioral_inf_fraction"]  # the configured default
        assert {f"behavioral_{a}_{b}" for a in ("inf", "mean") for b in ("fraction", "mean", "max")} <= set(r)
        gap = r["oracle_robust_heldout"] - r["none_robust_heldout"]
        expect = (r["robust_heldout"] - r["none_robust_heldout"]) / gap
        assert r["pgr_heldout"] == pytest.approx(expect)
    saved = list(csv.DictReader((tmp_path / "out" / "tiny" / "seed0" / "study.csv").open()))
    assert len(saved) == 2
    # the robust teacher was trained with augmentation, the clean one without
    import json
    runs = tmp_path / "out" / "tiny" / "seed0" / "teachers"
    assert json.loads((runs / "xxs-fmnist04" / "teacher" / "run.json").read_text())["train"]["augment"] is not None
    assert json.loads((runs / "xxs-mnist-clean" / "teacher" / "run.json").read_text())["train"]["augment"] is None
    with pytest.raises(UnknownNameError, match="xxs-fmnist04"):
        run_study(cfg, tmp_path / "out", teachers=["xxs-fmnist4"])
