"""`--format tflite`: a TFLite flatbuffer, optionally quantized (dynamic, float16, int8)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from hpo.deploy.export import ExportFormat, Predict

REPRESENTATIVE_ROWS = 200


def _representative(x_train: np.ndarray) -> Callable[[], Iterator[list[np.ndarray]]]:
    """int8 calibration rows: drawn from the TRAIN split only (seeded), never validation."""
    rng = np.random.default_rng(0)
    rows = x_train[rng.permutation(len(x_train))[:REPRESENTATIVE_ROWS]]

    def generate() -> Iterator[list[np.ndarray]]:
        for row in rows:
            yield [row[np.newaxis].astype(np.float32)]

    return generate


# the ops of the raw-input scaling as a Normalization layer: (x - mean) / max(sqrt(var), eps)
SCALING_OPS = ["SUB", "MUL", "DIV", "MAXIMUM", "SQRT"]


def _int8_after_scaling(converter: Any, x_train: np.ndarray) -> bytes:
    """int8 for a model taking RAW rows: one int8 scale for the whole input would crush
    features of small range next to large ones, so the scaling ops stay float (float32 in
    and out) and everything after them is int8, calibrated on raw train rows."""
    import tensorflow as tf

    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = _representative(x_train)
    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=converter,
        debug_dataset=_representative(x_train),
        debug_options=tf.lite.experimental.QuantizationDebugOptions(denylisted_ops=SCALING_OPS),
    )
    return bytes(debugger.get_nondebug_quantized_model())


def tflite_bytes(model: Any, quantize: str, x_train: np.ndarray) -> bytes:
    """The TFLite flatbuffer; int8 is full-integer (int8 inputs and outputs, for MCUs),
    except behind a raw-input scaling layer (`_int8_after_scaling`).

    A quantized export of a raw-input model converts its Normalization twin: a Rescaling
    would be folded into the first layer's weights (weight / feature std), and a feature of
    tiny spread then dominates the weights' int8 scale."""
    import tensorflow as tf

    from hpo.trial.preprocessing import has_input_scaling, with_normalization_layer

    scales_input = has_input_scaling(model)
    source = with_normalization_layer(model) if scales_input and quantize != "none" else model
    converter = tf.lite.TFLiteConverter.from_keras_model(source)
    if quantize == "int8" and scales_input:
        return _int8_after_scaling(converter, x_train)
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


def _write(model: Any, output: Path, quantize: str, x_train: np.ndarray) -> Predict:
    output.write_bytes(tflite_bytes(model, quantize, x_train))
    interpreter = tflite_interpreter(output)
    return lambda x: tflite_predict(interpreter, x)


FORMAT = ExportFormat(write=_write, quantizable=True, text_input=False)
