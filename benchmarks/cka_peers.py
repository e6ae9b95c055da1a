"""Linear CKA, forward + backward: birdkit against the textbook form and the CKA packages on PyPI.

Why: issue 12 ("CKA speed") asks that birdkit's ``cka`` be no slower than the fastest
published implementation on every cell of the grid below, and that debiased CKA cost at
most 1.5x biased CKA. This script measures both in one run, on the same inputs, and checks
that every implementation returns the same value (to 1e-5) as a float64 reference.

What is timed, per cell ``(n, p)`` (``p1 = p2 = p``) and implementation: one CKA value of
``x`` ``(n, p1)`` and ``y = x W + noise`` ``(n, p2)`` (both ``requires_grad``), then
``backward()`` of it: the median wall time of such calls and the peak memory of one call.
After a warm-up call per implementation, the timed calls of a cell are taken in rounds, one
call of each implementation per round, so that a change of the machine's load hits all alike.

Implementations (estimator; compute dtype for float32 input):

* ``birdkit`` / ``birdkit deb.``: ``birdkit.functional.cka.cka(x, y)`` and
  ``cka(x, y, debiased=True)`` (biased / debiased; float32). Feature form
  ``||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F)`` when it is cheaper, else the Gram form.
* ``textbook``: ``naive_cka`` of ``benchmarks/cka_speed.py``, Gram matrices of the raw
  features centred with an explicit ``H = I - 11^T/n`` (biased; float32).
* ``textbook deb.``: Song et al.'s (2012) ``HSIC_1`` written out on zero-diagonal Gram matrices
  (``tr(K~L~) + 1'K~1 1'L~1/((n-1)(n-2)) - 2/(n-2) 1'K~L~1``) (debiased; float32).
* ``ckatorch`` (PyPI ``ckatorch``): ``ckatorch.core.cka_base(x, y, kernel="linear",
  method="hsic")``, i.e. ``hsic0`` with an explicit ``H`` (biased; float64: it casts its
  inputs). Its default ``method="fro_norm"`` (and so ``unbiased=True``, which only exists
  there) centres with ``center_gram_matrix``, which ``detach()``es: no gradient reaches
  ``x``. Same value, so ``method="hsic"`` is used.
* ``ckatorch deb.``: ``ckatorch.core.cka_batch(x[None], y[None])`` (Nguyen et al.'s
  mini-batch CKA with ``hsic1``; with one batch it is debiased CKA; float64).
* ``cka-pytorch deb.`` (PyPI ``cka-pytorch``): the package is a ``CKACalculator`` built
  around two models, hooks and a dataloader; the math is ``cka_pytorch.hsic.hsic1`` on
  ``cka_pytorch.utils.gram`` Gram matrices, combined as in
  ``CKACalculator._compute_final_cka``: ``HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L) + 1e-4)``
  (its default ``epsilon``). That wrapper is what is timed (debiased; float32).
* ``torch-cka deb.`` (PyPI ``torch-cka``): the package is a ``CKA`` class built around two
  models, hooks and dataloaders; the math is the method ``CKA._HSIC(K, L)`` on
  zero-diagonal Gram matrices (as in ``CKA.compare``), called unbound with a stand-in
  ``self`` that has only ``device``. ``_HSIC`` calls ``.item()`` on every term, so it has no
  gradient: this column is forward only and is left out of the "fastest peer" ratios
  (debiased; float32 terms, Python float sums).

The peers are benchmark-only dependencies, imported lazily; a missing one is skipped with a
message. If a package's ``__init__`` fails on a dependency the math does not need (plots,
training loops: ``seaborn``, ``lightning``, ``torchmetrics``), its math module is imported
without running the ``__init__`` and the run says so.

Values: every implementation's first-call value is compared with a float64 reference computed
the textbook way (Kornblith et al.'s ``center_gram`` / unbiased ``center_gram`` of
``X X^T``, then ``<K', L'>_F / (||K'||_F ||L'||_F)``), biased against biased and debiased
against debiased; ``|diff| > 1e-5`` is printed as ``VALUE CHECK FAILED`` and makes the exit
status 1.

Memory: on CUDA, ``torch.cuda.max_memory_allocated()`` during the first call, minus the
allocated bytes at its start. On CPU, the same quantity from torch's own allocation events:
the first call runs under ``torch.profiler.profile(profile_memory=True)`` and the running sum
of its ``[memory]`` events (allocations +, frees -) gives the peak of live torch tensors above
the level at the call's start (Gram matrices, autograd's saved tensors, the gradients of ``x``
and ``y``). It does not count BLAS workspaces, the allocator's slack or Python objects (an RSS
high-water mark would, but would also depend on glibc's heap reuse). ``tracemalloc`` does
not see torch allocations.

Budget: each measurement times at most ``--repeats`` calls and stops after about
``--budget`` seconds; an implementation is skipped on a cell where one call is expected to
take more than ``--max-call`` seconds (extrapolated from its time at the previous ``n`` with
the same ``p`` through its flop count, or from the flop count and this machine's measured
matmul GFLOP/s) or to need more than ``--mem-budget`` GiB. The expected duration is printed
first. The default grid takes 1-2 minutes on 2 CPU cores, mostly because the O(n^3) peers
are skipped at ``n = 4096`` (an estimated 8-75 s per call there); ``--max-call 120`` runs them
(tens of minutes).

Usage (run it as a script, from the repository root)::

    .venv/bin/python benchmarks/cka_peers.py                  # default grid, 1 thread, CPU
    .venv/bin/python benchmarks/cka_peers.py --quick          # a small subset, not written to a file
    .venv/bin/python benchmarks/cka_peers.py --sizes 512x256 2048x64 --threads 2 --out /tmp/cka.md
    .venv/bin/python benchmarks/cka_peers.py --device cuda    # on a GPU machine

Peers: ``.venv/bin/pip install ckatorch cka-pytorch torch-cka`` (not part of birdkit's extras).
"""

