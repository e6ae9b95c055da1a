#!/usr/bin/env bash
# The pre-registered v2 held-out run of one pair (benchmarks/PROTOCOL.md §5): 5 seeds, 1 torch
# thread, the committed benchmarks/protocol-v2/<pair>.yaml. After each seed its summary.csv,
# eval.csv and config.yaml are copied to benchmarks/results/bench-v2/<pair>/seed<k>/ (a finished
# seed is read back, not rerun). Then the report (compare tables, gain heatmap) is written.
#   bash benchmarks/run_v2.sh fmnist-split          # OUT=runs/bench-v2 by default
set -euo pipefail
cd "$(dirname "$0")/.."
pair=$1
OUT=${OUT:-runs/bench-v2}
SEEDS=${SEEDS:-5}
export OMP_NUM_THREADS=1
for k in $(seq 1 "$SEEDS"); do
  .venv/bin/birdkit demo --pair "benchmarks/protocol-v2/$pair.yaml" --seeds "$k" --threads 1 --out "$OUT"
  d="$OUT/$pair/seed$((k - 1))"
  mkdir -p "benchmarks/results/bench-v2/$pair/seed$((k - 1))"
  cp "$d/summary.csv" "$d/eval.csv" "$d/config.yaml" "benchmarks/results/bench-v2/$pair/seed$((k - 1))/"
done
