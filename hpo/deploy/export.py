"""`hpo export`: a logged model as .keras, SavedModel, TFLite or ONNX, with a parity check.

The parity check always runs, because a converter that silently changes predictions is worse
than no export: the exported file and the original model both predict the validation rows of
the sweep's own split, and the command fails (exit 1) below the thresholds.
"""

from __future__ import annotations

import contextlib
import sys
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hpo.errors import GateFailed, UserInputError, first_line

FORMATS = ("keras", "savedmodel", "tflite", "onnx")
QUANTIZE = ("none", "dynamic", "float16", "int8")
# Exact formats must reproduce the probabilities; quantized ones are judged on labels only.
EXACT_MAX_ABS_DIFF = 1e-4
EXACT_MIN_AGREEMENT = 0.99
QUANTIZED_MIN_AGREEMENT = 0.95
REPRESENTATIVE_ROWS = 200
PREDICT_CHUNK = 1024


@dataclass(frozen=True)
class Parity:
    rows: int
    max_abs_diff: float
    label_agreement: float
    max_abs_diff_limit: float | None
    min_label_agreement: float
    passed: bool


@dataclass(frozen=True)
class ExportResult:
    model_uri: str
    format: str
    quantize: str
    output: str
    bytes: int
    parity: Parity

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "parity": asdict(self.parity)}


def thresholds(
    quantize: str, max_abs_diff: float | None, min_agreement: float | None
) -> tuple[float | None, float]:
    """Defaults: exact formats 1e-4 and 99% labels; quantized formats 95% labels only."""
    if quantize == "none":
        return (
            EXACT_MAX_ABS_DIFF if max_abs_diff is None else max_abs_diff,
            EXACT_MIN_AGREEMENT if min_agreement is None else min_agreement,
        )
    return max_abs_diff, QUANTIZED_MIN_AGREEMENT if min_agreement is None else min_agreement


def check_request(fmt: str, quantize: str, output: str) -> None:
    """Refuse impossible combinations before loading anything."""
    if fmt not in FORMATS:
        raise UserInputError(f"unknown format {fmt!r} (one of {', '.join(FORMATS)})")
    if quantize not in QUANTIZE:
        raise UserInputError(f"unknown quantization {quantize!r}", field="--quantize")
    if quantize != "none" and fmt != "tflite":
        raise UserInputError("quantization is only for --format tflite", field="--quantize")
    if fmt == "keras" and not output.endswith(".keras"):
        raise UserInputError("a Keras file must end in .keras", field="--output")
    if fmt == "onnx":
        missing = [m for m in ("tf2onnx", "onnx", "onnxruntime") if not _importable(m)]
        if missing:
            raise UserInputError(
                f"ONNX export needs {', '.join(missing)}: pip install 'hpo[export]'",
                field="--format onnx",
            )


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _probabilities(predict: Callable[[np.ndarray], Any], x: np.ndarray) -> np.ndarray:
    return np.concatenate(
        [
            np.asarray(predict(x[i : i + PREDICT_CHUNK]), dtype=np.float64).reshape(
                len(x[i : i + PREDICT_CHUNK]), -1
            )
            for i in range(0, len(x), PREDICT_CHUNK)
        ]
    )


# ---------------------------------------------------------------------------- writers


def _write_keras(model: Any, output: Path) -> Callable[[np.ndarray], Any]:
    import keras

    model.save(output)
    loaded = keras.saving.load_model(output, compile=False)
    return lambda x: loaded(x, training=False)


def _write_savedmodel(model: Any, output: Path) -> Callable[[np.ndarray], Any]:
    import tensorflow as tf

    model.export(str(output), format="tf_saved_model", verbose=False)
    loaded = tf.saved_model.load(str(output))
    return lambda x: loaded.serve(tf.constant(x))


def _representative(x_train: np.ndarray) -> Callable[[], Iterator[list[np.ndarray]]]:
    """int8 calibration rows: drawn from the TRAIN split only (seeded), never validation."""
    rng = np.random.default_rng(0)
    rows = x_train[rng.permutation(len(x_train))[:REPRESENTATIVE_ROWS]]

    def generate() -> Iterator[list[np.ndarray]]:
        for row in rows:
            yield [row[np.newaxis].astype(np.float32)]

    return generate


def tflite_bytes(model: Any, quantize: str, x_train: np.ndarray) -> bytes:
    """The TFLite flatbuffer; int8 is full-integer (int8 inputs and outputs, for MCUs)."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if quantize != "none":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if quantize == "int8":
        converter.representative_dataset = _representative(x_train)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    return bytes(converter.convert())


def tflite_interpreter(path: Path) -> Any:
    """LiteRT's interpreter when installed (tf.lite.Interpreter is deprecated), else TF's."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import warnings

        import tensorflow as tf

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return tf.lite.Interpreter(model_path=str(path))
    return Interpreter(model_path=str(path))


