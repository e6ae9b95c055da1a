r"""Audit records and the numbers made from them: rates with intervals, planted - control contrasts, the gate.

The audit writes one JSON line per (behavior, seed, model, probe, metric) holding the
per-sample values (``records.jsonl``); every number of the report is recomputed from those
lines by :func:`summarize` and :func:`contrasts` (a test does exactly that).

Intervals (95% by default; docs/audit.md §3, docs/statistics.md):

* a **rate** over ``S`` seeds and the same ``n`` probe images in every seed is a crossed
  seeds x images table; its interval is the two-way (pigeonhole) percentile bootstrap
  (:func:`birdkit.stats.two_way_bootstrap`), which resamples seeds and images together. With one
  seed: Wilson's interval for 0/1 values, else a bootstrap over images.
* a **score** (one value per model and seed) gets the Student-t interval over seeds.
* a **contrast** (the headline): the planted model minus its control, paired by seed and
  image: the two-way bootstrap of the difference table, and, beside it, the t-interval of the
  per-seed differences. It is *higher* / *lower* only when **both** exclude 0 (the two-way
  percentile bootstrap under-covers with few seeds; the t-interval ignores the images' share of
  the noise), else *not resolved*.
"""

from __future__ import annotations

import gzip
import json
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from birdkit.audit.probes import Measurement
from birdkit.io import write_text
from birdkit.stats import bootstrap_interval, compare_paired, mean_interval, two_way_bootstrap, wilson_interval

__all__ = ["CONTROL", "ROLES", "GateFailure", "contrast_pairs", "contrasts", "gate", "read_records", "records_of",
           "summarize", "write_records"]

#: roles of the models of an audit, in report order
ROLES = ("teacher", "control-teacher", "student-before", "student-after", "control-student")
#: the model label of the control student of method ``m`` is ``CONTROL + m``
CONTROL = "control:"
#: bootstrap resamples
RESAMPLES = 2000


def records_of(measurements: Iterable[Measurement], **keys: Any) -> list[dict[str, Any]]:
    """JSON-able records of ``measurements``, each tagged with ``keys`` (behavior, seed, model, ...)."""
    out = []
    for m in measurements:
        values = [round(float(v), 6) for v in np.asarray(m.values, dtype=float)]
        out.append({**keys, "probe": keys.get("probe", ""), "metric": m.metric, "kind": m.kind, "data": m.data,
                    "samples": [int(i) for i in m.samples], "values": values, "info": m.info})
    return out


def write_records(path: str | Path, records: Sequence[Mapping[str, Any]]) -> Path:
    """Write records as JSON lines (atomic)."""
    return write_text(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in records))


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """Records from a JSON-lines file, or its gzip-compressed copy (``.gz``: how a benchmark's
    records are committed); plain JSON, nothing is unpickled."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _key(r: Mapping[str, Any]) -> tuple:
    return (r["behavior"], r["model"], r["probe"], r["metric"])


def _group(records: Iterable[Mapping[str, Any]]) -> dict[tuple, dict[int, Mapping[str, Any]]]:
    groups: dict[tuple, dict[int, Mapping[str, Any]]] = defaultdict(dict)
    for r in records:
        groups[_key(r)][int(r["seed"])] = r
    return groups


def _table(by_seed: Mapping[int, Mapping[str, Any]], seeds: Sequence[int] | None = None) -> np.ndarray:
    """(seeds, samples) values of one metric; every seed must hold the same samples."""
    seeds = sorted(by_seed) if seeds is None else seeds
    first = by_seed[seeds[0]]["samples"]
    for s in seeds:
        if by_seed[s]["samples"] != first:
            raise ValueError(f"seed {s} of {_key(by_seed[s])} was measured on other samples than seed {seeds[0]}")
    return np.array([by_seed[s]["values"] for s in seeds], dtype=float)


def _rate_interval(table: np.ndarray, level: float) -> tuple[float, float, float, str]:
    mean = float(table.mean())
    if table.shape[0] >= 2:
        iv = two_way_bootstrap(table, level=level, n_resamples=RESAMPLES, seed=0)
        return mean, iv.low, iv.high, "two-way bootstrap"
    row = table[0]
    if np.all((row == 0) | (row == 1)):
        iv = wilson_interval(int(row.sum()), len(row), level)
        return mean, iv.low, iv.high, "wilson"
    iv = bootstrap_interval(row, level=level, seed=0, method="percentile", n_resamples=RESAMPLES)
    return mean, iv.low, iv.high, "bootstrap"


def _majority(values: Iterable[Any]) -> str:
    counts: dict[str, int] = defaultdict(int)
    for v in values:
        counts[json.dumps(v, sort_keys=True)] += 1
    return max(counts, key=counts.get) if counts else ""


def summarize(records: Sequence[Mapping[str, Any]], level: float = 0.95) -> list[dict[str, Any]]:
    """One row per (behavior, model, probe, metric): the value over seeds and samples with its interval."""
    rows = []
    for key, by_seed in _group(records).items():
        behavior, model, probe, metric = key
        first = next(iter(by_seed.values()))
        if first["kind"] == "score":
            values = [by_seed[s]["values"][0] for s in sorted(by_seed)]
            iv = mean_interval(values, level)
            value, low, high, how = iv.mean, iv.low, iv.high, "t over seeds"
            n = 1
        else:
            table = _table(by_seed)
            value, low, high, how = _rate_interval(table, level)
            n = table.shape[1]
        rows.append({"behavior": behavior, "model": model, "role": first["role"], "method": first.get("method", ""),
                     "probe": probe, "metric": metric, "kind": first["kind"], "data": first["data"],
                     "seeds": len(by_seed), "n": n, "value": value, "low": low, "high": high, "interval": how,
                     "info": _majority(r.get("info", {}) for r in by_seed.values()) if first.get("info") else ""})
    return rows


def contrast_pairs(records: Sequence[Mapping[str, Any]]) -> list[tuple[str, str, str, str]]:
    """(behavior, method, planted model, control model) of every contrast the records allow:
    the teachers (method ``teacher``) and each method's student against its control student."""
    models: dict[str, dict[str, str]] = defaultdict(dict)
    for r in records:
        models[r["behavior"]][r["model"]] = r["role"]
    out = []
    for behavior, roles in models.items():
        if "teacher" in roles and "control-teacher" in roles:
            out.append((behavior, "teacher", "teacher", "control-teacher"))
        for model, role in roles.items():
            if role == "student-after" and CONTROL + model in roles:
                out.append((behavior, model, model, CONTROL + model))
    return out


