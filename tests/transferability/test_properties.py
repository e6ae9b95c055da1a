"""Teacher properties: task relevance, complementary knowledge, behavioral relevance (BIRD §5),
checked against brute-force references written from the definitions."""

import numpy as np
import pytest
import torch

from birdkit.data import TensorData
from birdkit.errors import BirdkitError, ShapeError
from birdkit.features import pooled_features
from birdkit.models import create_model
from birdkit.transferability import (
    ProbeResult,
    behavioral_relevance,
    complementary_knowledge,
    h_score,
    leep,
    linear_probe,
    logme,
    nce,
    robust_usefulness,
    teacher_properties,
)


def _reference(clean, perturbed, labels, C, reduce):
    """Loops straight from Ilyas et al.: standardise, orient by clean usefulness, balanced
    one-vs-rest expectation of the worst (or mean) y * f over {clean} + perturbations."""
    clean, perturbed, labels = clean.double().numpy(), perturbed.double().numpy(), labels.numpy()
    n, p = clean.shape
    mu, sd = clean.mean(0), clean.std(0)
    useful, robust = np.zeros((p, C)), np.zeros((p, C))
    for j in range(p):
        f = lambda a, j=j: (a[:, j] - mu[j]) / sd[j]  # noqa: E731
        views = [f(clean)] + [f(perturbed[k]) for k in range(len(perturbed))]
        for c in range(C):
            y = np.where(labels == c, 1.0, -1.0)
            pos, neg = labels == c, labels != c

            def balanced(v, pos=pos, neg=neg):
                return 0.5 * v[pos].mean() - 0.5 * v[neg].mean()

            u = balanced(views[0])
            sgn = -1.0 if u < 0 else 1.0
            yf = np.stack([sgn * (y * v) for v in views])  # (k+1, n); y*v then restore sign of y below
            # balanced(E[y f]) uses +f for positives and -f for negatives: y * f is what is averaged
            per = yf.min(0) if reduce == "inf" else yf.mean(0)
            useful[j, c] = sgn * u
            robust[j, c] = 0.5 * per[pos].mean() + 0.5 * per[neg].mean()
    return useful, robust


@pytest.mark.parametrize("reduce", ["inf", "mean"])
def test_robust_usefulness_matches_brute_force(reduce):
    g = torch.Generator().manual_seed(0)
    n, p, C, k = 30, 4, 3, 5
    labels = torch.arange(n) % C
    clean = torch.randn(n, p, generator=g) + labels[:, None].float() * torch.tensor([1.0, -0.7, 0.0, 0.3])
    perturbed = clean[None] + 0.8 * torch.randn(k, n, p, generator=g)
    useful, robust = robust_usefulness(clean, perturbed, labels, C, reduce=reduce)
    ru, rr = _reference(clean, perturbed, labels, C, reduce)
    np.testing.assert_allclose(useful.numpy(), ru, atol=1e-5)
    np.testing.assert_allclose(robust.numpy(), rr, atol=1e-5)
    assert (useful >= 0).all()  # oriented
    if reduce == "inf":
        assert (robust <= useful + 1e-6).all()  # the clean view is in the set: inf <= clean


def test_invariant_feature_is_as_robust_as_it_is_useful_and_noise_kills_robustness():
    g = torch.Generator().manual_seed(1)
    n = 200
    labels = torch.arange(n) % 2
    signal = labels.float() * 2 - 1 + 0.3 * torch.randn(n, generator=g)
    clean = torch.stack([signal, signal], 1)
    pert = clean[None].repeat(6, 1, 1)
    pert[:, :, 1] += 3 * torch.randn(6, n, generator=g)  # feature 1 breaks under perturbation
    useful, robust = robust_usefulness(clean, pert, labels, 2, reduce="inf")
    torch.testing.assert_close(robust[0], useful[0])
    assert (robust[1] < 0).all() and (useful[1] > 0.4).all()
    assert behavioral_relevance(robust, gamma=0.1, aggregate="fraction") == 0.5


def test_behavioral_relevance_aggregations_by_hand():
    r = torch.tensor([[0.3, -0.2], [0.05, 0.5], [-0.1, 0.0]])
    assert behavioral_relevance(r, gamma=0.1) == pytest.approx(2 / 6)
    assert behavioral_relevance(r, aggregate="mean") == pytest.approx((0.3 + 0.05 + 0.5) / 6)
    assert behavioral_relevance(r, aggregate="max") == pytest.approx((0.3 + 0.5) / 2)
    with pytest.raises(BirdkitError, match="aggregate must be one of"):
        behavioral_relevance(r, aggregate="median")


def test_shapes_are_checked():
    with pytest.raises(ShapeError, match="perturbed"):
        robust_usefulness(torch.zeros(5, 2), torch.zeros(3, 5, 3), torch.zeros(5, dtype=torch.long), 2)
    with pytest.raises(ShapeError, match="labels"):
        robust_usefulness(torch.zeros(5, 2), torch.zeros(3, 5, 2), torch.zeros(4, dtype=torch.long), 2)
    with pytest.raises(BirdkitError, match="reduce must be"):
        robust_usefulness(torch.zeros(5, 2), torch.zeros(3, 5, 2), torch.zeros(5, dtype=torch.long), 2, reduce="sup")


