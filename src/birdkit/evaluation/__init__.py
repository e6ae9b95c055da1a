"""Evaluation: metrics computed over a dataset, batch by batch (no gradients).

Modules are imported directly, e.g. ``from birdkit.evaluation.similarity import CKAMetric``
(also ``birdkit.CKAMetric``).
"""
