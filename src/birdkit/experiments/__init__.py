"""Experiments: the one runner of a teacher -> student pair and everything built on it
(``birdkit demo``, ``select``, ``study`` and the single-run jobs)."""

from birdkit.experiments.demo import DemoResult, run_demo
from birdkit.experiments.jobs import (
    EvaluateResult,
    JobResult,
    collect_results,
    data_for_model,
    run_evaluate,
    run_train,
    run_transfer,
)
from birdkit.experiments.runner import (
    PairResult,
    PairRunner,
    derive_seed,
    resolve_method_config,
    resolve_transfer_train,
    seed_dir,
)
from birdkit.experiments.select import SelectResult, run_select
from birdkit.experiments.study import PROPERTIES, fit_study, run_study

__all__ = [
    "PROPERTIES", "DemoResult", "EvaluateResult", "JobResult", "PairResult", "PairRunner", "SelectResult",
    "collect_results", "data_for_model", "derive_seed", "fit_study", "resolve_method_config",
    "resolve_transfer_train", "run_demo", "run_evaluate", "run_select", "run_study", "run_train", "run_transfer",
    "seed_dir",
]
