"""Audit records -> rates, contrasts and the gate, checked against scipy and explicit resampling."""

import math

import numpy as np
import pytest
from scipy import stats

from birdkit.audit import (
    GateFailure,
    Measurement,
    contrast_pairs,
    contrasts,
    gate,
    read_records,
    records_of,
    summarize,
    write_records,
)
from birdkit.stats import two_way_bootstrap


def _records(tables, *, behavior="backdoor", probe="trigger", metric="pull", kind="rate"):
    """Records of {(model, role, method): (S, n) array}."""
    out = []
    for (model, role, method), t in tables.items():
        t = np.atleast_2d(t)
        for s, row in enumerate(t):
            samples = np.arange(len(row)) if kind == "rate" else np.empty(0, dtype=int)
            out += records_of([Measurement(metric, kind, row, samples)], behavior=behavior, seed=s, model=model,
                              role=role, method=method, probe=probe)
    return out


def test_records_round_trip(tmp_path):
    recs = _records({("bird", "student-after", "bird"): np.array([[0.0, 1.0, 0.5]])})
    write_records(tmp_path / "r.jsonl", recs)
    assert read_records(tmp_path / "r.jsonl") == recs
    import gzip

    (tmp_path / "r.jsonl.gz").write_bytes(gzip.compress((tmp_path / "r.jsonl").read_bytes()))
    assert read_records(tmp_path / "r.jsonl.gz") == recs
    assert recs[0]["samples"] == [0, 1, 2] and recs[0]["values"] == [0.0, 1.0, 0.5]


def test_rate_interval_is_the_two_way_bootstrap_or_wilson():
    rng = np.random.default_rng(0)
    t = (rng.random((3, 80)) < 0.3).astype(float)
    [row] = summarize(_records({("bird", "student-after", "bird"): t}))
    ref = two_way_bootstrap(t, n_resamples=2000, seed=0)
    assert row["value"] == pytest.approx(t.mean()) and (row["low"], row["high"]) == (ref.low, ref.high)
    assert row["interval"] == "two-way bootstrap" and row["seeds"] == 3 and row["n"] == 80
    [one] = summarize(_records({("bird", "student-after", "bird"): t[:1]}))
    ci = stats.binomtest(int(t[0].sum()), 80).proportion_ci(method="wilson")
    assert (one["low"], one["high"]) == pytest.approx((ci.low, ci.high)) and one["interval"] == "wilson"


def test_score_interval_is_students_t_over_seeds():
    vals = np.array([[0.41], [0.47], [0.44], [0.52]])
    [row] = summarize(_records({("bird", "student-after", "bird"): vals}, probe="representation", metric="shift",
                               kind="score"))
    lo, hi = stats.t.interval(0.95, 3, loc=vals.mean(), scale=stats.sem(vals.ravel()))
    assert (row["low"], row["high"]) == pytest.approx((lo, hi))


def test_contrasts_pair_each_student_with_its_control_and_the_teachers():
    rng = np.random.default_rng(1)
    base = (rng.random((4, 100)) < 0.2).astype(float)
    carried = np.maximum(base, (rng.random((4, 100)) < 0.5).astype(float))
    tables = {("teacher", "teacher", ""): np.ones((4, 100)), ("control-teacher", "control-teacher", ""): base,
              ("student", "student-before", ""): base,
              ("bird", "student-after", "bird"): carried, ("control:bird", "control-student", "bird"): base,
              ("hints", "student-after", "hints"): base, ("control:hints", "control-student", "hints"): base}
    recs = _records(tables)
    assert contrast_pairs(recs) == [("backdoor", "teacher", "teacher", "control-teacher"),
                                    ("backdoor", "bird", "bird", "control:bird"),
                                    ("backdoor", "hints", "hints", "control:hints")]
    rows = {r["method"]: r for r in contrasts(recs)}
    d = carried - base
    per_seed = d.mean(1)
    lo, hi = stats.t.interval(0.95, 3, loc=per_seed.mean(), scale=stats.sem(per_seed))
    b = rows["bird"]
    assert b["diff"] == pytest.approx(d.mean()) and (b["t_low"], b["t_high"]) == pytest.approx((lo, hi))
    ref = two_way_bootstrap(d, n_resamples=2000, seed=0)
    assert (b["low"], b["high"]) == (ref.low, ref.high)
    assert b["verdict"] == "higher" and b["wins"] == 4
    assert rows["hints"]["diff"] == 0 and rows["hints"]["verdict"] == "not resolved"
    assert rows["teacher"]["verdict"] == "higher"


def test_verdict_needs_both_intervals():
    # every seed's difference is positive but tiny and noisy across seeds: the t-interval straddles 0
    rng = np.random.default_rng(2)
    a = (rng.random((3, 400)) < [[0.30], [0.10], [0.52]]).astype(float)
    b = (rng.random((3, 400)) < [[0.28], [0.09], [0.50]]).astype(float)
    [row] = contrasts(_records({("bird", "student-after", "bird"): a, ("control:bird", "control-student", "bird"): b}))
    if row["t_low"] <= 0 < row["low"] or row["low"] <= 0 < row["t_low"]:
        assert row["verdict"] == "not resolved"
    assert row["verdict"] in ("higher", "not resolved")


def test_gate_bounds_and_headlines():
    rows = [{"behavior": "backdoor", "method": "bird", "probe": "trigger", "metric": "pull", "diff": 0.10,
             "low": 0.04, "high": 0.16},
            {"behavior": "backdoor", "method": "teacher", "probe": "trigger", "metric": "pull", "diff": 0.9,
             "low": 0.8, "high": 1.0},
            {"behavior": "backdoor", "method": "bird", "probe": "trigger", "metric": "flip", "diff": 0.9,
             "low": 0.8, "high": 1.0}]
    heads = {"backdoor": "trigger.pull"}
    assert gate(rows, 0.05, headlines=heads) == []  # lower end 0.04 <= 0.05
    [f] = gate(rows, 0.05, headlines=heads, bound="diff")
    assert isinstance(f, GateFailure) and "bird trigger.pull" in str(f)
    assert len(gate(rows, 0.05, headlines=heads, bound="high", include_teacher=True)) == 2
    with pytest.raises(ValueError, match="bound must be"):
        gate(rows, 0.1, headlines=heads, bound="mean")
    nan_row = [{**rows[0], "low": math.nan}]
    assert gate(nan_row, 0.0, headlines=heads) == []
