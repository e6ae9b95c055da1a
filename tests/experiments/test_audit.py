"""The audit runner on a shrunk built-in pair: controls, records, resume, recomputation, refusals."""

import json

import numpy as np
import pytest
from scipy import stats

from birdkit.audit import Behavior, RobustnessProbe
from birdkit.config import AuditProbeConfig, load_audit, load_pair
from birdkit.errors import BirdkitError, ShapeError, UnknownNameError
from birdkit.experiments import check_control, report_audit, run_audit
from birdkit.io import read_csv, read_json
from pairs import shrink


def _cfg(**kw):
    cfg = load_audit("fmnist-audit")
    upd = {"seeds": 2, "methods": ["bird", "lp"], "probe": AuditProbeConfig(samples=40, severities=[2])}
    return cfg.model_copy(update={**upd, **kw})


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    out = tmp_path_factory.mktemp("audit")
    pair = shrink(load_pair("fmnist-split"), n=256, test=64, epochs=1)
    res = run_audit(_cfg(), out, pair=pair)
    return res, out, pair


def test_builtin_audit_validates():
    cfg = load_audit("fmnist-audit")
    assert set(cfg.behaviors) == {"backdoor", "shortcut"} and cfg.seeds >= 3 and cfg.methods[:2] == ["bird", "hints"]
    with pytest.raises(UnknownNameError, match="fmnist-audit"):
        load_audit("fmnist-audt")


def test_planted_and_control_teachers_differ_only_by_the_plant(audited):
    res, out, _ = audited
    seed0 = out / "fmnist-audit" / "seed0"
    control, planted = read_json(seed0 / "teacher" / "run.json"), read_json(seed0 / "teacher-backdoor" / "run.json")
    assert control["init_sha256"] == planted["init_sha256"] and control["train"] == planted["train"]
    assert control["data"]["sha256"] != planted["data"]["sha256"] and control["data"]["n"] == planted["data"]["n"]
    assert planted["meta"]["plant"]["behavior"] == "backdoor" and "plant" not in control["meta"]
    # one control teacher and one control student per method serve both behaviors
    assert sorted(p.name for p in (seed0 / "control").iterdir()) == ["bird", "lp"]
    assert (seed0 / "shortcut" / "bird" / "model.safetensors").is_file()


def test_records_cover_every_model_probe_and_seed(audited):
    res, _, _ = audited
    models = {(r["behavior"], r["model"], r["role"]) for r in res.records}
    for b in ("backdoor", "shortcut"):
        assert {m for bb, m, _ in models if bb == b} == {"teacher", "control-teacher", "student", "bird", "lp",
                                                         "control:bird", "control:lp"}
    assert {r["seed"] for r in res.records} == {0, 1}
    probes = {(r["behavior"], r["probe"]) for r in res.records}
    assert ("backdoor", "trigger") in probes and ("shortcut", "cue") in probes
    assert ("backdoor", "cue") not in probes and ("shortcut", "trigger") not in probes
    # the behavior-free probe is measured once per model: the control student's records agree across behaviors
    rob = {(r["behavior"], r["metric"], r["seed"]): r["values"] for r in res.records
           if r["model"] == "control:bird" and r["probe"] == "robustness"}
    assert rob[("backdoor", "clean", 0)] == rob[("shortcut", "clean", 0)]
    # teachers' robustness is on the teacher's own labelled images, students' on theirs
    own = {r["model"]: len(r["samples"]) for r in res.records if r["metric"] == "clean"}
    assert own["teacher"] == own["bird"] == 40


