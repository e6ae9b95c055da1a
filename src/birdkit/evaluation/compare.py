r"""Compare methods over seeds: intervals per method, PGR, and paired differences with verdicts.

From the summary rows of several seeds of a pair (one row per (seed, method)), for each metric
(clean accuracy, robust accuracy on each held-out family):

* each method's mean and 95% Student-t interval over seeds;
* its PGR = mean(method - none) / mean(oracle - none) with Fieller's interval (the seeds pair
  the three models; an interval that is unbounded means the oracle gap itself is not resolved);
* the paired difference ``focus - X`` (default: BIRD and each BIRD variant, ``bird-*``, minus
  every other method) over the seeds both have, its interval, its win count and a verdict:
  better / worse / not resolved.

All statistics come from :mod:`birdkit.stats` (docs/statistics.md). Accuracies are fractions in
the rows and percentage points in the tables.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file

from birdkit.corruptions import HELDOUT_CORRUPTIONS, MNISTC_CORRUPTIONS
from birdkit.stats import (
    Comparison,
    Interval,
    compare_paired,
    mean_interval,
    ratio_interval,
    two_way_bootstrap,
    verdict,
)

__all__ = ["METRICS", "CompareResult", "MethodStat", "PairedStat", "compare_runs", "crossed_rows",
           "load_predictions", "per_image_accuracy"]

#: summary columns compared, with their table labels; robust_* are PGR's bases
METRICS: dict[str, str] = {
    "clean_acc": "clean",
    "robust_heldout": "robust (held-out)",
    "robust_mnistc": "robust (MNIST-C)",
}
#: the metrics whose PGR is reported
PGR_METRICS: tuple[str, ...] = ("robust_heldout", "robust_mnistc")


@dataclass(frozen=True)
class MethodStat:
    """One method of one pair on one metric: its interval over seeds and its PGR."""

    pair: str
    method: str
    metric: str
    value: Interval
    pgr: Interval | None = None


@dataclass(frozen=True)
class PairedStat:
    """``focus - other`` on one metric of one pair, paired over seeds."""

    pair: str
    metric: str
    focus: str
    other: str
    comparison: Comparison


@dataclass
class CompareResult:
    """Everything :func:`compare_runs` found; :meth:`rows` for CSV, :meth:`markdown` for a page."""

    methods: list[MethodStat] = field(default_factory=list)
    paired: list[PairedStat] = field(default_factory=list)
    baseline: str = "none"
    focus: list[str] = field(default_factory=lambda: ["bird"])
    level: float = 0.95

    def rows(self) -> list[dict[str, Any]]:
        """Tidy rows: ``kind`` = method | pgr | paired, with mean, low, high, n (accuracies and
        PGR in %), plus wins and verdict for paired rows."""
        out: list[dict[str, Any]] = []
        for m in self.methods:
            out.append(_row("method", m.pair, m.metric, m.method, "", m.value))
            if m.pgr is not None:
                out.append(_row("pgr", m.pair, m.metric, m.method, self.baseline, m.pgr))
        for p in self.paired:
            c = p.comparison
            out.append({**_row("paired", p.pair, p.metric, p.focus, p.other, c.interval),
                        "wins": c.wins, "verdict": c.verdict})
        return out

    def pairs(self) -> list[str]:
        return list(dict.fromkeys(m.pair for m in self.methods))

    def metrics(self, pair: str) -> list[str]:
        return list(dict.fromkeys(m.metric for m in self.methods if m.pair == pair))

    def markdown(self) -> str:
        """Per pair: a method table (mean [95% CI] per metric, PGR) and a paired table of
        ``focus - X`` with wins and verdicts, on every metric."""
        parts = []
        for pair in self.pairs():
            metrics = self.metrics(pair)
            pgr_metrics = [k for k in metrics if k in PGR_METRICS]
            stats = {(m.method, m.metric): m for m in self.methods if m.pair == pair}
            names = list(dict.fromkeys(m.method for m in self.methods if m.pair == pair))
            seeds = max(m.value.n for m in self.methods if m.pair == pair)
            head = ["method", "seeds", *(METRICS.get(k, k) for k in metrics),
                    *(f"PGR {METRICS.get(k, k).removeprefix('robust ')}" for k in pgr_metrics)]
            lines = [f"### {pair}: mean [{self.level:.0%} CI] over seeds, accuracies in %", "",
                     _md_row(head), _md_row(["---"] * len(head))]
            for name in names:
                cells = [name, str(max(stats[(name, k)].value.n for k in metrics if (name, k) in stats))]
                cells += [fmt_interval(stats[(name, k)].value) if (name, k) in stats else "n/a" for k in metrics]
                for k in pgr_metrics:
                    s = stats.get((name, k))
                    cells.append(fmt_interval(s.pgr) if s is not None and s.pgr is not None else "n/a")
                lines.append(_md_row(cells))
            for focus in self.focus:
                paired = [p for p in self.paired if p.pair == pair and p.focus == focus]
                if not paired:
                    continue
                others = list(dict.fromkeys(p.other for p in paired))
                head = [f"{focus} - X", *(f"{METRICS.get(k, k)}" for k in metrics)]
                lines += ["", f"{focus} minus each method, paired over seeds (points; wins/seeds; verdict at "
                          f"{self.level:.0%}):", "", _md_row(head), _md_row(["---"] * len(head))]
                by = {(p.other, p.metric): p.comparison for p in paired}
                for o in others:
                    lines.append(_md_row([o, *(fmt_comparison(by[(o, k)]) if (o, k) in by else "n/a"
                                               for k in metrics)]))
            lines += ["", f"{seeds} seed(s); intervals: Student-t over seeds (PGR: Fieller's ratio interval; "
                      "'unbounded' when the oracle gap itself is not resolved). docs/statistics.md."]
            parts.append("\n".join(lines))
        return "\n\n".join(parts) + "\n"


def fmt_interval(iv: Interval, digits: int = 1) -> str:
    """``m [lo, hi]`` (values already in display units); ``n/a`` / ``m`` without bounds."""
    if math.isnan(iv.mean):
        return "n/a"
    if math.isnan(iv.low) or math.isnan(iv.high):
        return f"{iv.mean:.{digits}f}"
    if math.isinf(iv.low) or math.isinf(iv.high):
        return f"{iv.mean:.{digits}f} [unbounded]"
    return f"{iv.mean:.{digits}f} [{iv.low:.{digits}f}, {iv.high:.{digits}f}]"


def fmt_comparison(c: Comparison, digits: int = 2) -> str:
    """``+1.23 [0.40, 2.06] 5/5 better``."""
    iv = c.interval
    if math.isnan(iv.low) or math.isnan(iv.high):
        body = f"{iv.mean:+.{digits}f}"
    else:
        body = f"{iv.mean:+.{digits}f} [{iv.low:+.{digits}f}, {iv.high:+.{digits}f}]"
    return f"{body} {c.wins}/{c.n} {c.verdict}"


def compare_runs(summary: Iterable[Mapping[str, Any]], *, baseline: str = "none", oracle: str = "oracle",
                 focus: str | Sequence[str] | None = None, metrics: Sequence[str] | None = None,
                 level: float = 0.95) -> CompareResult:
    """Intervals, PGR and paired ``focus - X`` differences from summary rows of several seeds.

    Args:
        summary: rows with ``pair``, ``seed``, ``method`` and metric columns (fractions).
        baseline / oracle: PGR's floor and ceiling methods (PGR omitted when either is missing).
        focus: the method(s) compared with every other (default: ``bird`` and every ``bird-*``
            variant present; absent ones are skipped).
        metrics: summary columns to compare (default: those of :data:`METRICS` present).
    """
    rows = list(summary)
    names = list(dict.fromkeys(str(r["method"]) for r in rows))
    if focus is None:
        focus = [m for m in names if m == "bird" or m.startswith("bird-")] or ["bird"]
    focus = [focus] if isinstance(focus, str) else list(focus)
    res = CompareResult(baseline=baseline, focus=focus, level=level)
    keys = list(metrics) if metrics else [k for k in METRICS if any(_finite(r.get(k)) for r in rows)]
    for pair in dict.fromkeys(str(r.get("pair", "")) for r in rows):
        per = _by_method(r for r in rows if str(r.get("pair", "")) == pair)
        for metric in keys:
            vals = {m: {s: 100 * v for s, v in d.get(metric, {}).items()} for m, d in per.items()}
            vals = {m: v for m, v in vals.items() if v}
            for m, v in vals.items():
                pg = None
                if metric in PGR_METRICS and baseline in vals and oracle in vals:
                    pg = _pgr(v, vals[baseline], vals[oracle], level)
                res.methods.append(MethodStat(pair, m, metric, mean_interval(list(v.values()), level), pg))
            for f in (f for f in focus if f in vals):
                for other, v in vals.items():
                    if other != f:
                        res.paired.append(PairedStat(pair, metric, f, other,
                                                     compare_paired(vals[f], v, level=level)))
    return res


#: the held-out families of :func:`per_image_accuracy`
SPLITS: dict[str, tuple[str, ...]] = {"robust_heldout": HELDOUT_CORRUPTIONS, "robust_mnistc": MNISTC_CORRUPTIONS}


def load_predictions(seed_dirs: Iterable[str | Path]) -> dict[int, dict[str, np.ndarray]]:
    """``predictions.safetensors`` of each seed directory (``seed<k>``), by seed."""
    out = {}
    for d in seed_dirs:
        d = Path(d)
        out[int(d.name.removeprefix("seed"))] = load_file(str(d / "predictions.safetensors"))
    return out


def per_image_accuracy(preds: dict[str, np.ndarray], method: str, metric: str = "robust_heldout") -> np.ndarray:
    """(N,) fraction of the ``metric``'s held-out conditions (corruption x severity) each test
    image is classified right under, for ``method``: the per-image quantity whose mean is the
    robust accuracy."""
    names = SPLITS[metric]
    keys = [k for k in preds if k.split("|")[0] == method and k.split("|")[1] in names]
    if not keys:
        raise KeyError(f"no {metric} predictions of {method!r}")
    target = preds["targets"].astype(np.int64)
    return np.mean([preds[k].astype(np.int64) == target for k in keys], axis=0)


def crossed_rows(preds: dict[int, dict[str, np.ndarray]], *, focus: Sequence[str] = ("bird",),
                 baseline: str = "none", oracle: str = "oracle", metrics: Sequence[str] = ("robust_heldout",),
                 level: float = 0.95, n_resamples: int = 2000, seed: int = 0) -> list[dict[str, Any]]:
    """Two-way (seeds x test images) bootstrap intervals (docs/statistics.md) from per-image
    predictions: each method's PGR and every ``focus - X`` difference, in points / %.

    The seed-only t-intervals of :func:`compare_runs` treat the test images as fixed; these also
    let the images vary (they are the same for every seed, hence crossed, not nested)."""
    seeds = sorted(preds)
    first = preds[seeds[0]]
    methods = list(dict.fromkeys(k.split("|")[0] for k in first if "|" in k))
    rows: list[dict[str, Any]] = []
    for metric in metrics:
        if not any(k.split("|")[1] in SPLITS[metric] for k in first if "|" in k):
            continue
        table = {m: np.stack([per_image_accuracy(preds[s], m, metric) for s in seeds]) for m in methods}
        for m in methods:
            if baseline in table and oracle in table and m not in (baseline, oracle):
                iv = two_way_bootstrap([table[m], table[baseline], table[oracle]], lambda a, n, o: (a - n) / (o - n),
                                       level=level, n_resamples=n_resamples, seed=seed)
                rows.append(_row("pgr-crossed", "", metric, m, baseline, _scaled(iv, 100)))
        for f in (f for f in focus if f in table):
            for o in methods:
                if o != f:
                    iv = two_way_bootstrap([table[f], table[o]], lambda a, b: a - b, level=level,
                                           n_resamples=n_resamples, seed=seed)
                    rows.append({**_row("paired-crossed", "", metric, f, o, _scaled(iv, 100)),
                                 "verdict": verdict(iv)})
    return rows


def _scaled(iv: Interval, k: float) -> Interval:
    return Interval(k * iv.mean, k * iv.low, k * iv.high, iv.n, iv.level)


def _pgr(method: dict, none: dict, oracle: dict, level: float) -> Interval:
    """Fieller interval of mean(method - none) / mean(oracle - none), in %, over shared seeds."""
    seeds = sorted(set(method) & set(none) & set(oracle))
    num = [method[s] - none[s] for s in seeds]
    den = [oracle[s] - none[s] for s in seeds]
    iv = ratio_interval(num, den, level)
    return Interval(100 * iv.mean, 100 * iv.low, 100 * iv.high, iv.n, iv.level)


def _by_method(rows: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, dict[int, float]]]:
    """method -> metric -> seed -> value (finite values only; a repeated (method, seed) is an error)."""
    out: dict[str, dict[str, dict[int, float]]] = {}
    for r in rows:
        m, seed = str(r["method"]), int(r.get("seed", 0))
        for k, v in r.items():
            if k in ("pair", "seed", "method") or not _finite(v):
                continue
            d = out.setdefault(m, {}).setdefault(k, {})
            if seed in d:
                raise ValueError(f"two summary rows for method {m!r} seed {seed}: pass each run directory once")
            d[seed] = float(v)
    return out


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _row(kind: str, pair: str, metric: str, method: str, other: str, iv: Interval) -> dict[str, Any]:
    return {"kind": kind, "pair": pair, "metric": metric, "method": method, "vs": other, "mean": iv.mean,
            "low": iv.low, "high": iv.high, "n": iv.n, "wins": "", "verdict": ""}


def _md_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"
