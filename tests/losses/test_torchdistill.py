"""``BIRDCKALoss`` in torchdistill: one training step of a tiny torchdistill YAML config whose
criterion is cross entropy + BIRD's term, checked against an independent computation (hooks of
our own, mean pooling, ``birdkit.functional.cka``) and against birdkit's own BIRD method; the
term on hand-made io dicts; registration; errors; and the message when torchdistill is missing."""

from __future__ import annotations

import copy
import importlib
import sys

import pytest
import torch
import torch.nn.functional as F

from birdkit.config import LayerPair
from birdkit.errors import ConfigError, MissingExtraError
from birdkit.functional.cka import cka
from birdkit.losses import CKALoss
from birdkit.methods.bird import BirdMethod
from birdkit.models import create_model

CONFIG = """
dependencies:
  - name: 'birdkit.losses.torchdistill'
train:
  num_epochs: 1
  train_data_loader:
    dataset_id: 'toy'
    sampler:
      class_or_func: !import_get
        key: 'torch.utils.data.SequentialSampler'
    kwargs:
      batch_size: 16
      num_workers: 0
  teacher:
    forward_proc: 'forward_batch_only'
    forward_hook:
      output: ['stages.3']
    requires_grad: False
  student:
    forward_proc: 'forward_batch_only'
    forward_hook:
      output: ['stages.2']
    requires_grad: True
  optimizer:
    key: 'SGD'
    kwargs:
      lr: 0.5
  criterion:
    key: 'WeightedSumLoss'
    kwargs:
      sub_terms:
        ce:
          criterion:
            key: 'CrossEntropyLoss'
            kwargs:
              reduction: 'mean'
          criterion_wrapper:
            key: 'SimpleLossWrapper'
            kwargs:
              input:
                is_from_teacher: False
                module_path: '.'
                io: 'output'
              target:
                uses_label: True
          weight: {ce_weight}
        bird:
          criterion:
            key: 'BIRDCKALoss'
            kwargs:
              teacher_module_path: 'stages.3'
              student_module_path: 'stages.2'
              kernel: 'linear'
          weight: {bird_weight}
"""


@pytest.fixture(scope="module")
def td():
    return pytest.importorskip("torchdistill")


def _features(model, layer, x):
    """``layer``'s output of ``model(x)`` by a hook of our own, and the logits."""
    out = {}
    handle = model.get_submodule(layer).register_forward_hook(lambda m, a, o: out.update(f=o))
    try:
        logits = model(x)
    finally:
        handle.remove()
    return out["f"], logits


@pytest.mark.parametrize("ce_weight, bird_weight", [(0.0, 1.0), (0.1, 0.9)])
def test_one_torchdistill_step_equals_birds_loss(td, tmp_path, ce_weight, bird_weight):
    from torchdistill.common.main_util import import_dependencies
    from torchdistill.common.yaml_util import load_yaml_file
    from torchdistill.core.distillation import get_distillation_box

    path = tmp_path / "bird.yaml"
    path.write_text(CONFIG.format(ce_weight=ce_weight, bird_weight=bird_weight))
    config = load_yaml_file(str(path))
    import_dependencies(config["dependencies"])  # what torchdistill's example scripts do
    torch.manual_seed(0)
    teacher = create_model("convnet_xs", num_classes=3, in_chans=1, img_size=16).eval()
    student = create_model("convnet_s", num_classes=3, in_chans=1, img_size=16)
    data = torch.utils.data.TensorDataset(torch.randn(16, 1, 16, 16), torch.randint(0, 3, (16,)))
    t_before, s_before = copy.deepcopy(teacher.state_dict()), copy.deepcopy(student.state_dict())
    ref_student = copy.deepcopy(student)

    box = get_distillation_box(teacher, student, {"toy": data}, config["train"], torch.device("cpu"), None, False, 1)
    box.pre_epoch_process(epoch=0)
    (x, y, supp), = list(box.train_data_loader)
    box.pre_forward_process()
    loss = box.forward_process(x, y, supp)

    # independent reference: our own hooks, mean pooling, birdkit.functional.cka
    with torch.no_grad():
        t, _ = _features(teacher, "stages.3", x)
    s, logits = _features(ref_student.train(), "stages.2", x)
    term = 1 - cka(t.mean(dim=(2, 3)), s.mean(dim=(2, 3)))
    expected = ce_weight * F.cross_entropy(logits, y) + bird_weight * term
    assert torch.isfinite(loss) and loss.requires_grad
    torch.testing.assert_close(loss, expected, rtol=1e-5, atol=1e-6)
    if ce_weight == 0.1:  # birdkit's own BIRD (alpha = 0.9) on the same batch and weights
        bird = BirdMethod(copy.deepcopy(ref_student), teacher, alpha=0.9,
                          layers=[LayerPair(teacher="stages.3", student="stages.2")])
        torch.testing.assert_close(loss, bird(x, y)["loss"], rtol=1e-5, atol=1e-6)

    box.post_forward_process(loss)  # backward and the SGD step
    assert any(not torch.equal(v, student.state_dict()[k]) for k, v in s_before.items() if v.is_floating_point())
    assert all(torch.equal(v, teacher.state_dict()[k]) for k, v in t_before.items())


