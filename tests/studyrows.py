"""Synthetic study rows (teachers x seeds) with known effects, for the fit and study-fit tests."""

import numpy as np


def study_rows(n_teachers=12, seeds=3, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for t in range(n_teachers):
        tr, ck, br = rng.uniform(0.5, 0.9), rng.uniform(0, 0.2), rng.uniform(0, 1)
        effect = rng.normal(0, 0.01)  # a teacher's own effect, shared by its seeds
        for s in range(seeds):
            y = 0.6 + 0.2 * tr + 0.3 * ck + 0.02 * br + effect + rng.normal(0, 0.005)
            rows.append({"teacher": f"t{t}", "seed": s, "task_relevance": tr + rng.normal(0, 0.01),
                         "complementary_knowledge": ck, "behavioral_relevance": br, "leep": -tr + rng.normal(0, 0.02),
                         "robust_heldout": y})
    return rows
