"""Print the BIRD investigation table from benchmarks/results/investigate/ (see investigate_bird.sh).

PGR uses the reference run's none and oracle (same seed, same 2,000 test images). The demo
scores the training corruptions on 500 images, ``birdkit evaluate`` on 2,000, so that column
is comparable only roughly between the reference rows and the diagnostics.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from birdkit.io import read_csv

RESULTS = Path(__file__).parent / "results" / "investigate"


def table() -> str:
    ref = pd.DataFrame(read_csv(RESULTS / "reference_summary.csv")).set_index("method")
    rows = [ref.loc[m] for m in ("none", "oracle", "bird", "hints")]
    rows += [pd.DataFrame(read_csv(f)).set_index("method").iloc[0] for f in sorted(RESULTS.glob("[A-Z]_*.csv"))]
    none, oracle = ref.loc["none", "robust_heldout"], ref.loc["oracle", "robust_heldout"]
    out = ["| run | clean acc | robust acc (held-out) | robust acc (training corr.) | PGR (held-out) |",
           "|---|---|---|---|---|"]
    for r in rows:
        pgr = (r.robust_heldout - none) / (oracle - none)
        out.append(f"| {r.name} | {100 * r.clean_acc:.2f} | {100 * r.robust_heldout:.2f} | "
                   f"{100 * r.robust_train:.2f} | {100 * pgr:.1f} |")
    return "\n".join(out)


if __name__ == "__main__":
    print(table())
