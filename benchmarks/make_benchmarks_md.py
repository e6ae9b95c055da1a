"""Write BENCHMARKS.md and its figures from the committed v2 CSVs; ``--check`` verifies them.

    .venv/bin/python benchmarks/make_benchmarks_md.py            # writes BENCHMARKS.md + the figures
    .venv/bin/python benchmarks/make_benchmarks_md.py --check    # exit 1 if the page or figure is stale

BENCHMARKS.md reports the pre-registered v2 benchmark (benchmarks/PROTOCOL.md) and nothing else;
the earlier (v1) benchmark is history, in benchmarks/NOTEBOOK.md. Inputs, and nothing else: each
pair's v2 config (``benchmarks/protocol-v2/<pair>.yaml``, read with ``yaml.safe_load``), its
runs in ``benchmarks/results/bench-v2/<pair>/seed<k>/`` (``summary.csv``: every number;
``eval.csv``: the test set; ``config.yaml``: must agree with the pair's config, so that a config
changed without a rerun is refused), the secondary ``compare_images.csv`` and the selection rows
``benchmarks/results/select-v2/<pair>.csv`` (one caveat). Statistics: ``birdkit compare``'s
(:func:`birdkit.evaluation.compare.compare_runs`: Student-t over seeds, Fieller's PGR interval).

Seeds: the primary, pre-registered result is seeds 0-4, always exactly those (further seed
folders never change it). PROTOCOL.md's deviation 4 adds seeds 5-9: a pair's 10-seed result
(seeds 0-9, the same analysis) is shown beside the primary one only when all of 5-9 finished;
otherwise the page lists which did.

The robust-accuracy figure carries a SHA-256 of the numbers it plots in its PNG ``Description``
text chunk; ``--check`` compares that digest (PNG bytes depend on the matplotlib version and
fonts) and the markdown byte for byte.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import hashlib
import json
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from birdkit.agents import create_policy, vocab
from birdkit.agents.report import PAPER
from birdkit.audit import CLOUD_FINDING, contrasts, fmt_rate, plot_audit, read_records, summarize
from birdkit.evaluation.compare import CompareResult, compare_runs, fmt_interval
from birdkit.experiments.audit import SUBLIMINAL_CONTRASTS
from birdkit.io import read_csv, read_json
from birdkit.stats import auc_interval
from birdkit.transferability import BASELINES as SCORE_BASELINES
from birdkit.transferability import PROPERTIES, fit_rows, holdout_regret, mean_over_seeds, plot_fit, seed_reliability

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
OUT = ROOT / "BENCHMARKS.md"
PAIRS = ("fmnist-split", "mnist5k-to-fmnist", "fmnist-split-w2s")
REFERENCES = ("none", "oracle")
DATASETS = {"fashion-mnist": "Fashion-MNIST", "mnist5k": "MNIST-5k", "mnist": "MNIST", "cifar10": "CIFAR-10",
            "cifar100": "CIFAR-100", "tinyimagenet": "TinyImageNet"}
DIGEST_KEY = "Description"
#: the pre-registered v2 benchmark (benchmarks/PROTOCOL.md): its configs, results and figures
V2 = "bench-v2"
V2_CONFIGS = ROOT / "benchmarks" / "protocol-v2"
V2_PROTOCOL_COMMIT = "43b825c"
#: the primary seeds (PROTOCOL.md §2) and the extension's (PROTOCOL.md, deviation 4)
V2_SEEDS = tuple(range(5))
V2_EXTENSION = tuple(range(5, 10))
V2_FIGURE = ROOT / "benchmarks" / "figures" / "v2_robust_accuracy.png"
BASELINES = ("none", "ft", "lp", "lpft", "lwf", "hints")
#: the issue's precision target: half-width of BIRD's held-out PGR interval <= 25 points on >= 2 pairs
PGR_HALF_WIDTH_TARGET = 25.0
PGR_TARGET_PAIRS = 2
#: the level of every interval and verdict (so the chance verdicts of the caveats follow from it)
LEVEL = 0.95
#: the v1 benchmark's history in the notebook
NOTEBOOK_V1 = "benchmarks/NOTEBOOK.md#transfer-the-demo-tables-3-built-in-pairs-x-3-seeds"
#: the pre-registered behavior audit (benchmarks/AUDIT_PROTOCOL.md): its raw records, read from here whatever
#: ``--results`` says (the v2 tests tamper with copies of the v2 CSVs only)
AUDIT = RESULTS / "audit"
AUDIT_PROTOCOL_COMMIT = "3ead0d0"
AUDIT_FIGURE = ROOT / "benchmarks" / "figures" / "audit" / "contrasts.png"


# ----------------------------------------------------------------------------------------- data


def _leaves(d, path=()):
    if isinstance(d, dict):
        for k, v in d.items():
            yield from _leaves(v, (*path, k))
    else:
        yield path, d


def check_run_config(pair_cfg: dict, run_cfg: dict, where: Path) -> None:
    """Every setting of the pair's config must be what the run used (else the tables are stale)."""
    for path, value in _leaves(pair_cfg):
        if path[0] == "description":
            continue
        got = run_cfg
        for k in path:
            got = got.get(k) if isinstance(got, dict) else None
        if got != value:
            raise SystemExit(f"{where}: {'.'.join(map(str, path))} = {got!r}, but the pair's config says {value!r}; "
                             "rerun its seeds (benchmarks/run_v2_seeds.py) before regenerating")


@dataclass
class V2Pair:
    """One pair's pre-registered v2 runs: its config, the primary seeds' summary and evaluation
    rows and their analysis, and the extension (seeds 5-9): which seeds finished, and the 10-seed
    analysis when all did."""

    name: str
    cfg: dict
    summary: list[dict]
    evals: list[dict]
    seeds: tuple[int, ...]
    comparison: CompareResult
    run_dir: Path | None = None
    extension_seeds: tuple[int, ...] = ()
    extended: CompareResult | None = None  # seeds 0-9, only when every extension seed finished

    @property
    def variant(self) -> str | None:
        return next(iter(self.cfg.get("variants") or {}), None)

    @property
    def focus(self) -> list[str]:
        return [f for f in ("bird", self.variant) if f]


def _seed_rows(cfg: dict, pair: str, d: Path, seed: int) -> tuple[list[dict], list[dict]]:
    """One finished seed folder's summary and evaluation rows, its config checked."""
    check_run_config(cfg, yaml.safe_load((d / "config.yaml").read_text()), d / "config.yaml")
    summary = read_csv(d / "summary.csv")
    if any(r["pair"] != pair or int(r["seed"]) != seed for r in summary):
        raise SystemExit(f"{d / 'summary.csv'}: rows of another pair or seed than {pair} seed {seed}")
    return summary, read_csv(d / "eval.csv")


def _seed_of(d: Path) -> int | None:
    m = re.fullmatch(r"seed(\d+)", d.name)
    return int(m.group(1)) if m else None


def load_v2(results: Path = RESULTS, configs: Path = V2_CONFIGS, pairs=PAIRS) -> tuple[dict[str, V2Pair], list[str]]:
    """The pairs whose primary v2 run is complete (seeds 0-4, every method, configs as committed),
    with their extension seeds, and the pairs still pending."""
    done, pending = {}, []
    for p in pairs:
        cfg_path, run = configs / f"{p}.yaml", results / V2 / p
        finished = {_seed_of(d) for d in run.glob("seed*") if (d / "summary.csv").is_file()}
        stray = sorted(k for k in finished if k not in (*V2_SEEDS, *V2_EXTENSION))
        if stray or None in finished:
            raise SystemExit(f"{run}: seed folders {stray or 'not named seed<k>'} are neither the protocol's seeds "
                             f"{V2_SEEDS[0]}-{V2_SEEDS[-1]} nor its extension {V2_EXTENSION[0]}-{V2_EXTENSION[-1]}")
        if not cfg_path.is_file() or not set(V2_SEEDS) <= finished:
            pending.append(p)
            continue
        cfg = yaml.safe_load(cfg_path.read_text())
        summary, evals = [], []
        for k in V2_SEEDS:
            s, e = _seed_rows(cfg, p, run / f"seed{k}", k)
            summary += s
            evals += e
        methods = {r["method"] for r in summary}
        want = {"none", "oracle", *BASELINES[1:], "bird", *(cfg.get("variants") or {})}
        if not want <= methods:
            raise SystemExit(f"{run}: methods {sorted(want - methods)} missing")
        extension = tuple(k for k in V2_EXTENSION if k in finished)
        extended = None
        if extension == V2_EXTENSION:
            extra = [r for k in extension for r in _seed_rows(cfg, p, run / f"seed{k}", k)[0]]
            if {r["method"] for r in extra} != {r["method"] for r in summary}:
                raise SystemExit(f"{run}: the extension seeds ran other methods than seeds 0-4")
            extended = compare_runs(summary + extra, level=LEVEL)
        done[p] = V2Pair(p, cfg, summary, evals, V2_SEEDS, compare_runs(summary, level=LEVEL), run,
                         extension, extended)
    return done, pending


