"""``birdkit audit``, ``audit-report`` and ``audit-subliminal``: what else a transfer carried.

Exit status: 0 when the audit ran (and, with ``--fail-above``, every gated contrast stayed at or
below the threshold), 1 when the gate failed, 2 for bad input (one line, before any work).
"""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.table import Table

from birdkit.cli import _options as opt
from birdkit.cli._progress import TrainingProgress
from birdkit.cli.main import app, console

GATE_BOUNDS = ("low", "diff", "high")


def _print_headlines(res, title: str) -> None:
    from birdkit.audit import fmt_rate
    from birdkit.experiments import headline_rows

    t = Table(title=title)
    for h in ("behavior", "method", "metric", "planted", "control", "planted - control [95% CI]", "wins", "verdict"):
        t.add_column(h, justify="left" if h in ("behavior", "method", "metric", "verdict") else "right")
    for r in headline_rows(res.contrasts, res.headlines):
        t.add_row(r["behavior"], r["method"], f"{r['probe']}.{r['metric']}", f"{100 * r['planted_value']:.1f}",
                  f"{100 * r['control_value']:.1f}", fmt_rate(r["diff"], r["low"], r["high"], r["kind"], signed=True),
                  f"{r['wins']}/{r['seeds']}", r["verdict"],
                  style="bold red" if r["verdict"] == "higher" and r["method"] != "teacher" else None)
    console.print(t)


def _gate(rows, headlines: dict[str, str], fail_above: float | None, bound: str) -> None:
    """Exit 1 (after printing them) when contrasts on the headline metrics exceed ``fail_above``."""
    from birdkit.audit import gate

    if fail_above is None:
        return
    failures = gate(rows, fail_above, headlines=headlines, bound=bound)
    if failures:
        for f in failures:
            console.print(f"[bold red]gate:[/] {f} > {fail_above}", highlight=False)
        raise typer.Exit(code=1)
    console.print(f"gate passed: every student's planted - control headline ({bound}) <= {fail_above}")


def _check_gate(fail_above: float | None, bound: str) -> None:
    if fail_above is not None and not 0 <= fail_above <= 1:
        raise typer.BadParameter(f"a rate in [0, 1], got {fail_above}", param_hint="--fail-above")
    if bound not in GATE_BOUNDS:
        raise typer.BadParameter(f"one of {', '.join(GATE_BOUNDS)}, got {bound!r}", param_hint="--gate-on")


def _list() -> None:
    from birdkit.audit import BEHAVIORS, PROBES
    from birdkit.config import builtin_audits

    t = Table(title="behaviors (plant one with `birdkit train --plant NAME`)")
    t.add_column("behavior")
    t.add_column("probe")
    t.add_column("headline")
    t.add_column("what")
    for name in BEHAVIORS.registered():
        cls = BEHAVIORS.get(name)
        t.add_row(name, cls.probe, cls.headline, cls.summary)
    console.print(t)
    t = Table(title="probes")
    t.add_column("probe")
    t.add_column("needs")
    t.add_column("what")
    for name in PROBES.registered():
        cls = PROBES.get(name)
        t.add_row(name, ", ".join(cls.needs) or "model", cls.summary)
    console.print(t)
    console.print("built-in audits: " + ", ".join(builtin_audits()))