def test_the_term_on_hand_made_io_dicts(td):
    from birdkit.losses.torchdistill import BIRDCKALoss

    torch.manual_seed(1)
    t = torch.randn(12, 8, 4, 4, requires_grad=True)
    s = torch.randn(12, 5, 9, requires_grad=True)  # tokens (N, T, D)
    loss_fn = BIRDCKALoss(student_module_path="blocks", teacher_module_path="layer4", debiased=True)
    loss = loss_fn({"blocks": {"output": s}}, {"layer4": {"output": t}}, None)
    torch.testing.assert_close(loss, CKALoss(debiased=True)(t.mean(dim=(2, 3)), s.mean(dim=1)))
    loss.backward()
    assert t.grad is None and s.grad is not None  # the teacher side is detached (BIRD's frozen teacher)
    flat = BIRDCKALoss("a", "b", student_module_io="input", pool="flatten")
    x, y = torch.randn(6, 2, 3), torch.randn(6, 4)
    torch.testing.assert_close(flat({"a": {"input": x}}, {"b": {"output": y}}), 1 - cka(y, x.reshape(6, -1)))


def test_registered_with_torchdistill(td):
    from torchdistill.losses.registry import MIDDLE_LEVEL_LOSS_DICT, get_mid_level_loss

    from birdkit.losses.torchdistill import KEY, BIRDCKALoss

    assert MIDDLE_LEVEL_LOSS_DICT[KEY] is BIRDCKALoss
    loss = get_mid_level_loss({"key": "BIRDCKALoss", "kwargs": {"student_module_path": "s",
                                                               "teacher_module_path": "t", "kernel": "rbf"}})
    assert isinstance(loss, BIRDCKALoss) and loss.cka_loss.settings.kernel == "rbf"


def test_errors_name_the_config_key(td):
    from birdkit.losses.torchdistill import BIRDCKALoss

    with pytest.raises(ConfigError, match="teacher_module_io must be 'input' or 'output'"):
        BIRDCKALoss("s", "t", teacher_module_io="out")
    with pytest.raises(ConfigError, match="pool must be one of"):
        BIRDCKALoss("s", "t", pool="max")
    loss_fn = BIRDCKALoss("stages.2", "stages.3")
    with pytest.raises(ConfigError, match=r"teacher io_dict has no 'output' of module 'stages.3'.*"
                                          r"teacher.forward_hook.output.*hooked: \['layer4'\]"):
        loss_fn({"stages.2": {"output": torch.randn(4, 3)}}, {"layer4": {"output": torch.randn(4, 3)}})


def test_without_torchdistill_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchdistill.losses.registry", None)  # as if not installed
    monkeypatch.delitem(sys.modules, "birdkit.losses.torchdistill", raising=False)
    with pytest.raises(MissingExtraError, match=r"pip install birdkit\[torchdistill\]") as e:
        importlib.import_module("birdkit.losses.torchdistill")
    assert len(str(e.value).splitlines()) == 1
