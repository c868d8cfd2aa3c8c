"""The Python API: the same sweeps, reads, promotion and export as the CLI, for notebooks
and scripts (reference: docs/API.md). The `hpo` commands are thin shells over these
functions (parse, call, print): one code path. Nothing heavy is imported here: TensorFlow,
MLflow and Optuna load inside the functions that need them.
"""

from __future__ import annotations

from hpo.api.deploy import export, load_model, promote
from hpo.api.experiments import load_experiment
from hpo.api.reads import best, report, trials
from hpo.api.sweeps import HpoWarning, Summary, compare, run

__all__ = [
    "HpoWarning",
    "Summary",
    "best",
    "compare",
    "export",
    "load_experiment",
    "load_model",
    "promote",
    "report",
    "run",
    "trials",
]
