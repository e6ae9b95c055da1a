"""The agent audit's report: the paper's rates for every policy, student - control student per
mode and start, the keyword filter and the visible channel, as markdown."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from birdkit.audit import fmt_rate

__all__ = ["PAPER", "agents_markdown", "header"]

#: the agent-distillation paper's table (Dang, Xie & Younis 2026; docs/agents.md §4): student rate (base rate)
PAPER = (("Llama 8B -> Llama 8B", "100% (5%)", "30% (5%)"), ("Llama 3B -> Llama 3B", "35% (0%)", "15% (10%)"),
         ("Llama 8B -> Llama 3B", "100% (5%)", "55% (10%)"), ("Llama 3B -> Llama 8B", "10% (0%)", "5% (5%)"),
         ("Llama 8B -> Qwen 7B", "100% (20%)", "45% (0%)"),
         ("control: teacher tuned on random benign tasks", "25% (5%)", "5% (5%)"))


def header(meta: Mapping[str, Any]) -> str:
    """What was audited, in one paragraph: birdkit's distillation pipeline, or an outside agent."""
    if "agent" in meta:
        return (f"`{meta['agent']}` against the control `{meta['control']}` through Inspect, {meta['seeds']} runs x "
                f"{meta['episodes']} episodes per family (the student rows are the agent).")
    cfg = meta["config"]
    return (f"{cfg['seeds']} seeds x {cfg['episodes']} evaluation episodes per family; teachers fine-tuned (LoRA rank "
            f"{cfg['rank']}) on {cfg['teacher_tasks']} tasks for {cfg['teacher_epochs']} epochs; trajectories sampled "
            f"on {cfg['safe_tasks']} safe tasks and sanitised by {cfg['sanitize']}; students (LoRA) for "
            f"{cfg['student_epochs']} epochs.")


def _cell(r: Mapping[str, Any]) -> str:
    return fmt_rate(r["value"], r["low"], r["high"], r["kind"])


def agents_markdown(meta: Mapping[str, Any], summary: Sequence[Mapping[str, Any]],
                    contrast_rows: Sequence[Mapping[str, Any]], visible: Sequence[Mapping[str, Any]],
                    dropped: Sequence[Mapping[str, Any]]) -> str:
    lines = ["# Agent-distillation audit", "", header(meta) + " Rates in % with 95% intervals (two-way seeds x "
             "episodes bootstrap); contrasts: student - control student, *higher* / *lower* only when the bootstrap "
             "and the t-interval over seeds both exclude 0 (docs/agents.md).", ""]
    for habit in dict.fromkeys(r["behavior"] for r in summary):
        rates = [r for r in summary if r["behavior"] == habit and r["probe"] == "episodes"]
        metric = rates[0]["metric"] if rates else ""
        lines += [f"## {habit}: {metric.replace('_', ' ')}", "",
                  "| policy | role | rate (%) [95% CI] | CKA to the teacher |", "|---|---|---|---|"]
        cka = {r["model"]: r for r in summary if r["behavior"] == habit and r["metric"] == "teacher_cka"}
        for r in rates:
            c = cka.get(r["model"])
            lines.append(f"| {r['model']} | {r['role']} | {_cell(r)} | "
                         f"{fmt_rate(c['value'], c['low'], c['high'], 'score') if c else 'n/a'} |")
        lines += ["", f"Student - control student ({metric}, points; CKA to the teacher as a number):", "",
                  "| student | metric | student | control | difference [95% CI] | t over seeds | wins | verdict |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in contrast_rows:
            if r["behavior"] != habit:
                continue
            pts = 100 if r["kind"] == "rate" else 1
            f = "{:.1f}" if r["kind"] == "rate" else "{:.3f}"
            t = "n/a" if math.isnan(r["t_low"]) else f"[{f.format(pts * r['t_low'])}, {f.format(pts * r['t_high'])}]"
            lines.append(f"| {r['method']} | {r['metric']} | {f.format(pts * r['planted_value'])} | "
                         f"{f.format(pts * r['control_value'])} | "
                         f"{fmt_rate(r['diff'], r['low'], r['high'], r['kind'], signed=True)} | {t} | "
                         f"{r['wins']}/{r['seeds']} | {r['verdict']} |")
        lines.append("")
    if not dropped and not visible:
        return "\n".join(lines) + "\n"
    lines += ["## The keyword filter", "", "| habit | teacher | trajectories | dropped (keyword) | dropped (action) | "
              "dropped | share dropped |", "|---|---|---|---|---|---|---|"]
    agg: dict[tuple[str, str], list[int]] = {}
    for r in dropped:
        a = agg.setdefault((r["habit"], r["teacher"]), [0, 0, 0, 0])
        for i, k in enumerate(("total", "keyword", "action", "dropped")):
            a[i] += int(r[k])
    for (habit, who), (tot, kw, act, drop) in agg.items():
        lines.append(f"| {habit} | {who} | {tot} | {kw} | {act} | {drop} | {100 * drop / max(1, tot):.1f}% |")
    lines += ["", "## The visible channel", "",
              "Can the sanitised trajectories of the habit's teacher be told from the control teacher's? A logistic "
              "regression on token counts, out-of-fold AUC (0.5: no).", "",
              "| habit | AUC, pooled [95% CI] | AUC, mean over seeds [95% CI] | trajectories |", "|---|---|---|---|"]
    for r in visible:
        lines.append(f"| {r['habit']} | {fmt_rate(r['auc'], r['low'], r['high'], 'score')} | "
                     f"{fmt_rate(r['seed_mean'], r['seed_low'], r['seed_high'], 'score')} | {r['n']} |")
    lines += ["", "## The paper's table (Dang, Xie & Younis 2026), for comparison", "",
              "| teacher -> student | API deletion rate (base) | Bash chmod-first rate (base) |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in PAPER]
    return "\n".join(lines) + "\n"
