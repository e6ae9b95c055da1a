"""Calibrate the benchmark from ``none`` and ``oracle`` alone (issue 8; benchmarks/PROTOCOL.md).

For each built-in 28 px pair and each candidate test-set corruption table (``eval.family``),
train the clean student (``none``) and the oracle for seeds 0..K-1 and evaluate both on every
test image of the student's classes under the held-out corruptions (ImageNet-C's 4 and
MNIST-C's 8). No transfer method is trained or evaluated here, so nothing about BIRD or a
baseline can leak into the protocol's choices. Printed per (pair, family, held-out set):

* the oracle gap (oracle - none, points) with its 95% t-interval over seeds,
* the seed standard deviation of the gap and of none,
* ``pgr_hw``: the half-width of a PGR interval for a method whose paired noise equals the
  oracle's, t_{.975,K-1} * sd(oracle - none) / sqrt(K) / gap, in PGR points.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/calibrate.py --seeds 5 --pairs P --csv C

Writes ``--csv`` (default benchmarks/results/calibration/calibration.csv; one row per pair x
family x seed x model) and the summary table beside it (``.md``). MNIST-C is evaluated at its
own single severity (3) with its own table whatever the family.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import torch

from birdkit.config import load_pair
from birdkit.corruptions import HELDOUT_CORRUPTIONS, MNISTC_CORRUPTIONS
from birdkit.evaluation.robustness import evaluate_models, summarize
from birdkit.experiments.runner import PairRunner, seed_dir
from birdkit.io import write_csv, write_text
from birdkit.stats import mean_interval

PAIRS = ("fmnist-split", "mnist5k-to-fmnist", "fmnist-split-w2s")
FAMILIES = ("mnist", "cifar")
RESULTS = Path(__file__).parent / "results" / "calibration"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--pairs", default=",".join(PAIRS))
    ap.add_argument("--families", default=",".join(FAMILIES))
    ap.add_argument("--out", type=Path, default=Path("runs/calibrate"))
    ap.add_argument("--csv", type=Path, default=RESULTS / "calibration.csv")
    args = ap.parse_args()
    rows, t_start = [], time.perf_counter()
    for pair in args.pairs.split(","):
        base = load_pair(pair)
        cfg = base.model_copy(update={"eval": base.eval.model_copy(update={"max_test_samples": None})})
        for seed in range(args.seeds):
            t0 = time.perf_counter()
            runner = PairRunner(cfg, seed_dir(args.out, pair, seed), seed=seed)
            models = {"none": runner.student(), "oracle": runner.oracle()}
            norm = runner.student_test.normalize
            mnistc = evaluate_models(models, runner.testset(family="mnist"), norm, corruptions=MNISTC_CORRUPTIONS,
                                     severities=cfg.eval.mnistc_severities, clean=False)
            for fam in args.families.split(","):
                ev = evaluate_models(models, runner.testset(family=fam), norm, corruptions=HELDOUT_CORRUPTIONS,
                                     severities=cfg.eval.severities) + mnistc
                for name in models:
                    s = summarize([r for r in ev if r["model"] == name])
                    rows.append({"pair": pair, "family": fam, "seed": seed, "method": name,
                                 "n_test": len(runner.student_test),
                                 **{k: s[k] for k in ("clean_acc", "robust_heldout", "robust_mnistc")}})
            write_csv(args.csv, rows)  # after every seed: an interrupted calibration keeps what it measured
            print(f"{pair} seed {seed}: {time.perf_counter() - t0:.0f} s", flush=True)
    md = table(rows) + f"\n\nwall time {time.perf_counter() - t_start:.0f} s, torch threads {torch.get_num_threads()}\n"
    write_text(args.csv.with_suffix(".md"), md)
    print(md)


def table(rows: list[dict]) -> str:
    """The calibration summary from the per-seed rows (recomputed by tests from the CSV)."""
    lines = ["| pair | family | held-out set | none | oracle | gap [95% CI] | sd gap | sd none | pgr_hw |",
             "|---|---|---|---|---|---|---|---|---|"]
    keys = sorted({(r["pair"], r["family"]) for r in rows}, key=lambda k: (PAIRS.index(k[0]) if k[0] in PAIRS
                                                                             else 99, k[1]))
    for pair, fam in keys:
        sub = [r for r in rows if r["pair"] == pair and r["family"] == fam]
        for metric in ("robust_heldout", "robust_mnistc"):
            none = {r["seed"]: 100 * r[metric] for r in sub if r["method"] == "none" and metric in r}
            orc = {r["seed"]: 100 * r[metric] for r in sub if r["method"] == "oracle" and metric in r}
            seeds = sorted(set(none) & set(orc))
            if len(seeds) < 2:
                continue
            gap = [orc[s] - none[s] for s in seeds]
            iv = mean_interval(gap)
            sd_gap = _sd(gap)
            hw = (iv.high - iv.mean) / iv.mean * 100 if iv.mean > 0 else math.inf
            lines.append(f"| {pair} | {fam} | {metric.removeprefix('robust_')} | "
                         f"{sum(none.values()) / len(none):.2f} | {sum(orc.values()) / len(orc):.2f} | "
                         f"{iv.mean:.2f} [{iv.low:.2f}, {iv.high:.2f}] | {sd_gap:.2f} | "
                         f"{_sd(list(none.values())):.2f} | {hw:.1f} |")
    return "\n".join(lines)


def _sd(xs: list[float]) -> float:
    m = sum(xs) / len(xs)
    return math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))


if __name__ == "__main__":
    main()