@app.command("audit")
@opt.with_flags(opt.DATA_FLAGS)
def audit(
    config: str = typer.Option("fmnist-audit", "--config", help="Built-in audit name or an audit YAML."),
    teacher: Path = typer.Option(None, "--teacher", help="Planted teacher checkpoint (with --control-teacher and "
                                 "--student: audit these instead of training them)."),
    control_teacher: Path = typer.Option(None, "--control-teacher", help="Control teacher checkpoint: the teacher's "
                                         "recipe without the behavior."),
    student: Path = typer.Option(None, "--student", help="Student checkpoint (before transfer)."),
    behavior: str = typer.Option(None, "--behavior", help="The teacher's planted behavior, when its checkpoint does "
                                 "not record it."),
    pair: str = typer.Option(None, "--pair", help="Pair whose budgets and method overrides the transfers use "
                             "(default: the audit config's)."),
    methods: str = typer.Option(None, "--method", "--methods", help="Comma-separated methods (default: the config's)."),
    seeds: int = typer.Option(None, "--seeds", min=1, max=100, help="Seeds (default: the config's)."),
    samples: int = typer.Option(None, "--samples", min=1, help="Probe images (default: the config's)."),
    out: Path = typer.Option(Path("runs/audit"), "--out", help="Directory for the audit's run directories."),
    fail_above: float = typer.Option(None, "--fail-above", help="Exit 1 when a student's planted - control "
                                     "headline rate exceeds this (a rate in [0, 1]; see --gate-on)."),
    gate_on: str = typer.Option("low", "--gate-on", help="What --fail-above compares: low (the 95% interval's "
                                "lower end: a resolved excess), diff (the estimate) or high (the upper end)."),
    threads: int = typer.Option(0, "--threads", min=0, help="torch threads (0: all cores)."),
    list_all: bool = typer.Option(False, "--list", help="List behaviors, probes and built-in audits, then exit."),
    flags: dict | None = None,
) -> None:
    """Plant a behavior in a teacher, transfer with each method from it and from a control
    teacher, and measure what the student inherited: rates with 95% intervals, planted - control."""
    if list_all:
        _list()
        return
    _check_gate(fail_above, gate_on)
    import torch

    from birdkit.config import load_audit, load_pair
    from birdkit.experiments import AuditSources, run_audit

    if threads:
        torch.set_num_threads(threads)
    cfg = load_audit(config)
    update: dict = {}
    if methods:
        update["methods"] = [m.strip() for m in methods.split(",") if m.strip()]
    if seeds:
        update["seeds"] = seeds
    if samples:
        update["probe"] = cfg.probe.model_copy(update={"samples": samples})
    cfg = cfg.model_copy(update=update)
    pair_cfg = load_pair(pair or cfg.pair)
    sources = None
    given = [p for p in (teacher, control_teacher, student) if p is not None]
    if given:
        if len(given) != 3:
            raise typer.BadParameter("auditing checkpoints needs all three: --teacher, --control-teacher and --student",
                                     param_hint="--teacher")
        cfg, pair_cfg = _from_checkpoints(cfg, pair_cfg, teacher, student, behavior, flags or {})
        sources = AuditSources(teacher, control_teacher, student)
    with TrainingProgress(console) as prog:
        res = run_audit(cfg, out, pair=pair_cfg, sources=sources, progress=prog)
    _print_headlines(res, f"audit {cfg.name}: planted - control on each behavior's headline rate (%), "
                          f"{cfg.seeds} seeds")
    console.print(f"report: {res.out_dir / 'report.md'} ({', '.join(p.name for p in res.files)}); "
                  f"{res.seconds:.0f} s")
    _gate(res.contrasts, res.headlines, fail_above, gate_on)


def _from_checkpoints(cfg, pair_cfg, teacher: Path, student: Path, behavior: str | None, flags: dict):
    """The audit and pair configs for user checkpoints: the behavior from the teacher's
    metadata (or ``--behavior``), the student's data from the flags (or its metadata)."""
    from birdkit.checkpoint import read_checkpoint_meta
    from birdkit.config import DataConfig, ModelRef, PlantConfig, validate
    from birdkit.errors import BirdkitError

    metas = {}
    for what, path in (("teacher", teacher), ("student", student)):
        if not Path(path).is_file():
            raise BirdkitError(f"{what} checkpoint {str(path)!r} does not exist")
        metas[what] = read_checkpoint_meta(path)
    recorded = (metas["teacher"].get("extra") or {}).get("plant")
    if behavior:
        plant = PlantConfig(behavior=behavior)
    elif recorded:
        plant = PlantConfig(**{k: v for k, v in recorded.items() if k in PlantConfig.model_fields})
    else:
        raise BirdkitError(f"the teacher checkpoint {teacher} records no planted behavior; pass --behavior NAME "
                           "(birdkit audit --list)")
    sextra = metas["student"].get("extra") or {}
    raw = {k.removeprefix("data."): v for k, v in flags.items() if k.startswith("data.")}
    if not raw and not sextra.get("data"):
        raise BirdkitError("the student checkpoint records no data; pass --dataset (and --classes) of the student")
    data = validate(DataConfig, raw or sextra["data"], names=opt.section_names(flags, "data"))
    tdata = (metas["teacher"].get("extra") or {}).get("data")
    specs = {w: metas[w].get("spec") or {} for w in metas}
    update = {"student_data": data, "teacher_data": DataConfig(**tdata) if tdata else data,
              "teacher_model": ModelRef(name=specs["teacher"].get("name", pair_cfg.teacher_model.name)),
              "student_model": ModelRef(name=specs["student"].get("name", pair_cfg.student_model.name))}
    if data.channels is None or data.img_size is None:
        update["student_data"] = data.model_copy(update={k: v for k, v in (
            ("channels", specs["student"].get("in_chans")), ("img_size", specs["student"].get("img_size")))
            if getattr(data, k) is None and v is not None})
    name = f"{cfg.name}-{Path(teacher).parent.name or 'teacher'}"
    return (cfg.model_copy(update={"name": name, "behaviors": {plant.behavior: plant}}),
            pair_cfg.model_copy(update=update))


