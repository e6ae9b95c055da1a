"""``birdkit train``, ``birdkit transfer``, ``birdkit evaluate`` and ``birdkit report``."""

from __future__ import annotations

import csv
from pathlib import Path

import typer
from rich.table import Table

from birdkit.cli._progress import TrainingProgress
from birdkit.cli.main import app, console


def _classes(spec: str | None) -> list[int] | None:
    """'5-9' or '0,2,4' -> list of ints."""
    if not spec:
        return None
    out: list[int] = []
    for part in spec.split(","):
        if "-" in part:
            a, b = part.split("-")
            out += list(range(int(a), int(b) + 1))
        else:
            out.append(int(part))
    return out


def _train_cfg(config: Path | None, **overrides):
    from birdkit.training.config import TrainConfig, load_yaml

    cfg = load_yaml(config, TrainConfig) if config else TrainConfig()
    upd = {k: v for k, v in overrides.items() if v is not None}
    optim = {k: upd.pop(k) for k in ("lr",) if k in upd}
    if optim:
        upd["optim"] = cfg.optim.model_copy(update=optim)
    return cfg.model_validate({**cfg.model_dump(), **{k: (v.model_dump() if hasattr(v, "model_dump") else v)
                                                        for k, v in upd.items()}})


@app.command("train")
def train(
    model: str = typer.Option(..., "--model", help="Registered model name (birdkit models)."),
    dataset: str = typer.Option(..., "--dataset", help="Dataset name (birdkit datasets)."),
    out: Path = typer.Option(..., "--out", help="Run directory (resumes if it holds a partial run)."),
    classes: str = typer.Option(None, "--classes", help="Class subset, e.g. '0-4' or '0,3,7'."),
    robust: bool = typer.Option(False, "--robust", help="Corruption augmentation (15 training corruptions, sev 0-5)."),
    epochs: int = typer.Option(None, "--epochs"),
    lr: float = typer.Option(None, "--lr"),
    batch_size: int = typer.Option(None, "--batch-size"),
    seed: int = typer.Option(None, "--seed"),
    max_samples: int = typer.Option(None, "--max-samples", help="Train on a random subset of this size."),
    config: Path = typer.Option(None, "--config", help="TrainConfig YAML; flags override it."),
) -> None:
    """Train a model on a dataset (clean, or robust with corruption augmentation)."""
    from birdkit.experiments.pipeline import load_split
    from birdkit.methods import create_method
    from birdkit.models import create_model
    from birdkit.training import AugmentConfig, DataConfig, Trainer
    from birdkit.training.config import dump_yaml

    cfg = _train_cfg(config, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, max_train_samples=max_samples)
    if robust and cfg.augment is None:
        cfg = cfg.model_copy(update={"augment": AugmentConfig()})
    dcfg = DataConfig(dataset=dataset, classes=_classes(classes))
    tr = load_split(dcfg, "train", cfg.max_train_samples)
    val = load_split(dcfg, "val", None, norm_from=tr)
    import torch

    torch.manual_seed(cfg.seed)  # the initial weights follow --seed too
    net = create_model(model, num_classes=len(tr.targets.unique()), in_chans=tr.images.shape[1],
                       img_size=tr.images.shape[-1])
    with TrainingProgress(console) as prog:
        trainer = Trainer(create_method("task", student=net), tr, cfg, out, val=val, progress=prog,
                          checkpoint_meta={"data": dcfg.model_dump(), "normalize": {"mean": tr.mean, "std": tr.std}})
        trainer.check_run_dir()  # a directory holding another run is refused before anything is written
        dump_yaml(cfg, out / "config.yaml")
        dump_yaml(dcfg, out / "data.yaml")
        trainer.fit()
    console.print(f"model: {out / 'model.safetensors'}")


