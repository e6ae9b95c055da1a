"""Print the selection tables of benchmarks/NOTEBOOK.md from ``birdkit select``'s ``hparams.csv`` files.

    python benchmarks/select_tables.py benchmarks/results/select/fmnist-split.csv ...

One table per pair: every grid point (lr, alpha) of every method and BIRD's layer-pair search,
chosen rows in bold (the best validation robust accuracy under the training corruptions; a
diverged point, NaN, is never chosen).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from birdkit.io import read_csv


def chosen(df: pd.DataFrame) -> pd.Series:
    """Boolean mask of the selected rows: per method the argmax, and per layer search the argmax."""
    mask = pd.Series(False, index=df.index)
    for _, g in df.groupby("method", sort=False):
        g = g.dropna(subset=["val_robust_train"])
        if len(g):
            mask[g.val_robust_train.idxmax()] = True
    return mask


def table(path: Path) -> str:
    df = pd.DataFrame(read_csv(path)).replace("", np.nan).infer_objects()  # empty cell: NaN
    pick = chosen(df)
    has_layers = "teacher_layer" in df
    head = "| method | lr | alpha |" + (" teacher layer | student layer |" if has_layers else "") + \
        " val clean | val robust (training corr.) |"
    out = [f"**{path.stem}** (chosen in bold)", "", head, "|" + "---|" * (head.count("|") - 1)]

    def cell(v, fmt="{}"):
        return "" if v is None or (isinstance(v, float) and math.isnan(v)) else fmt.format(v)

    for i, r in df.iterrows():
        cells = [r.method, cell(r.lr, "{:g}"), cell(r.alpha, "{:g}")]
        if has_layers:
            cells += [cell(r.get("teacher_layer")), cell(r.get("student_layer"))]
        cells += [cell(100 * r.val_clean, "{:.2f}") or "diverged",
                  cell(100 * r.val_robust_train, "{:.2f}") or "diverged"]
        if pick[i]:
            cells = [f"**{c}**" if c else c for c in cells]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    for p in sys.argv[1:]:
        print(table(Path(p)))
        print()
