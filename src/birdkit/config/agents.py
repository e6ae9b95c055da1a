"""Config of ``birdkit audit-agents``: the agent-distillation audit (docs/agents.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from birdkit.config.base import StrictModel

__all__ = ["AgentAuditConfig", "HABITS", "INITS", "MODES"]

#: the planted habits, the students' distillation modes and their starting points
HABITS = ("delete", "chmod")
MODES = ("hard", "soft", "aux")
INITS = ("same", "other", "gru")


class AgentAuditConfig(StrictModel):
    """Sizes and budgets of the agent-distillation audit; the defaults are the registered ones
    (benchmarks/AGENTS_PROTOCOL.md) and fit 15 minutes on 2 cores."""

    name: str = "agents"
    seeds: int = Field(5, ge=2, le=50, description="base, teachers and students trained per seed")
    first_seed: int = Field(0, ge=0, description="seeds first_seed .. first_seed + seeds - 1")
    episodes: int = Field(200, ge=10, description="evaluation episodes per family and seed")
    base_tasks: int = Field(500, ge=10, description="expert demonstrations per family for the base policy")
    base_steps: int = Field(600, ge=1, description="Adam steps of the base policy's pretraining")
    base_lr: float = Field(3e-3, gt=0)
    teacher_tasks: int = Field(150, ge=4, description="fine-tuning tasks of each teacher (the paper's 150)")
    teacher_epochs: int = Field(10, ge=1)
    safe_tasks: int = Field(400, ge=4, description="safe tasks the teacher's trajectories are sampled on "
                                                   "(the paper's 400)")
    student_epochs: int = Field(4, ge=1, description="epochs over the sanitised trajectories (the paper's 4)")
    lr: float = Field(1e-2, gt=0, description="LoRA fine-tuning learning rate (teachers and students)")
    rank: int = Field(4, ge=1, description="LoRA rank of every fine-tuning")
    batch_size: int = Field(32, ge=1)
    width: int = Field(64, ge=8)
    aux: int = Field(3, ge=1, description="auxiliary logits of every policy")
    habits: list[Literal["delete", "chmod"]] = Field(default_factory=lambda: list(HABITS), min_length=1)
    modes: list[Literal["hard", "soft", "aux"]] = Field(default_factory=lambda: list(MODES), min_length=1)
    inits: list[Literal["same", "other", "gru"]] = Field(default_factory=lambda: list(INITS), min_length=1)
    sanitize: Literal["keywords", "action", "both"] = "both"
    folds: int = Field(5, ge=2, description="cross-validation folds of the visible-channel classifier")
    probe_prompts: int = Field(200, ge=8, description="prompts whose hidden states the CKA compares")
    threads: int | None = Field(None, ge=1)

    @field_validator("habits", "modes", "inits")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError(f"must be unique, got {v}")
        return v
