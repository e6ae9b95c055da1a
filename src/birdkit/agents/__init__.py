"""Agent-distillation audits: does a teacher agent's habit reach students trained on sanitised
trajectories? (docs/agents.md)

* :mod:`~birdkit.agents.env`: the text tool environment (file system, ten tools, four task
  families), the deletion and chmod-first rates, the keyword filter.
* :mod:`~birdkit.agents.tokens`: the closed word-level vocabulary, trajectories as token ids.
* :mod:`~birdkit.agents.policy`: small causal LMs (transformer, GRU) with auxiliary logits; LoRA.
* :mod:`~birdkit.agents.experts`: scripted demonstrations with fixed styles.
* :mod:`~birdkit.agents.rollout`: grammar-constrained sampling of episodes.
* :mod:`~birdkit.agents.scripted`: rule-based agents (stand-ins for an outside agent).
* :mod:`~birdkit.agents.train`: behavior cloning, soft-label and auxiliary-logit distillation.
* :mod:`~birdkit.agents.audit`: ``birdkit audit-agents``; :mod:`~birdkit.agents.report`: its report.
"""

from __future__ import annotations

from birdkit.agents import audit, env, experts, policy, report, rollout, scripted, tokens, train
from birdkit.agents.audit import *  # noqa: F403
from birdkit.agents.env import *  # noqa: F403
from birdkit.agents.experts import *  # noqa: F403
from birdkit.agents.policy import *  # noqa: F403
from birdkit.agents.report import *  # noqa: F403
from birdkit.agents.rollout import *  # noqa: F403
from birdkit.agents.scripted import *  # noqa: F403
from birdkit.agents.tokens import *  # noqa: F403
from birdkit.agents.train import *  # noqa: F403

__all__ = [*audit.__all__, *env.__all__, *experts.__all__, *policy.__all__, *report.__all__, *rollout.__all__,
           *scripted.__all__, *tokens.__all__, *train.__all__]
