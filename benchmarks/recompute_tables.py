"""Recompute the demo tables of benchmarks/NOTEBOOK.md from the per-run CSVs alone.

Independent of birdkit's own summary code: robust accuracies are recomputed with pandas from
each seed's tidy ``eval.csv``, PGR from them by its formula, and both are checked against the
``summary.csv`` that the run wrote. Prints one markdown table per pair (mean ± std over seeds).

    python benchmarks/recompute_tables.py runs/bench/fmnist-split runs/bench/mnist5k-to-fmnist ...
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from birdkit.io import read_csv


def recompute(pair_dir: Path) -> pd.DataFrame:
    rows = []
    for seed_dir in sorted(pair_dir.glob("seed*")):
        ev = pd.DataFrame(read_csv(seed_dir / "eval.csv"))
        sm = pd.DataFrame(read_csv(seed_dir / "summary.csv")).set_index("method")
        clean = ev[ev.severity == 0].set_index("model")["accuracy"]
        held = ev[(ev.split == "heldout") & (ev.severity > 0)].groupby("model")["accuracy"].mean()
        train = ev[(ev.split == "train") & (ev.severity > 0)].groupby("model")["accuracy"].mean()
        pgr = (held - held["none"]) / (held["oracle"] - held["none"])
        for m in dict.fromkeys(ev.model):
            r = {"seed": seed_dir.name, "method": m, "clean": clean[m], "robust_heldout": held[m],
                 "robust_train": train[m], "pgr": pgr[m], "cka": sm.loc[m, "cka_to_teacher"]}
            for ours, theirs in (("clean", "clean_acc"), ("robust_heldout", "robust_heldout"),
                                 ("robust_train", "robust_train"), ("pgr", "pgr_heldout")):
                if not np.isclose(r[ours], sm.loc[m, theirs], rtol=1e-9, atol=1e-12, equal_nan=True):
                    raise SystemExit(f"{seed_dir}: {m} {theirs} = {sm.loc[m, theirs]} but recomputes to {r[ours]}")
            rows.append(r)
    return pd.DataFrame(rows)


def table(df: pd.DataFrame, name: str) -> str:
    order = list(dict.fromkeys(df.method))
    g = df.groupby("method", sort=False)
    mean, std, n = g.mean(numeric_only=True), g.std(numeric_only=True, ddof=1), g.size()
    out = [f"### {name} ({n.iloc[0]} seed{'s' if n.iloc[0] > 1 else ''})", "",
           "| method | clean acc | robust acc (held-out) | robust acc (training corr.) | PGR (held-out) | "
           "CKA to teacher |",
           "|---|---|---|---|---|---|"]

    def f(m, c, pct=True):
        mu, sd = mean.loc[m, c], std.loc[m, c]
        k = 100 if pct else 1
        s = f"{mu * k:.2f}" if pct else f"{mu:.3f}"
        return s + (f" ± {sd * k:.2f}" if pct else f" ± {sd:.3f}") if not np.isnan(sd) else s

    for m in order:
        out.append(f"| {m} | {f(m, 'clean')} | {f(m, 'robust_heldout')} | {f(m, 'robust_train')} | "
                   f"{f(m, 'pgr')} | {f(m, 'cka', pct=False)} |")
    return "\n".join(out)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    for d in map(Path, sys.argv[1:]):
        print(table(recompute(d), d.name))
        print()
