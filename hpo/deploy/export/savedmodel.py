"""`--format savedmodel`: a TensorFlow SavedModel folder (TF Serving, TF.js converters)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hpo.deploy.export import ExportFormat, Predict


def _write(model: Any, output: Path, quantize: str, x_train: np.ndarray) -> Predict:
    import tensorflow as tf

    model.export(str(output), format="tf_saved_model", verbose=False)
    loaded = tf.saved_model.load(str(output))
    return lambda x: loaded.serve(tf.constant(x))


FORMAT = ExportFormat(write=_write)
