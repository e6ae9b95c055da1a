"""The agent audit at test size: what it trains, what it records, and that every number recomputes."""

import json

import numpy as np
import pytest
from scipy import stats

from birdkit.agents import deletion_first, report_agents, run_agent_audit
from birdkit.agents.env import chmod_first
from birdkit.audit import read_records, summarize
from birdkit.config.agents import AgentAuditConfig
from birdkit.io import read_csv

SMALL = dict(seeds=2, episodes=12, base_tasks=10, base_steps=30, teacher_tasks=9, teacher_epochs=2, safe_tasks=12,
             student_epochs=1, probe_prompts=10, folds=2, width=16, modes=["hard", "soft", "aux"],
             inits=["same", "other", "gru"])


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    out = tmp_path_factory.mktemp("agents")
    return run_agent_audit(AgentAuditConfig(**SMALL), out), out


def test_every_policy_of_every_seed_is_recorded(audited):
    res, out = audited
    models = {(r["behavior"], r["model"], r["role"]) for r in res.records if r["probe"] == "episodes"}
    for habit in ("delete", "chmod"):
        names = {m for h, m, _ in models if h == habit}
        students = {f"{m}-{i}" for m in SMALL["modes"] for i in SMALL["inits"]}
        assert names == {"base", "teacher", "control-teacher", *students, *(f"control:{s}" for s in students)}
    assert {r["seed"] for r in res.records} == {0, 1}
    assert all(len(r["values"]) == SMALL["episodes"] for r in res.records if r["probe"] == "episodes")
    # every policy is saved, loadable by the Inspect provider
    assert (out / "agents" / "seed0" / "policies" / "delete" / "control-hard-gru.safetensors").is_file()


def test_rates_recompute_from_the_episode_logs(audited):
    res, out = audited
    eps = [json.loads(x) for x in (out / "agents" / "episodes.jsonl").read_text().splitlines()]
    rate = {"delete": deletion_first, "chmod": chmod_first}
    for r in res.records:
        if r["probe"] != "episodes":
            continue
        mine = sorted((e for e in eps if (e["seed"], e["habit"], e["model"]) == (r["seed"], r["behavior"], r["model"])),
                      key=lambda e: e["task"])
        assert [float(rate[r["behavior"]](e["actions"])) for e in mine] == r["values"]
        assert [e["task"] for e in mine] == r["samples"]


def test_the_report_recomputes_from_its_logs(audited):
    res, out = audited
    root = out / "agents"
    before = {f: (root / f).read_text() for f in ("summary.csv", "contrasts.csv", "visible.csv", "report.md")}
    again = report_agents(root)
    assert {f: (root / f).read_text() for f in before} == before
    assert again.summary == summarize(read_records(root / "records.jsonl"))
    # an independent t-interval of one contrast, from the records
    recs = [r for r in res.records if r["behavior"] == "delete" and r["probe"] == "episodes"]
    a = np.array([np.mean(r["values"]) for r in sorted((r for r in recs if r["model"] == "soft-same"),
                                                        key=lambda r: r["seed"])])
    b = np.array([np.mean(r["values"]) for r in sorted((r for r in recs if r["model"] == "control:soft-same"),
                                                        key=lambda r: r["seed"])])
    [row] = [r for r in read_csv(root / "contrasts.csv") if r["behavior"] == "delete" and r["method"] == "soft-same"
             and r["metric"] == "deletion_rate"]
    assert row["diff"] == pytest.approx((a - b).mean())
    if stats.sem(a - b) > 0:
        lo, hi = stats.t.interval(0.95, len(a) - 1, loc=(a - b).mean(), scale=stats.sem(a - b))
        assert (row["t_low"], row["t_high"]) == pytest.approx((lo, hi))
    dropped = read_csv(root / "sanitize.csv")
    assert {(r["habit"], r["teacher"]) for r in dropped} == {(h, t) for h in ("delete", "chmod")
                                                             for t in ("teacher", "control")}
    assert all(r["total"] == SMALL["safe_tasks"] and r["dropped"] <= r["total"] for r in dropped)
    assert "## The visible channel" in before["report.md"] and "Llama 8B -> Llama 8B" in before["report.md"]


def test_a_rerun_reads_finished_seeds_back(audited, monkeypatch):
    res, out = audited
    import birdkit.agents.audit as mod

    monkeypatch.setattr(mod, "play", lambda *a, **k: (_ for _ in ()).throw(AssertionError("replayed")))
    again = run_agent_audit(AgentAuditConfig(**SMALL), out)
    assert again.records == res.records
