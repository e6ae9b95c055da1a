"""Teacher properties that predict how well BIRD transfers a teacher's behavior.

BIRD (Pogoncheff & Beyeler, arXiv 2505.23933, §5) finds that three properties of the teacher's
representation, measured on the *student's* data before any transfer, explain most of the
variance in post-transfer robust accuracy over 400+ teacher-student pairs:

* **task relevance**: held-out accuracy of a linear probe on teacher features of student data;
* **complementary knowledge**: fraction of held-out samples that the teacher-feature probe gets
  right and the student-feature probe gets wrong;
* **behavioral relevance**: aggregated gamma-robust usefulness of the teacher's features
  (Ilyas et al. 2019): a feature f is gamma-robustly useful for labels y in {-1, +1} when
  ``E[ inf_{delta in Delta} y f(x + delta) ] >= gamma``.

The paper leaves behavioral relevance open (docs/method.md §4). Each choice is a parameter here:

==================  ==========================================================================
choice              default (and why)
==================  ==========================================================================
features f          every pooled channel of the teacher layer, standardised on clean student
                    data (Ilyas et al. assume E f = 0, E f^2 = 1), oriented per class so that
                    its clean usefulness is >= 0
labels y            one-vs-rest per class, class-balanced expectation (half the positives' mean
                    minus half the negatives'), so rare classes are not drowned
perturbations       the 15 *training* corruptions at severities 1, 3, 5 plus the clean image;
                    the held-out corruptions are refused (they are for final tables only)
inf vs mean         ``reduce="inf"``: worst case per sample over the perturbation set (the
                    definition); ``"mean"``: average case
gamma               0.1 (in standard deviations of the feature)
aggregation         ``"fraction"``: share of (feature, class) pairs that are gamma-robustly
                    useful; ``"mean"``: mean of max(0, robust usefulness); ``"max"``: mean over
                    classes of the best feature's robust usefulness
==================  ==========================================================================

Linear probes use scikit-learn's multinomial logistic regression on standardised features: a
well-tested convex solver, deterministic, and the reference every probing paper uses.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn

from birdkit.corruptions import HELDOUT_CORRUPTIONS, MNISTC_CORRUPTIONS, TRAIN_CORRUPTIONS, corrupt
from birdkit.data import TensorData
from birdkit.errors import BirdkitError, ShapeError, UnknownNameError
from birdkit.features import batched_forward, pooled_features, validate_layers
from birdkit.transferability.scores import h_score, leep, logme, nce

log = logging.getLogger(__name__)

REDUCTIONS = ("inf", "mean")
AGGREGATIONS = ("fraction", "mean", "max")


# ------------------------------------------------------------------------------------------
# Linear probes: task relevance, complementary knowledge
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProbeResult:
    """A linear probe's held-out accuracy and per-sample correctness."""

    accuracy: float
    correct: np.ndarray  # bool (n_heldout,)


def linear_probe(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor, test_y: torch.Tensor, *,
                 C: float = 1.0, max_iter: int = 2000) -> ProbeResult:
    """Fit a multinomial logistic regression on standardised ``train_x`` (scikit-learn, L2 weight
    ``1/C``) and score it on ``test_x``."""
    try:  # optional extra: birdkit[study]
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
    except ImportError as e:  # pragma: no cover - optional extra
        raise BirdkitError("linear probes need scikit-learn: pip install 'birdkit[study]'") from e
    if train_x.ndim != 2 or test_x.ndim != 2 or train_x.shape[1] != test_x.shape[1]:
        raise ShapeError(f"probe features must be (n, p) with equal p, got {tuple(train_x.shape)} and "
                         f"{tuple(test_x.shape)}")
    if len(train_x) != len(train_y) or len(test_x) != len(test_y):
        raise ShapeError("probe features and labels differ in length")
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=max_iter))
    clf.fit(train_x.double().numpy(), train_y.numpy())
    correct = clf.predict(test_x.double().numpy()) == test_y.numpy()
    return ProbeResult(float(correct.mean()), correct)


def complementary_knowledge(teacher_probe: ProbeResult, student_probe: ProbeResult) -> float:
    """Fraction of held-out samples the teacher-feature probe gets right and the student's wrong."""
    if teacher_probe.correct.shape != student_probe.correct.shape:
        raise ShapeError("the two probes were scored on different held-out sets")
    return float(np.mean(teacher_probe.correct & ~student_probe.correct))


