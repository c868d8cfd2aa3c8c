"""hpo: hyperparameter-optimisation experiments for Keras, tracked in MLflow.

`import hpo` is light: the public names below load on first use (PEP 562), so neither
TensorFlow, MLflow nor Optuna is imported until a function needs it. Reference: docs/API.md.

    import hpo
    summary = hpo.run("experiments/digits_mlp.yaml", trials=3, epochs=1)
    hpo.trials("digits-mlp")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> the module (inside hpo) that defines it
_LAZY = {
    "Experiment": "config.experiment",
    "Best": "sweep.summary",
    "Summary": "api.sweeps",
    "HpoWarning": "api.sweeps",
    "load_experiment": "api.experiments",
    "run": "api.sweeps",
    "compare": "api.sweeps",
    "trials": "api.reads",
    "best": "api.reads",
    "report": "api.reads",
    "load_model": "api.deploy",
    "promote": "api.deploy",
    "export": "api.deploy",
    "HpoError": "errors",
    "UserInputError": "errors",
    "GateFailed": "errors",
    "SweepAborted": "errors",
}

__all__ = ["__version__", *_LAZY]

if TYPE_CHECKING:  # for type checkers and IDEs: the same names, eagerly
    from hpo.api.deploy import export as export
    from hpo.api.deploy import load_model as load_model
    from hpo.api.deploy import promote as promote
    from hpo.api.experiments import load_experiment as load_experiment
    from hpo.api.reads import best as best
    from hpo.api.reads import report as report
    from hpo.api.reads import trials as trials
    from hpo.api.sweeps import HpoWarning as HpoWarning
    from hpo.api.sweeps import Summary as Summary
    from hpo.api.sweeps import compare as compare
    from hpo.api.sweeps import run as run
    from hpo.config.experiment import Experiment as Experiment
    from hpo.errors import GateFailed as GateFailed
    from hpo.errors import HpoError as HpoError
    from hpo.errors import SweepAborted as SweepAborted
    from hpo.errors import UserInputError as UserInputError
    from hpo.sweep.summary import Best as Best


def __getattr__(name: str) -> Any:
    """Load a public name on first use, then keep it (PEP 562)."""
    if name not in _LAZY:
        raise AttributeError(f"module 'hpo' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