def _paired(cmp: CompareResult, focus: str, other: str, metric: str = "robust_heldout"):
    return next(x.comparison for x in cmp.paired if x.focus == focus and x.other == other and x.metric == metric)


def _method(cmp: CompareResult, method: str, metric: str):
    return next(x for x in cmp.methods if x.method == method and x.metric == metric)


def half_width(cmp: CompareResult, method: str = "bird") -> float:
    """Half-width (points) of ``method``'s Fieller interval of held-out PGR (inf when unbounded)."""
    pg = _method(cmp, method, "robust_heldout").pgr
    return (pg.high - pg.low) / 2


# ----------------------------------------------------------------------------------- formatting


def _range(xs) -> str:
    xs = sorted(xs)
    if xs == list(range(xs[0], xs[-1] + 1)) and len(xs) > 3:
        return f"{xs[0]}-{xs[-1]}"
    return ", ".join(map(str, xs))


def _data(d: dict) -> str:
    name = DATASETS.get(d["dataset"], d["dataset"])
    return f"{name} classes {_range(d['classes'])}" if d.get("classes") else f"{name} (all classes)"


def _hw(x: float) -> str:
    return "unbounded" if math.isinf(x) or math.isnan(x) else f"{x:.1f}"


def verdict_table(rows: dict[str, tuple[V2Pair, CompareResult]], metric: str = "robust_heldout") -> list[str]:
    """Per pair and BIRD / its variant: PGR, its half-width and the verdicts against every baseline."""
    out = ["| pair | method | PGR [95% CI] | PGR half-width | " + " | ".join(f"vs {b}" for b in BASELINES) + " |",
           "|---|---|---|---|" + "---|" * len(BASELINES)]
    for name, (v, cmp) in rows.items():
        for focus in v.focus:
            cells = []
            for b in BASELINES:
                c = _paired(cmp, focus, b, metric)
                cells.append(f"{c.verdict} ({c.interval.mean:+.2f}, {c.wins}/{c.n})")
            out.append(f"| {name} | {focus} | {fmt_interval(_method(cmp, focus, metric).pgr)} | "
                       f"{_hw(half_width(cmp, focus))} | " + " | ".join(cells) + " |")
    return out


def precision_line(hws: dict[str, float], pending: list[str], what: str) -> str:
    """Whether the issue's precision target is met by BIRD's PGR half-widths ``hws``; with pairs
    still ``pending``, whether it is decided yet."""
    met = [p for p, h in hws.items() if h <= PGR_HALF_WIDTH_TARGET]
    if len(met) >= PGR_TARGET_PAIRS:
        word = "**met**"
    elif len(met) + len(pending) < PGR_TARGET_PAIRS:
        word = "**not met**"
    else:
        word = f"not decided until {', '.join(pending)} {'is' if len(pending) == 1 else 'are'} in"
    each = ", ".join(f"{p} {_hw(h)}" for p, h in hws.items())
    return (f"Precision target ({what}; half-width of BIRD's held-out PGR interval <= {PGR_HALF_WIDTH_TARGET:g} "
            f"points on >= {PGR_TARGET_PAIRS} of the {len(hws) + len(pending)} pairs): {each}; within it on "
            f"{len(met)} of {len(hws)}" + (f" (no result yet: {', '.join(pending)})" if pending else "") + f": {word}.")


def v2_words(v2: dict[str, V2Pair]) -> list[str]:
    """What the evidence supports, in plain words, from the verdicts (no number typed by hand):
    per pair and BIRD / its variant, held-out robust accuracy with PGR, then MNIST-C and clean."""
    lines = []
    for name, v in v2.items():
        for focus in v.focus:
            pg = _method(v.comparison, focus, "robust_heldout").pgr
            transfer = ("its PGR interval excludes 0: a transfer of robustness is resolved" if pg.low > 0 else
                        "its PGR interval lies below 0: it loses robustness the clean student had" if pg.high < 0 else
                        "its PGR interval includes 0: no transfer is resolved")
            held = _verdict_words(v.comparison, focus, "robust_heldout")
            lines.append(f"- **{name}, {focus}**: held-out robust accuracy {held}; {transfer} "
                         f"(PGR {fmt_interval(pg)}, half-width {_hw(half_width(v.comparison, focus))}). "
                         f"MNIST-C (secondary): {_verdict_words(v.comparison, focus, 'robust_mnistc')}. "
                         f"Clean accuracy: {_verdict_words(v.comparison, focus, 'clean_acc')}.")
    return lines


def _verdict_words(cmp: CompareResult, focus: str, metric: str) -> str:
    by = {b: _paired(cmp, focus, b, metric) for b in BASELINES}
    groups = {w: [b for b in BASELINES if by[b].verdict == w] for w in ("better", "worse", "not resolved")}
    parts = [f"better than {', '.join(groups['better'])}" if groups["better"] else "",
             f"worse than {', '.join(groups['worse'])}" if groups["worse"] else "",
             f"not resolved against {', '.join(groups['not resolved'])}" if groups["not resolved"] else ""]
    return "; ".join(p for p in parts if p)


def changed_verdicts(v: V2Pair, metric: str = "robust_heldout") -> list[str]:
    """``focus vs X: 5-seed verdict -> 10-seed verdict`` for every held-out comparison of the
    verdict table (and the variant vs BIRD) whose verdict the extension changed."""
    out = []
    for focus in v.focus:
        for other in (*BASELINES, *(["bird"] if focus != "bird" else [])):
            a, b = _paired(v.comparison, focus, other, metric), _paired(v.extended, focus, other, metric)
            if a.verdict != b.verdict:
                out.append(f"{focus} vs {other}: {a.verdict} -> {b.verdict}")
    return out


def extension_section(v2: dict[str, V2Pair], pending=()) -> list[str]:
    """PROTOCOL.md's deviation 4: per pair how far seeds 5-9 got; for the pairs where all finished,
    the 10-seed verdicts, PGR intervals and half-widths, and what changed from 5 seeds."""
    ext = f"{V2_EXTENSION[0]}-{V2_EXTENSION[-1]}"
    lines = ["## 10-seed extension", "",
             f"Seeds {ext}, added after the 5-seed results were known (PROTOCOL.md, deviation 4), with the same "
             f"configs, commands and analysis. The 5-seed result above stays the primary one; a pair's 10-seed result "
             f"is shown only when all of seeds {ext} finished. The seeds x images bootstrap is not recomputed.", ""]
    complete = {n: v for n, v in v2.items() if v.extended is not None}
    for name, v in v2.items():
        if v.extended is not None:
            changed = changed_verdicts(v)
            lines.append(f"- **{name}**: complete (seeds {_range(V2_SEEDS + V2_EXTENSION)}); held-out verdicts changed "
                         f"from 5 to 10 seeds: {'; '.join(changed) if changed else 'none'}.")
        elif v.extension_seeds:
            lines.append(f"- **{name}**: extension incomplete: seeds {_range(v.extension_seeds)} finished; no "
                         "10-seed numbers.")
        else:
            lines.append(f"- **{name}**: extension not started (no seed of {ext} finished).")
    if not complete:
        return [*lines, ""]
    n = len(V2_SEEDS) + len(V2_EXTENSION)
    return [*lines, "", f"Verdicts over {n} seeds, as in the primary table:", "",
            *verdict_table({k: (v, v.extended) for k, v in complete.items()}), "",
            precision_line({k: half_width(v.extended) for k, v in complete.items()},
                           [*(k for k in v2 if k not in complete), *pending], f"{n} seeds"), ""]


