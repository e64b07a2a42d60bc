"""sparselearn: experiments room.

YAML configs (schema, validation, dotted overrides), one training run end to end
(:func:`run_training`), run directories, checkpoints and redrawing pictures. Sweeps reuse
:func:`run_training` for every point.
"""

from sparselearn.experiments.config import (
    apply_overrides,
    config_from_dict,
    format_config,
    load_config,
    parse_override,
    read_yaml,
    resolve_config,
)
from sparselearn.experiments.errors import (
    ConfigError,
    DataError,
    RunDirError,
    StorageError,
    TrainingFailed,
    UsageError,
)
from sparselearn.experiments.evaluation import evaluate
from sparselearn.experiments.report import format_summary
from sparselearn.experiments.runner import RunResult, resume_training, run_training
from sparselearn.experiments.schema import SCHEMA, Field, validate
from sparselearn.experiments.signals import STOP_REQUESTED, install_stop_handlers, restore_handlers
from sparselearn.experiments.visualize import load_filters, redraw_run

__all__ = [
    "SCHEMA",
    "STOP_REQUESTED",
    "ConfigError",
    "DataError",
    "Field",
    "RunDirError",
    "RunResult",
    "StorageError",
    "TrainingFailed",
    "UsageError",
    "apply_overrides",
    "evaluate",
    "config_from_dict",
    "format_config",
    "format_summary",
    "install_stop_handlers",
    "load_config",
    "load_filters",
    "parse_override",
    "read_yaml",
    "redraw_run",
    "resolve_config",
    "restore_handlers",
    "resume_training",
    "run_training",
    "validate",
]