def tflite_predict(interpreter: Any, x: np.ndarray) -> np.ndarray:
    """Run a TFLite model on a batch, quantizing inputs and dequantizing outputs if int8."""
    inp = interpreter.get_input_details()[0]
    out = interpreter.get_output_details()[0]
    interpreter.resize_tensor_input(inp["index"], [len(x), *x.shape[1:]])
    interpreter.allocate_tensors()
    scale, zero = inp["quantization"]
    if np.issubdtype(inp["dtype"], np.integer) and scale:
        info = np.iinfo(inp["dtype"])
        x = np.clip(np.round(x / scale + zero), info.min, info.max)
    interpreter.set_tensor(inp["index"], x.astype(inp["dtype"]))
    interpreter.invoke()
    y = interpreter.get_tensor(out["index"])
    scale, zero = out["quantization"]
    if np.issubdtype(out["dtype"], np.integer) and scale:
        y = (y.astype(np.float32) - zero) * scale
    return np.asarray(y, dtype=np.float32)


def _write_tflite(
    model: Any, output: Path, quantize: str, x_train: np.ndarray
) -> Callable[[np.ndarray], Any]:
    output.write_bytes(tflite_bytes(model, quantize, x_train))
    interpreter = tflite_interpreter(output)
    return lambda x: tflite_predict(interpreter, x)


def _write_onnx(model: Any, output: Path) -> Callable[[np.ndarray], Any]:
    import onnxruntime

    model.export(str(output), format="onnx", verbose=False)
    session = onnxruntime.InferenceSession(str(output), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda x: session.run(None, {name: x})[0]


def _write(
    fmt: str, model: Any, target: Path, quantize: str, x_train: np.ndarray
) -> Callable[[np.ndarray], Any]:
    """Write the file; converters narrate on stdout, which belongs to `--json`."""
    with contextlib.redirect_stdout(sys.stderr), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if fmt == "keras":
            return _write_keras(model, target)
        if fmt == "savedmodel":
            return _write_savedmodel(model, target)
        if fmt == "tflite":
            return _write_tflite(model, target, quantize, x_train)
        return _write_onnx(model, target)


# ---------------------------------------------------------------------------- the command


def export_model(
    model_uri: str,
    fmt: str,
    output: str,
    *,
    quantize: str = "none",
    max_abs_diff: float | None = None,
    min_agreement: float | None = None,
    tracking_uri: str | None = None,
) -> ExportResult:
    """Write the export, then judge it against the original on the validation rows."""
    check_request(fmt, quantize, output)
    from hpo.tracking.lineage import trained_on
    from hpo.tracking.registry import Registry

    registry = Registry(tracking_uri)
    ref = registry.resolve(model_uri)
    if ref.run_id is None:
        raise UserInputError(
            "export needs a models:/ or runs:/ URI: the parity check rebuilds the sweep's "
            "validation split from the model's run",
            field=model_uri,
        )
    data = trained_on(registry.lineage(ref.run_id)).dataset
    if data.is_text and fmt in ("tflite", "onnx"):
        raise UserInputError(
            f"{fmt} export of a text model (string input) is not supported; use keras or "
            "savedmodel",
            field="--format",
        )
    model = registry.load_keras(ref.uri)
    x_val = np.asarray(data.x_val, dtype=np.float32)
    original = _probabilities(lambda x: model(x, training=False), x_val)

    target = Path(output).expanduser().resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        predict = _write(fmt, model, target, quantize, data.x_train)
    except (ValueError, RuntimeError, TypeError, NotImplementedError) as err:
        line = first_line(err)
        raise UserInputError(f"{fmt} conversion failed: {line}", field=model_uri) from None
    exported = _probabilities(predict, x_val)

    limit, min_labels = thresholds(quantize, max_abs_diff, min_agreement)
    diff = float(np.abs(exported - original).max()) if len(x_val) else 0.0
    agreement = (
        float((exported.argmax(axis=1) == original.argmax(axis=1)).mean()) if len(x_val) else 1.0
    )
    passed = agreement >= min_labels and (limit is None or diff <= limit)
    result = ExportResult(
        model_uri=model_uri,
        format=fmt,
        quantize=quantize,
        output=str(target),
        bytes=_size(target),
        parity=Parity(len(x_val), diff, agreement, limit, min_labels, passed),
    )
    if not passed:
        limit_text = f" (limit {limit:g})" if limit is not None else ""
        raise ExportParityFailed(
            result,
            f"parity check failed for {target}: max abs diff {diff:.3g}{limit_text}, "
            f"label agreement {agreement:.2%} (minimum {min_labels:.0%}) on {len(x_val)} "
            "validation rows; the file is left for inspection",
        )
    return result


class ExportParityFailed(GateFailed):
    """Exit 1; carries the measurements so `--json` still prints them."""

    def __init__(self, result: ExportResult, message: str):
        super().__init__(message)
        self.result = result


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def export_text(result: ExportResult) -> str:
    p = result.parity
    return (
        f"wrote {result.output} ({result.format}"
        + (f", quantize {result.quantize}" if result.quantize != "none" else "")
        + f", {result.bytes} bytes)\n"
        f"parity on {p.rows} validation rows: max abs diff {p.max_abs_diff:.3g}, "
        f"label agreement {p.label_agreement:.2%} -> {'ok' if p.passed else 'FAILED'}"
    )


__all__ = ["FORMATS", "QUANTIZE", "ExportResult", "export_model"]
