"""Behavior audit: what else a distillation carried besides the behavior asked for (docs/audit.md).

Probes measure a behavior of a model (robustness, trigger and cue sensitivity, representation
shift) as rates with their per-sample records; the audit runs them on the teacher, the student
before and after transfer and a control student; the subliminal-learning check reproduces a
known hidden-channel transfer (Cloud et al. 2025)."""
