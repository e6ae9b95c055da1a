"""Evaluation speed, measured side by side in one run (docs/performance.md):

* inference of each built-in pair's networks on 5,000 28x28 images, the model as built
  (contiguous) vs the channels-last copy ``evaluate_models`` runs;
* one held-out condition of the test set: corrupted on the fly vs read from the machine-wide
  cache (``CorruptedTestSet(cache=True)``, a fresh temporary cache folder).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/eval_speed.py      # ~1 min on a quiet machine

Prints a markdown table of best-of-3 times and their ratios, with the torch thread count and
the 1-minute load average at the start (run it alone).
"""

from __future__ import annotations

import copy
import os
import tempfile
import time

import torch

from birdkit.evaluation.robustness import CorruptedTestSet
from birdkit.features import predict
from birdkit.models import create_model

MODELS = ("convnet_xxs", "convnet_xs", "convnet_s", "convnet_m")
N = 5000


def best_of(fn, k: int = 3) -> float:
    times = []
    for _ in range(k):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    load = os.getloadavg()[0]
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (N, 1, 28, 28), dtype=torch.uint8, generator=g)
    targets = torch.zeros(N, dtype=torch.long)
    norm = lambda x: (x - 0.3) / 0.3  # noqa: E731
    print(f"torch threads {torch.get_num_threads()}, load average at start {load:.2f}, {N} images 28x28\n")
    print("| what | baseline (s) | birdkit (s) | speed-up |\n|---|---|---|---|")
    for name in MODELS:
        m = create_model(name, num_classes=5, in_chans=1, img_size=28).eval()
        fast = copy.deepcopy(m).to(memory_format=torch.channels_last)
        predict(m, images[:512], norm)
        a = best_of(lambda: predict(m, images, norm))  # noqa: B023
        b = best_of(lambda: predict(fast, images, norm))  # noqa: B023
        print(f"| inference {name}: contiguous vs channels-last | {a:.3f} | {b:.3f} | {a / b:.2f}x |")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["BIRDKIT_CACHE"] = tmp
        for corruption in ("gaussian_blur", "spatter", "shear"):
            cold = best_of(lambda: CorruptedTestSet(images, targets, seed=0).get(corruption, 3))  # noqa: B023
            CorruptedTestSet(images, targets, seed=0, cache=True).get(corruption, 3)
            warm = best_of(lambda: CorruptedTestSet(images, targets, seed=0, cache=True).get(corruption, 3))  # noqa: B023
            print(f"| {corruption} s3: corrupt vs cache read | {cold:.3f} | {warm:.3f} | {cold / warm:.0f}x |")


if __name__ == "__main__":
    main()