@app.command("transfer")
def transfer(
    method: str = typer.Option("bird", "--method", help="none, ft, lp, lpft, lwf, hints, bird (birdkit methods)."),
    teacher: Path = typer.Option(None, "--teacher", help="Teacher checkpoint (.safetensors)."),
    student: Path = typer.Option(None, "--student", help="Student checkpoint (.safetensors)."),
    dataset: str = typer.Option(..., "--dataset", help="The student's dataset."),
    out: Path = typer.Option(..., "--out"),
    classes: str = typer.Option(None, "--classes"),
    teacher_layer: str = typer.Option(None, "--teacher-layer", help="Guiding layer (default: teacher's default)."),
    student_layer: str = typer.Option(None, "--student-layer", help="Guided layer (default: student's default)."),
    alpha: float = typer.Option(None, "--alpha", help="Weight of the representation term (BIRD, Hints)."),
    beta: float = typer.Option(None, "--beta", help="BIRD paper form: L = alpha * task + beta * rep."),
    kernel: str = typer.Option(None, "--kernel", help="linear or rbf."),
    debiased: bool = typer.Option(False, "--debiased"),
    layer_search: bool = typer.Option(False, "--layer-search",
                                      help="Try candidate layer pairs briefly; keep the best by validation robust "
                                           "accuracy under the *training* corruptions."),
    epochs: int = typer.Option(None, "--epochs"),
    lr: float = typer.Option(None, "--lr"),
    seed: int = typer.Option(None, "--seed"),
    max_samples: int = typer.Option(None, "--max-samples"),
    config: Path = typer.Option(None, "--config", help="TrainConfig YAML; flags override it."),
) -> None:
    """Transfer a teacher's behavior into a student with one method."""
    from birdkit.checkpoint import load_checkpoint
    from birdkit.experiments.pipeline import load_split
    from birdkit.methods import create_method
    from birdkit.selection.layers import search_layers
    from birdkit.training import DataConfig, LayerPair, MethodConfig, Trainer
    from birdkit.training.config import dump_yaml

    cfg = _train_cfg(config, epochs=epochs, lr=lr, seed=seed, max_train_samples=max_samples)
    dcfg = DataConfig(dataset=dataset, classes=_classes(classes))
    tr = load_split(dcfg, "train", cfg.max_train_samples)
    val = load_split(dcfg, "val", None, norm_from=tr)
    t_net = load_checkpoint(teacher)[0] if teacher else None
    s_net = load_checkpoint(student)[0] if student else None
    mfields = {k: v for k, v in {"alpha": alpha, "beta": beta, "kernel": kernel}.items() if v is not None}
    layers = None
    if teacher_layer or student_layer:
        if t_net is None or s_net is None:
            raise typer.BadParameter("--teacher-layer/--student-layer need --teacher and --student")
        layers = [LayerPair(teacher=teacher_layer or t_net.default_layer, student=student_layer or s_net.default_layer)]
    mcfg = MethodConfig(name=method, debiased=debiased, layers=layers, **mfields)
    out.mkdir(parents=True, exist_ok=True)
    if layer_search:
        if method not in ("bird", "hints"):
            raise typer.BadParameter("--layer-search applies to bird and hints")
        with TrainingProgress(console) as prog:
            best, table_rows = search_layers(mcfg, teacher=t_net, student=s_net, train=tr, val=val, cfg=cfg,
                                             run_dir=out / "layer_search", progress=prog)
        t = Table(title="layer search (validation, training corruptions)")
        for h in ("teacher layer", "student layer", "val clean", "val robust (train corr.)"):
            t.add_column(h)
        for r in table_rows:
            t.add_row(r["teacher"], r["student"], f"{100 * r['val_clean']:.2f}", f"{100 * r['val_robust']:.2f}")
        console.print(t)
        mcfg = mcfg.model_copy(update={"layers": [best]})
    import torch

    torch.manual_seed(cfg.seed)  # new heads / regressors follow --seed
    m = create_method(mcfg, student=s_net, teacher=t_net, num_classes=len(tr.targets.unique()))
    if getattr(m, "pairs", None):
        console.print("layers: " + "; ".join(f"teacher {p.teacher} -> student {p.student} (w={p.weight})"
                                             for p in m.pairs))
    with TrainingProgress(console) as prog:
        trainer = Trainer(m, tr, cfg, out, val=val, progress=prog,
                          checkpoint_meta={"method_config": mcfg.model_dump(), "data": dcfg.model_dump(),
                                           "normalize": {"mean": tr.mean, "std": tr.std}})
        trainer.check_run_dir()
        dump_yaml(cfg, out / "config.yaml")
        dump_yaml(mcfg, out / "method.yaml")
        trainer.fit()
    console.print(f"model: {out / 'model.safetensors'}")


