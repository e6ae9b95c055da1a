"""Typed configs, all in one place: the training loop, methods, data, experiments and jobs.

Built on pydantic (validation, defaults, JSON schema) and PyYAML's ``safe_load`` (no
executable tags). Built-in experiment YAML files live in ``pairs/``, ``studies/`` and ``audits/``.
"""

from birdkit.config.audit import (
    AuditConfig,
    AuditProbeConfig,
    PlantConfig,
    SubliminalConfig,
    builtin_audits,
    load_audit,
)
from birdkit.config.base import StrictModel, dump_yaml, load_yaml, read_yaml, validate, validation_message, yaml_text
from birdkit.config.data import DataConfig, ModelRef
from birdkit.config.experiment import (
    EvalConfig,
    EvaluateConfig,
    GridConfig,
    GridTeachers,
    PairConfig,
    PropertyConfig,
    ResourceConfig,
    StudentSpec,
    StudyConfig,
    TeacherGrid,
    TeacherSpec,
    builtin_configs,
    builtin_pairs,
    builtin_studies,
    load_builtin,
    load_pair,
    load_study,
)
from birdkit.config.jobs import TrainJob, TransferJob
from birdkit.config.method import METHOD_OVERRIDE_KEYS, LayerPair, MethodConfig
from birdkit.config.training import AugmentConfig, OptimConfig, TrainConfig

__all__ = [
    "METHOD_OVERRIDE_KEYS", "AuditConfig", "AuditProbeConfig", "PlantConfig", "SubliminalConfig", "builtin_audits",
    "load_audit", "AugmentConfig", "DataConfig", "EvalConfig", "EvaluateConfig", "GridConfig", "GridTeachers",
    "LayerPair", "MethodConfig", "ModelRef", "OptimConfig", "PairConfig", "PropertyConfig", "ResourceConfig",
    "StrictModel", "StudentSpec", "StudyConfig", "TeacherGrid", "TeacherSpec", "TrainConfig", "TrainJob",
    "TransferJob", "builtin_configs", "builtin_pairs", "builtin_studies", "dump_yaml", "load_builtin", "load_pair",
    "load_study", "load_yaml", "read_yaml", "validate", "validation_message", "yaml_text",
]
