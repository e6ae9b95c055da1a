"""``birdkit properties``: the three teacher properties that predict BIRD's transfer."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from birdkit.cli import _options as opt
from birdkit.cli.main import app, console
from birdkit.errors import BirdkitError


@app.command("properties")
@opt.with_flags(opt.DATA_FLAGS)
def properties(
    teacher: Path = typer.Option(..., "--teacher", help="Teacher checkpoint (.safetensors)."),
    student: Path = typer.Option(..., "--student", help="Student checkpoint (.safetensors)."),
    teacher_layer: str = typer.Option(None, "--teacher-layer"),
    student_layer: str = typer.Option(None, "--student-layer"),
    max_samples: int = typer.Option(4000, "--max-samples", help="Student training images for the probes."),
    robust_samples: int = typer.Option(1000, "--robust-samples", help="Images for behavioral relevance."),
    reduce: str = typer.Option("inf", "--reduce", help="inf (worst case, Ilyas et al.) or mean."),
    gamma: float = typer.Option(0.1, "--gamma"),
    aggregate: str = typer.Option("fraction", "--aggregate", help="fraction, mean or max."),
    out: Path = typer.Option(None, "--out", help="Write the properties as JSON here."),
    flags: dict | None = None,
) -> None:
    """Task relevance, complementary knowledge and behavioral relevance of a teacher for a
    student, on the student's training data (probes scored on its validation split; only the
    *training* corruptions are used)."""
    from birdkit.checkpoint import load_checkpoint
    from birdkit.config import DataConfig, validate
    from birdkit.data import load_split
    from birdkit.errors import UnknownNameError
    from birdkit.experiments import data_for_model
    from birdkit.io import write_json
    from birdkit.transferability import AGGREGATIONS, REDUCTIONS, teacher_properties

    if reduce not in REDUCTIONS:  # refused before any model or data is read
        raise UnknownNameError("--reduce", reduce, REDUCTIONS)
    if aggregate not in AGGREGATIONS:
        raise UnknownNameError("--aggregate", aggregate, AGGREGATIONS)
    dcfg = validate(DataConfig, opt.build({}, flags).get("data", {}), names=opt.section_names(flags, "data"))
    t_net, s_net = load_checkpoint(teacher)[0], load_checkpoint(student)[0]
    dcfg = data_for_model(data_for_model(dcfg, s_net, "student"), t_net, "teacher")
    tr = load_split(dcfg, "train", max_samples)
    val = load_split(dcfg, "val", None, norm_from=tr)
    with console.status("probing features and corruptions"):
        props = teacher_properties(t_net, s_net, tr, val, teacher_layer=teacher_layer, student_layer=student_layer,
                                   reduce=reduce, gamma=gamma, aggregate=aggregate, robust_samples=robust_samples)
    t = Table(title=f"teacher properties ({props.teacher_layer} -> {props.student_layer})")
    t.add_column("property")
    t.add_column("value", justify="right")
    t.add_row("task relevance (teacher-feature probe, val acc)", f"{100 * props.task_relevance:.2f}")
    t.add_row("student-feature probe, val acc", f"{100 * props.student_probe_accuracy:.2f}")
    t.add_row("complementary knowledge (teacher right, student wrong)", f"{100 * props.complementary_knowledge:.2f}")
    t.add_row(f"behavioral relevance ({aggregate}, gamma {gamma}, {reduce})", f"{props.behavioral_relevance:.4f}")
    console.print(t)
    if out:
        write_json(out, {**props.as_dict(), "reduce": reduce, "gamma": gamma, "aggregate": aggregate}, indent=1)
        console.print(f"written: {out}")


@app.command("study")
def study(
    config: str = typer.Argument(None, help="Built-in study name or a study YAML (a grid study has `grid:`)."),
    name: str = typer.Option("fmnist-teachers", "--study", help="Built-in study name or a study YAML (when no "
                             "CONFIG is given)."),
    out: Path = typer.Option(Path("runs/study"), "--out"),
    seed: int = typer.Option(0, "--seed", help="A single-seed study's seed (a grid study lists its seeds)."),
    teachers: str = typer.Option("", "--teachers", help="Comma-separated subset of a single-seed study's teachers."),
    backend: str = typer.Option("local", "--backend", help="Grid studies: local (processes) or ray."),
    workers: int = typer.Option(1, "--workers", min=1, help="Grid studies, local backend: processes side by side."),
    limit: int = typer.Option(None, "--limit", min=1, help="Grid studies: only the first N pairs (resumable)."),
) -> None:
    """Train each teacher of a study, measure its properties for the student, run BIRD, evaluate
    on the held-out corruptions, and fit robust accuracy ~ properties. A grid study (`grid:` in its
    YAML) runs many teacher-student pairs, cached by content hash and resumable, on local processes
    or Ray (docs/study.md)."""
    from birdkit.cli._progress import TrainingProgress
    from birdkit.config import GridConfig, load_study
    from birdkit.experiments import PROPERTIES, fit_study, run_study

    cfg = load_study(config or name)
    if isinstance(cfg, GridConfig):
        _grid_study(cfg, out, backend, workers, limit)
        return
    chosen = [t.strip() for t in teachers.split(",") if t.strip()] or None
    with TrainingProgress(console) as prog:
        rows = run_study(cfg, out, seed=seed, progress=prog, teachers=chosen)
    t = Table(title=f"{cfg.name} (seed {seed}): BIRD with each teacher")
    for h in ("teacher", "task rel.", "complementary", "behavioral", "clean acc", "robust (held-out)", "PGR"):
        t.add_column(h, justify="left" if h == "teacher" else "right", no_wrap=h == "teacher")
    for r in rows:
        t.add_row(r["teacher"], f"{100 * r['task_relevance']:.1f}", f"{100 * r['complementary_knowledge']:.1f}",
                  f"{r['behavioral_relevance']:.3f}", f"{100 * r['clean_acc']:.2f}",
                  f"{100 * r['robust_heldout']:.2f}", f"{100 * r['pgr_heldout']:.1f}")
    console.print(t)
    r0 = rows[0]
    console.print(f"none {100 * r0['none_robust_heldout']:.2f}, oracle {100 * r0['oracle_robust_heldout']:.2f} "
                  "(held-out robust accuracy)")
    try:
        fit = fit_study(rows)
    except ValueError as e:
        console.print(f"no fit: {e}")
        return
    console.print(f"robust acc ~ {' + '.join(PROPERTIES)}: R^2 {fit['r2']:.3f} in sample, "
                  f"{fit['r2_loo']:.3f} leave-one-out (n = {fit['n']}); alone: "
                  + ", ".join(f"{p} {fit['r2_' + p]:.3f}" for p in PROPERTIES))
    variants = sorted(k for k in rows[0] if k.startswith("behavioral_") and k != "behavioral_relevance")
    if variants:
        v = Table(title="behavioral relevance variants (exploratory: the paper leaves the choice open)")
        for h in ("variant (reduce_aggregate)", "R^2 alone", "R^2 with the other two", "leave-one-out"):
            v.add_column(h, justify="left" if h.startswith("variant") else "right")
        for col in variants:
            f = fit_study(rows, behavioral=col)
            v.add_row(col.removeprefix("behavioral_"), f"{f['r2_behavioral_relevance']:.3f}", f"{f['r2']:.3f}",
                      f"{f['r2_loo']:.3f}")
        console.print(v)
    console.print(f"results: {out / cfg.name / f'seed{seed}' / 'study.csv'}")


@app.command("study-fit")
def study_fit(
    rows_csv: Path = typer.Argument(..., help="A study's rows (study.csv, one row per teacher-student pair and seed)."),
    target: str = typer.Option("robust_heldout", "--target", help="The outcome column (e.g. robust_heldout, "
                               "pgr_heldout)."),
    predictors: str = typer.Option("task_relevance,complementary_knowledge,behavioral_relevance", "--predictors",
                                   help="Comma-separated predictor columns of the linear model."),
    group: str = typer.Option("teacher", "--group", help="Column whose rows stay together in CV folds and bootstrap "
                              "resamples ('' for none)."),
    folds: int = typer.Option(5, "--folds", min=2),
    out: Path = typer.Option(None, "--out", help="Folder for fit.json, ranks.csv and fit.png (default: next to "
                             "the rows)."),
    holdout: bool = typer.Option(False, "--holdout", help="Also choose a teacher among teachers the fit never saw "
                                 "(grouped folds): regret of the model, the default rule, each baseline and chance."),
    mean_seeds: bool = typer.Option(False, "--mean-seeds", help="Fit the per-pair mean over seeds (student, teacher, "
                                    "layer) instead of every seed's row."),
) -> None:
    """Fit the outcome on the teacher properties: R^2 (in sample, adjusted, grouped CV) with a
    bootstrap interval, standardised coefficients, each predictor alone, and every predictor's
    rank correlation with the outcome (the properties and the transferability baselines). With
    several seeds per pair it first says how much of the outcome is the pair (seed reliability)."""
    from birdkit.io import read_csv, write_csv, write_json
    from birdkit.transferability import (
        BASELINES,
        PAIR_KEY,
        PROPERTIES,
        fit_rows,
        mean_over_seeds,
        plot_fit,
        save_fit,
        seed_reliability,
    )

    if not rows_csv.is_file():
        raise typer.BadParameter(f"{rows_csv} does not exist", param_hint="ROWS_CSV")
    rows = read_csv(rows_csv)
    if not rows:
        raise typer.BadParameter(f"{rows_csv} has no rows", param_hint="ROWS_CSV")
    out = out or rows_csv.parent
    files = []
    seeded = all(c in rows[0] for c in (*PAIR_KEY, "seed"))
    if seeded and len({tuple(r[c] for c in PAIR_KEY) for r in rows}) < len(rows):
        rel = seed_reliability(rows, target, group=group or None)
        files.append(write_json(out / "reliability.json", rel, indent=1))
        console.print(f"seed reliability over {rel['pairs']} pairs x {rel['seeds_per_pair']:g} seeds: test-retest r "
                      f"{rel['test_retest']:.3f} [{rel['test_retest_low']:.3f}, {rel['test_retest_high']:.3f}]; "
                      f"within-pair SD {rel['within_sd']:.4f} of total {rel['total_sd']:.4f}; noise ceiling of R^2 "
                      f"{rel['ceiling']:.3f} [{rel['ceiling_low']:.3f}, {rel['ceiling_high']:.3f}] for one seed, "
                      f"{rel['ceiling_mean']:.3f} [{rel['ceiling_mean_low']:.3f}, {rel['ceiling_mean_high']:.3f}] "
                      f"for the per-pair mean; a pair mean is known to +-{rel['pair_mean_half_width']:.4f}")
    if mean_seeds:
        if not seeded:
            raise BirdkitError(f"--mean-seeds needs the columns {', '.join((*PAIR_KEY, 'seed'))}; {rows_csv} has "
                               f"{', '.join(rows[0])}")
        rows = mean_over_seeds(rows)
    preds = [p.strip() for p in predictors.split(",") if p.strip()]
    ranked = [c for c in (*PROPERTIES, *BASELINES, *preds) if c in rows[0]]
    fit = fit_rows(rows, target=target, predictors=preds, group=group or None, folds=folds,
                   rank_predictors=list(dict.fromkeys(ranked)))
    files += [save_fit(fit, out / "fit.json"),
              write_csv(out / "ranks.csv", [{"predictor": k, **v} for k, v in fit.ranks.items()])]
    try:
        files.append(plot_fit(fit, rows, out / "fit.png"))
    except ImportError:  # pragma: no cover - optional extra
        pass
    console.print(f"{target} ~ {' + '.join(preds)}: n = {fit.n} ({fit.groups} groups); R^2 {fit.r2:.3f} "
                  f"[{fit.r2_ci[0]:.3f}, {fit.r2_ci[1]:.3f}], adjusted {fit.r2_adj:.3f}, grouped {fit.folds}-fold CV "
                  f"{fit.r2_cv:.3f}")
    t = Table(title="standardised coefficients (per SD of the predictor), 95% group-bootstrap intervals")
    for h in ("predictor", "coefficient [95% CI]", "R^2 alone"):
        t.add_column(h, justify="left" if h == "predictor" else "right")
    for p in preds:
        c = fit.coef_std[p]
        t.add_row(p, f"{c[0]:+.4f} [{c[1]:+.4f}, {c[2]:+.4f}]", f"{fit.r2_alone[p]:.3f}")
    console.print(t)
    t = Table(title=f"rank correlation with {target} (95% group-bootstrap intervals)")
    for h in ("predictor", "Spearman", "Kendall"):
        t.add_column(h, justify="left" if h == "predictor" else "right")
    for p, r in fit.ranks.items():
        t.add_row(p, f"{r['spearman']:+.3f} [{r['spearman_low']:+.3f}, {r['spearman_high']:+.3f}]",
                  f"{r['kendall']:+.3f} [{r['kendall_low']:+.3f}, {r['kendall_high']:+.3f}]")
    console.print(t)
    if holdout:
        from birdkit.transferability import holdout_regret

        ho = holdout_regret(rows, predictors=preds, rankers=[c for c in BASELINES if c in rows[0]], target=target,
                            group=group or "teacher", folds=folds)
        files += [write_csv(out / "holdout.csv", ho["records"]),
                  write_json(out / "holdout.json", ho["summary"], indent=1)]
        t = Table(title=f"choosing a teacher the fit never saw: regret in {target} (points) vs the best in hindsight")
        for h in ("chooser", "mean regret [95% CI]", "minus chance [95% CI]", "verdict"):
            t.add_column(h, justify="left" if h in ("chooser", "verdict") else "right")
        for name, r in ho["summary"].items():
            vs = (f"{100 * r['vs_chance']:+.2f} [{100 * r['vs_chance_low']:+.2f}, {100 * r['vs_chance_high']:+.2f}]"
                  if "vs_chance" in r else "")
            t.add_row(name, f"{100 * r['regret']:.2f} [{100 * r['low']:.2f}, {100 * r['high']:.2f}]", vs,
                      r.get("verdict", ""))
        console.print(t)
    console.print("written: " + ", ".join(str(f) for f in files))


@app.command("rank-teachers")
@opt.with_flags(opt.DATA_FLAGS)
def rank_teachers_cmd(
    student: Path = typer.Option(..., "--student", help="Student checkpoint (.safetensors)."),
    teachers: list[Path] = typer.Option(..., "--teachers", help="Candidate teacher checkpoints, or folders searched "
                                        "for model.safetensors (repeat the option or give several)."),
    model: Path = typer.Option(None, "--model", help="A study fit (fit.json from birdkit study-fit); without one, "
                               "the default rule ranks (the mean z-score of the three properties)."),
    max_samples: int = typer.Option(4000, "--max-samples", help="Student training images for the probes."),
    robust_samples: int = typer.Option(1000, "--robust-samples", help="Images for behavioral relevance."),
    out: Path = typer.Option(None, "--out", help="Write the ranking as CSV here."),
    flags: dict | None = None,
) -> None:
    """Rank candidate teachers for a student by predicted transfer, without running any transfer:
    each candidate's properties and transferability baselines on the student's data, then the
    study model's prediction (--model) or the default rule."""
    from birdkit.checkpoint import load_checkpoint
    from birdkit.config import DataConfig, validate
    from birdkit.data import load_split
    from birdkit.errors import BirdkitError
    from birdkit.experiments import data_for_model
    from birdkit.io import write_csv
    from birdkit.transferability import DEFAULT_RULE, load_fit, rank_teachers

    fit = load_fit(model) if model else None
    paths = []
    for t in teachers:
        if t.is_dir():
            paths += sorted(t.glob("**/model.safetensors"))
        elif t.is_file():
            paths.append(t)
        else:
            raise BirdkitError(f"teacher {str(t)!r} is neither a checkpoint nor a folder")
    if not paths:
        raise BirdkitError("no teacher checkpoints found (model.safetensors) under " + ", ".join(map(str, teachers)))
    if not student.is_file():
        raise BirdkitError(f"student checkpoint {str(student)!r} does not exist")
    s_net = load_checkpoint(student)[0]
    dcfg = validate(DataConfig, opt.build({}, flags).get("data", {}), names=opt.section_names(flags, "data"))
    dcfg = data_for_model(dcfg, s_net, "student")
    nets = {}
    for p in paths:
        net = load_checkpoint(p)[0]
        data_for_model(dcfg, net, f"teacher {p}")  # every candidate must read the student's images
        nets[str(p.parent.name if p.name == "model.safetensors" else p.stem) or str(p)] = net
    tr = load_split(dcfg, "train", max_samples)
    val = load_split(dcfg, "val", None, norm_from=tr)
    with console.status(f"measuring {len(nets)} candidate teachers"):
        rows = rank_teachers(s_net, nets, tr, val, fit=fit, robust_samples=robust_samples)
    how = f"the study model ({model}: predicted {fit['target']})" if fit else f"the default rule ({DEFAULT_RULE})"
    t = Table(title=f"candidate teachers for {student}, ranked by {how}")
    for h in ("rank", "teacher", "score", "task rel.", "complementary", "behavioral", "LEEP", "NCE", "H-score",
              "LogME"):
        t.add_column(h, justify="left" if h == "teacher" else "right")
    for r in rows:
        t.add_row(str(r["rank"]), r["teacher"], f"{r['score']:+.4f}", f"{100 * r['task_relevance']:.1f}",
                  f"{100 * r['complementary_knowledge']:.1f}", f"{r['behavioral_relevance']:.3f}",
                  f"{r['leep']:.3f}", f"{r['nce']:.3f}", f"{r['h_score']:.3f}", f"{r['logme']:.3f}")
    console.print(t)
    if not fit:
        console.print("no study model given: ranked by the default rule, which assumes every property helps and "
                      "predicts no size of effect (docs/study.md)")
    if out:
        console.print(f"written: {write_csv(out, rows)}")