def v2_pair_section(v: V2Pair, figure: str) -> list[str]:
    md = v.comparison.markdown().strip().splitlines()
    cmd = f"birdkit demo --pair benchmarks/protocol-v2/{v.name}.yaml --seeds {len(v.seeds)} --threads 1"
    tr = v.cfg["transfer_train"]
    ev = v.cfg.get("eval") or {}
    n_test = next(int(r["n"]) for r in v.evals if r["split"] == "clean")
    lines = [f"## {v.name}", "",
             f"- **Models, data**: robust teacher `{v.cfg['teacher_model']['name']}` on {_data(v.cfg['teacher_data'])}"
             f" -> student `{v.cfg['student_model']['name']}` on {_data(v.cfg['student_data'])}; transfer "
             f"{tr['epochs']} epochs on {tr.get('max_train_samples') or 'all'} student images at the selected "
             f"[`overrides`](benchmarks/protocol-v2/{v.name}.yaml); BIRD variant: `{v.variant or 'none'}`.",
             f"- **Evaluation**: all {n_test:,} student test images; held-out ImageNet-C corruptions at the "
             f"`{ev.get('family') or 'default'}` table, severities 1-5; MNIST-C's 8 at its own severity; "
             f"{len(v.seeds)} seeds ({_range(list(v.seeds))}).",
             f"- **Evaluation time**: {_eval_seconds(v)} s of inference per model on this whole held-out protocol "
             "(mean over models and seeds, 1 torch thread; corrupted sets read from the machine-wide cache).",
             *_crossed_line(v),
             "", "```", cmd, "```", "", "Mean [95% CI] over seeds, accuracies in %:", *md[1:], "",
             f"![(method - none) per held-out corruption x severity]({figure})", ""]
    return lines


def _crossed_line(v: V2Pair) -> list[str]:
    """The secondary two-way (seeds x images) bootstrap, when ``birdkit compare --images`` was run."""
    path = v.run_dir / "compare_images.csv" if v.run_dir else None
    if path is None or not path.is_file():
        return []
    rows = read_csv(path)

    def get(kind: str, method: str, vs: str) -> str:
        r = next(r for r in rows if r["kind"] == kind and r["method"] == method and r["vs"] == vs
                 and r["metric"] == "robust_heldout")
        if int(r["n"]) != len(v.seeds):
            raise SystemExit(f"{path}: a bootstrap over {r['n']} seeds, the primary result has {len(v.seeds)}")
        return f"{r['mean']:+.2f} [{r['low']:+.2f}, {r['high']:+.2f}]"

    return [f"- **Secondary, seeds x test images** (two-way percentile bootstrap, `birdkit compare --images`, "
            f"[`compare_images.csv`](benchmarks/results/{V2}/{v.name}/compare_images.csv)): BIRD - none "
            f"{get('paired-crossed', 'bird', 'none')} points, BIRD's PGR {get('pgr-crossed', 'bird', 'none')}. "
            f"With {len(v.seeds)} seeds a percentile bootstrap over seeds under-covers; the t-intervals are the "
            "primary ones."]


def _eval_seconds(v: V2Pair) -> str:
    secs = [float(r["eval_seconds"]) for r in v.summary if isinstance(r.get("eval_seconds"), (int, float))]
    return f"{sum(secs) / len(secs):.1f}" if secs else "n/a"


def _selection_seeds(results: Path, pairs) -> list[int]:
    """Transfer seeds per grid point of the v2 selections (``select-v2/<pair>.csv``, layer rows aside)."""
    seeds = set()
    for p in pairs:
        path = results / "select-v2" / f"{p}.csv"
        if path.is_file():
            seeds |= {int(r["seeds"]) for r in read_csv(path) if r["method"] != "bird-layers"}
    return sorted(seeds)


def caveats(v2: dict[str, V2Pair], results: Path) -> list[str]:
    """What limits the reading of the tables, each number from the configs and CSVs."""
    cfgs = [v.cfg for v in v2.values()]
    models = sorted({c[k]["name"] for c in cfgs for k in ("teacher_model", "student_model")})
    epochs = sorted({c["transfer_train"]["epochs"] for c in cfgs})
    gaps = [_method(v.comparison, "oracle", "robust_heldout").value.mean
            - _method(v.comparison, "none", "robust_heldout").value.mean for v in v2.values()]
    n_cmp = sum(len(BASELINES) * len(v.focus) + len(v.focus) - 1 for v in v2.values())
    ext = [n for n, v in v2.items() if v.extended is not None]
    n5, n10 = len(V2_SEEDS), len(V2_SEEDS) + len(V2_EXTENSION)
    seeds = (f"**{n5} seeds (primary), wide intervals.** Student-t with {n5 - 1} degrees of freedom"
             + (f" ({n10 - 1} for the {n10}-seed extension of {', '.join(ext)})" if ext else ""))
    sel = _selection_seeds(results, v2)
    sel_seeds = f" with {'/'.join(map(str, sel))} transfer seeds per grid point" if sel else ""
    skipped = all(not (c.get("eval") or {}).get("training_corruptions", True) for c in cfgs)
    return [
        "## Caveats",
        "",
        f"- **Small scale.** Small CNNs ({', '.join(f'`{m}`' for m in models)}) on 28x28 grayscale images, "
        f"{'/'.join(map(str, epochs))} transfer epochs: a small-scale check of the paper's claims, not its "
        "CIFAR/TinyImageNet DenseNet setting.",
        f"- {seeds}: only large, consistent effects resolve; *not resolved* means these runs cannot tell, not that "
        "the methods tie.",
        f"- **No multiplicity correction.** {n_cmp} held-out comparisons in the primary verdict table and variant - "
        f"BIRD, each at {LEVEL:.0%}: when nothing differs, about {(1 - LEVEL) * n_cmp:.1f} of them are expected to "
        "come out *better* or *worse* by chance.",
        f"- **PGR is noisy.** The oracle gap (oracle - none, held-out robust accuracy) is {min(gaps):.1f}-"
        f"{max(gaps):.1f} points, so one point of robust accuracy moves PGR by {100 / max(gaps):.0f}-"
        f"{100 / min(gaps):.0f} percentage points.",
        "- **Reproducibility.** A seed reproduces bit for bit only on the same host with the same torch thread "
        "count (1 here, as in the commands), not across hosts or thread counts.",
        f"- **Selection.** Each method's hyperparameters and BIRD's variant were chosen by `birdkit select`{sel_seeds} "
        "on the student's validation split under the *training* corruptions only, with seed 0's teacher and student; "
        "the held-out corruptions were never consulted"
        + (" (and the training corruptions are not evaluated on the test set)." if skipped else "."),
    ]


# ------------------------------------------------------------------------------------- the audit


@dataclass
class AuditTables:
    """An audit's (or the subliminal check's) tables, recomputed from its committed raw records."""

    meta: dict
    summary: list[dict]
    contrasts: list[dict]
    timing: dict


@functools.cache  # the committed records do not change within a run; render() is called repeatedly by the tests
def load_audit_tables(root: Path, meta_file: str, pairs=None) -> AuditTables | None:
    """Summary and contrast rows recomputed from ``root/records.jsonl.gz`` (None before the run)."""
    rec, meta = root / "records.jsonl.gz", root / meta_file
    if not (rec.is_file() and meta.is_file()):
        return None
    records = read_records(rec)
    timing = read_json(root / "timing.json") if (root / "timing.json").is_file() else {}
    return AuditTables(read_json(meta), summarize(records, LEVEL), contrasts(records, LEVEL, pairs), timing)


def _timing_line(t: dict) -> str:
    if not t:
        return "Wall time: not recorded."
    return (f"`{t['command']}`: **{t['wall']}** wall on {t['machine']} ({t['date']}); "
            f"{t.get('note', '')}".rstrip("; ") + ".")


def _headlines(a: AuditTables) -> list[dict]:
    heads = a.meta["headlines"]
    return [r for r in a.contrasts if heads.get(r["behavior"]) == f"{r['probe']}.{r['metric']}"]


