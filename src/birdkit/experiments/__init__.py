"""Experiments: built-in teacher -> student benchmark pairs and the end-to-end pipeline."""

from birdkit.experiments.config import ALL_METHODS, EvalConfig, PairConfig, builtin_pairs, load_pair

__all__ = ["ALL_METHODS", "EvalConfig", "PairConfig", "builtin_pairs", "load_pair"]
