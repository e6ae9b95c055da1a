"""Reports from tidy evaluation rows: markdown tables, PNG plots and aggregated CSVs.

pandas does the grouping (mean and standard deviation over seeds), matplotlib (Agg backend)
the plots: accuracy vs severity per method on the held-out corruptions, per-corruption bars at
the highest severity, and a heatmap of (method - none) per held-out corruption x severity.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np

from birdkit.io import write_bytes

SUMMARY_COLUMNS = [
    ("clean_acc", "clean acc"),
    ("robust_heldout", "robust acc (held-out)"),
    ("robust_heldout_with_clean", "robust acc (held-out, incl. sev 0)"),
    ("robust_train", "robust acc (training corruptions)"),
    ("pgr_heldout", "PGR (held-out)"),
    ("cka_to_teacher", "CKA to teacher"),
]


def aggregate(summary_rows: list[dict]):
    """Mean and std over seeds per (pair, method); returns a pandas DataFrame."""
    import pandas as pd  # optional extra: birdkit[report]

    df = pd.DataFrame(summary_rows)
    keys = [c for c, _ in SUMMARY_COLUMNS if c in df]
    order = list(dict.fromkeys(df["method"]))
    g = df.groupby(["pair", "method"], sort=False)[keys]
    out = g.mean().add_suffix("_mean").join(g.std(ddof=1).add_suffix("_std")).join(g.size().rename("seeds"))
    out = out.reset_index()
    out["method"] = pd.Categorical(out["method"], order, ordered=True)
    return out.sort_values(["pair", "method"]).reset_index(drop=True)


def fmt(mean: float, std: float | None, pct: bool = True) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "n/a"
    scale = 100 if pct else 1
    s = f"{mean * scale:.2f}" if pct else f"{mean:.3f}"
    if std is not None and not (isinstance(std, float) and math.isnan(std)):
        s += f" ± {std * scale:.2f}" if pct else f" ± {std:.3f}"
    return s


def markdown_table(agg) -> str:
    """Markdown: method | clean | robust held-out | ... | PGR | CKA (accuracies in %)."""
    cols = [(c, h) for c, h in SUMMARY_COLUMNS if f"{c}_mean" in agg]
    lines = ["| pair | method | seeds | " + " | ".join(h for _, h in cols) + " |",
             "|" + "---|" * (3 + len(cols))]
    for _, r in agg.iterrows():
        cells = [fmt(r[f"{c}_mean"], r.get(f"{c}_std"), pct=c != "cka_to_teacher") for c, _ in cols]
        lines.append(f"| {r['pair']} | {r['method']} | {int(r['seeds'])} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_report(eval_rows: list[dict], out_dir: str | Path) -> list[Path]:
    """Write ``severity.png`` (held-out accuracy vs severity per method) and
    ``corruptions.png`` (per-corruption accuracy at severity 5)."""
    import pandas as pd  # optional extra: birdkit[report]
    from matplotlib.figure import Figure

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    df = pd.DataFrame(eval_rows)
    order = list(dict.fromkeys(df["model"]))
    paths = []
    held = df[df["split"].isin(["heldout", "clean"])]
    curve = held.groupby(["model", "severity"])["accuracy"].mean().unstack(0)[order]
    fig = Figure(figsize=(6.5, 4.2))
    ax = fig.subplots()
    for m in order:
        ax.plot(curve.index, curve[m] * 100, marker="o", label=m, lw=2.2 if m == "bird" else 1.2)
    ax.set_xlabel("severity (0 = clean)")
    ax.set_ylabel("accuracy (%), held-out corruptions")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    paths.append(save_figure(fig, out_dir / "severity.png"))

    top = df[df["severity"] == df["severity"].max()]
    bars = top.groupby(["corruption", "model"])["accuracy"].mean().unstack(1)[order]
    fig = Figure(figsize=(max(7, 0.55 * len(bars)), 4.2))
    ax = fig.subplots()
    (bars * 100).plot.bar(ax=ax, width=0.85)
    ax.set_ylabel(f"accuracy (%) at severity {int(df['severity'].max())}")
    ax.legend(fontsize=7, ncol=4)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    paths.append(save_figure(fig, out_dir / "corruptions.png"))
    return paths


def best_baseline(summary_rows: list[dict], *, exclude: tuple[str, ...] = ("none", "oracle"),
                  metric: str = "robust_heldout") -> str | None:
    """The baseline (not ``bird`` / ``bird-*`` / ``exclude``) with the highest mean ``metric``."""
    means: dict[str, list[float]] = {}
    for r in summary_rows:
        m = str(r["method"])
        if m in exclude or m == "bird" or m.startswith("bird-") or metric not in r:
            continue
        means.setdefault(m, []).append(float(r[metric]))
    return max(means, key=lambda m: sum(means[m]) / len(means[m])) if means else None


def gain_table(eval_rows: list[dict], method: str, baseline: str = "none",
               splits: tuple[str, ...] = ("heldout", "mnistc")):
    """(method - baseline) accuracy in points per corruption x severity, averaged over the seeds
    both have (rows paired by pair, seed, corruption and severity); a pandas DataFrame."""
    import pandas as pd  # optional extra: birdkit[report]

    df = pd.DataFrame(eval_rows)
    df = df[df["split"].isin(splits)]
    keys = [k for k in ("pair", "seed", "corruption", "severity") if k in df]
    a = df[df["model"] == method].set_index(keys)["accuracy"]
    b = df[df["model"] == baseline].set_index(keys)["accuracy"]
    diff = (a - b).dropna().mul(100).reset_index()
    order = list(dict.fromkeys(df["corruption"]))
    table = diff.groupby(["corruption", "severity"])["accuracy"].mean().unstack("severity")
    return table.reindex([c for c in order if c in table.index])


def plot_gain_heatmap(eval_rows: list[dict], methods: list[str], out_path: str | Path, baseline: str = "none") -> Path:
    """One heatmap per method of (method - ``baseline``) accuracy in points, held-out corruption
    x severity (ImageNet-C's held-out, then MNIST-C's): where a method's gain comes from."""
    from matplotlib.figure import Figure

    tables = {m: gain_table(eval_rows, m, baseline) for m in methods}
    tables = {m: t for m, t in tables.items() if not t.empty}
    fig = Figure(figsize=(3.6 * max(1, len(tables)) + 1.2, 0.32 * max(len(t) for t in tables.values()) + 1.6)
                 if tables else (4, 2))
    if not tables:
        return save_figure(fig, Path(out_path))
    lim = max(float(np.nanmax(np.abs(t.to_numpy()))) for t in tables.values())
    lim = lim if np.isfinite(lim) and lim > 0 else 1.0
    axes = fig.subplots(1, len(tables), squeeze=False)[0]
    im = None
    for ax, (m, t) in zip(axes, tables.items()):
        im = ax.imshow(t.to_numpy(), cmap="RdBu", vmin=-lim, vmax=lim, aspect="auto")
        ax.set_xticks(range(t.shape[1]), [str(c) for c in t.columns])
        ax.set_yticks(range(t.shape[0]), list(t.index) if ax is axes[0] else [""] * t.shape[0], fontsize=7)
        ax.set_xlabel("severity")
        ax.set_title(f"{m} - {baseline} (points)", fontsize=9)
        for (i, j), v in np.ndenumerate(t.to_numpy()):
            if np.isfinite(v):  # MNIST-C is evaluated at one severity: its other cells stay blank
                ax.text(j, i, f"{v:+.1f}", ha="center", va="center", fontsize=6)
    fig.colorbar(im, ax=list(axes), shrink=0.8)
    return save_figure(fig, Path(out_path))


def save_figure(fig, path: Path) -> Path:
    """A matplotlib figure as PNG, written atomically."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    return write_bytes(path, buf.getvalue())
