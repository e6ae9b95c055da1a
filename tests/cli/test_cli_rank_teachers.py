"""``birdkit rank-teachers``: candidates ranked by the default rule or a study model, no transfer run."""

import numpy as np

from birdkit.io import read_csv
from birdkit.transferability import fit_rows, save_fit
from clitools import cli, invoke_ok, one_line_error
from studyrows import study_rows

DATA = ["--dataset", "fashion-mnist", "--max-samples", "96", "--epochs", "1", "--batch-size", "32"]


def _ok(args):
    return invoke_ok(args, width=220)


def test_rank_teachers_by_the_default_rule_and_by_a_study_model(tmp_path):
    for name, classes, seed in (("a", "0-4", "0"), ("b", "0-4", "1"), ("c", "0-2", "2")):
        _ok(["train", "--model", "convnet_xxs", *DATA, "--classes", classes, "--seed", seed,
             "--out", str(tmp_path / "teachers" / name)])
    _ok(["train", "--model", "convnet_xs", *DATA, "--classes", "5-9", "--out", str(tmp_path / "student")])
    args = ["rank-teachers", "--student", str(tmp_path / "student" / "model.safetensors"), "--teachers",
            str(tmp_path / "teachers"), "--dataset", "fashion-mnist", "--classes", "5-9", "--max-samples", "120",
            "--robust-samples", "30"]
    out = _ok([*args, "--out", str(tmp_path / "rank.csv")])
    assert "default rule" in out
    rows = read_csv(tmp_path / "rank.csv")
    assert [r["rank"] for r in rows] == [1, 2, 3] and {r["teacher"] for r in rows} == {"a", "b", "c"}
    x = np.array([[r[k] for k in ("task_relevance", "complementary_knowledge", "behavioral_relevance")]
                  for r in rows])
    sd = x.std(0)
    z = np.where(sd > 0, (x - x.mean(0)) / np.where(sd > 0, sd, 1), 0).mean(1)
    assert np.allclose([r["score"] for r in rows], z) and list(z) == sorted(z, reverse=True)
    assert all(np.isfinite(r[k]) for r in rows for k in ("leep", "nce", "h_score", "logme"))
    save_fit(fit_rows(study_rows(), n_boot=20), tmp_path / "fit.json")
    out = _ok([*args, "--model", str(tmp_path / "fit.json"), "--out", str(tmp_path / "rank2.csv")])
    assert "predicted robust_heldout" in out
    assert all(r["scored_by"] == "predicted robust_heldout" for r in read_csv(tmp_path / "rank2.csv"))
    one_line_error(cli(*args[:4], str(tmp_path / "nowhere"), *args[5:]), "neither a checkpoint nor a folder")
