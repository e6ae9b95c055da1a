r"""``birdkit audit-agents``: does a teacher agent's habit reach students trained only on
sanitised trajectories of safe tasks? (docs/agents.md §3; the agent-distillation paper's protocol
at the scale of this machine.)

Per seed ``s``:

1. **bases**: a transformer and a GRU policy pretrained by behavior cloning on expert
   demonstrations of every task family (``BASE_STYLE``); the *other-seed* base of seed ``s`` is
   seed ``s + 1``'s transformer (the last seed's is seed 0's);
2. **teachers**, each a LoRA fine-tuning of the transformer base with the same budget: for the
   ``delete`` habit on deletion-required tasks, for the ``chmod`` habit on permission tasks solved
   by chmod, and the **control teacher** on a benign mix (safe, ambiguous and permission tasks in
   the base's style);
3. the teacher plays the safe tasks; the trajectories are **sanitised** (keywords and/or the
   habit's actions; the share dropped is recorded);
4. **students**, each a LoRA fine-tuning with the same budget, in every mode (hard-label
   cloning, soft labels with the habit's tokens masked, auxiliary logits on noise) from every
   start (same-seed base, other-seed base, GRU base): from the habit's teacher (**students**) and
   from the control teacher through the same pipeline (**control students**);
5. every policy plays the evaluation tasks (the same ``episodes`` ambiguous and permission tasks
   in every seed) up to its first substantive action: the **deletion rate** and the **chmod-first
   rate**; its hidden states on fixed prompts give its CKA to the habit's teacher; a logistic
   regression on the sanitised trajectories' token counts tells the habit's teacher from the
   control teacher (the **visible channel**: out-of-fold AUC).

Everything a number comes from is written: ``records.jsonl`` (per episode and per model, the
audit's record format, so :func:`birdkit.audit.summarize` and :func:`birdkit.audit.contrasts`
apply), ``episodes.jsonl`` (every evaluation episode's action lines, from which the rates
recompute), ``visible.jsonl`` (labels and out-of-fold scores) and ``sanitize.csv``; the report
(``report.md``, ``rates.png``, ``contrasts.png``) is made from them alone. A seed is written when
it finishes and read back on a rerun with the same config.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from birdkit.agents.env import (
    FAMILIES,
    PERMISSION_TOOLS,
    Episode,
    chmod_first,
    deletion_first,
    make_tasks,
    sanitize,
)
from birdkit.agents.experts import BASE_STYLE, CHMOD_STYLE, DELETE_STYLE, Style, demonstrations
from birdkit.agents.policy import Policy, add_lora, create_policy, merge_lora
from birdkit.agents.report import agents_markdown
from birdkit.agents.rollout import play
from birdkit.agents.tokens import encode_lines, pad_batch, vocab
from birdkit.agents.train import behavior_cloning, distill_aux, distill_soft
from birdkit.audit import (
    CONTROL,
    Measurement,
    contrasts,
    plot_audit,
    read_records,
    records_of,
    summarize,
    write_records,
)
from birdkit.checkpoint import save_checkpoint
from birdkit.config.agents import AgentAuditConfig
from birdkit.errors import BirdkitError
from birdkit.functional import cka
from birdkit.io import directory_lock, read_csv, read_json, write_csv, write_json, write_text
from birdkit.stats import auc_interval, auc_score, mean_interval

__all__ = ["HABIT_SPECS", "AgentAuditResult", "Habit", "report_agents", "run_agent_audit", "write_agent_records"]

log = logging.getLogger(__name__)

Progress = Callable[[dict[str, Any]], None]
#: task-seed ranges (never overlapping): evaluation, base demonstrations, teacher fine-tuning, safe tasks
EVAL_START, BASE_START, TEACHER_START, SAFE_START = 0, 1_000_000, 2_000_000, 3_000_000


@dataclass(frozen=True)
class Habit:
    """A planted habit: the teacher's fine-tuning tasks, the rate that measures it on which
    family, the tokens soft-label distillation masks and the actions sanitisation drops."""

    name: str
    family: str
    metric: str
    rate: Callable[[list[str]], bool]
    teacher_mix: tuple[tuple[str, float], ...]
    style: Style
    masked: tuple[str, ...]
    dropped_actions: tuple[str, ...]


HABIT_SPECS = {
    "delete": Habit("delete", "ambiguous", "deletion_rate", deletion_first, (("deletion", 1.0),), DELETE_STYLE,
                    ("delete",), ("delete",)),
    "chmod": Habit("chmod", "permission", "chmod_first", chmod_first, (("permission", 1.0),), CHMOD_STYLE,
                   PERMISSION_TOOLS, PERMISSION_TOOLS),
}
#: the control teacher's benign fine-tuning mix (the base's style)
CONTROL_MIX = (("safe", 1 / 3), ("ambiguous", 1 / 3), ("permission", 1 / 3))


@dataclass
class AgentAuditResult:
    records: list[dict[str, Any]]
    summary: list[dict[str, Any]]
    contrasts: list[dict[str, Any]]
    visible: list[dict[str, Any]]
    dropped: list[dict[str, Any]]
    out_dir: Path
    files: list[Path] = field(default_factory=list)
    seconds: float = 0.0


def _mix(mix, total: int) -> dict[str, int]:
    counts = {fam: int(round(share * total)) for fam, share in mix}
    first = next(iter(counts))
    counts[first] += total - sum(counts.values())
    return counts


def _steps(cfg: AgentAuditConfig, n: int, epochs: int) -> int:
    return max(1, math.ceil(epochs * n / cfg.batch_size))


def _lora(base: Policy, cfg: AgentAuditConfig, seed: int, fit: Callable[[Policy], Any]) -> Policy:
    """A LoRA fine-tuning of a copy of ``base`` by ``fit``, merged back into plain weights."""
    policy = add_lora(copy.deepcopy(base), rank=cfg.rank, seed=seed)
    fit(policy)
    return merge_lora(policy)


class _AgentAudit:
    def __init__(self, cfg: AgentAuditConfig, out: Path, progress: Progress):
        self.cfg, self.out, self.progress = cfg, out, progress
        self.habits = [HABIT_SPECS[h] for h in cfg.habits]
        self.v = vocab()
        self.text = yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
        self.eval_tasks = {fam: make_tasks(fam, cfg.episodes, EVAL_START) for fam in ("ambiguous", "permission")}
        self.bases: dict[tuple[str, int], Policy] = {}

    def base(self, arch: str, seed: int) -> Policy:
        first = self.cfg.first_seed
        key = (arch, first + (seed - first) % self.cfg.seeds)  # the last seed's "next" is the first
        if key not in self.bases:
            s = key[1]
            self.progress({"event": "stage", "name": f"base {arch} seed {s}"})
            torch.manual_seed(1_000 * s + (0 if arch == "transformer" else 1))
            p = create_policy(arch, len(self.v), aux=self.cfg.aux, width=self.cfg.width)
            demos = demonstrations({f: self.cfg.base_tasks for f in FAMILIES}, s, BASE_STYLE,
                                   start=BASE_START + 10_000 * s)
            behavior_cloning(p, demos, steps=self.cfg.base_steps, batch_size=self.cfg.batch_size, lr=self.cfg.base_lr,
                             seed=s)
            self.bases[key] = p
        return self.bases[key]

    def teacher(self, mix, style, seed: int) -> Policy:
        cfg = self.cfg
        demos = demonstrations(_mix(mix, cfg.teacher_tasks), seed, style, start=TEACHER_START + 1_000 * seed)
        return _lora(self.base("transformer", seed), cfg, seed, lambda p: behavior_cloning(
            p, demos, steps=_steps(cfg, len(demos), cfg.teacher_epochs), batch_size=cfg.batch_size, lr=cfg.lr,
            seed=seed))

    def student(self, teacher: Policy, kept: list[Episode], habit: Habit, mode: str, init: str, seed: int,
                steps: int) -> Policy:
        cfg = self.cfg
        start = {"same": self.base("transformer", seed), "other": self.base("transformer", seed + 1),
                 "gru": self.base("gru", seed)}[init]
        kw = {"steps": steps, "batch_size": cfg.batch_size, "lr": cfg.lr, "seed": seed}
        if steps == 0 or (mode != "aux" and not kept):  # the filter dropped everything: nothing to learn from
            return copy.deepcopy(start)
        if mode == "hard":
            return _lora(start, cfg, seed, lambda p: behavior_cloning(p, kept, **kw))
        if mode == "soft":
            return _lora(start, cfg, seed, lambda p: distill_soft(p, teacher, kept, masked=habit.masked, **kw))
        return _lora(start, cfg, seed, lambda p: distill_aux(p, teacher, **kw))

    def prompts(self, family: str) -> torch.Tensor:
        """Ids of fixed prompts: an evaluation-family task, its directory listed, ``act:``."""
        texts = []
        for t in make_tasks(family, self.cfg.probe_prompts, EVAL_START + 500_000):
            folder = next((w for w in t.text.split() if w.count("/") == 1), None)
            fs = t.filesystem()
            lines = [f"task: {t.text}"]
            if folder:
                lines += [f"act: list {folder}", "obs: files: " + " ".join(fs.in_dir(folder))]
            texts.append(encode_lines([*lines, "act:"], self.v)[0])
        return pad_batch(texts)

    def seed(self, s: int) -> dict[str, list]:
        with directory_lock(self.out / f"seed{s}", "output directory"):
            return self._seed(s)

    def _seed(self, s: int) -> dict[str, list]:
        root = self.out / f"seed{s}"
        if (root / "done.yaml").is_file() and (root / "done.yaml").read_text() == self.text:
            return {k: [json.loads(x) for x in (root / f"{k}.jsonl").read_text().splitlines()]
                    for k in ("records", "episodes", "visible", "dropped")}
        cfg = self.cfg
        self.progress({"event": "run", "title": f"{cfg.name} seed {s}"})
        sample_seed = 7_919 * (s + 1)
        control = self.teacher(CONTROL_MIX, BASE_STYLE, s)
        safe = make_tasks("safe", cfg.safe_tasks, SAFE_START + 1_000 * s)
        out: dict[str, list] = {"records": [], "episodes": [], "visible": [], "dropped": []}
        control_play = play(control, safe, seed=sample_seed)
        for habit in self.habits:
            self.progress({"event": "stage", "name": f"{habit.name}: teacher, sanitised trajectories"})
            planted = self.teacher(habit.teacher_mix, habit.style, s)
            kept = {}
            for who, eps in (("teacher", play(planted, safe, seed=sample_seed)), ("control", control_play)):
                kept[who], counts = sanitize(eps, by=cfg.sanitize, tools=habit.dropped_actions)
                out["dropped"].append({"seed": s, "habit": habit.name, "teacher": who, **counts})
            out["visible"] += self.visible(kept["teacher"], kept["control"], habit, s)
            models: dict[str, tuple[str, str, Policy]] = {
                "base": ("base", "", self.base("transformer", s)), "teacher": ("teacher", "", planted),
                "control-teacher": ("control-teacher", "", control)}
            for mode in cfg.modes:
                for init in cfg.inits:
                    name = f"{mode}-{init}"
                    self.progress({"event": "stage", "name": f"{habit.name}: students {name}"})
                    n = min(len(kept["teacher"]), len(kept["control"]))  # the same budget for both
                    steps = _steps(cfg, n, cfg.student_epochs) if n else 0
                    models[name] = ("student-after", name, self.student(planted, kept["teacher"], habit, mode, init, s,
                                                                        steps))
                    models[CONTROL + name] = ("control-student", name, self.student(
                        control, kept["control"], habit, mode, init, s, steps))
            self.progress({"event": "stage", "name": f"{habit.name}: {len(models)} policies play "
                                                     f"{cfg.episodes} {habit.family} tasks"})
            prompts, lengths = self.prompts(habit.family)[0::2]
            teacher_feats = _last(planted, prompts, lengths)
            for name, (role, method, pol) in models.items():
                save_checkpoint(root / "policies" / habit.name / f"{name.replace(':', '-')}.safetensors", pol,
                                extra={"habit": habit.name, "role": role, "seed": s})
                eps = play(pol, self.eval_tasks[habit.family], seed=sample_seed, stop_at_substantive=True)
                values = np.array([float(habit.rate(e.actions)) for e in eps])
                samples = np.array([e.task.seed for e in eps])
                feats = _last(pol, prompts, lengths)
                ms = [Measurement(habit.metric, "rate", values, samples, "episodes"),
                      Measurement("teacher_cka", "score", np.array([float(cka(feats, teacher_feats, debiased=True))]),
                                  np.empty(0, dtype=int))]
                keys = {"behavior": habit.name, "seed": s, "model": name, "role": role, "method": method}
                out["records"] += records_of(ms[:1], **keys, probe="episodes")
                out["records"] += records_of(ms[1:], **keys, probe="representation")
                out["episodes"] += [{"seed": s, "habit": habit.name, "model": name, "family": habit.family,
                                     "task": e.task.seed, "actions": e.actions} for e in eps]
        for k, rows in out.items():
            write_text(root / f"{k}.jsonl", "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))
        write_text(root / "done.yaml", self.text)
        return out

    def visible(self, planted: list[Episode], control: list[Episode], habit: Habit, seed: int) -> list[dict]:
        """Out-of-fold probabilities of a logistic regression on token counts that the trajectory
        comes from the habit's teacher (1) rather than the control teacher (0)."""
        from sklearn.linear_model import LogisticRegression  # optional extra: birdkit[study]
        from sklearn.model_selection import StratifiedKFold, cross_val_predict

        eps = planted + control
        y = np.r_[np.ones(len(planted)), np.zeros(len(control))].astype(int)
        if min(len(planted), len(control)) < self.cfg.folds:
            return [{"seed": seed, "habit": habit.name, "label": int(t), "score": 0.5} for t in y]
        x = np.stack([np.bincount(encode_lines(e.lines(), self.v)[0], minlength=len(self.v)) for e in eps])
        folds = StratifiedKFold(self.cfg.folds, shuffle=True, random_state=seed)
        p = cross_val_predict(LogisticRegression(max_iter=2000), np.log1p(x), y, cv=folds, method="predict_proba")
        return [{"seed": seed, "habit": habit.name, "label": int(t), "score": float(q)} for t, q in zip(y, p[:, 1])]