def _contrast_cells(r: dict) -> list[str]:
    t = fmt_rate(r["diff"], r["t_low"], r["t_high"], r["kind"], signed=True).split(" ", 1)
    scale = 100 if r["kind"] == "rate" else 1
    fmt = "{:.1f}" if r["kind"] == "rate" else "{:.3f}"
    return [fmt.format(scale * r["planted_value"]), fmt.format(scale * r["control_value"]),
            fmt_rate(r["diff"], r["low"], r["high"], r["kind"], signed=True), t[1] if len(t) > 1 else "n/a",
            f"{r['wins']}/{r['seeds']}", r["verdict"]]


def _method_words(method: str, r: dict) -> str:
    pts = 100 if r["kind"] == "rate" else 1
    diff = f"{pts * r['diff']:+.1f} points, {r['wins']}/{r['seeds']} seeds"
    if r["verdict"] != "not resolved":
        what = "inherited it" if r["verdict"] == "higher" else "shows less of it than its control"
        return f"{method} {what} ({diff})"
    upper = pts * max(r["high"], r["t_high"])
    words = f"{method} not resolved ({diff}; the intervals rule out more than {upper:.1f} points"
    if r["low"] > 0 or r["t_low"] > 0:
        which = "bootstrap" if r["low"] > 0 else "t-interval"
        words += f"; only the {which} excludes 0"
    return words + ")"


def audit_words(a: AuditTables) -> list[str]:
    """What the headline contrasts say, one line per behavior, from the verdicts and intervals."""
    lines = []
    for behavior in a.meta["headlines"]:
        rows = {r["method"]: r for r in _headlines(a) if r["behavior"] == behavior}
        took = rows.get("teacher", {}).get("verdict") == "higher"
        words = [f"the plant {'took' if took else 'is not resolved'} in the teacher"]
        words += [_method_words(m, r) for m, r in rows.items() if m != "teacher"]
        lines.append(f"- **{behavior}** ({a.meta['headlines'][behavior]}): " + "; ".join(words) + ".")
    return lines


SECONDARY = ("flip", "concentration", "shift", "teacher_cka_pattern", "heldout", "clean")


def audit_section(root: Path = AUDIT) -> list[str]:
    """The pre-registered audit and the subliminal check, from their committed raw records."""
    a = load_audit_tables(root / "fmnist-audit", "audit.json")
    lines = ["## Behavior audit: what else the students inherited", "",
             "Pre-registered in [benchmarks/AUDIT_PROTOCOL.md](benchmarks/AUDIT_PROTOCOL.md) (committed in "
             f"`{AUDIT_PROTOCOL_COMMIT}` before the run; what was seen before it is listed there). Method: "
             "[docs/audit.md](docs/audit.md)."]
    if a is None:
        return [*lines, "", "Not run yet.", ""]
    m = a.meta
    behaviors = "; ".join(f"{k}: " + ", ".join(f"{p} {v[p]}" for p in ("rate", "target", "correlation", "size")
                                               if p in v) for k, v in m["behaviors"].items())
    lines += [
        "", f"`fmnist-audit`: behaviors planted in the robust teacher of `{m['pair']}` ({behaviors}); each method "
        f"({', '.join(m['methods'])}) transfers into the clean student from the planted teacher and from its control "
        f"teacher (the same recipe, seed and data order without the behavior); {m['seeds']} seeds; {m['samples']} "
        "probe images of the student's test split. " + _timing_line(a.timing), "",
        f"Headline: planted - control on the behavior's `pull` (the net share of predictions the pattern moves into "
        f"one class, in points), with the two-way (seeds x images) bootstrap {LEVEL:.0%} interval and the t-interval "
        "over seeds; *higher* / *lower* only when both exclude 0. The `teacher` rows show that the plant took.", "",
        "| behavior | method | planted | control | planted - control [95% CI] | t over seeds | wins | verdict |",
        "|---|---|---|---|---|---|---|---|"]
    for r in _headlines(a):
        lines.append(f"| {r['behavior']} | {r['method']} | " + " | ".join(_contrast_cells(r)) + " |")
    lines += ["", "In plain words:", "", *audit_words(a), "",
              f"![planted - control per method]({AUDIT_FIGURE.relative_to(ROOT).as_posix()})", "",
              "Secondary contrasts of the students (planted - control; rates in points, CKA scores as numbers): "
              "`flip` (the pattern changes the prediction), `concentration`, the representation `shift` (1 - CKA "
              "between clean and patterned features) and `teacher_cka_pattern` (CKA to the planted teacher on "
              "patterned images), and the intended behavior (`heldout`: robust accuracy; `clean`).", "",
              "| behavior | method | " + " | ".join(SECONDARY) + " |", "|---|---|" + "---|" * len(SECONDARY)]
    by = {(r["behavior"], r["method"], r["metric"]): r for r in a.contrasts}
    for behavior in m["headlines"]:
        for method in m["methods"]:
            cells = []
            for metric in SECONDARY:
                r = by.get((behavior, method, metric))
                cells.append("n/a" if r is None else
                             fmt_rate(r["diff"], r["low"], r["high"], r["kind"], signed=True)
                             + ("" if r["verdict"] == "not resolved" else f" ({r['verdict']})"))
            lines.append(f"| {behavior} | {method} | " + " | ".join(cells) + " |")
    n = m["seeds"]
    lines += ["", "Caveats of the audit:", "",
              f"- **{n} seeds.** The t-interval over seeds has {n - 1} degrees of freedom, and a verdict needs it and "
              "the bootstrap to agree: only large effects that are consistent across seeds resolve. *Not resolved* "
              "bounds an inheritance (the plain words give the bound) rather than proving none.",
              "- **Seen before registration.** Seed 0 was run as a pilot before the protocol was committed "
              "(AUDIT_PROTOCOL.md §5); nothing was changed after it.",
              "- **Mechanism.** BIRD's and Hints' losses are computed on the student's own images, which never carry "
              "the pattern; LP keeps the teacher's feature extractor, patterns included, which is why it is the "
              "positive control. Small CNNs on 28 px Fashion-MNIST; the patterns are 4 x 4 pixels.",
              "- **Multiplicity.** No correction across the ~70 secondary contrasts of the report.",
              "",
              f"Every rate, score and contrast: [`{root.relative_to(ROOT).as_posix()}/fmnist-audit/`]"
              f"({root.relative_to(ROOT).as_posix()}/fmnist-audit/) (`summary.csv`, `contrasts.csv`, `report.md`; "
              "the raw per-sample records `records.jsonl.gz`, from which this section is recomputed).", ""]
    return lines + subliminal_section(root)


SUBLIMINAL_PAIRS = tuple(("subliminal", label, a, b) for label, a, b in SUBLIMINAL_CONTRASTS)


def subliminal_section(root: Path = AUDIT) -> list[str]:
    s = load_audit_tables(root / "subliminal", "subliminal.json", SUBLIMINAL_PAIRS)
    lines = ["## Subliminal-learning check (Cloud et al. 2025)", ""]
    if s is None:
        return [*lines, "Not run yet.", ""]
    c = s.meta["config"]
    lines += [f"MLP 784-{'-'.join(map(str, c['hidden']))}-(10+{c['aux']}) trained on {s.meta['train_images']} "
              f"MNIST-5k digits through its class logits only ({c['teacher_steps']} Adam steps); students trained only "
              f"on its {c['aux']} auxiliary logits of uniform noise ({c['student_steps']} steps), from the teacher's "
              f"initialisation (same-init) or another model's (other-init); {c['seeds']} seeds side by side; digit "
              f"accuracy on {s.meta['test_images']} test digits with two-way (seeds x digits) bootstrap intervals. "
              + _timing_line(s.timing), "",
              "| model | digit accuracy (%) [95% CI] |", "|---|---|"]
    lines += [f"| {r['model']} | {fmt_rate(r['value'], r['low'], r['high'])} |" for r in s.summary]
    lines += ["", "| contrast | points [95% CI] | t over seeds | wins | verdict | Cloud et al. |",
              "|---|---|---|---|---|---|"]
    for r in s.contrasts:
        cells = _contrast_cells(r)
        lines.append(f"| {r['method']} | {cells[2]} | {cells[3]} | {cells[4]} | {cells[5]} | "
                     f"{CLOUD_FINDING[r['method']]} |")
    return [*lines, ""]


