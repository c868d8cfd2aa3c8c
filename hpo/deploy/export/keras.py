"""`--format keras`: the native .keras file (exact: the same probabilities as the original)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hpo.deploy.export import ExportFormat, Predict
from hpo.errors import UserInputError


def _check_request(output: str) -> None:
    if not output.endswith(".keras"):
        raise UserInputError("a Keras file must end in .keras", field="--output")


def _write(model: Any, output: Path, quantize: str, x_train: np.ndarray) -> Predict:
    import keras

    model.save(output)
    loaded = keras.saving.load_model(output, compile=False, safe_mode=True)
    return lambda x: loaded(x, training=False)


FORMAT = ExportFormat(write=_write, check_request=_check_request)
