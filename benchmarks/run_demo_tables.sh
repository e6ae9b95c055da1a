#!/usr/bin/env bash
# Reproduce the demo results: 3 built-in pairs x 3 seeds, copy each run's CSVs to
# benchmarks/results/demo/ (so the tables can be rechecked without rerunning), recompute every
# number from the per-run CSVs (independently of birdkit's own summary code; the mean ± std
# tables of benchmarks/NOTEBOOK.md), then regenerate BENCHMARKS.md and its figure.
# Before overwriting benchmarks/results/demo/, move the previous round's CSVs to their own folder
# if the notebook keeps them (as demo-layers/ and demo-default-layers/ are kept).
#   bash benchmarks/run_demo_tables.sh            # OUT=runs/bench by default
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/bench}
PAIRS=${PAIRS:-"fmnist-split mnist5k-to-fmnist fmnist-split-w2s"}
for pair in $PAIRS; do
  OMP_NUM_THREADS=${THREADS:-2} .venv/bin/birdkit demo --pair "$pair" --seeds 3 --out "$OUT" &
  [ -n "${PARALLEL:-}" ] || wait
done
wait
for pair in $PAIRS; do
  for d in "$OUT/$pair"/seed*; do
    mkdir -p "benchmarks/results/demo/$pair/$(basename "$d")"
    cp "$d/summary.csv" "$d/eval.csv" "$d/config.yaml" "benchmarks/results/demo/$pair/$(basename "$d")/"
  done
done
.venv/bin/python benchmarks/recompute_tables.py $(for p in $PAIRS; do echo "benchmarks/results/demo/$p"; done)
.venv/bin/python benchmarks/make_benchmarks_md.py
