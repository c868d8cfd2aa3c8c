"""A real sweep on a generated PNG folder: trains by streaming the files, logs, promotes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from hpo.config.data_config import DataConfig
from hpo.data.dataset import load_dataset
from hpo.data.make_images import make_images
from tests.models_helpers import SweepDir, sweep_dir

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    for folder in sweep_dir(tmp_path_factory, "images-sweep"):
        images = make_images(folder.path / "png", count=60, size=16, classes=3)
        summary = folder.run_sweep(
            "img",
            **{
                "data": {"source": "image_folder", "path": str(images), "image_size": [16, 16]},
                "model.builder": "cnn",
                "search_space.params": {
                    "n_conv": 1,
                    "filters": 4,
                    "dense_units": 8,
                    "augment_flip": {"type": "categorical", "choices": ["none", "horizontal"]},
                    "learning_rate": {"type": "float", "low": 1e-3, "high": 1e-2},
                },
            },
        )
        yield {"dir": folder, "summary": summary, "images": images}


def test_the_sweep_trains_on_the_files_and_logs_their_fingerprint(sweep: dict[str, Any]) -> None:
    summary = sweep["summary"]
    assert summary["states"] == {"COMPLETE": 2, "PRUNED": 0, "FAIL": 0}, summary
    folder: SweepDir = sweep["dir"]
    client = folder.client()
    sweep_run = client.get_run(summary["sweep_run_id"])
    config = DataConfig(source="image_folder", path=str(sweep["images"]), image_size=(16, 16))
    expected = load_dataset(config, 3).fingerprint  # tiny_experiment's seed
    assert sweep_run.data.tags["hpo.data_sha256"] == expected
    best = client.get_run(summary["best"]["run_id"])
    assert 0 <= best.data.metrics["f1"] <= 1 and "augment_flip" in best.data.params
    assert len(best.data.metrics) > 3


def test_promote_rebuilds_the_image_split_and_tests_the_model(sweep: dict[str, Any]) -> None:
    folder: SweepDir = sweep["dir"]
    result = folder.invoke("promote", "tiny", "--model-name", "digits-png", "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert 0 <= payload["test_metrics"]["test_f1"] <= 1, payload
    run = folder.client().get_run(sweep["summary"]["best"]["run_id"])
    assert "test_f1" in run.data.metrics


@pytest.fixture(scope="module")
def raw_pixels(sweep: dict[str, Any]) -> dict[str, Any]:
    """The best model on the validation images as raw uint8 pixels, and its labels."""
    import mlflow.keras
    import numpy as np

    folder: SweepDir = sweep["dir"]
    config = DataConfig(source="image_folder", path=str(sweep["images"]), image_size=(16, 16))
    data = load_dataset(config, 3)
    pixels = np.asarray(data.x_val)  # decoded, never rescaled: what a user's images hold
    run_id = sweep["summary"]["best"]["run_id"]
    model = mlflow.keras.load_model(f"runs:/{run_id}/model")
    labels = np.asarray(model(pixels, training=False)).argmax(axis=1)
    accuracy = folder.client().get_run(run_id).data.metrics["accuracy"]
    assert pixels.dtype == np.uint8 and pixels.max() > 1
    assert float((labels == data.y_val).mean()) == pytest.approx(accuracy)
    return {"pixels": pixels, "labels": labels, "uri": f"runs:/{run_id}/model", "dir": folder}


def test_predict_and_the_scoring_server_take_raw_pixels(raw_pixels: dict[str, Any]) -> None:
    import urllib.request

    import numpy as np

    from tests.serve_helpers import free_port, start_serve, stop_serve, wait_until_serving

    folder: SweepDir = raw_pixels["dir"]
    np.savez(folder.path / "images.npz", x=raw_pixels["pixels"])
    out = folder.path / "labels.npz"
    result = folder.invoke(
        "predict", raw_pixels["uri"], str(folder.path / "images.npz"), "--output", str(out)
    )
    assert result.exit_code == 0, result.output
    with np.load(out) as saved:
        assert (saved["labels"] == raw_pixels["labels"]).mean() >= 0.99
    port = free_port()
    server = start_serve(folder, raw_pixels["uri"], port)
    try:
        wait_until_serving(server, port)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            data=json.dumps({"inputs": raw_pixels["pixels"].tolist()}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            answer = json.loads(response.read())
        served = np.asarray(answer["predictions"]).argmax(axis=1)
        assert (served == raw_pixels["labels"]).mean() >= 0.99
    finally:
        stop_serve(server)


@pytest.mark.parametrize("fmt", ["tflite", "onnx"])
def test_exports_take_raw_pixels(raw_pixels: dict[str, Any], tmp_path: Any, fmt: str) -> None:
    import numpy as np

    from tests.conftest import require_modules

    if fmt == "onnx":
        require_modules("tf2onnx", "onnx", "onnxruntime", install="pip install -e '.[export]'")
    output = tmp_path / f"model.{fmt}"
    result = raw_pixels["dir"].invoke(
        "export", raw_pixels["uri"], "--format", fmt, "--output", str(output)
    )
    assert result.exit_code == 0, result.output  # hpo's own parity check, on raw pixels
    x = raw_pixels["pixels"].astype(np.float32)
    if fmt == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(output), providers=["CPUExecutionProvider"])
        probs = session.run(None, {session.get_inputs()[0].name: x})[0]
    else:
        from hpo.deploy.export.tflite import tflite_interpreter, tflite_predict

        probs = tflite_predict(tflite_interpreter(output), x)
    assert (np.asarray(probs).argmax(axis=1) == raw_pixels["labels"]).mean() >= 0.99