@app.command("audit-report")
def audit_report(
    root: Path = typer.Argument(..., help="An audit's folder (holding records.jsonl) or a subliminal check's."),
    fail_above: float = typer.Option(None, "--fail-above", help="Exit 1 when a student's planted - control "
                                     "headline rate exceeds this (see birdkit audit)."),
    gate_on: str = typer.Option("low", "--gate-on", help="low, diff or high (see birdkit audit)."),
) -> None:
    """Recompute an audit's tables, plots and report from its per-sample records alone."""
    _check_gate(fail_above, gate_on)
    from birdkit.experiments import report_audit, report_subliminal

    if (root / "subliminal.json").is_file():
        res = report_subliminal(root)
        console.print(f"report: {res.out_dir / 'report.md'}")
        return
    res = report_audit(root)
    _print_headlines(res, f"audit {root.name}: planted - control on each behavior's headline rate (%)")
    console.print(f"report: {res.out_dir / 'report.md'} ({', '.join(p.name for p in res.files)})")
    _gate(res.contrasts, res.headlines, fail_above, gate_on)


@app.command("audit-subliminal")
def audit_subliminal(
    seeds: int = typer.Option(5, "--seeds", min=2, max=256, help="Teachers (and student pairs) trained side by side."),
    teacher_steps: int = typer.Option(None, "--teacher-steps", min=1, help="Adam steps on digits (default 1175)."),
    student_steps: int = typer.Option(None, "--student-steps", min=1, help="Adam steps on noise (default 1175)."),
    aux: int = typer.Option(None, "--aux", min=1, help="Auxiliary logits (default 3)."),
    out: Path = typer.Option(Path("runs/subliminal"), "--out", help="Where records.jsonl and report.md go."),
    threads: int = typer.Option(0, "--threads", min=0, help="torch threads (0: all cores)."),
    config: Path = opt.ConfigOpt,
) -> None:
    """Cloud et al.'s subliminal-learning check: students trained only on a digit teacher's
    auxiliary logits of noise, from the teacher's initialisation and from another one."""
    from birdkit.audit import fmt_rate
    from birdkit.config import SubliminalConfig, read_yaml, validate
    from birdkit.experiments import run_subliminal

    raw = read_yaml(config) if config else {}
    raw.update({k: v for k, v in (("seeds", seeds), ("teacher_steps", teacher_steps),
                                  ("student_steps", student_steps), ("aux", aux), ("threads", threads or None))
                if v is not None})
    cfg = validate(SubliminalConfig, raw, source=str(config or ""),
                   names={"seeds": "--seeds", "teacher_steps": "--teacher-steps", "student_steps": "--student-steps",
                          "aux": "--aux", "threads": "--threads"})
    with TrainingProgress(console) as prog:
        res = run_subliminal(cfg, out, progress=prog)
    t = Table(title=f"subliminal check, {cfg.seeds} seeds: digit accuracy (%) [95% CI]")
    t.add_column("model")
    t.add_column("accuracy", justify="right")
    for r in res.summary:
        t.add_row(r["model"], fmt_rate(r["value"], r["low"], r["high"]))
    console.print(t)
    t = Table(title="contrasts (points)")
    for h in ("contrast", "points [95% CI]", "wins", "verdict"):
        t.add_column(h)
    for r in res.contrasts:
        t.add_row(r["method"], fmt_rate(r["diff"], r["low"], r["high"], signed=True), f"{r['wins']}/{r['seeds']}",
                  r["verdict"])
    console.print(t)
    console.print(f"report: {res.out_dir / 'report.md'}; {res.seconds:.0f} s")