from __future__ import annotations

import os

# Silence the memory profiler's kineto backend (start/stop lines at its top level 5, and a GPU-count error on
# CPU-only machines); the level is read when torch loads, so it is set before the imports below.
os.environ.setdefault("KINETO_LOG_LEVEL", "6")

import argparse
import datetime
import gc
import importlib
import importlib.metadata
import importlib.util
import math
import platform
import statistics
import sys
import time
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor
from torch.profiler import ProfilerActivity, profile

from birdkit.functional.cka import cka
from cka_speed import naive_cka

F = importlib.import_module("birdkit.functional.cka")

CKAFn = Callable[[Tensor, Tensor], Tensor]

DEFAULT_SIZES = [f"{n}x{p}" for n in (128, 1024, 4096) for p in (64, 512, 2048)]
QUICK_SIZES = ["128x64", "256x256", "512x64"]
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "cka_peers.md"
TOL = 1e-5
MIB = 2.0**20
NOTES: list[str] = []


# --------------------------------------------------------------------------------------
# the implementations
# --------------------------------------------------------------------------------------
def textbook_debiased_cka(x: Tensor, y: Tensor) -> Tensor:
    """Debiased CKA as written in Song et al. (2012) / Nguyen et al. (2021): ``HSIC_1`` on the
    zero-diagonal Gram matrices of the raw features, with an explicit ``K~ L~`` product."""
    n = x.shape[0]

    def hsic1(k: Tensor, l: Tensor) -> Tensor:  # noqa: E741
        kl = k @ l
        return (kl.trace() + k.sum() * l.sum() / ((n - 1) * (n - 2)) - 2.0 * kl.sum() / (n - 2)) / (n * (n - 3))

    k, l = (x @ x.T).fill_diagonal_(0.0), (y @ y.T).fill_diagonal_(0.0)  # noqa: E741
    return hsic1(k, l) / torch.sqrt(hsic1(k, k) * hsic1(l, l))


def reference_cka(x: Tensor, y: Tensor) -> tuple[float, float]:
    """``(biased, debiased)`` linear CKA in float64, the way Kornblith et al.'s reference code
    computes it (``center_gram`` of ``X X^T``; ``unbiased=True``: U-centring), on the device."""

    def center(g: Tensor, unbiased: bool) -> Tensor:
        g = g.clone()
        n = g.shape[0]
        if unbiased:
            g.fill_diagonal_(0.0)
            means = g.sum(0) / (n - 2)
            means -= means.sum() / (2 * (n - 1))
        else:
            means = g.mean(0)
            means -= means.mean() / 2
        g -= means[:, None]
        g -= means[None, :]
        if unbiased:
            g.fill_diagonal_(0.0)
        return g

    with torch.no_grad():
        x64, y64 = x.detach().double(), y.detach().double()
        k, l = x64 @ x64.T, y64 @ y64.T  # noqa: E741
        out = []
        for unbiased in (False, True):
            kc, lc = center(k, unbiased), center(l, unbiased)
            out.append((torch.dot(kc.ravel(), lc.ravel()) / (kc.norm() * lc.norm())).item())
    return out[0], out[1]


