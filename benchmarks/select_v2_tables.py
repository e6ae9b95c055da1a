"""Print the v2 selection tables of benchmarks/NOTEBOOK.md from benchmarks/results/select-v2/<pair>.csv.

    python benchmarks/select_v2_tables.py benchmarks/results/select-v2/fmnist-split.csv ...

One table per pair (PROTOCOL.md §4): every grid point of every method, BIRD's layer pairs and
its variants, each with the mean and standard deviation over its 3 transfer seeds of validation
robust accuracy under the training corruptions and the rule's score (mean less one standard
error); the chosen rows in bold: per method, per layer search and among the variants, the
highest score. ``chosen`` is an independent reading of the rows, used by the tests to check that
the protocol-v2 YAMLs hold what the selection chose.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from birdkit.io import read_csv


def chosen(rows: list[dict]) -> dict[str, dict]:
    """Per group (a method, ``bird-layers``, ``bird-variant``) the row with the highest score."""
    best: dict[str, dict] = {}
    for r in rows:
        score = r.get("score")
        if not isinstance(score, float) or math.isnan(score):
            continue
        if r["method"] not in best or score > best[r["method"]]["score"]:
            best[r["method"]] = r
    return best


def expected_overrides(rows: list[dict]) -> tuple[dict, dict]:
    """The overrides and the variant a pair YAML must hold, read from the rows."""
    best = chosen(rows)
    layer = best["bird-layers"]
    pair = [{"teacher": layer["teacher_layer"], "student": layer["student_layer"], "weight": 1.0}]
    over = {}
    for m, r in best.items():
        if m in ("bird-layers", "bird-variant"):
            continue
        over[m] = {"lr": r["lr"], **({"alpha": r["alpha"]} if isinstance(r.get("alpha"), float) else {})}
        if m in ("bird", "hints"):
            over[m]["layers"] = pair
    v = best["bird-variant"]
    fields = json.loads(v["variant_fields"])
    fields["layers"] = [{**p, "weight": 1.0} for p in fields["layers"]]
    variant = {f"bird-{v['variant']}": {"method": "bird", "lr": v["lr"], "alpha": v["alpha"], **fields}}
    return over, variant


def table(path: Path) -> str:
    rows = read_csv(path)
    best = {id(r) for r in chosen(rows).values()}
    out = [f"**{path.stem}** (v2; chosen in bold)", "",
           "| method | lr | alpha | layers / variant | val robust (mean over 3 seeds) | sd | score |",
           "|---|---|---|---|---|---|---|"]
    for r in rows:
        what = (f"{r['teacher_layer']}->{r['student_layer']}" if r["method"] == "bird-layers"
                else r.get("variant") or "")
        sd = r.get("val_robust_train_std")
        cells = [r["method"], f"{r['lr']:g}", f"{r['alpha']:g}" if isinstance(r.get("alpha"), float) else "", what,
                 f"{100 * r['val_robust_train']:.2f}", f"{100 * sd:.2f}" if isinstance(sd, float) else "",
                 f"{100 * r['score']:.2f}"]
        if id(r) in best:
            cells = [f"**{c}**" if c else c for c in cells]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    for p in sys.argv[1:]:
        print(table(Path(p)))
        print()