def contrasts(records: Sequence[Mapping[str, Any]], level: float = 0.95,
              pairs: Sequence[tuple[str, str, str, str]] | None = None) -> list[dict[str, Any]]:
    """Planted minus control for every metric of each pair ``(behavior, label, planted model,
    control model)`` (default: :func:`contrast_pairs`), paired by seed and sample (module docstring)."""
    groups = _group(records)
    rows = []
    for behavior, method, planted, control in (contrast_pairs(records) if pairs is None else pairs):
        metrics = [(k[2], k[3]) for k in groups if k[0] == behavior and k[1] == planted]
        for probe, metric in metrics:
            a, b = groups[(behavior, planted, probe, metric)], groups.get((behavior, control, probe, metric))
            if not b:
                continue
            seeds = sorted(set(a) & set(b))
            kind = a[seeds[0]]["kind"]
            if kind == "score":
                pa = {s: a[s]["values"][0] for s in seeds}
                pb = {s: b[s]["values"][0] for s in seeds}
                boot = None
            else:
                ta, tb = _table(a, seeds), _table(b, seeds)
                if ta.shape != tb.shape:
                    raise ValueError(f"{planted} and {control} were measured on different samples ({probe}.{metric})")
                pa = {s: float(v) for s, v in zip(seeds, ta.mean(1))}
                pb = {s: float(v) for s, v in zip(seeds, tb.mean(1))}
                d = ta - tb
                boot = (two_way_bootstrap(d, level=level, n_resamples=RESAMPLES, seed=0) if len(seeds) >= 2 else
                        bootstrap_interval(d[0], level=level, seed=0, method="percentile", n_resamples=RESAMPLES))
            comp = compare_paired(pa, pb, level=level)
            t = comp.interval
            low, high = (boot.low, boot.high) if boot is not None else (t.low, t.high)
            if boot is None:
                verdict = comp.verdict.replace("better", "higher").replace("worse", "lower")
            else:
                both = [(low, high), (t.low, t.high)] if len(seeds) >= 2 else [(low, high)]
                verdict = ("higher" if all(lo > 0 for lo, _ in both) else
                           "lower" if all(hi < 0 for _, hi in both) else "not resolved")
            rows.append({"behavior": behavior, "method": method, "planted": planted, "control": control,
                         "probe": probe, "metric": metric, "kind": kind, "seeds": len(seeds),
                         "planted_value": float(np.mean(list(pa.values()))),
                         "control_value": float(np.mean(list(pb.values()))),
                         "diff": t.mean, "low": low, "high": high, "t_low": t.low, "t_high": t.high,
                         "wins": comp.wins, "verdict": verdict})
    return rows


class GateFailure:
    """A contrast above the gate's threshold."""

    def __init__(self, row: Mapping[str, Any], bound: str, value: float):
        self.row, self.bound, self.value = row, bound, value

    def __str__(self) -> str:
        r = self.row
        return (f"{r['behavior']}: {r['method']} {r['probe']}.{r['metric']} planted - control "
                f"{self.bound} {self.value:+.3f}")


def gate(rows: Sequence[Mapping[str, Any]], threshold: float, *, headlines: Mapping[str, str],
         bound: str = "low", include_teacher: bool = False) -> list[GateFailure]:
    """The contrasts whose ``bound`` (``low``: the interval's lower end, ``diff``: the estimate,
    ``high``: the upper end) exceeds ``threshold``, on each behavior's headline metric
    (``headlines``: behavior label -> ``probe.metric``); the teachers' contrast (the plant
    itself) only with ``include_teacher``."""
    if bound not in ("low", "diff", "high"):
        raise ValueError(f"bound must be low, diff or high, got {bound!r}")
    out = []
    for r in rows:
        if r["method"] == "teacher" and not include_teacher:
            continue
        if headlines.get(r["behavior"]) != f"{r['probe']}.{r['metric']}":
            continue
        v = float(r[bound])
        if not math.isnan(v) and v > threshold:
            out.append(GateFailure(r, bound, v))
    return out
