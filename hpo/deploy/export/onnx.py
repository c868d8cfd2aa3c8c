"""`--format onnx`: an ONNX file, checked with onnxruntime (needs the `export` extra)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

from hpo.deploy.export import ExportFormat, Predict
from hpo.errors import UserInputError

NEEDS = ("tf2onnx", "onnx", "onnxruntime")


def _check_request(output: str) -> None:
    missing = [m for m in NEEDS if importlib.util.find_spec(m) is None]
    if missing:
        raise UserInputError(
            f"ONNX export needs {', '.join(missing)}: pip install 'hpo[export]'",
            field="--format onnx",
        )


def _write(model: Any, output: Path, quantize: str, x_train: np.ndarray) -> Predict:
    import onnxruntime

    model.export(str(output), format="onnx", verbose=False)
    session = onnxruntime.InferenceSession(str(output), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda x: session.run(None, {name: x})[0]


FORMAT = ExportFormat(write=_write, check_request=_check_request, text_input=False)
