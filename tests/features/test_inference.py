"""The batched-inference iterator against a plain forward, and its guarantees."""

import torch

from birdkit.features import accuracy, batched_forward, capture, pooled_features, predict
from birdkit.models import create_model


def _setup():
    torch.manual_seed(0)
    model = create_model("convnet_xxs", num_classes=3, in_chans=1, img_size=28)
    images = torch.randint(0, 256, (37, 1, 28, 28), dtype=torch.uint8)
    return model, images, lambda x: (x - 0.3) / 0.4


def test_matches_one_plain_forward_in_eval_mode():
    model, images, norm = _setup()
    model.eval()
    with torch.no_grad(), capture(model, [model.default_layer], pool="avg") as f:
        ref_logits = model(norm(images.float() / 255))
        ref_feats = f[model.default_layer]
    model.train()
    outs = list(batched_forward(model, images, norm, batch_size=8, layers=[model.default_layer]))
    assert [len(o) for o, _ in outs] == [8, 8, 8, 8, 5]
    assert torch.allclose(torch.cat([o for o, _ in outs]), ref_logits, atol=1e-5)
    assert torch.allclose(pooled_features(model, images, norm, model.default_layer, batch_size=8), ref_feats, atol=1e-5)
    assert torch.equal(predict(model, images, norm, batch_size=8), ref_logits.argmax(1))
    targets = ref_logits.argmax(1).clone()
    targets[:10] = (targets[:10] + 1) % 3
    assert accuracy(model, images, targets, norm, batch_size=8) == 27 / 37
    assert model.training  # the training flag is restored


def test_stop_and_early_exit_restore_state_and_leak_no_grad_mode():
    model, images, norm = _setup()
    assert [len(o) for o, _ in batched_forward(model, images, norm, batch_size=16, stop=20)] == [16, 4]
    # two iterators interleaved and abandoned part-way (as zip does when one ends first)
    a = batched_forward(model, images, norm, batch_size=8)
    b = batched_forward(create_model("convnet_xxs", num_classes=3, in_chans=1, img_size=28), images, norm,
                        batch_size=8)
    next(a)
    next(b)
    assert torch.is_grad_enabled()  # no_grad is not held across a yield
    a.close()
    del b
    assert torch.is_grad_enabled()
    assert model.training
