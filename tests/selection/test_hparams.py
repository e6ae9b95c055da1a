"""Transfer hyperparameter and layer selection: validation data and training corruptions only."""

import pytest

import birdkit.selection._score as score
from birdkit.config import PairConfig, load_pair
from birdkit.corruptions import HELDOUT_CORRUPTIONS, TRAIN_CORRUPTIONS
from birdkit.selection.layers import candidate_layers
from pairs import run_pair, select
from pairs import shrink as _shrink


@pytest.fixture(scope="module")
def pair_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("select")
    cfg = _shrink(load_pair("fmnist-split"), n=128, test=32)
    run_pair(cfg, d, seed=0, methods=["none"])
    return cfg, d / cfg.name / "seed0"


def test_select_grid_and_layers_never_touch_heldout(pair_run, monkeypatch):
    cfg, seed_dir = pair_run
    seen = []
    orig = score.evaluate_robustness  # the one place grid points and layer pairs are evaluated

    def spy(*a, **k):
        seen.append(tuple(k["corruptions"]))
        return orig(*a, **k)

    monkeypatch.setattr(score, "evaluate_robustness", spy)
    grid = {"bird": {"lr": [0.01], "alpha": [0.3, 0.6]}, "hints": {"lr": [0.01]}}
    best, rows = select(cfg, seed_dir, grid=grid, val_samples=24, severities=(1,))
    assert seen and all(set(c) == set(TRAIN_CORRUPTIONS) for c in seen)
    assert not any(set(c) & set(HELDOUT_CORRUPTIONS) for c in seen)

    grid_rows = [r for r in rows if r["method"] == "bird"]
    assert [r["alpha"] for r in grid_rows] == [0.3, 0.6]
    top = max(grid_rows, key=lambda r: r["val_robust_train"])
    assert best["bird"]["alpha"] == top["alpha"] and best["bird"]["lr"] == 0.01

    # layer search: every teacher x student candidate, at BIRD's chosen lr/alpha, best one kept
    from birdkit.checkpoint import load_checkpoint
    t, _ = load_checkpoint(seed_dir / "teacher" / "model.safetensors")
    s, _ = load_checkpoint(seed_dir / "student" / "model.safetensors")
    lrows = [r for r in rows if r["method"] == "bird-layers"]
    assert {(r["teacher_layer"], r["student_layer"]) for r in lrows} == {
        (a, b) for a in candidate_layers(t, 2) for b in candidate_layers(s, 2)}
    assert all(r["alpha"] == best["bird"]["alpha"] for r in lrows)
    win = max(lrows, key=lambda r: r["val_robust_train"])
    assert best["bird"]["layers"] == [{"teacher": win["teacher_layer"], "student": win["student_layer"],
                                       "weight": 1.0}]
    assert best["hints"]["layers"] == best["bird"]["layers"]  # Hints at the same pair as BIRD

    # the result is a valid pair-config override
    PairConfig(**{**cfg.model_dump(), "overrides": best})


def test_select_without_layer_search(pair_run):
    cfg, seed_dir = pair_run
    best, rows = select(cfg, seed_dir, grid={"bird": {"alpha": [0.5]}}, val_samples=16,
                                   severities=(1,), layer_search=False)
    assert best == {"bird": {"alpha": 0.5}} and {r["method"] for r in rows} == {"bird"}


def test_a_diverging_grid_point_is_recorded_not_fatal(pair_run):
    import math

    cfg, seed_dir = pair_run
    best, rows = select(cfg, seed_dir, grid={"ft": {"lr": [0.01, 1e12]}}, val_samples=16,
                                   severities=(1,), layer_search=False)
    assert best == {"ft": {"lr": 0.01}}
    bad = [r for r in rows if r["lr"] == 1e12]
    assert len(bad) == 1 and math.isnan(bad[0]["val_robust_train"])


def test_multi_seed_selection_scores_the_mean(pair_run):
    cfg, seed_dir = pair_run
    grid = {"bird": {"lr": [0.01], "alpha": [0.5]}}
    one, rows1 = select(cfg, seed_dir, grid=grid, val_samples=16, severities=(1,), layer_search=False)
    _, rows2 = select(cfg, seed_dir, grid=grid, val_samples=16, severities=(1,), layer_search=False,
                                 seeds=2)
    (r1,), (r2,) = rows1, rows2
    assert r2["seeds"] == 2 and "seeds" not in r1
    assert (seed_dir / "hparams" / "bird_lr0.01_alpha0.5_seed1" / "model.safetensors").exists()
    # seed 0 is the single-seed run (reused), so the mean pins down the second seed's score
    second = 2 * r2["val_robust_train"] - r1["val_robust_train"]
    assert 0 <= second <= 1
    assert abs(r2["val_robust_train_std"] - abs(second - r1["val_robust_train"]) / 2 ** 0.5) < 1e-9
    _, lrows = select(cfg, seed_dir, grid=grid, val_samples=16, severities=(1,), seeds=2)
    assert len([r for r in lrows if r["method"] == "bird-layers"]) == 4
    assert any(p.name.endswith("_seed1") for p in (seed_dir / "layers").rglob("*__*"))


def test_selection_score_rules():
    from birdkit.errors import UnknownNameError
    from birdkit.selection import selection_score

    xs = [0.5, 0.7, 0.6]
    assert selection_score(xs) == pytest.approx(0.6)
    # mean less one standard error: sd 0.1, n 3
    assert selection_score(xs, "mean-se") == pytest.approx(0.6 - 0.1 / 3 ** 0.5)
    assert selection_score([0.4], "mean-se") == 0.4  # one seed: no error to subtract
    # a steady point beats a noisy one with a higher mean under mean-se, not under mean
    steady, noisy = [0.60, 0.61, 0.62], [0.45, 0.66, 0.84]
    assert selection_score(noisy) > selection_score(steady)
    assert selection_score(noisy, "mean-se") < selection_score(steady, "mean-se")
    with pytest.raises(UnknownNameError, match="mean-se"):
        selection_score(xs, "meanse")


def test_bird_variants_are_tried_at_the_chosen_point_and_the_best_is_returned(pair_run):
    cfg, seed_dir = pair_run
    grid = {"bird": {"lr": [0.01], "alpha": [0.5]}}
    best, rows = select(cfg, seed_dir, grid=grid, val_samples=16, severities=(1,), seeds=2, rule="mean-se",
                        variants=True)
    vrows = [r for r in rows if r["method"] == "bird-variant"]
    assert [r["variant"] for r in vrows] == ["debiased", "queue", "two-pairs", "debiased-queue"]
    assert all(r["lr"] == 0.01 and r["alpha"] == 0.5 and r["seeds"] == 2 for r in vrows)
    for r in rows:  # the rule's score is the seeds' mean less one standard error
        if r.get("seeds") == 2:
            assert r["score"] == pytest.approx(r["val_robust_train"] - r["val_robust_train_std"] / 2 ** 0.5)
    (name, fields), = best["variants"].items()
    top = max(vrows, key=lambda r: r["score"])
    assert name == f"bird-{top['variant']}" and fields["method"] == "bird"
    layer_rows = sorted([r for r in rows if r["method"] == "bird-layers"], key=lambda r: -r["score"])
    two = next(r for r in vrows if r["variant"] == "two-pairs")
    assert f'"teacher": "{layer_rows[1]["teacher_layer"]}"' in two["variant_fields"]
    # the result is a valid pair config whose variant runs like a method
    PairConfig(**{**cfg.model_dump(), "overrides": {k: v for k, v in best.items() if k != "variants"},
                  "variants": best["variants"]})
