"""The audit's report: markdown tables and plots made from the summary and contrast rows.

The headline of every behavior is *planted minus control* on its headline metric (the trigger's
or the cue's ``pull``): how much more the student of the planted teacher does it than the
student of the control teacher, trained by the same recipe. The teachers' own contrast shows
that the plant took; the student before transfer shows what the student did on its own.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from birdkit.evaluation.report import save_figure

__all__ = ["CLOUD_FINDING", "audit_markdown", "fmt_rate", "plot_audit", "subliminal_markdown"]


def fmt_rate(value: float, low: float, high: float, kind: str = "rate", signed: bool = False) -> str:
    """``"12.3 [10.1, 14.6]"`` (rates in %) or ``"0.412 [0.38, 0.44]"`` (scores)."""
    if kind == "rate":
        value, low, high = 100 * value, 100 * low, 100 * high
        body = f"{value:+.1f}" if signed else f"{value:.1f}"
        return body + ("" if math.isnan(low) else f" [{low:.1f}, {high:.1f}]")
    body = f"{value:+.3f}" if signed else f"{value:.3f}"
    return body + ("" if math.isnan(low) else f" [{low:.3f}, {high:.3f}]")


def _contrast_table(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    out = ["| behavior | method | metric | planted | control | planted - control [95% CI] | t over seeds | wins "
           "| verdict |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        k = r["kind"]
        scale = 100 if k == "rate" else 1
        pv, cv = (f"{scale * r[x]:.1f}" if k == "rate" else f"{r[x]:.3f}" for x in ("planted_value", "control_value"))
        t = fmt_rate(r["diff"], r["t_low"], r["t_high"], k, signed=True).split(" ", 1)
        out.append(f"| {r['behavior']} | {r['method']} | {r['probe']}.{r['metric']} | {pv} | {cv} | "
                   f"{fmt_rate(r['diff'], r['low'], r['high'], k, signed=True)} | {t[1] if len(t) > 1 else 'n/a'} | "
                   f"{r['wins']}/{r['seeds']} | {r['verdict']} |")
    return out


def audit_markdown(meta: Mapping[str, Any], summary: Sequence[Mapping[str, Any]],
                   contrast_rows: Sequence[Mapping[str, Any]]) -> str:
    """The report: what was audited, the headline contrasts, every contrast, every rate."""
    heads = meta["headlines"]
    lines = [f"# Audit: {meta['name']}", ""]
    if meta.get("description"):
        lines += [" ".join(str(meta["description"]).split()), ""]
    lines += [f"Pair `{meta['pair']}`; methods {', '.join(meta['methods'])}; {meta['seeds']} seeds; "
              f"{meta['samples']} probe images (the student's test split).", ""]
    for label, b in meta["behaviors"].items():
        params = ", ".join(f"{k} {v}" for k, v in b.items() if k not in ("probe", "headline") and v is not None)
        lines.append(f"- **{label}**: {params}; headline metric `{heads[label]}`.")
    lines += ["", "Rates in %, scores (CKA) as numbers. Intervals: 95%, two-way (seeds x images) bootstrap for "
              "rates and Student-t over seeds for scores; a contrast is *higher* / *lower* only when both its "
              "bootstrap and its t-interval over seeds exclude 0 (docs/audit.md).", "",
              "## Headline: planted - control", ""]
    head = [r for r in contrast_rows if heads.get(r["behavior"]) == f"{r['probe']}.{r['metric']}"]
    lines += _contrast_table(head)
    lines += ["", "The `teacher` rows compare the planted teacher with its control (did the plant take); "
              "the others compare each method's student with the student the same method made from the "
              "control teacher.", "", "## Every contrast", ""]
    lines += _contrast_table(contrast_rows)
    lines += ["", "## Every rate and score", "",
              "| behavior | model | role | metric | data | value [95% CI] | interval | chose |",
              "|---|---|---|---|---|---|---|---|"]
    for r in summary:
        lines.append(f"| {r['behavior']} | {r['model']} | {r['role']} | {r['probe']}.{r['metric']} | {r['data']} | "
                     f"{fmt_rate(r['value'], r['low'], r['high'], r['kind'])} | {r['interval']} | "
                     f"{r.get('info') or ''} |")
    return "\n".join(lines) + "\n"


def plot_audit(summary: Sequence[Mapping[str, Any]], contrast_rows: Sequence[Mapping[str, Any]], out_dir: str | Path,
               headlines: Mapping[str, str]) -> list[Path]:
    """``rates.png``: each behavior's headline rate per model with its interval; ``contrasts.png``:
    planted - control on the headline metric per method (and the teachers), with the two-way
    bootstrap interval and, in grey, the t-interval over seeds."""
    from matplotlib.figure import Figure  # optional extra: birdkit[report]

    out_dir = Path(out_dir)
    behaviors = list(headlines)
    paths = []
    for name, rows, label in (("rates.png", summary, "rate (%)"), ("contrasts.png", contrast_rows,
                                                                    "planted - control (points)")):
        fig = Figure(figsize=(4.4 * max(1, len(behaviors)), 3.6))
        axes = fig.subplots(1, max(1, len(behaviors)), squeeze=False)[0]
        for ax, b in zip(axes, behaviors):
            pick = [r for r in rows if r["behavior"] == b and f"{r['probe']}.{r['metric']}" == headlines[b]]
            names = [r["model"] if "model" in r else r["method"] for r in pick]
            value = [100 * (r["value"] if "value" in r else r["diff"]) for r in pick]
            low = [100 * r["low"] for r in pick]
            high = [100 * r["high"] for r in pick]
            err = [[max(0.0, v - lo) if not math.isnan(lo) else 0.0 for v, lo in zip(value, low)],
                   [max(0.0, hi - v) if not math.isnan(hi) else 0.0 for v, hi in zip(value, high)]]
            y = list(range(len(pick)))
            ax.errorbar(value, y, xerr=err, fmt="o", capsize=3, label="two-way bootstrap")
            if name == "contrasts.png":  # the t-interval over seeds beside it: a verdict needs both
                t_err = [[max(0.0, v - 100 * r["t_low"]) if not math.isnan(r["t_low"]) else 0.0
                          for v, r in zip(value, pick)],
                         [max(0.0, 100 * r["t_high"] - v) if not math.isnan(r["t_high"]) else 0.0
                          for v, r in zip(value, pick)]]
                ax.errorbar(value, [v + 0.25 for v in y], xerr=t_err, fmt="none", capsize=2, color="grey",
                            label="t over seeds")
                ax.axvline(0, color="grey", lw=0.8)
                ax.legend(fontsize=7, loc="best")
            ax.set_yticks(y, names, fontsize=8)
            ax.invert_yaxis()
            ax.set_xlabel(label, fontsize=8)
            ax.set_title(f"{b}: {headlines[b]}", fontsize=9)
            ax.grid(axis="x", alpha=0.3)
        fig.tight_layout()
        paths.append(save_figure(fig, out_dir / name))
    return paths


#: what Cloud et al. report for the MNIST case (qualitatively; docs/audit.md §4)
CLOUD_FINDING = {"same-init - other-init": "same-init far above other-init",
                 "same-init - init": "above chance (the initial network)",
                 "other-init - init": "no transfer: at chance"}


def subliminal_markdown(meta: Mapping[str, Any], summary: Sequence[Mapping[str, Any]],
                        contrast_rows: Sequence[Mapping[str, Any]]) -> str:
    """The subliminal check's report: accuracy of every model, the contrasts beside Cloud et al."""
    cfg = meta["config"]
    lines = ["# Subliminal-learning check (Cloud et al. 2025, MNIST)", "",
             f"MLP 784-{'-'.join(str(h) for h in cfg['hidden'])}-(10+{cfg['aux']}) on {meta['train_images']} "
             f"`{cfg['dataset']}` training digits ({cfg['teacher_steps']} Adam steps, lr {cfg['lr']}, batch "
             f"{cfg['batch_size']}, class logits only); students trained only on the {cfg['aux']} auxiliary logits "
             f"of uniform noise ({cfg['student_steps']} steps, KL); {cfg['seeds']} seeds trained side by side; "
             f"accuracy on {meta['test_images']} test digits. Intervals: 95%, two-way (seeds x digits) bootstrap; "
             "t over seeds beside it for contrasts.", "",
             "| model | digit accuracy (%) [95% CI] |", "|---|---|"]
    for r in summary:
        lines.append(f"| {r['model']} | {fmt_rate(r['value'], r['low'], r['high'])} |")
    lines += ["", "| contrast | points [95% CI] | t over seeds | wins | verdict | Cloud et al. |",
              "|---|---|---|---|---|---|"]
    for r in contrast_rows:
        t = fmt_rate(r["diff"], r["t_low"], r["t_high"], signed=True).split(" ", 1)
        lines.append(f"| {r['method']} | {fmt_rate(r['diff'], r['low'], r['high'], signed=True)} | "
                     f"{t[1] if len(t) > 1 else 'n/a'} | {r['wins']}/{r['seeds']} | {r['verdict']} | "
                     f"{CLOUD_FINDING.get(r['method'], '')} |")
    return "\n".join(lines) + "\n"
