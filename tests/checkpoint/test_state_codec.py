"""The exact JSON encoding of nested states (birdkit.checkpoint._state_codec): every tagged
type comes back as itself, tensors go to the flat tensor dict, the rest is refused."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from birdkit.checkpoint._state_codec import decode, encode
from birdkit.errors import CheckpointError


def test_round_trip_through_json():
    t = torch.arange(3.0)
    state = {
        "state": {0: {"momentum_buffer": t, "step": 3}, 1: {}},
        "param_groups": [{"betas": (0.9, 0.99), "params": [0, 1], "nesterov": True, "x": None}],
        "floats": [float("inf"), -float("inf"), 0.5],
        "array": np.arange(6, dtype=np.uint32).reshape(2, 3),
        "scalar": np.int64(7),
        "__dunder__": "kept",
    }
    tensors: dict[str, torch.Tensor] = {}
    encoded = json.loads(json.dumps(encode(state, "optim", tensors), allow_nan=False))
    assert list(tensors) == ["optim/state/0/momentum_buffer"] and tensors["optim/state/0/momentum_buffer"] is t
    back = decode(encoded, tensors)
    assert back["state"][0]["momentum_buffer"] is t and back["state"][0]["step"] == 3 and back["state"][1] == {}
    assert back["param_groups"] == state["param_groups"]
    assert isinstance(back["param_groups"][0]["betas"], tuple)
    assert back["floats"] == state["floats"]
    assert back["array"].dtype == np.uint32 and np.array_equal(back["array"], state["array"])
    assert type(back["scalar"]) is np.int64 and back["scalar"] == 7
    assert back["__dunder__"] == "kept"


def test_tags():
    tensors: dict[str, torch.Tensor] = {}
    assert encode((1, "a"), "k", tensors) == {"__tuple__": [1, "a"]}
    assert encode({1: 2}, "k", tensors) == {"__dict__": [[1, 2]]}
    assert encode(float("nan"), "k", tensors) == {"__float__": "nan"}
    assert math.isnan(decode({"__float__": "nan"}, {}))
    assert encode(np.float32(1.5), "k", tensors) == {"__npscalar__": 1.5, "dtype": "float32"}


def test_refused_values():
    with pytest.raises(CheckpointError, match=r"^k/f holds a function, which cannot be stored without pickle$"):
        encode({"f": lambda: 0}, "k", {})
    with pytest.raises(CheckpointError, match=r"k has a tuple key; only str/int keys are stored"):
        encode({(1, 2): 0}, "k", {})
    with pytest.raises(CheckpointError, match="two tensors map to the same key 'k'"):
        encode(torch.zeros(1), "k", {"k": torch.zeros(1)})
    with pytest.raises(CheckpointError, match="refers to tensor 'missing', which the weights file lacks"):
        decode({"__tensor__": "missing"}, {})
