"""Run chosen seeds of a pair's v2 held-out protocol (PROTOCOL.md §5), for running seeds side by side.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/run_v2_seeds.py fmnist-split-w2s 3 4

Each seed is exactly what ``birdkit demo --pair benchmarks/protocol-v2/<pair>.yaml`` runs for it
(the same PairRunner, directory ``runs/bench-v2/<pair>/seed<k>``, a finished seed read back); its
summary.csv, eval.csv and config.yaml are copied to benchmarks/results/bench-v2/<pair>/seed<k>/.
``bash benchmarks/run_v2.sh <pair>`` afterwards reads every seed back and writes the report.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import torch

from birdkit.config import load_pair
from birdkit.experiments import PairRunner, seed_dir

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    pair, seeds = sys.argv[1], [int(s) for s in sys.argv[2:]]
    torch.set_num_threads(1)
    cfg = load_pair(str(ROOT / "benchmarks" / "protocol-v2" / f"{pair}.yaml"))
    for k in seeds:
        runner = PairRunner(cfg, seed_dir("runs/bench-v2", cfg.name, k), seed=k)
        res = runner.finished() or runner.run()
        dst = ROOT / "benchmarks" / "results" / "bench-v2" / pair / f"seed{k}"
        dst.mkdir(parents=True, exist_ok=True)
        for f in ("summary.csv", "eval.csv", "config.yaml"):
            shutil.copy(res.root / f, dst / f)
        print(f"{pair} seed {k} done", flush=True)


if __name__ == "__main__":
    main()
