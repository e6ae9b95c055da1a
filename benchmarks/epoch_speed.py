"""Epoch time of BIRD against the student's own fine-tuning, with and without the teacher cache.

The floor of a BIRD epoch is the student's forward and backward, which fine-tuning the student
on its task alone (method ``task``) also pays; BIRD adds the frozen teacher's forward and the CKA
term. With the teacher-feature cache (``TrainConfig.teacher_cache``, docs/distributed.md) the
teacher runs in the first epoch only. This script trains, side by side in one process and
interleaved over repeats, on a built-in pair's student data at its transfer budget:

* ``task``: the student fine-tuned on its task (the floor);
* ``bird (cache)``: BIRD at the pair's settings with the cache (epochs after the first);
* ``bird (no cache)``: the same without the cache;

and prints median epoch times (the second epoch of each 2-epoch run) and the ratios to
``task`` (issue targets: <= 1.10 with the cache, <= 1.25 without).

Usage::

    .venv/bin/python benchmarks/epoch_speed.py                       # fmnist-split, 3 repeats
    .venv/bin/python benchmarks/epoch_speed.py --pair fmnist-split --repeats 5 --threads 2
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from birdkit.config import load_pair
from birdkit.data import load_split
from birdkit.experiments.runner import resolve_method_config, resolve_transfer_train
from birdkit.methods import create_method
from birdkit.models import create_model
from birdkit.training import Trainer


def epoch_seconds(name: str, pair, train, cache: bool, out: Path) -> float:
    """The second epoch's wall time of a 2-epoch run of ``name`` (fresh random networks)."""
    torch.manual_seed(0)
    student = create_model(pair.student_model.name, num_classes=train.num_classes, in_chans=train.channels,
                           img_size=train.img_size)
    teacher = create_model(pair.teacher_model.name, num_classes=10, in_chans=train.channels, img_size=train.img_size)
    mcfg = resolve_method_config(pair, name)
    method = create_method(mcfg, student=student, teacher=teacher if name != "task" else None)
    cfg = resolve_transfer_train(pair, name).model_copy(update={"epochs": 2, "tensorboard": False,
                                                                "teacher_cache": cache})
    res = Trainer(method, train, cfg, out).fit(resume=False)
    return float(res.history[-1]["seconds"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pair", default="fmnist-split")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    pair = load_pair(args.pair)
    tcfg = resolve_transfer_train(pair, "bird")
    train = load_split(pair.student_data, "train", tcfg.max_train_samples)
    runs = {"task": ("task", False), "bird (cache)": ("bird", True), "bird (no cache)": ("bird", False)}
    times: dict[str, list[float]] = {k: [] for k in runs}
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.repeats):
            for label, (name, cache) in runs.items():
                times[label].append(epoch_seconds(name, pair, train, cache, Path(tmp) / f"{rep}-{label}"))
    load1 = os.getloadavg()
    floor = statistics.median(times["task"])
    print(f"pair {args.pair}: {len(train)} training images, batch {tcfg.batch_size}, student "
          f"{pair.student_model.name}, teacher {pair.teacher_model.name}; {args.repeats} repeats, "
          f"{args.threads} thread(s); {time.perf_counter() - t0:.0f} s")
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, load average "
          f"{load0[0]:.2f} -> {load1[0]:.2f}")
    print("| run | epoch s (median) | all repeats | / task |")
    print("|---|---:|---|---:|")
    for label, ts in times.items():
        med = statistics.median(ts)
        print(f"| {label} | {med:.2f} | {', '.join(f'{t:.2f}' for t in ts)} | {med / floor:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