def test_report_recomputes_from_the_raw_records(audited):
    res, out, _ = audited
    root = out / "fmnist-audit"
    before = (root / "summary.csv").read_text(), (root / "contrasts.csv").read_text(), (root / "report.md").read_text()
    again = report_audit(root)
    assert ((root / "summary.csv").read_text(), (root / "contrasts.csv").read_text(),
            (root / "report.md").read_text()) == before
    # an independent recomputation of every headline contrast from records.jsonl with numpy and scipy
    lines = [json.loads(x) for x in (root / "records.jsonl").read_text().splitlines()]
    heads = read_json(root / "audit.json")["headlines"]
    rows = {(r["behavior"], r["method"]): r for r in read_csv(root / "contrasts.csv")
            if f"{r['probe']}.{r['metric']}" == heads[r["behavior"]]}
    assert len(rows) == 2 * 3
    for (behavior, method), row in rows.items():
        planted, control = (("teacher", "control-teacher") if method == "teacher" else (method, f"control:{method}"))
        probe, metric = heads[behavior].split(".")

        def table(model, behavior=behavior, probe=probe, metric=metric):
            rs = sorted((r for r in lines if (r["behavior"], r["model"], r["probe"], r["metric"]) ==
                         (behavior, model, probe, metric)), key=lambda r: r["seed"])
            return np.array([r["values"] for r in rs])

        d = (table(planted) - table(control)).mean(1)
        sem = stats.sem(d)
        lo, hi = stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=sem) if sem > 0 else (d.mean(), d.mean())
        assert row["diff"] == pytest.approx(d.mean()) and row["t_low"] == pytest.approx(lo)
        assert row["t_high"] == pytest.approx(hi)
    assert {p.name for p in again.files} >= {"summary.csv", "contrasts.csv", "report.md", "rates.png", "contrasts.png"}
    assert "## Headline: planted - control" in before[2]


def test_a_rerun_reads_the_finished_seeds_back(audited, monkeypatch):
    res, out, pair = audited

    def boom(*a, **k):
        raise AssertionError("a finished seed was measured again")

    monkeypatch.setattr(RobustnessProbe, "measure", boom)
    again = run_audit(_cfg(), out, pair=pair)
    assert again.records == res.records


def test_refusals_before_any_work(tmp_path, monkeypatch):
    pair = shrink(load_pair("fmnist-split"), n=64, test=32, epochs=1)
    with pytest.raises(BirdkitError, match="method 'none' uses no teacher"):
        run_audit(_cfg(methods=["bird", "none"]), tmp_path, pair=pair)
    with pytest.raises(UnknownNameError, match="Did you mean: 'bird'"):
        run_audit(_cfg(methods=["birdd"]), tmp_path, pair=pair)
    with pytest.raises(ShapeError, match="10 probe images are too few"):
        run_audit(_cfg(probe=AuditProbeConfig(samples=10)), tmp_path, pair=pair)
    with pytest.raises(UnknownNameError, match="Unknown probe 'trigers'"):
        run_audit(_cfg(probe=AuditProbeConfig(samples=40, probes=["trigers"])), tmp_path, pair=pair)
    monkeypatch.setattr(Behavior, "carriers", lambda self, images: 3)
    with pytest.raises(BirdkitError, match="3 of the student's .* training images already carry the backdoor pattern"):
        run_audit(_cfg(), tmp_path, pair=pair)
    assert not any(tmp_path.iterdir())  # nothing was written


def test_check_control_refuses_another_architecture_or_recipe():
    spec = {"name": "convnet_xs", "num_classes": 5, "in_chans": 1, "img_size": 28}
    extra = {"data": {"dataset": "fashion-mnist"}, "train": {"epochs": 4, "seed": 0}, "model": {"name": "convnet_xs"}}
    teacher = {"spec": spec, "extra": {**extra, "plant": {"behavior": "backdoor"}}}
    check_control(teacher, {"spec": spec, "extra": extra})
    with pytest.raises(BirdkitError, match="another architecture .*name: \"convnet_xs\" -> \"convnet_s\""):
        check_control(teacher, {"spec": {**spec, "name": "convnet_s"}, "extra": extra})
    with pytest.raises(BirdkitError, match="another recipe .*train.epochs: 4 -> 2"):
        check_control(teacher, {"spec": spec, "extra": {**extra, "train": {"epochs": 2, "seed": 0}}})
    with pytest.raises(BirdkitError, match="carries a planted behavior"):
        check_control(teacher, teacher)