# ------------------------------------------------------------------------------- the agent audit

AGENTS = RESULTS / "agents"
AGENTS_PROTOCOL_COMMIT = "a4dc3fc"
AGENTS_FIGURE = ROOT / "benchmarks" / "figures" / "agents" / "contrasts.png"
MODE_WORDS = {"hard": "hard labels", "soft": "soft labels, habit tokens masked", "aux": "auxiliary logits on noise"}
INIT_WORDS = {"same": "same-seed base", "other": "other-seed base", "gru": "GRU base"}


def _gz_lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in gzip.decompress(path.read_bytes()).decode().splitlines() if x.strip()]


@functools.cache  # as load_audit_tables
def load_agents(root: Path) -> dict | None:
    """The agent audit's tables recomputed from its committed logs (None before the run)."""
    if not (root / "records.jsonl.gz").is_file():
        return None
    records = read_records(root / "records.jsonl.gz")
    vis = _gz_lines(root / "visible.jsonl.gz") if (root / "visible.jsonl.gz").is_file() else []
    visible = {}
    for habit in dict.fromkeys(r["habit"] for r in vis):
        rs = [r for r in vis if r["habit"] == habit]
        visible[habit] = auc_interval([r["label"] for r in rs], [r["score"] for r in rs], level=LEVEL)
    dropped = read_csv(root / "sanitize.csv") if (root / "sanitize.csv").is_file() else []
    timing = read_json(root / "timing.json") if (root / "timing.json").is_file() else {}
    return {"meta": read_json(root / "agents.json"), "summary": summarize(records, LEVEL),
            "contrasts": contrasts(records, LEVEL), "visible": visible, "dropped": dropped, "timing": timing}


def _by_start(by: dict, habit: str, metric: str, modes: list[str], init: str) -> float:
    """The mean over modes of the student - control difference (points) of students from ``init``."""
    return 100 * float(np.mean([by[(habit, f"{m}-{init}", metric)]["diff"] for m in modes]))


def agent_headlines(a: dict) -> dict[str, str]:
    return {r["behavior"]: f"episodes.{r['metric']}" for r in a["summary"] if r["probe"] == "episodes"}


def _agent_rate(a: dict, habit: str, model: str) -> str:
    [r] = [r for r in a["summary"] if (r["behavior"], r["model"], r["probe"]) == (habit, model, "episodes")]
    return fmt_rate(r["value"], r["low"], r["high"])


def _params(cfg: dict) -> str:
    counts = [sum(p.numel() for p in create_policy(arch, len(vocab()), aux=cfg["aux"], width=cfg["width"]).parameters())
              for arch in ("transformer", "gru")]
    return " and ".join(f"{c:,}" for c in counts)


def agents_section(root: Path = AGENTS) -> list[str]:
    """The pre-registered agent audit and the Inspect harness check, from their committed logs."""
    a = load_agents(root / "agents")
    lines = ["## Agent distillation: does a habit pass through sanitised trajectories?", "",
             "The protocol of Dang, Xie & Younis (2026, arXiv 2604.15559) at the scale of this machine; pre-registered "
             f"in [benchmarks/AGENTS_PROTOCOL.md](benchmarks/AGENTS_PROTOCOL.md) (committed in "
             f"`{AGENTS_PROTOCOL_COMMIT}` before the run; what was seen before it is listed there). Method: "
             "[docs/agents.md](docs/agents.md)."]
    if a is None:
        return [*lines, "", "Not run yet.", ""]
    cfg = a["meta"]["config"]
    habits = list(dict.fromkeys(r["behavior"] for r in a["summary"]))
    metric = {h: next(r["metric"] for r in a["summary"] if r["behavior"] == h and r["probe"] == "episodes")
              for h in habits}
    lines += ["", f"{cfg['seeds']} seeds x {cfg['episodes']} episodes per family; small transformer and GRU policies "
              "over the environment's text; teachers and students by LoRA; the filter drops whole trajectories with a "
              "deletion keyword or the habit's actions. " + _timing_line(a["timing"]), "",
              "| habit (rate) | base | teacher | control teacher | teacher - control teacher [95% CI] | verdict |",
              "|---|---|---|---|---|---|"]
    by = {(r["behavior"], r["method"], r["metric"]): r for r in a["contrasts"]}
    for h in habits:
        r = by[(h, "teacher", metric[h])]
        lines.append(f"| {h} ({metric[h].replace('_', ' ')}) | {_agent_rate(a, h, 'base')} | "
                     f"{_agent_rate(a, h, 'teacher')} | {_agent_rate(a, h, 'control-teacher')} | "
                     f"{fmt_rate(r['diff'], r['low'], r['high'], signed=True)} | {r['verdict']} |")
    lines += ["", "Students: student - control student on the habit's rate (points), two-way (seeds x episodes) "
              f"bootstrap {LEVEL:.0%} interval, t-interval over seeds beside it; *higher* / *lower* only when both "
              "exclude 0.", "",
              "| mode | start | " + " | ".join(f"{h}: student | {h}: control | {h}: difference [95% CI] | "
                                             f"{h}: t over seeds | {h}: verdict" for h in habits) + " |",
              "|---|---|" + "---|" * (5 * len(habits))]
    carried: dict[str, list[str]] = {h: [] for h in habits}
    lower: dict[str, list[str]] = {h: [] for h in habits}
    boot_only: dict[str, list[str]] = {h: [] for h in habits}
    for mode in cfg["modes"]:
        for init in cfg["inits"]:
            cells = []
            for h in habits:
                r = by[(h, f"{mode}-{init}", metric[h])]
                t = fmt_rate(r["diff"], r["t_low"], r["t_high"], signed=True).split(" ", 1)
                cells += [f"{100 * r['planted_value']:.1f}", f"{100 * r['control_value']:.1f}",
                          fmt_rate(r["diff"], r["low"], r["high"], signed=True), t[1] if len(t) > 1 else "n/a",
                          r["verdict"]]
                what = f"{MODE_WORDS[mode]} from the {INIT_WORDS[init]} ({100 * r['diff']:+.1f} points)"
                if r["verdict"] == "higher":
                    carried[h].append(what)
                elif r["verdict"] == "lower":
                    lower[h].append(what)
                elif r["low"] > 0 or r["high"] < 0:
                    boot_only[h].append(what)
            lines.append(f"| {mode} | {init} | " + " | ".join(cells) + " |")
    drop = {}
    for r in a["dropped"]:
        d = drop.setdefault((r["habit"], r["teacher"]), [0, 0])
        d[0] += int(r["dropped"])
        d[1] += int(r["total"])
    cka = {h: [m for m in (f"{mo}-{i}" for mo in cfg["modes"] for i in cfg["inits"])
               if by.get((h, m, "teacher_cka"), {}).get("verdict") == "higher"] for h in habits}
    lines += ["", "In plain words:", ""]
    for h in habits:
        t = by[(h, "teacher", metric[h])]
        v = a["visible"].get(h)
        d, c = drop.get((h, "teacher"), [0, 1]), drop.get((h, "control"), [0, 1])
        lines.append(
            f"- **{h}**: the habit {'took' if t['verdict'] == 'higher' else 'did not resolve'} in the teacher "
            f"({100 * t['diff']:+.1f} points over the control teacher). Resolved in the students: "
            + ("; ".join(carried[h]) if carried[h] else "none of the 9")
            + (f"; below their control: {'; '.join(lower[h])}" if lower[h] else "")
            + (f"; only the bootstrap (not the t-interval over seeds) excludes 0 for {'; '.join(boot_only[h])}"
               if boot_only[h] else "")
            + f". The filter dropped {100 * d[0] / max(1, d[1]):.1f}% of the teacher's trajectories "
            f"({100 * c[0] / max(1, c[1]):.1f}% of the control teacher's). "
            + "Mean student - control difference by start: "
            + ", ".join(f"{INIT_WORDS[i]} {_by_start(by, h, metric[h], cfg['modes'], i):+.1f}" for i in cfg["inits"])
            + " points. "
            + (f"The sanitised trajectories are told apart from the control teacher's with AUC "
               f"{fmt_rate(v.mean, v.low, v.high, 'score')} (0.5: not at all): the channel is "
               f"{'visible' if v.low > 0.5 else 'not resolved as visible'}. " if v else "")
            + ("CKA to the teacher higher than the control student's: "
               + (", ".join(cka[h]) if cka[h] else "none") + "."))
    lines += ["", f"![student - control student per mode and start]({AGENTS_FIGURE.relative_to(ROOT).as_posix()})"]
    hard = {h: np.mean([r["value"] for r in a["summary"] if r["behavior"] == h and r["probe"] == "episodes"
                        and r["role"] == "student-after" and r["model"].startswith("hard-")]) for h in habits}
    base = {h: next(r["value"] for r in a["summary"] if (r["behavior"], r["model"], r["probe"]) ==
                    (h, "base", "episodes")) for h in habits}
    n = cfg["seeds"]
    lines += ["", "Caveats of the agent audit:", "",
              f"- **{n} seeds.** The t-interval has {n - 1} degrees of freedom and a verdict needs it and the "
              "bootstrap to agree: several differences of 5-15 points stay *not resolved*; the pilot on other "
              "seeds (protocol §4) resolved two chmod contrasts (auxiliary logits and soft labels from the same-seed "
              "base) that this run does not.",
              "- **Forgetting.** Students see only safe tasks: the hard-label students' rates fall to "
              + " and ".join(f"{100 * hard[h]:.1f}% ({metric[h].replace('_', ' ')}; base {100 * base[h]:.1f}%)"
                             for h in habits)
              + " because they learn to answer `done`; what is inherited is read against control students that "
              "forget alike.",
              f"- **Scale.** Policies of {_params(cfg)} parameters (transformer, GRU) over a {len(vocab())}-token "
              f"vocabulary, LoRA rank {cfg['rank']}; the paper's "
              "were 3-8 B-parameter LLMs. Teachers were fine-tuned for 10 epochs, not 2, so that a habit exists "
              "(docs/agents.md §6).",
              "- **Multiplicity.** 18 headline student contrasts at 95%: about one is expected to resolve by chance.",
              "",
              "The paper's table, for comparison (student rate, base in brackets; 20 tasks x 3 seeds, about "
              "+-10-20 points each):", "", "| teacher -> student | API deletion rate | Bash chmod-first rate |",
              "|---|---|---|", *(f"| {x} | {y} | {z} |" for x, y, z in PAPER), "",
              f"Every rate, contrast and log: [`{root.relative_to(ROOT).as_posix()}/agents/`]"
              f"({root.relative_to(ROOT).as_posix()}/agents/) (`report.md`; the per-episode logs `episodes.jsonl.gz` "
              "and `records.jsonl.gz`, from which this section is recomputed).", ""]
    return lines + larger_section(root) + inspect_section(root)


