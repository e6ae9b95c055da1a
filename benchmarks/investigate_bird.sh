#!/usr/bin/env bash
# Why does BIRD not beat None on fmnist-split? Diagnostics on seed 0 of a finished benchmark run
# (held-out corruptions used only for reporting; nothing is selected on them):
#   A. BIRD with the pair's teacher, transfer budget x3 (6 epochs)         -> is the budget too short?
#   B. BIRD with a task-relevant robust teacher: the oracle itself          -> does the mechanism work
#      (robust convnet_s trained on the student's own data with augmentation)   when the teacher's
#                                                                               features fit the task?
#   C. BIRD with alpha 0.9 (paper default) and the oracle teacher
#   D. Hints with the oracle teacher (same layers), for comparison with B
#   E. BIRD with the pair's teacher and --layer-search (layer pair chosen on validation data under
#      the training corruptions)                                          -> is the default pair wrong?
# Each is evaluated exactly like the demo (2000 test images, 19 corruptions x 5 severities).
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${RUN:-runs/bench/fmnist-split/seed0}
OUT=${OUT:-runs/investigate}
BK=.venv/bin/birdkit
common=(--dataset fashion-mnist --classes 5-9 --max-samples 8000 --seed 0)
t() { $BK transfer "${common[@]}" --student "$RUN/student/model.safetensors" "$@"; }
t --method bird --teacher "$RUN/teacher/model.safetensors" --alpha 0.5 --lr 0.02 --epochs 6 --out "$OUT/A_bird_6ep"
t --method bird --teacher "$RUN/oracle/model.safetensors" --alpha 0.5 --lr 0.02 --epochs 2 --out "$OUT/B_bird_oracle_teacher"
t --method bird --teacher "$RUN/oracle/model.safetensors" --alpha 0.9 --lr 0.02 --epochs 2 --out "$OUT/C_bird_oracle_teacher_a09"
t --method hints --teacher "$RUN/oracle/model.safetensors" --alpha 0.5 --lr 0.02 --epochs 2 --out "$OUT/D_hints_oracle_teacher"
t --method bird --teacher "$RUN/teacher/model.safetensors" --alpha 0.5 --lr 0.02 --epochs 2 --layer-search --out "$OUT/E_bird_layer_search"
for d in A_bird_6ep B_bird_oracle_teacher C_bird_oracle_teacher_a09 D_hints_oracle_teacher E_bird_layer_search; do
  $BK evaluate --model "$OUT/$d/model.safetensors" --dataset fashion-mnist --classes 5-9 --max-samples 2000 \
      --name "$d" --out "$OUT/$d/eval"
done
# Table: each diagnostic against the same seed's none / oracle / bird (same 2,000 test images).
mkdir -p benchmarks/results/investigate
cp "$RUN/summary.csv" benchmarks/results/investigate/reference_summary.csv
cp "$RUN/eval.csv" benchmarks/results/investigate/reference_eval.csv
for d in A_bird_6ep B_bird_oracle_teacher C_bird_oracle_teacher_a09 D_hints_oracle_teacher E_bird_layer_search; do
  cp "$OUT/$d/eval/summary.csv" "benchmarks/results/investigate/$d.csv"
done
.venv/bin/python benchmarks/investigate_table.py
