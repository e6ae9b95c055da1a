"""Print the teacher-study tables of benchmarks/NOTEBOOK.md from a committed ``study.csv``.

    python benchmarks/study_tables.py benchmarks/results/study/fmnist-teachers-seed0.csv

Per-teacher rows, robust vs clean teachers paired by (architecture, teacher data), and the
linear fits of held-out robust accuracy on the three properties (:func:`fit`: the model of
``birdkit study``'s own fit, kept here so that the committed tables do not depend on where the
library keeps it; ``tests/benchmarks`` checks both agree when the library's is importable).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from birdkit.io import read_csv

PROPERTIES = ("task_relevance", "complementary_knowledge", "behavioral_relevance")


def fit(rows: list[dict], target: str = "robust_heldout", behavioral: str = "behavioral_relevance") -> dict:
    """Linear model ``target ~ task relevance + complementary knowledge + behavioral``: R^2 in
    sample and leave-one-out, and each property's own R^2 (scikit-learn)."""
    from sklearn.linear_model import LinearRegression
    from sklearn.metrics import r2_score
    from sklearn.model_selection import LeaveOneOut, cross_val_predict

    cols = ["task_relevance", "complementary_knowledge", behavioral]
    x = np.array([[float(r[c]) for c in cols] for r in rows], dtype=float)
    y = np.array([float(r[target]) for r in rows], dtype=float)
    out = {"n": len(rows), "r2": float(LinearRegression().fit(x, y).score(x, y)),
           "r2_loo": float(r2_score(y, cross_val_predict(LinearRegression(), x, y, cv=LeaveOneOut())))}
    for i, p in enumerate(PROPERTIES):
        out[f"r2_{p}"] = float(LinearRegression().fit(x[:, [i]], y).score(x[:, [i]], y))
    return out


def frame(path: Path) -> pd.DataFrame:
    """The study CSV (read by birdkit.io), ``robust_teacher`` as booleans."""
    df = pd.DataFrame(read_csv(path))
    flags = df.robust_teacher.map({"True": True, "False": False})
    if flags.isna().any():
        raise SystemExit(f"{path}: robust_teacher must be True or False")
    return df.assign(robust_teacher=flags.astype(bool))


def tables(path: Path) -> str:
    df = frame(path)
    none, oracle = df.none_robust_heldout.iloc[0], df.oracle_robust_heldout.iloc[0]
    out = [f"None {100 * none:.2f}, oracle {100 * oracle:.2f} "
           "(held-out robust accuracy, same student and test images)", "",
           "| teacher | task relevance | complementary | behavioral (inf, fraction) | behavioral (mean, max) | "
           "BIRD clean acc | BIRD robust (held-out) | PGR |",
           "|---|---|---|---|---|---|---|---|"]
    for r in df.itertuples():
        out.append(f"| {r.teacher} | {100 * r.task_relevance:.1f} | {100 * r.complementary_knowledge:.1f} | "
                   f"{r.behavioral_inf_fraction:.3f} | {r.behavioral_mean_max:.3f} | {100 * r.clean_acc:.2f} | "
                   f"{100 * r.robust_heldout:.2f} | {100 * r.pgr_heldout:.1f} |")
    df["pair"] = df.teacher.str.rsplit("-", n=1).str[0]
    wide = df.pivot(index="pair", columns="robust_teacher", values="robust_heldout")
    diff = 100 * (wide[True] - wide[False])
    above = int((df.robust_heldout > none).sum())
    out += ["", f"BIRD above None: {above} of {len(df)} teachers "
            f"({int((df[df.robust_teacher].robust_heldout > none).sum())} of {int(df.robust_teacher.sum())} robust, "
            f"{int((df[~df.robust_teacher].robust_heldout > none).sum())} of {int((~df.robust_teacher).sum())} clean). "
            f"Robust minus clean teacher, same architecture and data: mean {diff.mean():+.2f} points, "
            f"{int((diff > 0).sum())} of {len(diff)} positive (min {diff.min():+.2f}, max {diff.max():+.2f}); "
            f"mean PGR robust {100 * df[df.robust_teacher].pgr_heldout.mean():.1f}%, "
            f"clean {100 * df[~df.robust_teacher].pgr_heldout.mean():.1f}%.", "",
            "| behavioral variant | R^2 behavioral alone | R^2 three properties | R^2 leave-one-out |",
            "|---|---|---|---|"]
    rows = df.to_dict("records")
    for col in sorted(c for c in df.columns if c.startswith("behavioral_") and c != "behavioral_relevance"):
        f = fit(rows, behavioral=col)
        out.append(f"| {col.removeprefix('behavioral_')} | {f['r2_behavioral_relevance']:.3f} | {f['r2']:.3f} | "
                   f"{f['r2_loo']:.3f} |")
    f = fit(rows)
    out += ["", f"Alone: task relevance R^2 {f['r2_task_relevance']:.3f}, complementary knowledge "
            f"{f['r2_complementary_knowledge']:.3f}. Spread of BIRD's robust accuracy over teachers: std "
            f"{100 * df.robust_heldout.std():.2f} points."]
    return "\n".join(out)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    print(tables(Path(sys.argv[1])))
