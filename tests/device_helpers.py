"""What a spawned training process of tests/test_devices.py runs: importing this module costs
nothing (no pytest, no TensorFlow), so the processes start in a fraction of a second."""

from __future__ import annotations

import os

from hpo.trial.placement import device_label


def pin(env: dict[str, str]) -> None:
    """A training process's initializer, minus TensorFlow (hpo.trial.worker.init_worker)."""
    os.environ.update(env)


def visible() -> str:
    return device_label(os.environ)
