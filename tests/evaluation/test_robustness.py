"""Robust-accuracy bookkeeping and PGR against hand computations."""

import math

import torch

from birdkit.evaluation.robustness import CorruptedTestSet, pgr, summarize


def test_pgr_formula():
    assert math.isclose(pgr(0.6, 0.5, 0.9), 0.25)
    assert math.isclose(pgr(0.5904, 0.5451, 0.5451 + (0.5904 - 0.5451) / 0.318), 0.318, rel_tol=1e-9)
    assert math.isnan(pgr(0.6, 0.5, 0.5))


def test_summarize_both_conventions():
    rows = [{"severity": 0, "split": "clean", "corruption": "clean", "accuracy": 0.9}]
    for c, accs in {"a": [0.8, 0.7], "b": [0.6, 0.5]}.items():
        rows += [{"severity": s + 1, "split": "heldout", "corruption": c, "accuracy": a} for s, a in enumerate(accs)]
    rows += [{"severity": 1, "split": "train", "corruption": "t", "accuracy": 0.4}]
    s = summarize(rows)
    assert math.isclose(s["robust_heldout"], (0.8 + 0.7 + 0.6 + 0.5) / 4)
    assert math.isclose(s["robust_heldout_with_clean"], (0.8 + 0.7 + 0.6 + 0.5 + 2 * 0.9) / 6)
    assert math.isclose(s["robust_train"], 0.4) and s["clean_acc"] == 0.9


def test_corrupted_testset_is_cached_and_deterministic():
    imgs = torch.randint(0, 256, (8, 1, 28, 28), dtype=torch.uint8)
    t = torch.zeros(8, dtype=torch.long)
    a = CorruptedTestSet(imgs, t, seed=3, batch_size=3)
    b = CorruptedTestSet(imgs, t, seed=3, batch_size=8)
    x = a.get("gaussian_noise", 3)
    assert x.dtype == torch.uint8 and x is a.get("gaussian_noise", 3)
    assert torch.equal(x, b.get("gaussian_noise", 3))
    assert a.get("gaussian_noise", 0) is imgs
