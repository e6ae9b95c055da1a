"""A teacher study: many teachers for one student, their properties, and how well BIRD transfers.

BIRD's §5 trains 400+ teacher-student pairs and finds that three teacher properties measured
before transfer (task relevance, complementary knowledge, behavioral relevance; see
:mod:`birdkit.transferability.properties`) explain 73.6-85.5% of the variance (R^2 of a linear
model) of post-transfer robust accuracy (docs/method.md §4). ``run_study`` runs that protocol
for the student side of a pair and a grid of teachers (architecture x teacher data x robust or
clean training), with the same :class:`~birdkit.experiments.runner.PairRunner` steps as
``birdkit demo``: the student and oracle are trained once; per teacher, the teacher is trained,
its properties are measured on the student's training and validation data under the *training*
corruptions only, BIRD is run with the pair's transfer budget and overrides, and the result is
evaluated on the held-out corruptions. ``fit_study`` then fits the linear model (scikit-learn),
in sample and leave-one-out. See docs/study.md.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from birdkit.config import LayerPair, StudyConfig, dump_yaml, load_pair
from birdkit.errors import UnknownNameError
from birdkit.evaluation.robustness import pgr, summarize
from birdkit.experiments.runner import PairRunner, Progress, seed_dir
from birdkit.io import write_csv
from birdkit.transferability import PROPERTIES, teacher_properties

__all__ = ["PROPERTIES", "fit_study", "run_study"]

log = logging.getLogger(__name__)



def run_study(cfg: StudyConfig, out_dir: str | Path, *, seed: int = 0, progress: Progress | None = None,
              teachers: list[str] | None = None) -> list[dict]:
    """Run the study for one seed; returns one row per teacher (properties, BIRD's clean and
    robust accuracies, PGR) and writes ``study.csv``. Every run directory is reused or resumed."""
    pair = load_pair(cfg.pair)
    specs = cfg.all_teachers()
    if teachers:
        known = [t.name for t in specs]
        for t in teachers:
            if t not in known:
                raise UnknownNameError("teacher", t, known)
        specs = [t for t in specs if t.name in teachers]
    root = seed_dir(out_dir, cfg.name, seed)
    runner = PairRunner(pair, root, seed=seed, progress=progress)
    root.mkdir(parents=True, exist_ok=True)
    dump_yaml(cfg, root / "study.yaml")

    student = runner.student()
    base_rows = runner.robustness({"none": student, "oracle": runner.oracle()}, training_corruptions=False)
    base = {name: summarize([r for r in base_rows if r["model"] == name]) for name in ("none", "oracle")}
    bird_layers = pair.overrides.get("bird", {}).get("layers") or [{}]
    student_layer = bird_layers[0].get("student") or student.default_layer
    pc = cfg.properties
    probe_train = runner.student_split("train", pc.probe_samples)  # the probes' training set
    heldout = runner.student_split("val")                          # every validation image

    rows = []
    for spec in specs:
        tdir = root / "teachers" / spec.name
        teacher = runner.teacher(spec, run_dir=tdir / "teacher")
        props = teacher_properties(teacher, student, probe_train, heldout, student_layer=student_layer,
                                   severities=pc.severities, reduce=pc.reduce, gamma=pc.gamma,
                                   aggregate=pc.aggregate, robust_samples=pc.robust_samples)
        layers = [LayerPair(teacher=teacher.default_layer, student=student_layer)]
        bird, used = runner.transfer("bird", teacher=teacher, layers=layers, run_dir=tdir / "bird")
        res = summarize(runner.robustness({spec.name: bird}, training_corruptions=False))
        row = {"teacher": spec.name, "model": spec.model.name, "data": spec.data.dataset,
               "classes": "" if spec.data.classes is None else "-".join(map(str, spec.data.classes)),
               "robust_teacher": spec.robust, **{k: getattr(props, k) for k in PROPERTIES},
               "student_probe_accuracy": props.student_probe_accuracy,
               **{f"behavioral_{k}": v for k, v in props.behavioral_variants.items()}, **props.baselines,
               "clean_acc": res["clean_acc"], "robust_heldout": res["robust_heldout"],
               "none_robust_heldout": base["none"]["robust_heldout"],
               "oracle_robust_heldout": base["oracle"]["robust_heldout"],
               "pgr_heldout": pgr(res["robust_heldout"], base["none"]["robust_heldout"],
                                  base["oracle"]["robust_heldout"]),
               "layers": used}
        log.info("teacher %s: %s", spec.name, row)
        rows.append(row)
        write_csv(root / "study.csv", rows)
    return rows


def fit_study(rows: list[dict], target: str = "robust_heldout", behavioral: str = "behavioral_relevance") -> dict:
    """Linear model ``target ~ properties`` (standardised): R^2 in sample and leave-one-out, and
    each property's own R^2 (scikit-learn's LinearRegression, LeaveOneOut). ``behavioral`` names
    the column used as behavioral relevance (e.g. ``behavioral_mean_max`` for a variant)."""
    # optional extra: birdkit[study]
    from sklearn.linear_model import LinearRegression
    from sklearn.metrics import r2_score
    from sklearn.model_selection import LeaveOneOut, cross_val_predict

    cols = ["task_relevance", "complementary_knowledge", behavioral]
    x = np.array([[float(r[p]) for p in cols] for r in rows], dtype=float)
    y = np.array([float(r[target]) for r in rows], dtype=float)
    if len(rows) < len(PROPERTIES) + 2:
        raise ValueError(f"need at least {len(PROPERTIES) + 2} teachers to fit {len(PROPERTIES)} properties")
    model = LinearRegression().fit(x, y)
    out = {"n": len(rows), "r2": float(model.score(x, y)),
           "r2_loo": float(r2_score(y, cross_val_predict(LinearRegression(), x, y, cv=LeaveOneOut()))),
           "coef": dict(zip(PROPERTIES, map(float, model.coef_ * x.std(0))))}  # per std of each property
    for i, p in enumerate(PROPERTIES):
        out[f"r2_{p}"] = float(LinearRegression().fit(x[:, [i]], y).score(x[:, [i]], y))
    return out