def test_linear_probe_and_complementary_knowledge():
    g = torch.Generator().manual_seed(2)
    y = torch.arange(200) % 4
    x = torch.nn.functional.one_hot(y, 4).float() * 3 + 0.1 * torch.randn(200, 4, generator=g)
    res = linear_probe(x[:150], y[:150], x[150:], y[150:])
    assert res.accuracy == 1.0 and res.correct.shape == (50,)
    noise = linear_probe(torch.randn(150, 4, generator=g), y[:150], torch.randn(50, 4, generator=g), y[150:])
    assert noise.accuracy < 0.6
    t = ProbeResult(0.75, np.array([True, True, False, True]))
    s = ProbeResult(0.5, np.array([True, False, False, False]))
    assert complementary_knowledge(t, s) == 0.5 and complementary_knowledge(s, t) == 0.0
    with pytest.raises(ShapeError):
        complementary_knowledge(t, ProbeResult(1.0, np.array([True])))


def _split(n, seed):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    x = torch.randint(0, 60, (n, 1, 28, 28), generator=g, dtype=torch.uint8)
    for c in range(3):
        x[y == c, :, 4 + 7 * c:10 + 7 * c, 4:24] = 230
    return TensorData(x, y, (0.3,), (0.3,))


def test_teacher_properties_end_to_end():
    torch.manual_seed(0)
    teacher = create_model("convnet_xxs", num_classes=5, in_chans=1, img_size=28)
    student = create_model("convnet_xs", num_classes=3, in_chans=1, img_size=28)
    train, held = _split(90, 0), _split(60, 1)
    props = teacher_properties(teacher, student, train, held, corruptions=("gaussian_noise", "contrast"),
                               severities=(2,), robust_samples=40)
    for v in (props.task_relevance, props.complementary_knowledge, props.behavioral_relevance):
        assert 0.0 <= v <= 1.0
    assert props.task_relevance > 0.6  # the class blocks are linearly visible even in random features
    assert props.teacher_layer == teacher.default_layer and props.student_layer == student.default_layer
    assert props.behavioral_variants["inf_fraction"] == props.behavioral_relevance
    assert props.behavioral_variants["mean_max"] >= props.behavioral_variants["inf_max"]  # inf <= mean
    # the student as its own teacher has nothing complementary
    same = teacher_properties(student, student, train, held, corruptions=("contrast",), severities=(1,),
                              robust_samples=20)
    assert same.complementary_knowledge == 0.0 and same.task_relevance == same.student_probe_accuracy
    feats = pooled_features(teacher, held.images, held.normalize, teacher.default_layer)
    assert feats.shape[0] == 60 and feats.ndim == 2
    # the baselines are the score functions on the teacher's softmax and training-image features
    f = pooled_features(teacher, train.images, train.normalize, teacher.default_layer).double().numpy()
    with torch.no_grad():  # eval mode, as every inference in birdkit
        probs = teacher.eval()(train.normalize(train.images.float() / 255)).double().softmax(1).numpy()
    y = train.targets.numpy()
    assert props.baselines["leep"] == pytest.approx(leep(probs, y), rel=1e-6)
    assert props.baselines["nce"] == pytest.approx(nce(probs.argmax(1), y), rel=1e-9)
    assert props.baselines["h_score"] == pytest.approx(h_score(f, y), rel=1e-6)
    assert props.baselines["logme"] == pytest.approx(logme(f, y), rel=1e-6)


def test_heldout_corruptions_and_bad_layers_are_refused():
    teacher = create_model("convnet_xxs", num_classes=3, in_chans=1, img_size=28)
    train = _split(12, 0)
    with pytest.raises(BirdkitError, match="held-out corruptions"):
        teacher_properties(teacher, teacher, train, train, corruptions=("gaussian_noise", "saturate"))
    with pytest.raises(BirdkitError, match="held-out corruptions.*'shear'"):  # MNIST-C is held out too
        teacher_properties(teacher, teacher, train, train, corruptions=("gaussian_noise", "shear"))
    with pytest.raises(KeyError, match="Did you mean"):
        teacher_properties(teacher, teacher, train, train, teacher_layer="stage.3")


def test_unknown_reduce_or_aggregate_is_refused_before_any_work():
    teacher = create_model("convnet_xxs", num_classes=3, in_chans=1, img_size=28)
    train = _split(12, 0)
    with pytest.raises(KeyError, match="Did you mean: 'mean'"):
        teacher_properties(teacher, teacher, train, train, reduce="maen")
    with pytest.raises(KeyError, match="Did you mean: 'fraction'"):
        teacher_properties(teacher, teacher, train, train, aggregate="fractoin")