# ------------------------------------------------------------------------------------------
# Behavioral relevance: gamma-robust usefulness (Ilyas et al. 2019)
# ------------------------------------------------------------------------------------------
def robust_usefulness(clean: torch.Tensor, perturbed: torch.Tensor, labels: torch.Tensor, num_classes: int, *,
                      reduce: str = "inf") -> tuple[torch.Tensor, torch.Tensor]:
    """Clean and robust usefulness of every (feature, class) pair.

    Args:
        clean: (n, p) features of clean images; defines the standardisation and orientation.
        perturbed: (k, n, p) features of the same images under k perturbations.
        labels: (n,) int class labels; class c gives y = +1 for label c, -1 otherwise.
        reduce: ``"inf"`` (worst perturbation per sample, Ilyas et al.) or ``"mean"``.

    Returns ``(useful, robust)``, each (p, num_classes): the class-balanced
    ``E[y f(x)]`` (>= 0 after orientation) and ``E[reduce_delta y f(x + delta)]`` (the clean image
    counts as one of the perturbations, so robust <= useful under ``"inf"``)."""
    if reduce not in REDUCTIONS:
        raise BirdkitError(f"reduce must be one of {REDUCTIONS}, got {reduce!r}")
    if clean.ndim != 2 or perturbed.ndim != 3 or perturbed.shape[1:] != clean.shape:
        raise ShapeError(f"expected clean (n, p) and perturbed (k, n, p), got {tuple(clean.shape)} and "
                         f"{tuple(perturbed.shape)}")
    if labels.shape != (len(clean),):
        raise ShapeError(f"expected {len(clean)} labels, got shape {tuple(labels.shape)}")
    x = clean.double()
    mu, sd = x.mean(0), x.std(0, unbiased=False).clamp_min(1e-8)
    f0 = (x - mu) / sd                                                   # (n, p)
    fk = torch.cat([f0[None], (perturbed.double() - mu) / sd])          # (k+1, n, p)
    onehot = torch.nn.functional.one_hot(labels.long(), num_classes).double()  # (n, C)
    pos = onehot / onehot.sum(0).clamp_min(1)                            # balanced weights
    neg = (1 - onehot) / (1 - onehot).sum(0).clamp_min(1)
    w = 0.5 * (pos - neg)                                                # (n, C): y * weight
    useful = f0.T @ w                                                    # (p, C)
    sign = torch.where(useful < 0, -1.0, 1.0).to(useful)
    # s = y * orientation is +-1, so reduce_k(s f_k) = s * mean_k f, and for the infimum
    # min_k(s f_k) = min_k f where s = +1 and -max_k f where s = -1: no (k, n, p, C) tensor.
    y = torch.where(onehot > 0, 1.0, -1.0).to(useful)                   # (n, C)
    s = y[:, None, :] * sign[None]                                       # (n, p, C)
    if reduce == "inf":
        per_sample = torch.where(s > 0, fk.amin(0)[..., None], -fk.amax(0)[..., None])
    else:
        per_sample = s * fk.mean(0)[..., None]
    robust = torch.einsum("npc,nc->pc", per_sample, w.abs())  # |w| columns sum to 1: balanced mean
    return (useful * sign).float(), robust.float()


def behavioral_relevance(robust: torch.Tensor, *, gamma: float = 0.1, aggregate: str = "fraction") -> float:
    """Aggregate a (p, C) robust-usefulness table into one number (see module docs)."""
    if aggregate not in AGGREGATIONS:
        raise BirdkitError(f"aggregate must be one of {AGGREGATIONS}, got {aggregate!r}")
    if aggregate == "fraction":
        return float((robust >= gamma).double().mean())
    if aggregate == "mean":
        return float(robust.clamp_min(0).double().mean())
    return float(robust.amax(0).double().mean())