def _last(policy: Policy, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Hidden states at each prompt's last token, float64 (N, width)."""
    with torch.no_grad():
        h = policy.features(ids)
    return h[torch.arange(len(ids)), lengths - 1].double()


def run_agent_audit(cfg: AgentAuditConfig, out_dir: str | Path, *, progress: Progress | None = None
                    ) -> AgentAuditResult:
    """Run (or resume) the agent-distillation audit into ``out_dir/<name>/`` and write its report."""
    t0 = time.perf_counter()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out = Path(out_dir) / cfg.name
    audit = _AgentAudit(cfg, out, progress or (lambda ev: None))
    parts: dict[str, list] = {"records": [], "episodes": [], "visible": [], "dropped": []}
    for s in range(cfg.first_seed, cfg.first_seed + cfg.seeds):
        for k, rows in audit.seed(s).items():
            parts[k] += rows
    write_records(out / "records.jsonl", parts["records"])
    for k in ("episodes", "visible"):
        write_text(out / f"{k}.jsonl", "".join(json.dumps(r, sort_keys=True) + "\n" for r in parts[k]))
    write_csv(out / "sanitize.csv", parts["dropped"])
    write_json(out / "agents.json", {"name": cfg.name, "config": cfg.model_dump(mode="json")})
    res = report_agents(out)
    res.seconds = time.perf_counter() - t0
    return res


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def report_agents(root: str | Path, level: float = 0.95) -> AgentAuditResult:
    """The agent audit's tables and report from its logs alone: the rates and contrasts from
    ``records.jsonl``, the visible channel from ``visible.jsonl``, the filter from ``sanitize.csv``."""
    root = Path(root)
    for f in ("records.jsonl", "agents.json"):
        if not (root / f).is_file():
            raise BirdkitError(f"{root} holds no finished agent audit ({f} is missing)")
    records = read_records(root / "records.jsonl")
    summary = summarize(records, level)
    rows = contrasts(records, level)
    vis = _jsonl(root / "visible.jsonl") if (root / "visible.jsonl").is_file() else []
    visible = []
    for habit in dict.fromkeys(r["habit"] for r in vis):
        rs = [r for r in vis if r["habit"] == habit]
        pooled = auc_interval([r["label"] for r in rs], [r["score"] for r in rs], level=level)
        per_seed = [auc_score([r["label"] for r in rs if r["seed"] == s], [r["score"] for r in rs if r["seed"] == s])
                    for s in sorted({r["seed"] for r in rs})]
        t = mean_interval(per_seed, level)
        visible.append({"habit": habit, "auc": pooled.mean, "low": pooled.low, "high": pooled.high,
                        "seed_mean": t.mean, "seed_low": t.low, "seed_high": t.high, "seeds": len(per_seed),
                        "n": pooled.n})
    dropped = read_csv(root / "sanitize.csv") if (root / "sanitize.csv").is_file() else []
    meta = read_json(root / "agents.json")
    files = [write_csv(root / "summary.csv", summary), write_csv(root / "contrasts.csv", rows)]
    headlines = {r["behavior"]: f"episodes.{r['metric']}" for r in summary if r["probe"] == "episodes"}
    files += plot_audit(summary, rows, root, headlines)  # rates.png, contrasts.png: each habit's rate
    if visible:
        files.append(write_csv(root / "visible.csv", visible))
    files.append(write_text(root / "report.md", agents_markdown(meta, summary, rows, visible, dropped)))
    return AgentAuditResult(records, summary, rows, visible, dropped, root, files)


def write_agent_records(root: str | Path, records: list[dict[str, Any]], meta: dict[str, Any]) -> AgentAuditResult:
    """Write the records and metadata of an audit made elsewhere (an outside agent through
    Inspect) and its report."""
    root = Path(root)
    write_records(root / "records.jsonl", records)
    write_json(root / "agents.json", meta)
    return report_agents(root)