def _import_peer_module(package: str, module: str) -> types.ModuleType:
    """``package.module``; if the package's ``__init__`` fails on a dependency (plots, training
    loops) that the math module does not need, the module is imported without the ``__init__``.

    Raises:
        ImportError: the package is not installed (or the module itself cannot be imported).
    """
    try:
        return importlib.import_module(f"{package}.{module}")
    except ImportError as exc:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise
        for key in [k for k in sys.modules if k == package or k.startswith(package + ".")]:
            del sys.modules[key]
        stub = types.ModuleType(package)
        stub.__path__ = list(spec.submodule_search_locations)
        sys.modules[package] = stub
        mod = importlib.import_module(f"{package}.{module}")
        NOTES.append(f"`{package}.{module}` imported without `{package}/__init__.py`, which failed: {exc}.")
        return mod


def _load_ckatorch_biased() -> CKAFn:
    core = _import_peer_module("ckatorch", "core")
    return lambda x, y: core.cka_base(x, y, kernel="linear", unbiased=False, method="hsic")


def _load_ckatorch_debiased() -> CKAFn:
    core = _import_peer_module("ckatorch", "core")
    return lambda x, y: core.cka_batch(x[None], y[None])


def _load_cka_pytorch() -> CKAFn:
    hsic = _import_peer_module("cka_pytorch", "hsic")
    utils = _import_peer_module("cka_pytorch", "utils")

    def fn(x: Tensor, y: Tensor) -> Tensor:
        k, l = utils.gram(x)[None], utils.gram(y)[None]  # noqa: E741
        # CKACalculator._compute_final_cka, default epsilon=1e-4
        return (hsic.hsic1(k, l) / torch.sqrt(hsic.hsic1(k, k) * hsic.hsic1(l, l) + 1e-4))[0]

    return fn


def _load_torch_cka() -> CKAFn:
    cls = _import_peer_module("torch_cka", "cka").CKA

    def fn(x: Tensor, y: Tensor) -> Tensor:
        this = types.SimpleNamespace(device=x.device)  # all that CKA._HSIC reads from self
        k, l = x @ x.T, y @ y.T  # noqa: E741
        k.fill_diagonal_(0.0)
        l.fill_diagonal_(0)
        # CKA.compare: hsic_matrix[..., 1] / (sqrt(hsic_matrix[..., 0]) * sqrt(hsic_matrix[..., 2])), float32
        h = torch.tensor([cls._HSIC(this, k, k), cls._HSIC(this, k, l), cls._HSIC(this, l, l)])
        return h[1] / (h[0].sqrt() * h[2].sqrt())

    return fn


def _gram_flops(n: int, p1: int, p2: int) -> float:
    return 2.0 * n * n * (p1 + p2)


def _birdkit_flops(n: int, p1: int, p2: int) -> float:
    if F._use_feature_form(n, p1, p2):
        return 2.0 * n * (p1 * p2 + p1 * p1 + p2 * p2)
    return _gram_flops(n, p1, p2)


def _birdkit_mem(n: int, p1: int, p2: int) -> float:
    if F._use_feature_form(n, p1, p2):
        return 4.0 * (6 * n * (p1 + p2) + 3 * (p1 * p1 + p1 * p2 + p2 * p2))
    return 4.0 * (6 * n * (p1 + p2) + 6 * n * n)


def _cubic(n_cubes: float, n_grams: int = 1) -> Callable[[int, int, int], float]:
    """Flops of ``n_grams`` Gram products plus ``n_cubes`` ``(n, n) @ (n, n)`` products."""
    return lambda n, p1, p2: n_grams * _gram_flops(n, p1, p2) + n_cubes * 2.0 * n**3


def _nn_mem(mats: int, itemsize: int) -> Callable[[int, int, int], float]:
    """About ``mats`` live ``(n, n)`` matrices of ``itemsize`` bytes plus a few copies of the inputs."""
    return lambda n, p1, p2: itemsize * (mats * n * n + 4 * n * (p1 + p2))


@dataclass
class Impl:
    """One CKA implementation: what it is, how to load it, and rough cost models."""

    name: str  # table column
    estimator: str  # "biased" or "debiased"
    dist: str | None  # PyPI distribution; None: birdkit itself or this script
    source: str  # the function called
    dtype: str  # compute dtype: "input" (the input dtype), "float64" or a note
    backward: bool  # False: no gradient, timed forward only
    flops: Callable[[int, int, int], float]  # forward matmul flops
    mem: Callable[[int, int, int], float]  # peak bytes, roughly
    load: Callable[[], CKAFn]
    f64: bool = False  # computes in float64 whatever the input
    fn: CKAFn | None = None
    missing: str | None = None  # why it could not be loaded

    @property
    def is_birdkit(self) -> bool:
        return self.dist is None and self.name.startswith("birdkit")