@app.command("audit-agents")
def audit_agents(
    config: Path = opt.ConfigOpt,
    seeds: int = typer.Option(None, "--seeds", min=2, max=50, help="Seeds (default 5)."),
    episodes: int = typer.Option(None, "--episodes", min=10, help="Evaluation episodes per family and seed "
                                 "(default 200)."),
    out: Path = typer.Option(Path("runs/agents"), "--out", help="Where the audit's folder goes."),
    fail_above: float = typer.Option(None, "--fail-above", help="Exit 1 when a student's rate minus its control "
                                     "student's exceeds this (a rate in [0, 1]; see --gate-on)."),
    gate_on: str = typer.Option("low", "--gate-on", help="low, diff or high (see birdkit audit)."),
    threads: int = typer.Option(0, "--threads", min=0, help="torch threads (0: all cores)."),
    agent: str = typer.Option(None, "--agent", help="Audit an agent behind any Inspect model instead (e.g. "
                              "birdkit/scripted-deleter, or a provider/model that runs here), against "
                              "--control-agent."),
    control_agent: str = typer.Option("birdkit/scripted-base", "--control-agent",
                                      help="The control agent of --agent."),
) -> None:
    """Reproduce the agent-distillation audit: a teacher agent with a deletion (or chmod-first)
    habit, trajectories of safe tasks only, sanitised; students by hard labels, masked soft labels
    and auxiliary logits from three starts; each rate against its control student. With --agent,
    measure an outside agent's rates against a control agent through Inspect instead."""
    _check_gate(fail_above, gate_on)
    from birdkit.agents import run_agent_audit, write_agent_records
    from birdkit.audit import fmt_rate
    from birdkit.config import read_yaml, validate
    from birdkit.config.agents import AgentAuditConfig

    raw = read_yaml(config) if config else {}
    raw.update({k: v for k, v in (("seeds", seeds), ("episodes", episodes), ("threads", threads or None))
                if v is not None})
    cfg = validate(AgentAuditConfig, raw, source=str(config or ""),
                   names={"seeds": "--seeds", "episodes": "--episodes", "threads": "--threads"})
    if agent:
        try:
            from birdkit.agents.inspect_tasks import inspect_records
        except ImportError:
            raise typer.BadParameter("needs Inspect: pip install birdkit[agents]", param_hint="--agent") from None
        t0 = time.perf_counter()
        root = out / f"inspect-{agent.replace('/', '-')}"
        console.print(f"{agent} vs {control_agent}: {cfg.seeds} runs x {cfg.episodes} episodes per family (Inspect)")
        records = inspect_records(agent, control_agent, episodes=cfg.episodes, seeds=cfg.seeds, log_dir=root / "logs")
        res = write_agent_records(root, records, {"name": root.name, "agent": agent, "control": control_agent,
                                                  "seeds": cfg.seeds, "episodes": cfg.episodes})
        res.seconds = time.perf_counter() - t0
    else:
        with TrainingProgress(console) as prog:
            res = run_agent_audit(cfg, out, progress=prog)
    heads = {}
    for r in res.summary:
        if r["probe"] == "episodes":
            heads[r["behavior"]] = f"episodes.{r['metric']}"
    t = Table(title=f"agent audit, {cfg.seeds} seeds x {cfg.episodes} episodes: student - control student (%)")
    for h in ("habit", "student", "student", "control", "difference [95% CI]", "wins", "verdict"):
        t.add_column(h)
    for r in res.contrasts:
        if heads.get(r["behavior"]) == f"{r['probe']}.{r['metric']}":
            t.add_row(r["behavior"], r["method"], f"{100 * r['planted_value']:.1f}", f"{100 * r['control_value']:.1f}",
                      fmt_rate(r["diff"], r["low"], r["high"], signed=True), f"{r['wins']}/{r['seeds']}", r["verdict"])
    console.print(t)
    for v in res.visible:
        console.print(f"visible channel ({v['habit']}): AUC {fmt_rate(v['auc'], v['low'], v['high'], 'score')}")
    console.print(f"report: {res.out_dir / 'report.md'}; {res.seconds:.0f} s")
    _gate(res.contrasts, heads, fail_above, gate_on)