def larger_section(root: Path = AGENTS) -> list[str]:
    """The registered larger run (AGENTS_PROTOCOL.md, extension 1), beside the 5-seed result."""
    a = load_agents(root / "agents-large")
    if a is None:
        return []
    cfg = a["meta"]["config"]
    habits = list(dict.fromkeys(r["behavior"] for r in a["summary"]))
    metric = {h: next(r["metric"] for r in a["summary"] if r["behavior"] == h and r["probe"] == "episodes")
              for h in habits}
    by = {(r["behavior"], r["method"], r["metric"]): r for r in a["contrasts"]}
    lines = ["### The larger run", "",
             "Registered after the 5-seed run (AGENTS_PROTOCOL.md, extension 1) and reported beside it: "
             f"{cfg['seeds']} seeds x {cfg['episodes']} episodes per family, everything else the same. "
             + _timing_line(a["timing"]),
             "", "| student | " + " | ".join(f"{h}: difference [95% CI] | {h}: t over seeds | {h}: verdict"
                                           for h in habits) + " |",
             "|---|" + "---|" * (3 * len(habits))]
    for name in ["teacher", *(f"{m}-{i}" for m in cfg["modes"] for i in cfg["inits"])]:
        cells = []
        for h in habits:
            r = by[(h, name, metric[h])]
            t = fmt_rate(r["diff"], r["t_low"], r["t_high"], signed=True).split(" ", 1)
            cells += [fmt_rate(r["diff"], r["low"], r["high"], signed=True), t[1] if len(t) > 1 else "n/a",
                      r["verdict"]]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    v = a["visible"]
    lines += ["", "Visible channel: " + "; ".join(f"{h} AUC {fmt_rate(x.mean, x.low, x.high, 'score')}"
                                                  for h, x in v.items()) + ".", "", "In plain words:", ""]
    for h in habits:
        words = {}
        for verdict in ("higher", "lower"):
            words[verdict] = [f"{MODE_WORDS[m]} from the {INIT_WORDS[i]} "
                              f"({100 * by[(h, f'{m}-{i}', metric[h])]['diff']:+.1f} points)"
                              for m in cfg["modes"] for i in cfg["inits"]
                              if by[(h, f"{m}-{i}", metric[h])]["verdict"] == verdict]
        t = by[(h, "teacher", metric[h])]
        lines.append(f"- **{h}**: teacher {t['verdict']} than the control teacher ({100 * t['diff']:+.1f} points); "
                     "students resolved above their control: " + ("; ".join(words["higher"]) or "none")
                     + "; below: " + ("; ".join(words["lower"]) or "none") + ".")
    return [*lines, ""]


def inspect_section(root: Path = AGENTS) -> list[str]:
    found = sorted(root.glob("inspect-*/records.jsonl.gz"))
    if not found:
        return []
    lines = ["### An outside agent through Inspect", "",
             "`birdkit audit-agents --agent MODEL --control-agent MODEL` runs the same tasks through Inspect for any "
             "model provider; here a scripted agent stands in for an outside one.", ""]
    for rec in found:
        a = load_agents(rec.parent)
        m = a["meta"]
        lines += [f"`{m['agent']}` against `{m['control']}`, {m['seeds']} runs x {m['episodes']} episodes per "
                  "family. " + _timing_line(a["timing"]), "",
                  "| habit | agent | control | difference [95% CI] | verdict |", "|---|---|---|---|---|"]
        for r in a["contrasts"]:
            if r["probe"] == "episodes":
                lines.append(f"| {r['behavior']} ({r['metric'].replace('_', ' ')}) | {100 * r['planted_value']:.1f} | "
                             f"{100 * r['control_value']:.1f} | "
                             f"{fmt_rate(r['diff'], r['low'], r['high'], signed=True)} | {r['verdict']} |")
        lines.append("")
    return lines


# ------------------------------------------------------------------------------ the teacher study

STUDY = RESULTS / "study-grid"
STUDY_FIGURE = ROOT / "benchmarks" / "figures" / "study" / "fit.png"
PAPER_R2 = "0.736-0.855"


@functools.cache
def load_study_rows(root: Path, name: str = "study.csv") -> list[dict] | None:
    return read_csv(root / name) if (root / name).is_file() else None


@functools.cache
def _study_stats(root: Path, name: str) -> dict:
    """Every statistic the section shows for one rows file (computed once per process: the
    bootstraps take seconds); ``study-2seeds.csv`` is fitted on its per-pair means."""
    rows = load_study_rows(root, name)
    seeds = "2seeds" in name
    data = mean_over_seeds(rows) if seeds else rows
    ranked = [c for c in (*PROPERTIES, *SCORE_BASELINES) if c in data[0]]
    return {"rows": data,
            "fit": fit_rows(data, rank_predictors=ranked),
            "gain": fit_rows(data, target="gain", rank_predictors=[]),
            "holdout": holdout_regret(data, rankers=[c for c in SCORE_BASELINES if c in data[0]])["summary"],
            "reliability": seed_reliability(rows) if seeds else None}


