"""Speed of linear CKA: feature-space form vs Gram form vs a naive explicit-H implementation.

For each (n, p1, p2) it times, on the same centred float32 features,

* ``feature``: ``||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F)``      O(n (p1^2 + p1 p2 + p2^2))
* ``gram``:    ``<K, L>_F / (||K||_F ||L||_F)`` with ``K = X X^T``  O(n^2 (p1 + p2))
* ``naive``:   ``tr(K H L H)`` etc. with an explicit ``H = I - 11^T/n`` (Gram of raw
  features, centred afterwards)                                        O(n^3)
* ``cka()``:   the public function (picks feature or gram by shape; includes centring,
  rescaling and checks),

and prints the median times and the ratios to the feature form. ``--bias`` instead prints
the bias of biased vs debiased CKA on independent Gaussian features (docs/cka.md).

Usage::

    .venv/bin/python benchmarks/cka_speed.py                 # 1 thread, CPU
    .venv/bin/python benchmarks/cka_speed.py --threads 4 --sizes 256x512x512 2048x64x64
    .venv/bin/python benchmarks/cka_speed.py --bias
"""

from __future__ import annotations

import argparse
import importlib
import platform
import statistics
import time
from collections.abc import Callable

import torch

from birdkit.functional.cka import cka

F = importlib.import_module("birdkit.functional.cka")

DEFAULT_SIZES = [
    "128x64x64",
    "128x512x512",
    "128x2048x2048",
    "512x64x64",
    "512x512x512",
    "512x2048x512",
    "2048x64x64",
    "2048x512x512",
    "2048x2048x2048",
]


def naive_cka(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The textbook implementation: Gram matrices of the raw features, explicit H."""
    n = x.shape[0]
    h = torch.eye(n, dtype=x.dtype, device=x.device) - 1.0 / n
    k, l = x @ x.T, y @ y.T  # noqa: E741
    kc, lc = h @ k @ h, h @ l @ h
    return (kc * lc).sum() / torch.sqrt((kc * kc).sum() * (lc * lc).sum())


def timeit(fn: Callable[[], object], repeats: int, budget_s: float) -> float:
    """Median wall time in ms of ``fn`` after one warm-up call (fewer repeats if slow)."""
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    reps = max(1, min(repeats, int(budget_s / max(first, 1e-9))))
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def speed(sizes: list[str], repeats: int, budget_s: float, naive_max_n: int) -> None:
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"threads={torch.get_num_threads()}, float32, median ms (ratios: time / feature-form time)")
    head = (f"{'n':>5} {'p1':>5} {'p2':>5} | {'feature':>9} {'gram':>9} {'naive H':>9} {'cka()':>9} | "
            f"{'gram/feat':>9} {'naive/feat':>10} {'cka/best':>8} | auto")
    print(head)
    print("-" * len(head))
    g = torch.Generator().manual_seed(0)
    for spec in sizes:
        n, p1, p2 = (int(v) for v in spec.split("x"))
        x = torch.randn(n, p1, generator=g)
        y = x[:, : min(p1, p2)] @ torch.randn(min(p1, p2), p2, generator=g) + torch.randn(n, p2, generator=g)
        xs, _, _ = F._prepare(x, torch.float32)
        ys, _, _ = F._prepare(y, torch.float32)
        t_feat = timeit(lambda xs=xs, ys=ys: F._linear_cka_feature(xs, ys, 1e-12), repeats, budget_s)
        t_gram = timeit(lambda xs=xs, ys=ys: F._linear_cka_gram(xs, ys, 1e-12), repeats, budget_s)
        t_naive = timeit(lambda x=x, y=y: naive_cka(x, y), repeats, budget_s) if n <= naive_max_n else float("nan")
        t_api = timeit(lambda x=x, y=y: cka(x, y), repeats, budget_s)
        auto = "feature" if F._use_feature_form(n, p1, p2) else "gram"
        print(f"{n:>5} {p1:>5} {p2:>5} | {t_feat:>9.3f} {t_gram:>9.3f} {t_naive:>9.3f} {t_api:>9.3f} | "
              f"{t_gram / t_feat:>9.2f} {t_naive / t_feat:>10.2f} {t_api / min(t_feat, t_gram):>8.2f} | {auto}")


def bias(ns: list[int], seeds: int, p1: int, p2: int) -> None:
    print(f"CKA of independent Gaussian features, p1={p1}, p2={p2}, float32, {seeds} seeds: mean (sd)")
    print(f"{'n':>5} | {'biased':>15} | {'debiased':>17}")
    print("-" * 44)
    for n in ns:
        b, d = [], []
        for s in range(seeds):
            g = torch.Generator().manual_seed(s)
            x = torch.randn(n, p1, generator=g)
            y = torch.randn(n, p2, generator=g)
            b.append(cka(x, y).item())
            d.append(cka(x, y, debiased=True).item())
        print(f"{n:>5} | {statistics.mean(b):>7.3f} ({statistics.stdev(b):.3f}) | "
              f"{statistics.mean(d):>+8.4f} ({statistics.stdev(d):.4f})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    ap.add_argument("--sizes", nargs="+", default=DEFAULT_SIZES, help="n x p1 x p2 triples, e.g. 512x64x64")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--budget", type=float, default=1.0, help="seconds per measurement (caps repeats)")
    ap.add_argument("--naive-max-n", type=int, default=2048, help="skip the O(n^3) naive form above this n")
    ap.add_argument("--bias", action="store_true", help="print the bias table instead of timings")
    ap.add_argument("--bias-n", nargs="+", type=int, default=[16, 32, 64, 128, 256, 512, 1024])
    ap.add_argument("--seeds", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.bias:
        bias(args.bias_n, args.seeds, 512, 256)
    else:
        speed(args.sizes, args.repeats, args.budget, args.naive_max_n)


if __name__ == "__main__":
    main()