# ------------------------------------------------------------------------------------------
# All three
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TeacherProperties:
    task_relevance: float
    complementary_knowledge: float
    behavioral_relevance: float  # with the chosen reduce / gamma / aggregate
    student_probe_accuracy: float
    teacher_layer: str
    student_layer: str
    # behavioral relevance under every reduce x aggregate (same gamma), keyed "inf_fraction", ...:
    # the paper leaves the choice open, so a study can compare them (exploratory)
    behavioral_variants: dict = field(default_factory=dict)
    # transferability baselines (birdkit.transferability.scores) on the same training images:
    # leep and nce from the teacher's own softmax, h_score and logme from its teacher_layer features
    baselines: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def teacher_properties(
    teacher: nn.Module,
    student: nn.Module,
    train: TensorData,
    heldout: TensorData,
    *,
    teacher_layer: str | None = None,
    student_layer: str | None = None,
    corruptions: Sequence[str] = TRAIN_CORRUPTIONS,
    severities: Sequence[int] = (1, 3, 5),
    reduce: str = "inf",
    gamma: float = 0.1,
    aggregate: str = "fraction",
    robust_samples: int = 1000,
    corruption_seed: int = 0,
    C: float = 1.0,
) -> TeacherProperties:
    """The three properties of ``teacher`` for ``student`` on the student's data.

    ``train`` and ``heldout`` are the student's TensorData splits (use the validation split as
    ``heldout``, never the test split you report on): probes are fit on ``train`` and scored on
    ``heldout``; behavioral relevance uses the first ``robust_samples`` images of ``train`` under
    ``corruptions`` x ``severities``. Both networks see the student's normalisation, as in BIRD."""
    if reduce not in REDUCTIONS:  # checked before any feature is computed
        raise UnknownNameError("reduce", reduce, REDUCTIONS)
    if aggregate not in AGGREGATIONS:
        raise UnknownNameError("aggregate", aggregate, AGGREGATIONS)
    bad = sorted(set(corruptions) & (set(HELDOUT_CORRUPTIONS) | set(MNISTC_CORRUPTIONS)))
    if bad:
        raise BirdkitError(f"behavioral relevance must not use the held-out corruptions {bad}: they are "
                           "reserved for the final robustness tables")
    t_layer = teacher_layer or teacher.default_layer
    s_layer = student_layer or student.default_layer
    validate_layers(teacher, [t_layer])
    validate_layers(student, [s_layer])
    norm = train.normalize
    t_tr, t_ho = (pooled_features(teacher, d.images, norm, t_layer) for d in (train, heldout))
    s_tr, s_ho = (pooled_features(student, d.images, norm, s_layer) for d in (train, heldout))
    tp = linear_probe(t_tr, train.targets, t_ho, heldout.targets, C=C)
    sp = linear_probe(s_tr, train.targets, s_ho, heldout.targets, C=C)

    n = min(robust_samples, len(train))
    imgs, labels = train.images[:n], train.targets[:n]
    perturbed = []
    for name in corruptions:
        for sev in severities:
            x = corrupt(imgs.float().div(255), name, sev, seed=corruption_seed, indices=torch.arange(n))
            perturbed.append(pooled_features(teacher, x.mul(255).round().to(torch.uint8), norm, t_layer))
    clean, stacked, num_classes = t_tr[:n], torch.stack(perturbed), int(train.targets.max()) + 1
    variants = {}
    for red in REDUCTIONS:
        _, robust = robust_usefulness(clean, stacked, labels, num_classes, reduce=red)
        for agg in AGGREGATIONS:
            variants[f"{red}_{agg}"] = behavioral_relevance(robust, gamma=gamma, aggregate=agg)
    br = variants[f"{reduce}_{aggregate}"]
    baselines = transferability_baselines(teacher, train, t_tr)
    log.info("teacher properties: task relevance %.4f, complementary %.4f, behavioral %.4f",
             tp.accuracy, complementary_knowledge(tp, sp), br)
    return TeacherProperties(tp.accuracy, complementary_knowledge(tp, sp), br, sp.accuracy, t_layer, s_layer,
                             variants, baselines)


def transferability_baselines(teacher: nn.Module, data: TensorData, features: torch.Tensor) -> dict[str, float]:
    """LEEP and NCE of the teacher's softmax over its own classes, H-score and LogME of its
    ``features`` (pooled, one row per image of ``data``) for the labels of ``data``."""
    probs = torch.cat([out.double().softmax(1).cpu() for out, _ in
                       batched_forward(teacher, data.images, data.normalize)]).numpy()
    y, f = data.targets.numpy(), features.double().numpy()
    return {"leep": leep(probs, y), "nce": nce(probs.argmax(1), y), "h_score": h_score(f, y), "logme": logme(f, y)}


__all__ = [
    "AGGREGATIONS", "REDUCTIONS", "ProbeResult", "TeacherProperties", "behavioral_relevance",
    "complementary_knowledge", "linear_probe", "robust_usefulness", "teacher_properties", "transferability_baselines",
]