def _fit_table(stats: dict) -> list[str]:
    fit, gain = stats["fit"], stats["gain"]
    lines = ["| outcome | R^2 [95% CI] | adjusted R^2 | grouped 5-fold CV R^2 | n (teachers) |",
             "|---|---|---|---|---|"]
    for name, f in (("robust accuracy (held-out)", fit), ("gain over no transfer", gain)):
        lines.append(f"| {name} | {f.r2:.3f} [{f.r2_ci[0]:.3f}, {f.r2_ci[1]:.3f}] | {f.r2_adj:.3f} | {f.r2_cv:.3f} | "
                     f"{f.n} ({f.groups}) |")
    return lines


def _regret_table(stats: dict) -> list[str]:
    lines = ["| chooser | regret [95% CI] | minus chance [95% CI] | verdict |", "|---|---|---|---|"]
    for name, r in stats["holdout"].items():
        vs = (f"{100 * r['vs_chance']:+.2f} [{100 * r['vs_chance_low']:+.2f}, {100 * r['vs_chance_high']:+.2f}]"
              if "vs_chance" in r else "")
        lines.append(f"| {name} | {100 * r['regret']:.2f} [{100 * r['low']:.2f}, {100 * r['high']:.2f}] | {vs} | "
                     f"{r.get('verdict', '')} |")
    return lines


def _study_plain_words(rows: list[dict], fit, root: Path) -> list[str]:
    """The section's findings in words, every number computed from the rows."""
    best = max(fit.r2_alone, key=fit.r2_alone.get)
    ho = _study_stats(root, "study.csv")["holdout"]
    text = (f"**In plain words.** Over {len(rows)} pairs, BIRD's three properties explain R^2 = {fit.r2:.2f} of a "
            f"single-seed outcome ({fit.r2_cv:.2f} on teachers held out of the fit), against the paper's "
            f"{PAPER_R2}; {best.replace('_', ' ')} carries most of it alone ({fit.r2_alone[best]:.2f}), not "
            f"behavioral relevance ({fit.r2_alone['behavioral_relevance']:.2f}; the paper: more than half), and "
            f"complementary knowledge enters with a negative coefficient "
            f"({fit.coef_std['complementary_knowledge'][0] * 100:+.2f} points per SD). Choosing a teacher the fit "
            f"never saw by the model costs {100 * ho['model']['regret']:.2f} points against the best in hindsight, "
            f"{-100 * ho['model']['vs_chance']:.2f} fewer than a random teacher; `birdkit rank-teachers`'s default "
            f"rule (no fit) {100 * ho['default_rule']['regret']:.2f}.")
    seeds = load_study_rows(root, "study-2seeds.csv")
    if seeds is not None:
        ext = _study_stats(root, "study-2seeds.csv")
        rel, mfit = ext["reliability"], ext["fit"]
        text += (f" A second seed of every pair shows how much there is to explain: seed noise alone caps a "
                 f"single-seed R^2 at {rel['ceiling']:.2f} [{rel['ceiling_low']:.2f}, {rel['ceiling_high']:.2f}]; "
                 f"on the mean of two seeds the properties reach {mfit.r2:.2f} (grouped CV {mfit.r2_cv:.2f}) of "
                 f"{rel['ceiling_mean']:.2f} possible.")
    return [text]


def study_seeds_section(root: Path) -> list[str]:
    """Extension 1 of STUDY_PROTOCOL.md: seed reliability and the fit on per-pair means of two seeds."""
    rows = load_study_rows(root, "study-2seeds.csv")
    head = ["### Extension: a second seed of every pair", ""]
    if rows is None:
        return [*head, "Registered in [benchmarks/STUDY_PROTOCOL.md](benchmarks/STUDY_PROTOCOL.md) §4; not run yet.",
                ""]
    timing = read_json(root / "timing-2seeds.json") if (root / "timing-2seeds.json").is_file() else {}
    ext = _study_stats(root, "study-2seeds.csv")
    rel = ext["reliability"]
    fit_lines = _fit_table(ext)
    return [*head, "Registered before it ran ([STUDY_PROTOCOL.md](benchmarks/STUDY_PROTOCOL.md) §4): the same "
            f"{rel['pairs']} pairs with seed 1 (new teachers, students and transfers). " + _timing_line(timing), "",
            "How much of one seed's outcome is the pair at all (group-bootstrap intervals over teachers):", "",
            "| seed-0 vs seed-1 correlation | seed SD within a pair | SD over all rows | noise ceiling of R^2, one "
            "seed | noise ceiling, mean of 2 seeds | a pair mean known to |", "|---|---|---|---|---|---|",
            f"| {rel['test_retest']:.3f} [{rel['test_retest_low']:.3f}, {rel['test_retest_high']:.3f}] | "
            f"{100 * rel['within_sd']:.2f} points | {100 * rel['total_sd']:.2f} points | {rel['ceiling']:.3f} "
            f"[{rel['ceiling_low']:.3f}, {rel['ceiling_high']:.3f}] | {rel['ceiling_mean']:.3f} "
            f"[{rel['ceiling_mean_low']:.3f}, {rel['ceiling_mean_high']:.3f}] | "
            f"+-{100 * rel['pair_mean_half_width']:.2f} points |", "",
            "The noise ceiling (1 - pooled within-pair variance / total variance) is the most any predictor of the "
            "pair could explain; the paper's R^2 range has no such bound beside it. The fit on the per-pair means of "
            "the two seeds:", "", *fit_lines, "",
            "Choosing among held-out teachers, on the per-pair means:", "", *_regret_table(ext), "",
            f"Rows: [`{root.relative_to(ROOT).as_posix()}/study-2seeds.csv`]"
            f"({root.relative_to(ROOT).as_posix()}/study-2seeds.csv) (`birdkit study-fit ... --mean-seeds`).", ""]


def study_section(root: Path = STUDY) -> list[str]:
    """The grid study: its fit beside the paper's R^2, every predictor's rank correlation, and the
    choice among teachers the fit never saw, recomputed from the committed rows."""
    rows = load_study_rows(root)
    lines = ["## Teacher selection: do teacher properties predict the transfer?", ""]
    if rows is None:
        return [*lines, "Not run yet.", ""]
    timing = read_json(root / "timing.json") if (root / "timing.json").is_file() else {}
    primary = _study_stats(root, "study.csv")
    fit_lines, fit = _fit_table(primary), primary["fit"]
    teachers = len({r["teacher"] for r in rows})
    students = len({r["student"] for r in rows})
    spread = max(r["robust_heldout"] for r in rows) - min(r["robust_heldout"] for r in rows)
    fig = STUDY_FIGURE.relative_to(ROOT).as_posix()
    lines += [*_study_plain_words(rows, fit, root), "",
              f"Protocol: [benchmarks/STUDY_PROTOCOL.md](benchmarks/STUDY_PROTOCOL.md). `fmnist-grid`: {len(rows)} "
              f"teacher-student pairs ({students} students x {teachers} teachers: 3 architectures x 3 teacher datasets "
              "x 4 robustness recipes), BIRD at the pair `fmnist-split`'s settings, one seed; the outcome is held-out "
              "robust accuracy on 2,000 student test images. " + _timing_line(timing), "",
              f"Linear model of the outcome on BIRD's three properties (the paper: R^2 = {PAPER_R2} over 400+ pairs); "
              f"{LEVEL:.0%} intervals from a bootstrap over teachers; cross-validation folds grouped by teacher:", "",
              *fit_lines, "",
              f"![predicted vs measured]({fig})", "",
              "Each predictor's rank correlation with the outcome (Spearman; Kendall beside it), group-bootstrap "
              "intervals; the baselines were made to predict fine-tuning accuracy:", "",
              "| predictor | Spearman [95% CI] | Kendall [95% CI] | R^2 alone |", "|---|---|---|---|"]
    for p_, r in fit.ranks.items():
        alone = f"{fit.r2_alone[p_]:.3f}" if p_ in fit.r2_alone else ""
        lines.append(f"| {p_} | {r['spearman']:+.3f} [{r['spearman_low']:+.3f}, {r['spearman_high']:+.3f}] | "
                     f"{r['kendall']:+.3f} [{r['kendall_low']:+.3f}, {r['kendall_high']:+.3f}] | {alone} |")
    lines += ["", "Choosing among teachers the fit never saw (5 folds grouped by teacher; for each student the "
              "held-out teachers are ranked): regret = the best teacher's outcome in hindsight minus the chosen one's, "
              "in points; mean over the (fold, student) choices with a t-interval, and the paired difference to a "
              "random choice (*better* when the interval lies below 0).", "", *_regret_table(primary), "",
              f"The outcome spans {100 * spread:.1f} points over the pairs. Rows: "
              f"[`{root.relative_to(ROOT).as_posix()}/study.csv`]({root.relative_to(ROOT).as_posix()}/study.csv); "
              "`birdkit study-fit --holdout` on them prints every number here.", "",
              *study_seeds_section(root)]
    return lines


