"""The grid study: content-hash caching, resume after a kill, one writer, and Ray giving the same rows."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from birdkit.config import GridConfig, dump_yaml, load_pair, load_study
from birdkit.errors import RunMismatchError
from birdkit.experiments import expand_grid, grid, grid_settings, run_grid
from birdkit.io import directory_lock
from pairs import shrink

NUMBERS = ("task_relevance", "complementary_knowledge", "behavioral_relevance", "leep", "nce", "h_score", "logme",
           "clean_acc", "robust_heldout", "none_robust_heldout", "oracle_robust_heldout", "gain")


def _cfg(tmp_path, layers=("pair", "default"), name="tiny-grid"):
    pair = shrink(load_pair("fmnist-split"), n=96, test=32)
    pair_yaml = dump_yaml(pair, tmp_path / "pair.yaml")
    return GridConfig(name=name, pair=str(pair_yaml), layers=list(layers), grid={
        "models": ["convnet_xxs"],
        "datasets": {"fm04": {"dataset": "fashion-mnist", "classes": [0, 1, 2, 3, 4]},
                     "digits": {"dataset": "mnist5k", "classes": [0, 1, 2]}},
        "recipes": {"clean": None, "noise": {"corruptions": ["gaussian_noise"], "severities": [0, 2]}}},
        eval={"max_test_samples": 32, "severities": [2], "mnistc": False, "training_corruptions": False,
              "cka_samples": 32},
        properties={"probe_samples": 64, "robust_samples": 16, "severities": [2]})


def test_grid_expands_and_a_teacher_is_trained_once_for_all_its_pairs(tmp_path):
    cfg = _cfg(tmp_path)
    tasks = expand_grid(cfg)
    assert len(tasks) == 8 and len({t.key for t in tasks}) == 8
    rows, failures = run_grid(cfg, tmp_path / "out")
    assert not failures and len(rows) == 8
    root = tmp_path / "out" / "tiny-grid"
    teachers = sorted((root / "teachers").iterdir())
    assert len(teachers) == 4  # 2 layers x 4 teachers: each teacher trained once
    for d in teachers:
        log = (d / "teacher" / "train.log").read_text()
        assert log.count(" start:") == 1
    aug = {json.loads((d / "teacher.json").read_text())["teacher"]["name"]:
           json.loads((d / "teacher" / "run.json").read_text())["train"]["augment"] for d in teachers}
    assert aug["convnet_xxs-fm04-clean"] is None
    assert aug["convnet_xxs-digits-noise"]["corruptions"] == ["gaussian_noise"]
    assert {r["layer"].split("->")[1] for r in rows} == {"stages.2", "stages.3"}  # the pair's layer and the default
    assert all(r["gain"] == pytest.approx(r["robust_heldout"] - r["none_robust_heldout"]) for r in rows)
    assert len(list((root / "study.csv").read_text().splitlines())) == 9
    # a rerun finds everything finished
    before = {p: p.stat().st_mtime_ns for p in root.glob("pairs/*/row.json")}
    again, _ = run_grid(cfg, tmp_path / "out")
    assert again == rows and {p: p.stat().st_mtime_ns for p in root.glob("pairs/*/row.json")} == before
    # more seeds or students extend the study; other shared settings would mix two studies: refused untouched
    assert grid_settings(cfg.model_copy(update={"seeds": [0, 1]})) == grid_settings(cfg)
    other = cfg.model_copy(update={"eval": cfg.eval.model_copy(update={"max_test_samples": 16})})
    files = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    with pytest.raises(RunMismatchError, match=r"other settings \(eval.max_test_samples: 32 -> 16\). Nothing was"):
        run_grid(other, tmp_path / "out")
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == files


def test_a_pool_worker_whose_study_died_takes_no_task(tmp_path, monkeypatch):
    monkeypatch.setattr(grid, "_PARENT", os.getppid() + 1)  # not our parent: the study is gone
    with pytest.raises(SystemExit, match="is gone"):
        cfg = _cfg(tmp_path)
        grid.pair_task(cfg.model_dump_json(), str(tmp_path / "out"), expand_grid(cfg)[0].as_dict())
    assert not (tmp_path / "out").exists()


def test_a_second_launch_is_refused_while_the_first_runs(tmp_path):
    cfg = _cfg(tmp_path, layers=("pair",))
    with directory_lock(tmp_path / "out" / "tiny-grid"):
        code = ("from birdkit.config import GridConfig\nfrom birdkit.experiments import run_grid\n"
                f"run_grid(GridConfig.model_validate_json({cfg.model_dump_json()!r}), {str(tmp_path / 'out')!r})")
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode != 0 and "RunLockedError" in res.stderr and "being written by process" in res.stderr
    assert not (tmp_path / "out" / "tiny-grid" / "teachers").exists()  # refused before any work


def test_a_killed_study_resumes_without_redoing_a_finished_pair(tmp_path):
    cfg = _cfg(tmp_path)
    (tmp_path / "grid.yaml").write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    assert isinstance(load_study(tmp_path / "grid.yaml"), GridConfig)
    cmd = [sys.executable, "-c", "from birdkit.cli.main import main; main()", "study", str(tmp_path / "grid.yaml"),
           "--out", str(tmp_path / "out")]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    root = tmp_path / "out" / "tiny-grid"
    deadline = time.time() + 240
    while len(list(root.glob("pairs/*/row.json"))) < 2 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = {p: p.stat().st_mtime_ns for p in root.glob("pairs/*/row.json")}
    assert 2 <= len(finished) < 8
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    assert "8 pairs finished, 0 failed" in res.stdout
    assert {p: p.stat().st_mtime_ns for p in finished} == finished  # not one finished pair was redone
    for d in (root / "teachers").iterdir():
        assert (d / "teacher" / "train.log").read_text().count(" start:") == 1


def test_ray_runs_the_same_study_and_gives_the_same_rows(tmp_path):
    ray = pytest.importorskip("ray")
    cfg = _cfg(tmp_path, layers=("pair",))
    local, _ = run_grid(cfg, tmp_path / "local")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        remote, failures = run_grid(cfg, tmp_path / "ray", backend="ray")
    finally:
        ray.shutdown()
    assert not failures and [r["pair"] for r in remote] == [r["pair"] for r in local]
    for a, b in zip(local, remote):
        for k in NUMBERS:
            assert a[k] == pytest.approx(b[k], rel=1e-6, abs=1e-9), k
