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


def test_evaluate_models_matches_one_model_at_a_time_and_records_predictions():
    from birdkit.evaluation.robustness import evaluate_models, evaluate_robustness
    from birdkit.features import predict
    from birdkit.models import create_model

    torch.manual_seed(0)
    imgs = torch.randint(0, 256, (40, 1, 28, 28), dtype=torch.uint8)
    t = torch.randint(0, 3, (40,))
    ts = CorruptedTestSet(imgs, t, seed=1)
    norm = lambda x: (x - 0.5) / 0.25  # noqa: E731
    models = {"a": create_model("convnet_xxs", num_classes=3, in_chans=1, img_size=28),
              "b": create_model("convnet_xs", num_classes=3, in_chans=1, img_size=28)}
    preds, secs = {}, {}
    rows = evaluate_models(models, ts, norm, corruptions=["fog", "shear"], severities=[1, 3],
                           predictions=preds, seconds=secs)
    assert len(rows) == 2 * (1 + 2 * 2) and set(secs) == {"a", "b"}
    assert {r["split"] for r in rows} == {"clean", "train", "mnistc"}
    for name, m in models.items():  # the channels-last copies predict what the model itself does
        one = evaluate_robustness(m, ts, norm, corruptions=["fog", "shear"], severities=[1, 3], model_name=name)
        assert [r["accuracy"] for r in rows if r["model"] == name] == [r["accuracy"] for r in one]
        assert torch.equal(preds[f"{name}|fog|3"].long(), predict(m, ts.get("fog", 3), norm))
        assert preds[f"{name}|clean|0"].dtype == torch.uint8
        # the caller's model is left as it was: a copy was converted to channels-last
        assert next(m.parameters()).is_contiguous()


def test_disk_cache_is_reused_and_keyed_by_content(tmp_path, monkeypatch):
    monkeypatch.setenv("BIRDKIT_CACHE", str(tmp_path))
    imgs = torch.randint(0, 256, (6, 1, 28, 28), dtype=torch.uint8)
    t = torch.zeros(6, dtype=torch.long)
    a = CorruptedTestSet(imgs, t, seed=2, cache=True)
    x = a.get("gaussian_noise", 2)
    files = list(tmp_path.rglob("*.safetensors"))
    assert len(files) == 1 and a.build_seconds > 0
    b = CorruptedTestSet(imgs, t, seed=2, cache=True)
    assert torch.equal(b.get("gaussian_noise", 2), x) and b.build_seconds == 0  # read, not rebuilt
    c = CorruptedTestSet(imgs, t, seed=3, cache=True)  # another seed: another key
    assert not torch.equal(c.get("gaussian_noise", 2), x)
    files[0].write_bytes(b"garbage")  # an unreadable file is rebuilt, never trusted
    d = CorruptedTestSet(imgs, t, seed=2, cache=True)
    assert torch.equal(d.get("gaussian_noise", 2), x) and d.build_seconds > 0