def _grid_study(cfg, out: Path, backend: str, workers: int, limit: int | None) -> None:
    from birdkit.cli._progress import TrainingProgress
    from birdkit.experiments import expand_grid, run_grid
    from birdkit.transferability import BASELINES, PROPERTIES, fit_rows

    if backend == "ray":
        try:
            import ray
        except ImportError:
            raise typer.BadParameter("needs Ray: pip install birdkit[distributed]", param_hint="--backend") from None
        if not ray.is_initialized():  # RAY_ADDRESS set: joins that cluster; else starts a local instance
            ray.init(include_dashboard=False, log_to_driver=False)
    n = len(expand_grid(cfg)[:limit])
    console.print(f"study {cfg.name}: {n} pairs ({backend}{f', {workers} workers' if backend == 'local' else ''})")
    with TrainingProgress(console, live=False) as prog:
        rows, failures = run_grid(cfg, out, backend=backend, workers=workers, progress=prog, limit=limit)
    root = out / cfg.name
    console.print(f"{len(rows)} pairs finished, {len(failures)} failed; rows: {root / 'study.csv'}")
    for f in failures[:5]:
        console.print(f"[red]failed[/] {f['phase']} {f['what']}: {f['error']}", highlight=False)
    if len(rows) >= len(PROPERTIES) + 2:
        fit = fit_rows(rows, rank_predictors=[c for c in (*PROPERTIES, *BASELINES) if c in rows[0]])
        console.print(f"robust_heldout ~ properties: R^2 {fit.r2:.3f} [{fit.r2_ci[0]:.3f}, {fit.r2_ci[1]:.3f}], "
                      f"grouped CV {fit.r2_cv:.3f} (n = {fit.n}, {fit.groups} teachers); details: birdkit study-fit "
                      f"{root / 'study.csv'}")