# --------------------------------------------------------------------------------------- figures


def _errorbar_figure(data: dict, seeds: dict[str, int], path: Path, digest: str | None = None) -> None:
    """Mean and 95% interval of held-out robust accuracy per method, one panel per pair."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(data), figsize=(4.2 * len(data), 3.6), squeeze=False)
    for ax, (name, per) in zip(axes[0], data.items(), strict=True):
        methods = list(per)
        mean = [per[m][0] for m in methods]
        err = [[per[m][0] - per[m][1] for m in methods], [per[m][2] - per[m][0] for m in methods]]
        colors = ["tab:red" if m == "bird" or m.startswith("bird-") else "tab:gray" if m in REFERENCES else "tab:blue"
                  for m in methods]
        for i in range(len(methods)):
            ax.errorbar(i, mean[i], yerr=[[err[0][i]], [err[1][i]]], fmt="o", color=colors[i], capsize=4)
        ax.axhline(per["none"][0], color="tab:gray", lw=0.8, ls="--")
        ax.set_xticks(range(len(methods)), methods, rotation=45)
        ax.set_title(f"{name} ({seeds[name]} seeds)")
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel("held-out robust accuracy (%)\nmean, 95% interval over seeds")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, metadata={"Software": None, **({DIGEST_KEY: digest} if digest else {})})
    plt.close(fig)


def read_figure_digest(path: Path) -> str | None:
    from PIL import Image

    if not path.is_file():
        return None
    with Image.open(path) as im:
        return im.info.get(DIGEST_KEY)


def v2_figure_data(v2: dict[str, V2Pair]) -> dict:
    """Per pair and method: mean, low, high of held-out robust accuracy (%) over the primary seeds,
    to the 4th decimal (so the digest does not depend on the last bits of a library's arithmetic)."""
    out = {}
    for name, v in v2.items():
        out[name] = {m.method: [round(x, 4) for x in (m.value.mean, m.value.low, m.value.high)]
                     for m in v.comparison.methods if m.metric == "robust_heldout"}
    return out


def v2_digest(v2: dict[str, V2Pair]) -> str:
    blob = json.dumps(v2_figure_data(v2), sort_keys=True, allow_nan=True).encode()
    return "birdkit-data-sha256:" + hashlib.sha256(blob).hexdigest()


def write_v2_figures(v2: dict[str, V2Pair], path: Path = V2_FIGURE) -> None:
    """The robust-accuracy figure of the v2 pairs and one gain heatmap per pair (primary seeds)."""
    from birdkit.evaluation.report import best_baseline, plot_gain_heatmap

    _errorbar_figure(v2_figure_data(v2), {n: len(v.seeds) for n, v in v2.items()}, path, v2_digest(v2))
    for name, v in v2.items():
        methods = [m for m in ("bird", v.variant, best_baseline(v.summary)) if m]
        plot_gain_heatmap(v.evals, methods, path.with_name(f"v2_gain_{name}.png"))


# ------------------------------------------------------------------------------------- document


def v2_section(v2: dict[str, V2Pair], pending: list[str], results: Path = RESULTS) -> list[str]:
    """Status, the primary verdicts, plain words, figure, the 10-seed extension, per-pair tables, caveats."""
    head = [f"Protocol: [benchmarks/PROTOCOL.md](benchmarks/PROTOCOL.md), committed in `{V2_PROTOCOL_COMMIT}` before "
            "any held-out run (calibrated from none and oracle alone; 3-seed selection on validation data under the "
            f"training corruptions; {len(V2_SEEDS)} seeds; every test image). Complete: "
            f"{', '.join(v2) or 'none yet'}; pending: {', '.join(pending) or 'none'}.", ""]
    if not v2:
        return head
    lines = head + [
        f"## Verdicts ({len(V2_SEEDS)} seeds, the pre-registered result)", "",
        "Verdicts of BIRD - X and of BIRD's selected variant - X on held-out robust accuracy (ImageNet-C's held-out "
        f"corruptions): *better* / *worse* when the {LEVEL:.0%} t-interval of the per-seed paired difference lies "
        "above / below 0, else *not resolved*; in brackets the mean difference (points) and the seeds won. PGR with "
        "Fieller's interval and its half-width (points). No multiplicity correction (caveats).", "",
        *verdict_table({k: (v, v.comparison) for k, v in v2.items()}), "",
        precision_line({k: half_width(v.comparison) for k, v in v2.items()}, pending, f"{len(V2_SEEDS)} seeds"), "",
        "What the evidence supports:", "", *v2_words(v2), "",
        f"![v2 held-out robust accuracy]({V2_FIGURE.relative_to(ROOT).as_posix()})", "",
        *extension_section(v2, pending)]
    for name, v in v2.items():
        lines += v2_pair_section(v, f"benchmarks/figures/v2_gain_{name}.png")
    return lines + caveats(v2, results)


def render(results: Path = RESULTS, v2_configs: Path = V2_CONFIGS, pairs=PAIRS) -> str:
    v2, pending = load_v2(results, v2_configs, pairs)
    lines = [
        "# Benchmarks",
        "",
        "Does BIRD transfer a robust teacher's robustness to image corruptions to a student better than the baselines "
        f"(none, oracle, ft, lp, lpft, lwf, hints)? The pre-registered v2 benchmark on birdkit's {len(pairs)} built-in "
        "28 px pairs, whose YAMLs are the v2 configs: means with 95% Student-t intervals over seeds.",
        "Generated by `python benchmarks/make_benchmarks_md.py` from the CSVs in "
        f"[`benchmarks/results/{V2}/`](benchmarks/results/{V2}/); do not edit by hand. Timings: "
        "[docs/performance.md](docs/performance.md).",
        f"The earlier, not pre-registered v1 benchmark is history: [benchmarks/NOTEBOOK.md]({NOTEBOOK_V1}).",
        "",
        *v2_section(v2, pending, results),
        "",
        *audit_section(),
        *agents_section(),
        *study_section(),
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true",
                    help="exit 1 if BENCHMARKS.md or the figure differs from what the CSVs give")
    ap.add_argument("--results", type=Path, default=RESULTS)
    ap.add_argument("--configs", type=Path, default=V2_CONFIGS)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--figure", type=Path, default=V2_FIGURE)
    args = ap.parse_args(argv)
    text = render(args.results, args.configs)
    v2, _ = load_v2(args.results, args.configs)
    if args.check:
        stale = []
        if not args.out.is_file() or args.out.read_text() != text:
            stale.append(f"{args.out} differs from what the CSVs give")
        if v2 and read_figure_digest(args.figure) != v2_digest(v2):
            stale.append(f"{args.figure} is missing or plots other numbers")
        for s in stale:
            print(f"stale: {s}; run python benchmarks/make_benchmarks_md.py", file=sys.stderr)
        return 1 if stale else 0
    args.out.write_text(text)
    if v2:
        write_v2_figures(v2, args.figure)
    audit = load_audit_tables(AUDIT / "fmnist-audit", "audit.json")
    if audit is not None:
        plot_audit(audit.summary, audit.contrasts, AUDIT_FIGURE.parent, audit.meta["headlines"])
    agents = load_agents(AGENTS / "agents")
    if agents is not None:
        plot_audit(agents["summary"], agents["contrasts"], AGENTS_FIGURE.parent, agent_headlines(agents))
    study = load_study_rows(STUDY)
    if study is not None:
        plot_fit(_study_stats(STUDY, "study.csv")["fit"], study, STUDY_FIGURE)
    print(f"wrote {args.out} ({text.count(chr(10))} lines) and {args.figure}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