def implementations() -> list[Impl]:
    """Biased ones first, then debiased; birdkit first in each group."""
    return [
        Impl("birdkit", "biased", None, "birdkit.functional.cka.cka(x, y)", "input", True,
             _birdkit_flops, _birdkit_mem, lambda: lambda x, y: cka(x, y)),
        Impl("textbook", "biased", None, "benchmarks/cka_speed.py naive_cka (explicit H)", "input", True,
             _cubic(8), _nn_mem(12, 4), lambda: naive_cka),
        Impl("ckatorch", "biased", "ckatorch", 'ckatorch.core.cka_base(x, y, method="hsic") (hsic0, explicit H)',
             "float64", True, _cubic(18), _nn_mem(14, 8), _load_ckatorch_biased, f64=True),
        Impl("birdkit deb.", "debiased", None, "birdkit.functional.cka.cka(x, y, debiased=True)", "input", True,
             _birdkit_flops, _birdkit_mem, lambda: lambda x, y: cka(x, y, debiased=True)),
        Impl("textbook deb.", "debiased", None, "textbook_debiased_cka (this script; HSIC_1 written out)",
             "input", True, _cubic(6), _nn_mem(12, 4), lambda: textbook_debiased_cka),
        Impl("ckatorch deb.", "debiased", "ckatorch", "ckatorch.core.cka_batch(x[None], y[None]) (hsic1)",
             "float64", True, _cubic(6), _nn_mem(14, 8), _load_ckatorch_debiased, f64=True),
        Impl("cka-pytorch deb.", "debiased", "cka-pytorch",
             "cka_pytorch.hsic.hsic1 on cka_pytorch.utils.gram, ratio as CKACalculator._compute_final_cka",
             "input", True, _cubic(6), _nn_mem(12, 4), _load_cka_pytorch),
        Impl("torch-cka deb.", "debiased", "torch-cka", "torch_cka.cka.CKA._HSIC (unbound) on zero-diagonal Grams",
             "input, sums in Python floats", False, _cubic(6), _nn_mem(6, 4), _load_torch_cka),
    ]


# --------------------------------------------------------------------------------------
# measuring
# --------------------------------------------------------------------------------------
@dataclass
class Result:
    ms: float | None = None  # median forward (+ backward) time
    peak_mib: float | None = None
    value: float | None = None
    diff: float | None = None  # |value - float64 reference|
    skip: str | None = None
    est_s: float | None = None  # estimated seconds of one call (skipped cells)


@dataclass
class Cell:
    n: int
    p1: int
    p2: int
    ref: tuple[float, float] = (math.nan, math.nan)
    results: dict[str, Result] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.n}x{self.p1}" if self.p1 == self.p2 else f"{self.n}x{self.p1}x{self.p2}"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _call(impl: Impl, x: Tensor, y: Tensor, device: torch.device) -> Tensor:
    """One CKA value, then its backward (gradients of ``x`` and ``y`` reset first)."""
    assert impl.fn is not None
    if impl.backward:
        x.grad = y.grad = None
        v = impl.fn(x, y)
        v.backward()
    else:
        with torch.no_grad():
            v = impl.fn(x.detach(), y.detach())
    _sync(device)
    return v.detach()


