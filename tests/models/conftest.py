"""Shared fixture: ``check_contract``, one check of the whole BirdkitModel contract."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from birdkit.models import create_model, meta_init


def check_contract(model: nn.Module, in_chans: int, img_size: int, num_classes: int = 10, batch: int = 2,
                   rebuild: bool = True) -> None:
    """Asserts every clause of the contract on ``model`` (built for these sizes); ``rebuild=False``
    for a model not made by ``create_model`` (no ``birdkit_spec``)."""
    x = torch.randn(batch, in_chans, img_size, img_size)
    model.eval()
    modules = dict(model.named_modules())

    # attributes
    assert isinstance(model.num_features, int) and model.num_features > 0
    assert model.num_classes == num_classes
    assert model.default_layer in modules, model.default_layer
    spec = model.birdkit_spec
    if rebuild:
        assert {"name", "num_classes", "in_chans", "img_size"} <= set(spec)
        assert (spec["num_classes"], spec["in_chans"], spec["img_size"]) == (num_classes, in_chans, img_size)
    fc = model.get_classifier()
    assert isinstance(fc, nn.Linear)
    assert (fc.in_features, fc.out_features) == (model.num_features, num_classes)

    # forward == forward_head(forward_features); default_layer's output is forward_features
    captured: list[torch.Tensor] = []
    hook = modules[model.default_layer].register_forward_hook(lambda m, i, o: captured.append(o))
    try:
        with torch.no_grad():
            f = model.forward_features(x)
            out = model(x)
            pre = model.forward_head(f, pre_logits=True)
            head = model.forward_head(f)
    finally:
        hook.remove()
    assert out.shape == (batch, num_classes)
    assert f.dim() in (3, 4) and f.shape[0] == batch
    assert len(captured) == 2  # once in forward_features, once in forward; fired exactly once each
    assert captured[0].shape == f.shape and torch.equal(captured[0], f)
    assert torch.allclose(captured[1], f, atol=1e-6)
    torch.testing.assert_close(head, out, rtol=1e-5, atol=1e-5)
    assert pre.shape == (batch, model.num_features)
    torch.testing.assert_close(fc(pre), out, rtol=1e-5, atol=1e-5)

    # rebuild from the spec (after a JSON round trip, as checkpoints store it): same architecture
    if rebuild:
        with meta_init():
            again = create_model(**json.loads(json.dumps(spec)))
        assert ({k: v.shape for k, v in again.state_dict().items()}
                == {k: v.shape for k, v in model.state_dict().items()})
        assert again.default_layer == model.default_layer

    # backward reaches the first and the last parameters
    model.train()
    model.zero_grad()
    model(x).logsumexp(1).sum().backward()
    params = [p for p in model.parameters() if p.requires_grad]
    assert params[0].grad is not None and torch.isfinite(params[0].grad).all()
    assert fc.weight.grad is not None and fc.weight.grad.abs().sum() > 0

    # a new head: new output size, fresh layer, spec updated, the body untouched
    body = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith(model.classifier_name + ".")}
    model.reset_classifier(num_classes + 3)
    new_fc = model.get_classifier()
    assert new_fc is not fc and isinstance(new_fc, nn.Linear)
    assert (new_fc.in_features, new_fc.out_features) == (model.num_features, num_classes + 3)
    assert model.num_classes == num_classes + 3
    if rebuild:
        assert model.birdkit_spec["num_classes"] == num_classes + 3
    model.eval()
    with torch.no_grad():
        assert model.forward_head(f).shape == (batch, num_classes + 3)
    after = model.state_dict()
    assert all(torch.equal(after[k], v) for k, v in body.items())
    if rebuild:
        with meta_init():
            again = create_model(**model.birdkit_spec)
        assert again.get_classifier().out_features == num_classes + 3


@pytest.fixture
def contract():
    """The contract checker, as a fixture (test modules are not a package)."""
    return check_contract