@app.command("evaluate")
def evaluate(
    model: Path = typer.Option(..., "--model", help="Checkpoint to evaluate."),
    out: Path = typer.Option(..., "--out", help="Directory for eval.csv and summary.csv."),
    dataset: str = typer.Option(None, "--dataset", help="Test dataset (or give it in --config)."),
    classes: str = typer.Option(None, "--classes"),
    max_samples: int = typer.Option(None, "--max-samples", help="Evaluate on a test subset."),
    seed: int = typer.Option(None, "--seed", help="Corruption seed (default 0)."),
    name: str = typer.Option(None, "--name", help="Model name in the tables (default: file stem)."),
    config: Path = typer.Option(None, "--config", help="EvaluateConfig YAML (data, max_test_samples, seed, "
                                                       "severities); flags override it."),
) -> None:
    """Clean accuracy, accuracy per corruption x severity (held-out and training corruptions),
    robust accuracy with and without severity 0."""
    from birdkit.checkpoint import load_checkpoint
    from birdkit.corruptions import ALL_CORRUPTIONS
    from birdkit.evaluation.robustness import CorruptedTestSet, evaluate_robustness, summarize
    from birdkit.experiments.pipeline import _write_csv, load_split
    from birdkit.training import DataConfig

    from birdkit.training.config import EvaluateConfig, dump_yaml, load_yaml

    if config:
        ecfg = load_yaml(config, EvaluateConfig)
    elif dataset:
        ecfg = EvaluateConfig(data=DataConfig(dataset=dataset))
    else:
        raise typer.BadParameter("give --dataset or --config")
    data_upd = {k: v for k, v in {"dataset": dataset, "classes": _classes(classes)}.items() if v is not None}
    ecfg = ecfg.model_copy(update={"data": ecfg.data.model_copy(update=data_upd),
                                   **{k: v for k, v in {"max_test_samples": max_samples, "seed": seed}.items()
                                      if v is not None}})
    ecfg = EvaluateConfig.model_validate(ecfg.model_dump())
    dcfg = ecfg.data
    tr = load_split(dcfg, "train", 1)  # normalisation constants of the training split
    test = load_split(dcfg, "test", ecfg.max_test_samples, norm_from=tr)
    net, meta = load_checkpoint(model)
    norm = (meta.get("extra") or {}).get("normalize")
    if norm:
        test.mean, test.std = tuple(norm["mean"]), tuple(norm["std"])
    label = name or model.parent.name or model.stem
    rows = evaluate_robustness(net, CorruptedTestSet(test.images, test.targets, seed=ecfg.seed), test.normalize,
                               corruptions=ALL_CORRUPTIONS, severities=ecfg.severities, model_name=label)
    s = summarize(rows)
    out.mkdir(parents=True, exist_ok=True)
    dump_yaml(ecfg, out / "config.yaml")
    _write_csv(out / "eval.csv", rows)
    _write_csv(out / "summary.csv", [{"method": label, **s}])
    t = Table(title=f"{label} on {dcfg.dataset} test ({len(test)} images)")
    t.add_column("metric")
    t.add_column("accuracy (%)", justify="right")
    for k, v in s.items():
        t.add_row(k, f"{100 * v:.2f}")
    console.print(t)


@app.command("report")
def report(
    runs: list[Path] = typer.Argument(..., help="Pair directories or seed directories holding summary.csv/eval.csv."),
    out: Path = typer.Option(None, "--out", help="Where to write report.md and plots (default: first run dir)."),
) -> None:
    """Markdown table + PNG plots + aggregated CSV from finished runs."""
    from birdkit.evaluation.report import aggregate, markdown_table, plot_report

    summary, evals = [], []
    for r in runs:
        for s in sorted(r.glob("**/summary.csv")):
            summary += [_parse(row) for row in csv.DictReader(s.open())]
            e = s.with_name("eval.csv")
            if e.exists():
                evals += [_parse(row) for row in csv.DictReader(e.open())]
    if not summary:
        raise typer.BadParameter(f"no summary.csv under {', '.join(map(str, runs))}")
    for row in summary:
        row.setdefault("pair", "run")
    out = out or runs[0]
    agg = aggregate(summary)
    md = markdown_table(agg)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text(md + "\n")
    agg.to_csv(out / "summary_agg.csv", index=False)
    if evals:
        plot_report(evals, out)
    console.print(md)
    console.print(f"written: {out / 'report.md'}")


def _parse(row: dict) -> dict:
    out = {}
    for k, v in row.items():
        try:
            out[k] = int(v) if k in ("seed", "severity", "n") else float(v)
        except (TypeError, ValueError):
            out[k] = v
    return out