def _peak_of_call(call: Callable[[], Tensor], device: torch.device) -> tuple[Tensor, float | None]:
    """``(value, peak bytes above the start)`` of one call; see the module docstring."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        v = call()
        return v, float(torch.cuda.max_memory_allocated(device) - base)
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        v = call()
    try:
        events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
        cur = peak = 0
        for e in sorted(events, key=lambda e: e.start_ns()):
            cur += e.nbytes()
            peak = max(peak, cur)
        return v, float(peak)
    except Exception as exc:  # a private API: keep the timing if it moves
        NOTES.append(f"CPU peak memory unavailable ({type(exc).__name__}: {exc}).")
        return v, None


def first_call(impl: Impl, x: Tensor, y: Tensor, device: torch.device) -> tuple[Result, float]:
    """Value and peak memory of a first (warm-up) call, and the time of a second call."""
    x.grad = y.grad = None
    v, peak = _peak_of_call(lambda: _call(impl, x, y, device), device)
    t0 = time.perf_counter()
    _call(impl, x, y, device)
    return Result(peak_mib=None if peak is None else peak / MIB, value=v.item()), time.perf_counter() - t0


def time_interleaved(impls: list[Impl], first: dict[str, float], x: Tensor, y: Tensor, device: torch.device,
                     repeats: int, budget_s: float) -> dict[str, float]:
    """Median ms per implementation: ``first`` (seconds of one call) plus more calls, up to
    ``repeats`` in all or about ``budget_s`` seconds each, taken in rounds (one call of each
    implementation per round, the order rotating) so that a change of the machine's load
    hits every implementation alike."""
    samples = {i.name: [first[i.name]] for i in impls}
    want = {i.name: max(1, min(repeats, int(budget_s / max(first[i.name], 1e-9)))) for i in impls}
    order = list(impls)
    while True:
        todo = [i for i in order if len(samples[i.name]) < want[i.name]]
        if not todo:
            break
        for impl in todo:
            t0 = time.perf_counter()
            _call(impl, x, y, device)
            samples[impl.name].append(time.perf_counter() - t0)
        order = order[1:] + order[:1]
    return {name: 1e3 * statistics.median(ts) for name, ts in samples.items()}


def warm_up(impls: list[Impl], dtype: torch.dtype, device: torch.device) -> None:
    """A few calls of every implementation on a small input (and one profiled call), so that
    one-time costs (lazy initialisation, the profiler's start-up) stay out of the first cell."""
    x, y = make_inputs(64, 16, 16, dtype, device, seed=1)
    for impl in impls:
        if impl.fn is None:
            continue
        try:
            x.grad = y.grad = None
            _peak_of_call(lambda impl=impl: _call(impl, x, y, device), device)
            for _ in range(5):
                _call(impl, x, y, device)
        except Exception as exc:  # reported again, per cell, by the measurement
            print(f"[warm-up] {impl.name}: {type(exc).__name__}: {exc}", file=sys.stderr)


def matmul_gflops(device: torch.device) -> dict[torch.dtype, float]:
    """Measured GFLOP/s of a 1024^3 matmul per dtype (for the cost estimates only)."""
    out = {}
    for dt in (torch.float32, torch.float64):
        a = torch.randn(1024, 1024, dtype=dt, device=device)
        a @ a
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(3):
            a @ a
        _sync(device)
        out[dt] = 3 * 2.0 * 1024**3 / max(time.perf_counter() - t0, 1e-9) / 1e9
    return out


def model_seconds(impl: Impl, n: int, p1: int, p2: int, gflops: dict[torch.dtype, float], dtype: torch.dtype) -> float:
    """Seconds of one call from the flop model (backward about twice the forward)."""
    dt = torch.float64 if impl.f64 else dtype
    return impl.flops(n, p1, p2) * (3 if impl.backward else 1) / (gflops[dt] * 1e9) + 5e-4  # + dispatch overhead


def make_inputs(n: int, p1: int, p2: int, dtype: torch.dtype, device: torch.device, seed: int) -> tuple[Tensor, Tensor]:
    """``x`` Gaussian, ``y = x W / sqrt(p1) + noise`` (CKA well inside (0, 1)), both leaves with grad."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, p1, generator=g)
    y = x @ torch.randn(p1, p2, generator=g) / math.sqrt(p1) + torch.randn(n, p2, generator=g)
    return (x.to(device, dtype).requires_grad_(True), y.to(device, dtype).requires_grad_(True))


# --------------------------------------------------------------------------------------
# the run
# --------------------------------------------------------------------------------------
def parse_size(spec: str) -> tuple[int, int, int]:
    parts = [int(v) for v in spec.lower().split("x")]
    if len(parts) == 2:
        return parts[0], parts[1], parts[1]
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    raise argparse.ArgumentTypeError(f"size {spec!r}: expected NxP or NxP1xP2, e.g. 1024x512")


def estimate(impl: Impl, cell: Cell, done: list[Cell], gflops: dict[torch.dtype, float],
             dtype: torch.dtype) -> tuple[float, float]:
    """``(seconds per call, bytes)``: scaled from the last measured cell with the same widths
    and a smaller ``n`` through the cost models, else from the models alone."""
    n, p1, p2 = cell.n, cell.p1, cell.p2
    t = model_seconds(impl, n, p1, p2, gflops, dtype)
    m = impl.mem(n, p1, p2)
    for prev in reversed(done):
        r = prev.results.get(impl.name)
        if (prev.p1, prev.p2) == (p1, p2) and prev.n < n and r is not None and r.ms is not None:
            t = r.ms / 1e3 * impl.flops(n, p1, p2) / impl.flops(prev.n, p1, p2)
            if r.peak_mib is not None:
                m = r.peak_mib * MIB * impl.mem(n, p1, p2) / impl.mem(prev.n, p1, p2)
            break
    return t, m


def expected_seconds(impls: list[Impl], sizes: list[tuple[int, int, int]], args: argparse.Namespace,
                     gflops: dict[torch.dtype, float], dtype: torch.dtype) -> float:
    total = 3.0  # warm-up, the profiler's first start (it imports torch._dynamo)
    for n, p1, p2 in sizes:
        total += 2 * _gram_flops(n, p1, p2) / (gflops[torch.float64] * 1e9) + 2.0 * n * p1 * p2 / 5e10
        for impl in impls:
            t = model_seconds(impl, n, p1, p2, gflops, dtype)
            if impl.fn is None or t > args.max_call or impl.mem(n, p1, p2) > args.mem_budget * 2**30:
                continue
            total += 2.5 * t + min(args.budget, (args.repeats - 1) * t)
    return total


def _fmt_ms(v: float) -> str:
    return f"{v:.3f}" if v < 1 else f"{v:.2f}" if v < 10 else f"{v:.1f}" if v < 100 else f"{v:.0f}"


def _fmt_s(s: float) -> str:
    return f"{s * 1e3:.0f} ms" if s < 1 else f"{s:.0f} s" if s < 120 else f"{s / 60:.0f} min"


def _fastest_peer(cell: Cell, impls: list[Impl], estimator: str) -> tuple[float | None, bool, str]:
    """``(ms, estimated, name)`` of the fastest differentiable peer of ``estimator`` on ``cell``:
    measured if any peer ran, else the lowest estimate of the skipped ones."""
    peers = [i for i in impls if i.estimator == estimator and not i.is_birdkit and i.backward and i.fn is not None]
    runs = [(i.name, cell.results.get(i.name)) for i in peers]
    measured = [(r.ms, name) for name, r in runs if r is not None and r.ms]
    if measured:
        ms, name = min(measured)
        return ms, False, name
    est = [(1e3 * r.est_s, name) for name, r in runs if r is not None and r.est_s]
    if est:
        ms, name = min(est)
        return ms, True, name
    return None, False, ""


def machine_line(args: argparse.Namespace, device: torch.device, impls: list[Impl], load0: tuple[float, ...],
                 load1: tuple[float, ...] | None) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    where = f"{cpu} ({os.cpu_count()} logical CPUs), threads {torch.get_num_threads()}"
    if device.type == "cuda":
        where = f"{torch.cuda.get_device_name(device)}, host {where}"
    versions = [f"torch {torch.__version__}", f"birdkit {_version('birdkit')}"]
    versions += [f"{d} {_version(d)}" for d in dict.fromkeys(i.dist for i in impls if i.dist)]
    load = f"load average (1/5/15 min) {' '.join(f'{v:.2f}' for v in load0)} at start"
    if load1 is not None:
        load += f", {' '.join(f'{v:.2f}' for v in load1)} at end"
    return (f"{where}; device {device.type}, {args.dtype}; {', '.join(versions)}; {load}; "
            f"python {platform.python_version()}, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def render(cells: list[Cell], impls: list[Impl], args: argparse.Namespace, machine: str, elapsed_s: float) -> str:
    cols = [i for i in impls if i.fn is not None]
    lines = ["# Linear CKA: birdkit vs the textbook form and the PyPI CKA packages", "",
             f"Machine: {machine}.", "",
             f"Generated by `benchmarks/cka_peers.py` ({' '.join(sys.argv[1:]) or 'defaults'}) in "
             f"{_fmt_s(elapsed_s)}: inputs `x` (n, p) Gaussian and `y = x W / sqrt(p) + noise` (n, p), "
             f"{args.dtype}, both requiring grad; one call = CKA value + `backward()`. Budget: at most "
             f"{args.repeats} timed calls or about {args.budget:g} s per measurement after a warm-up call; "
             f"skipped where one call would take over {args.max_call:g} s or {args.mem_budget:g} GiB (estimate in "
             f"brackets).", ""]
    head = ["n", "p"] + [i.name + ("" if i.backward else " (fwd only)") for i in cols]
    ratio_head = ["birdkit / fastest biased peer", "birdkit deb. / fastest deb. peer", "birdkit deb. / birdkit"]

    def row_cells(cell: Cell, what: str) -> list[str]:
        out = [str(cell.n), str(cell.p1) if cell.p1 == cell.p2 else f"{cell.p1}, {cell.p2}"]
        for i in cols:
            r = cell.results.get(i.name)
            if r is None:
                out.append("")
            elif r.skip:
                out.append(f"skip ({r.skip})")
            elif what == "time":
                bad = r.diff is None or r.diff > TOL
                out.append((_fmt_ms(r.ms) if r.ms is not None else "error") + (" ✗" if bad else ""))
            else:
                out.append("n/a" if r.peak_mib is None else f"{r.peak_mib:.2f}" if r.peak_mib < 10
                           else f"{r.peak_mib:.0f}")
        return out

    lines += ["## Time: median ms per forward + backward", ""]
    lines += ["| " + " | ".join(head + ratio_head) + " |", "|" + "---|" * (len(head) + len(ratio_head))]
    for cell in cells:
        ratios = []
        for name, est in (("birdkit", "biased"), ("birdkit deb.", "debiased")):
            mine = cell.results.get(name)
            peer, estimated, _ = _fastest_peer(cell, impls, est)
            if mine is None or mine.ms is None or peer is None:
                ratios.append("")
            else:
                ratios.append(f"{mine.ms / peer:.2g}" + (" (vs est.)" if estimated else ""))
        b, d = cell.results.get("birdkit"), cell.results.get("birdkit deb.")
        ratios.append(f"{d.ms / b.ms:.2f}" if b and d and b.ms and d.ms else "")
        lines.append("| " + " | ".join(row_cells(cell, "time") + ratios) + " |")
    lines += ["", "Ratios below 1: birdkit faster. \"(vs est.)\": every differentiable peer was skipped on that cell; "
              "the ratio is to the lowest estimated time. `torch-cka` has no gradient (`.item()` on every term): "
              "its forward-only time is shown but left out of the ratios. ✗: value check failed.", ""]

    lines += ["## Peak memory: MiB above the start of one forward + backward", ""]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row_cells(cell, "mem")) + " |" for cell in cells]
    mem_how = ("`torch.cuda.max_memory_allocated()` minus the allocated bytes at the call's start" if args.device ==
               "cuda" else "the peak of live torch tensors from `torch.profiler` memory events (allocations - frees "
               "since the call's start); BLAS workspaces and allocator slack are not counted")
    lines += ["", f"Memory: {mem_how}. Inputs not included; the gradients of x and y are.", ""]

    lines += ["## Targets (issue 12)", ""] + targets(cells, impls) + [""]

    lines += ["## Values against the float64 reference (Kornblith et al.'s centring of X X^T)", ""]
    lines += ["| implementation | estimator | computes in | gradient | function used | max abs diff (cell) | check |",
              "|---|---|---|---|---|---|---|"]
    for i in impls:
        dt = i.dtype.replace("input", args.dtype)
        if i.fn is None:
            lines.append(f"| {i.name} | {i.estimator} | {dt} | {'yes' if i.backward else 'no'} | "
                         f"{i.source} | | not run: {i.missing} |")
            continue
        diffs = [(c.label, c.results[i.name].diff) for c in cells if c.results.get(i.name) and
                 c.results[i.name].ms is not None]
        bad = [lab for lab, dv in diffs if dv is None or dv > TOL]
        worst = max(((dv, lab) for lab, dv in diffs if dv is not None), default=None)
        check = "no cell run" if not diffs else "pass" if not bad else f"**FAIL** ({', '.join(bad)})"
        lines.append(f"| {i.name} | {i.estimator} | {dt} | {'yes' if i.backward else 'no (forward only)'} | "
                     f"{i.source} | {'' if worst is None else f'{worst[0]:.1e} ({worst[1]})'} | {check} |")
    lines += ["", f"Tolerance {TOL:g} (absolute), biased against biased and debiased against debiased.", ""]
    skipped = [f"{i.name} at {c.label} ({c.results[i.name].skip})" for c in cells for i in cols
               if c.results.get(i.name) and c.results[i.name].skip]
    if skipped:
        lines += ["Skipped: " + "; ".join(skipped) + ".", ""]
    if NOTES:
        lines += ["Notes:", ""] + [f"* {n}" for n in dict.fromkeys(NOTES)] + [""]
    return "\n".join(lines)


def targets(cells: list[Cell], impls: list[Impl]) -> list[str]:
    slow, slow_deb = [], []
    for cell in cells:
        for name, est in (("birdkit", "biased"), ("birdkit deb.", "debiased")):
            mine = cell.results.get(name)
            peer, _, peer_name = _fastest_peer(cell, impls, est)
            if mine and mine.ms and peer and mine.ms > peer:
                slow.append(f"{name} at {cell.label} ({mine.ms / peer:.2f}x {peer_name})")
        b, d = cell.results.get("birdkit"), cell.results.get("birdkit deb.")
        if b and d and b.ms and d.ms and d.ms > 1.5 * b.ms:
            slow_deb.append(f"{cell.label} ({d.ms / b.ms:.2f}x)")
    return [f"* birdkit no slower than the fastest differentiable peer on every cell: "
            f"{'yes' if not slow else 'no: ' + '; '.join(slow)}.",
            f"* debiased within 1.5x of biased on every cell: "
            f"{'yes' if not slow_deb else 'no: ' + '; '.join(slow_deb)}."]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"], help="input dtype (default float32)")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    ap.add_argument("--sizes", nargs="+", type=parse_size, default=None,
                    help="cells NxP (p1 = p2 = P) or NxP1xP2; default: n in 128 1024 4096 x p in 64 512 2048")
    ap.add_argument("--quick", action="store_true", help=f"a small subset ({' '.join(QUICK_SIZES)}), budget 0.2 s, "
                    "and no file unless --out is given")
    ap.add_argument("--repeats", type=int, default=15, help="at most this many timed calls per measurement")
    ap.add_argument("--budget", type=float, default=None, help="seconds per measurement (default 1, --quick 0.2)")
    ap.add_argument("--max-call", type=float, default=5.0, help="skip where one call is expected to take longer (s)")
    ap.add_argument("--mem-budget", type=float, default=4.0, help="skip where one call would need more (GiB)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None,
                    help="markdown file (default benchmarks/results/cka_peers.md; --quick: none); '-': none")
    args = ap.parse_args()
    args.budget = args.budget if args.budget is not None else 0.2 if args.quick else 1.0
    sizes = args.sizes or [parse_size(s) for s in (QUICK_SIZES if args.quick else DEFAULT_SIZES)]
    sizes = sorted(sizes)  # n ascending: each cell's estimate scales the previous n's measurement
    out = args.out if args.out is not None else ("-" if args.quick else str(DEFAULT_OUT))
    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype)
    torch.set_num_threads(args.threads)
    load0 = os.getloadavg()
    t_start = time.perf_counter()

    impls = implementations()
    for impl in impls:
        try:
            impl.fn = impl.load()
        except ImportError as exc:
            impl.missing = f"{impl.dist} not installed ({exc})"
            print(f"[skip] {impl.name}: {impl.missing}; `.venv/bin/pip install {impl.dist}` to include it",
                  file=sys.stderr)
    warm_up(impls, dtype, device)
    gflops = matmul_gflops(device)
    print(f"matmul: {gflops[torch.float32]:.0f} GFLOP/s float32, {gflops[torch.float64]:.0f} GFLOP/s float64; "
          f"expected duration about {_fmt_s(expected_seconds(impls, sizes, args, gflops, dtype))} "
          f"(flop model; {len(sizes)} cells x {sum(i.fn is not None for i in impls)} implementations)",
          file=sys.stderr)

    cells: list[Cell] = []
    failures: list[str] = []
    for n, p1, p2 in sizes:
        cell = Cell(n, p1, p2)
        x, y = make_inputs(n, p1, p2, dtype, device, args.seed)
        cell.ref = reference_cka(x, y)
        gc.collect()  # once per cell: a collection takes ~0.1 s once the profiler has loaded torch._dynamo
        progress, run, first = [], [], {}
        for impl in impls:
            if impl.fn is None:
                continue
            if n < (4 if impl.estimator == "debiased" else 2):
                cell.results[impl.name] = Result(skip="n too small")
                continue
            est_t, est_m = estimate(impl, cell, cells, gflops, dtype)
            if est_t > args.max_call or est_m > args.mem_budget * 2**30:
                why = f"~{_fmt_s(est_t)}" if est_t > args.max_call else f"~{est_m / 2**30:.1f} GiB"
                cell.results[impl.name] = Result(skip=why, est_s=est_t)
                progress.append(f"{impl.name} skipped ({why})")
                continue
            try:
                r, first[impl.name] = first_call(impl, x, y, device)
            except Exception as exc:  # a peer that breaks on some shape must not end the run
                cell.results[impl.name] = Result(skip=f"error: {type(exc).__name__}")
                NOTES.append(f"{impl.name} at {cell.label}: {type(exc).__name__}: {exc}")
                continue
            ref = cell.ref[0] if impl.estimator == "biased" else cell.ref[1]
            r.diff = abs(r.value - ref) if r.value is not None else None
            if r.diff is None or not r.diff <= TOL:
                msg = (f"VALUE CHECK FAILED: {impl.name} at n={n} p={p1},{p2}: {r.value:.8f} vs float64 "
                       f"reference {ref:.8f} (|diff| {r.diff:.2e} > {TOL:g})")
                failures.append(msg)
                print("!" * 8 + " " + msg, file=sys.stderr)
            cell.results[impl.name] = r
            run.append(impl)
        for name, ms in time_interleaved(run, first, x, y, device, args.repeats, args.budget).items():
            cell.results[name].ms = ms
        progress = [f"{i.name} {_fmt_ms(cell.results[i.name].ms)} ms" for i in run] + progress
        cells.append(cell)
        print(f"[{time.perf_counter() - t_start:5.0f} s] {cell.label}: " + ", ".join(progress), file=sys.stderr)
        del x, y

    machine = machine_line(args, device, impls, load0, os.getloadavg())
    md = render(cells, impls, args, machine, time.perf_counter() - t_start)
    print(md)
    if out != "-":
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(md + "\n")
        print(f"written to {out}", file=sys.stderr)
    if failures:
        print(f"\n{len(failures)} VALUE CHECK(S) FAILED:\n" + "\n".join(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
