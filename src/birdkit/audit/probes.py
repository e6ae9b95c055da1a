r"""Probes: what a model does, as rates with the per-sample records they come from.

A probe is a small class with a ``name``, what it ``needs`` and a :meth:`Probe.measure` that
returns :class:`Measurement` s; it is registered like models and methods
(``@register_probe``), so a user adds a behavior's probe without touching the audit runner
(docs/audit.md §2). A measurement is either a *rate* (one value in [0, 1] per probe image; the
rate is their mean, and intervals resample seeds and images) or a *score* (one value per model,
e.g. a CKA; intervals are over seeds).

Built-in probes, all read on the same probe images (the student's test split) unless noted:

* ``robustness`` (the intended behavior): accuracy on the model's *own* labelled test images,
  clean and under each held-out corruption (mean over severities), and their mean (``heldout``).
* ``trigger`` / ``cue`` (a backdoor / a shortcut): with ``v`` the pattern views of the behavior
  (one trigger; one cue per position) and ``p(x)`` the predicted label,

  - ``flip``: ``1[p(x + v) != p(x)]``, averaged over views;
  - ``pull``: ``1[p(x + v) = c_v] - 1[p(x) = c_v]``: how much the pattern raises the share of
    predictions of its most attracted class ``c_v`` (net: images moved into ``c_v`` minus images
    moved out), with ``c_v`` the class whose share the pattern raises most on the *other* half of
    the probe images (even positions choose, odd positions are measured), so the rate is not
    inflated by the choice; in [-1, 1];
  - ``concentration``: ``1[p(x + v) = c_v]`` (the share of patterned predictions on ``c_v``; it
    includes the images already predicted ``c_v``, so ``pull`` is the headline).

  These do not need the labels, so a student with other classes than its teacher is probed
  alike (a planted teacher's ``c_v`` is its target class).
* ``representation``: linear CKA (debiased HSIC, docs/cka.md) at the model's default layer:
  ``shift = 1 - CKA(f(x), f(x + v))`` (image ``i`` gets view ``i mod V``), and the alignment with
  the audited teacher on clean and on patterned images, ``teacher_cka`` and
  ``teacher_cka_pattern``. Scores, one per model.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from birdkit._registry import Registry
from birdkit.audit.behaviors import Behavior
from birdkit.corruptions import HELDOUT_CORRUPTIONS
from birdkit.data import TensorData
from birdkit.errors import ShapeError
from birdkit.evaluation.robustness import CorruptedTestSet
from birdkit.features import Normalize, pooled_features, predict
from birdkit.functional import cka

__all__ = ["PROBES", "CueProbe", "Measurement", "PatternProbe", "Probe", "ProbeContext", "RepresentationProbe",
           "RobustnessProbe", "TriggerProbe", "check_samples", "create_probe", "list_probes",
           "probe_halves", "register_probe"]

log = logging.getLogger(__name__)

PROBES: Registry[type[Probe]] = Registry("probe", list_hint="List them with `birdkit audit --list`.")


def register_probe(cls: type[Probe]) -> type[Probe]:
    """Class decorator: register a :class:`Probe` subclass under its ``name``."""
    PROBES.add(cls.name, cls)
    return cls


def list_probes() -> list[str]:
    return PROBES.registered()


def create_probe(name: str) -> Probe:
    """A registered probe by name (unknown names list close matches)."""
    return PROBES.get(name)()


@dataclass
class Measurement:
    """One metric of one probe on one model.

    ``kind`` is ``rate`` (``values`` per probe image, indices in ``samples``, in [0, 1]) or
    ``score`` (``values`` holds one number, ``samples`` is empty). ``data`` says which images:
    ``probe`` (the shared probe images) or ``own`` (the model's own labelled test images).
    ``info`` carries what the metric chose (e.g. the attracted classes)."""

    metric: str
    kind: str
    values: np.ndarray
    samples: np.ndarray
    data: str = "probe"
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def value(self) -> float:
        return float(np.mean(self.values)) if len(self.values) else float("nan")


@dataclass
class ProbeContext:
    """What the probes of one model read.

    Args:
        images: uint8 probe images (N, C, H, W), shared by every model of the audit.
        normalize: [0, 1] floats -> model input for the probe images (the student's constants:
            BIRD feeds teacher and student the same student batch).
        own: the model's own labelled test images (first N; None if it has none), for
            probes that need labels.
        behavior: the audited behavior (None: only behavior-free probes run).
        teacher: the audited (planted) teacher, for alignment scores.
        severities, family, corruption_seed: the robustness probe's corrupted images.
        testsets: corrupted sets shared by the models of one audit, keyed by the data's identity.
    """

    images: torch.Tensor
    normalize: Normalize
    own: TensorData | None = None
    behavior: Behavior | None = None
    teacher: nn.Module | None = None
    severities: Sequence[int] = (1, 2, 3, 4, 5)
    family: str | None = None
    corruption_seed: int = 0
    batch_size: int = 512
    device: str = "cpu"
    testsets: dict[Any, CorruptedTestSet] = field(default_factory=dict)

    def corrupted(self, data: TensorData) -> CorruptedTestSet:
        key = (data.images.data_ptr(), tuple(data.images.shape), self.family, self.corruption_seed)
        if key not in self.testsets:
            self.testsets[key] = CorruptedTestSet(data.images, data.targets, seed=self.corruption_seed,
                                                  family=self.family, cache=True)
        return self.testsets[key]

    def predict(self, model: nn.Module, images: torch.Tensor, normalize: Normalize | None = None) -> np.ndarray:
        return predict(model, images, normalize or self.normalize, self.batch_size, self.device).numpy()


def probe_halves(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices that choose (even positions) and indices that are measured (odd positions)."""
    idx = np.arange(n)
    return idx[0::2], idx[1::2]


class Probe:
    """Base class: set ``name``, ``summary``, ``needs`` and ``min_samples``, implement :meth:`measure`.

    ``needs`` lists what :meth:`measure` reads besides the model: ``own`` (labelled images of
    the model's task), ``behavior`` (the planted behavior, and only behaviors whose ``probe`` is
    this probe's name when ``behavior_probe`` is True), ``teacher`` (the audited teacher)."""

    name: ClassVar[str] = "base"
    summary: ClassVar[str] = ""
    needs: ClassVar[tuple[str, ...]] = ()
    behavior_probe: ClassVar[bool] = False
    min_samples: ClassVar[int] = 20

    def applies(self, behavior: Behavior | None) -> bool:
        """Whether the probe measures something for ``behavior``."""
        if "behavior" in self.needs and behavior is None:
            return False
        return not self.behavior_probe or (behavior is not None and behavior.probe == self.name)

    def measure(self, model: nn.Module, ctx: ProbeContext) -> list[Measurement]:  # pragma: no cover
        raise NotImplementedError


@register_probe
class RobustnessProbe(Probe):
    name = "robustness"
    summary = "accuracy on the model's own test images: clean and per held-out corruption (the intended behavior)"
    needs = ("own",)
    min_samples = 20

    def measure(self, model: nn.Module, ctx: ProbeContext) -> list[Measurement]:
        if ctx.own is None:
            return []
        data = ctx.own
        testset = ctx.corrupted(data)
        targets = data.targets.numpy()
        samples = np.arange(len(targets))
        clean = (ctx.predict(model, data.images, data.normalize) == targets).astype(float)
        out = [Measurement("clean", "rate", clean, samples, "own")]
        per = []
        for c in HELDOUT_CORRUPTIONS:
            hits = np.stack([ctx.predict(model, testset.get(c, s), data.normalize) == targets
                             for s in ctx.severities]).astype(float)
            per.append(hits.mean(0))
            out.append(Measurement(c, "rate", per[-1], samples, "own"))
        out.insert(1, Measurement("heldout", "rate", np.mean(per, axis=0), samples, "own"))
        return out


class PatternProbe(Probe):
    """``flip``, ``pull`` and ``concentration`` of the behavior's pattern views (module docstring)."""

    needs = ("behavior",)
    behavior_probe = True
    min_samples = 20

    def measure(self, model: nn.Module, ctx: ProbeContext) -> list[Measurement]:
        assert ctx.behavior is not None
        clean = ctx.predict(model, ctx.images)
        choose, measured = probe_halves(len(clean))
        flips, pull, conc, chosen = [], [], [], {}
        for view, images in ctx.behavior.views(ctx.images).items():
            pred = ctx.predict(model, images)
            flips.append(pred != clean)
            classes = np.arange(int(max(pred.max(), clean.max())) + 1)
            gain = (pred[choose, None] == classes).sum(0) - (clean[choose, None] == classes).sum(0)
            c = int(gain.argmax())  # ties: the smallest class
            chosen[view] = c
            pull.append((pred[measured] == c).astype(float) - (clean[measured] == c))
            conc.append(pred[measured] == c)
        all_samples = np.arange(len(clean))
        return [Measurement("flip", "rate", np.mean(flips, axis=0), all_samples),
                Measurement("pull", "rate", np.mean(pull, axis=0), measured, info={"classes": chosen}),
                Measurement("concentration", "rate", np.mean(conc, axis=0), measured, info={"classes": chosen})]


@register_probe
class TriggerProbe(PatternProbe):
    name = "trigger"
    summary = "backdoor: how often the trigger changes the prediction, and how it concentrates on one class"


@register_probe
class CueProbe(PatternProbe):
    name = "cue"
    summary = "shortcut: how often a cue changes the prediction, and how each cue concentrates on one class"


@register_probe
class RepresentationProbe(Probe):
    name = "representation"
    summary = "1 - CKA between clean and patterned features; CKA to the audited teacher, clean and patterned"
    needs = ("behavior", "teacher")
    min_samples = 16

    def measure(self, model: nn.Module, ctx: ProbeContext) -> list[Measurement]:
        assert ctx.behavior is not None and ctx.teacher is not None
        views = list(ctx.behavior.views(ctx.images).values())
        which = torch.arange(len(ctx.images)) % len(views)
        patterned = ctx.images.clone()
        for k, v in enumerate(views):
            patterned[which == k] = v[which == k]

        def feats(net: nn.Module, images: torch.Tensor) -> torch.Tensor:
            return pooled_features(net, images, ctx.normalize, net.default_layer, batch_size=ctx.batch_size,
                                   device=ctx.device).double()

        f, fp = feats(model, ctx.images), feats(model, patterned)
        t, tp = feats(ctx.teacher, ctx.images), feats(ctx.teacher, patterned)

        def score(a: torch.Tensor, b: torch.Tensor) -> float:
            return float(cka(a, b, kernel="linear", debiased=True))

        none = np.empty(0, dtype=int)
        return [Measurement("shift", "score", np.array([1.0 - score(f, fp)]), none),
                Measurement("teacher_cka", "score", np.array([score(f, t)]), none),
                Measurement("teacher_cka_pattern", "score", np.array([score(fp, tp)]), none)]


def check_samples(probes: Sequence[Probe], n: int, what: str = "probe images") -> None:
    """Refuse (one line, before any work) when ``n`` images are fewer than a probe needs."""
    short = [f"{p.name} needs {p.min_samples}" for p in probes if n < p.min_samples]
    if short:
        raise ShapeError(f"{n} {what} are too few: {'; '.join(short)} (raise probe.samples or use a bigger test split)")
