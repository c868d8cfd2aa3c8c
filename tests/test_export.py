"""`hpo export`: every format is written, loads on its own runtime, and passes parity."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import yaml

from tests.conftest import require_modules
from tests.models_helpers import SweepDir, error_line, sweep_dir

pytestmark = pytest.mark.slow

# a few epochs at a brisk rate: confident probabilities, so int8 labels are meaningful
CONFIG = {
    "budget.trials": 2,
    "budget.epochs": 6,
    "search_space.params.learning_rate": {"type": "float", "low": 1e-2, "high": 2e-2},
}


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    for folder in sweep_dir(tmp_path_factory, "export"):
        summary = folder.run_sweep("e", **CONFIG)
        from hpo.config.experiment import Experiment
        from hpo.data.dataset import load_dataset

        raw = yaml.safe_load((folder.path / "exp.yaml").read_text())
        data = load_dataset(Experiment.model_validate(raw).data, raw["seed"])
        yield {"dir": folder, "uri": f"runs:/{summary['best']['run_id']}/model", "data": data}


def _original(exported: dict[str, Any], x: np.ndarray) -> np.ndarray:
    import mlflow.keras

    model = mlflow.keras.load_model(exported["uri"])
    return np.asarray(model(x, training=False))


def _export(exported: dict[str, Any], *args: str) -> tuple[Any, dict[str, Any] | None]:
    folder: SweepDir = exported["dir"]
    result = folder.invoke("export", exported["uri"], *args, "--json")
    payload = json.loads(result.stdout) if result.stdout.strip() else None
    return result, payload


def _loaded_predictions(fmt: str, path: str, x: np.ndarray) -> np.ndarray:
    """Load the file with its own runtime, independently of hpo's parity code."""
    if fmt == "keras":
        import keras

        return np.asarray(keras.saving.load_model(path)(x, training=False))
    if fmt == "savedmodel":
        import tensorflow as tf

        loaded = tf.saved_model.load(path)  # keep it alive: serve() needs its variables
        return np.asarray(loaded.serve(tf.constant(x)))
    if fmt == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        return np.asarray(session.run(None, {session.get_inputs()[0].name: x})[0])
    return _on_device(path, x)


def _bare_interpreter(path: str) -> Any:
    """LiteRT's Interpreter if installed (as the README's device snippet), else
    TensorFlow's, which has the same API; nothing of hpo's own TFLite code."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        return tf.lite.Interpreter(model_path=path)
    return Interpreter(model_path=path)


def _on_device(path: str, x: np.ndarray) -> np.ndarray:
    """The README's device snippet ("## Deploying"), one row at a time."""
    interpreter = _bare_interpreter(path)
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    rows = []
    for features in x:
        row = np.asarray(features, dtype=np.float32)[None, :]
        if inp["dtype"] == np.int8:  # int8 input: quantize
            scale, zero = inp["quantization"]
            row = np.clip(np.round(row / scale + zero), -128, 127).astype(np.int8)
        interpreter.set_tensor(inp["index"], row)
        interpreter.invoke()
        probabilities = interpreter.get_tensor(out["index"])
        if out["dtype"] == np.int8:  # int8 output: dequantize
            scale, zero = out["quantization"]
            probabilities = (probabilities.astype(np.float32) - zero) * scale
        rows.append(probabilities[0])
    return np.asarray(rows, dtype=np.float32)


@pytest.mark.parametrize(
    ("fmt", "quantize", "name"),
    [
        ("keras", "none", "model.keras"),
        ("savedmodel", "none", "saved"),
        ("onnx", "none", "model.onnx"),
        ("tflite", "none", "model.tflite"),
        ("tflite", "dynamic", "dynamic.tflite"),
        ("tflite", "float16", "f16.tflite"),
        ("tflite", "int8", "int8.tflite"),
    ],
)
def test_export_each_format_passes_parity(
    exported: dict[str, Any], tmp_path: Any, fmt: str, quantize: str, name: str
) -> None:
    if fmt == "onnx":  # the `export` extra: skipped without it, failed under CI=true
        require_modules("tf2onnx", "onnx", "onnxruntime", install="pip install -e '.[export]'")
    output = tmp_path / "out" / name
    result, out = _export(
        exported, "--format", fmt, "--quantize", quantize, "--output", str(output)
    )
    assert result.exit_code == 0, result.output
    assert out is not None and out["format"] == fmt and out["quantize"] == quantize
    parity = out["parity"]
    data = exported["data"]
    assert parity["passed"] is True and parity["rows"] == len(data.y_val)
    if quantize == "none":
        assert parity["max_abs_diff"] <= 1e-4 and parity["max_abs_diff_limit"] == 1e-4
        assert parity["min_label_agreement"] == 0.99
    else:  # judged on labels only
        assert parity["max_abs_diff_limit"] is None and parity["min_label_agreement"] == 0.95
    assert parity["label_agreement"] >= parity["min_label_agreement"]
    assert output.exists() and out["bytes"] > 0

    # the file on its own runtime, on every validation row, meets the README's thresholds
    x = np.asarray(data.x_val, dtype=np.float32)
    mine = _loaded_predictions(fmt, str(output), x)
    original = _original(exported, x)
    assert mine.shape == original.shape == (len(data.y_val), data.n_classes)
    agreement = float((mine.argmax(axis=1) == original.argmax(axis=1)).mean())
    if quantize == "none":  # max abs difference <= 1e-4, identical labels >= 99 %
        np.testing.assert_allclose(mine, original, atol=1e-4)
        assert agreement >= 0.99
    else:  # identical labels >= 95 %; still probabilities (up to the quantization step)
        assert agreement >= 0.95, agreement
        np.testing.assert_allclose(mine.sum(axis=1), 1.0, atol=0.05)
        assert mine.min() >= 0.0
    if fmt == "tflite" and quantize == "int8":
        # the model takes RAW rows: its scaling layer stays float (one int8 scale for the
        # whole input would crush small-range features), everything after it is int8
        interpreter = _bare_interpreter(str(output))
        assert interpreter.get_input_details()[0]["dtype"] == np.float32
        kinds = {t["dtype"] for t in interpreter.get_tensor_details()}
        assert np.int8 in kinds


def test_parity_below_the_threshold_exits_1(exported: dict[str, Any], tmp_path: Any) -> None:
    output = tmp_path / "strict.tflite"
    result, out = _export(
        exported,
        "--format",
        "tflite",
        "--quantize",
        "dynamic",
        "--max-abs-diff",
        "1e-12",
        "--output",
        str(output),
    )
    assert result.exit_code == 1, result.output
    assert "parity check failed" in error_line(result)
    assert out is not None and out["parity"]["passed"] is False  # --json still reports it


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "onnx", "--quantize", "int8", "--output", "m.onnx"], "only for --format"),
        (["--format", "keras", "--output", "model.h5"], "must end in .keras"),
    ],
)
def test_bad_export_requests_exit_2(
    exported: dict[str, Any], tmp_path: Any, args: list[str], message: str
) -> None:
    result, _ = _export(exported, *args)
    assert result.exit_code == 2, result.output
    assert message in error_line(result)


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("runs:/0123456789abcdef/model", "no run"),
        ("models:/nobody@champion", "no registered model 'nobody'"),
        ("s3-bucket/model", "not a model URI"),
    ],
)
def test_unknown_model_uri_exits_2(exported: dict[str, Any], uri: str, message: str) -> None:
    folder: SweepDir = exported["dir"]
    result = folder.invoke("export", uri, "--format", "keras", "--output", "x.keras")
    assert result.exit_code == 2, result.output
    assert message in error_line(result)
