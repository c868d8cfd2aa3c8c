"""Saved models take RAW rows: predict, serve, TFLite (incl. int8) and ONNX on raw validation
rows agree with the in-process model and score the logged validation accuracy; scaled rows
do not. Also the MLflow dataset inputs and `hpo.input` tag of the same real sweep.

One sweep (breast cancer: 30 features of very different ranges, so raw and scaled rows are
far apart) through the real CLI, shared by the module.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import yaml

from tests.conftest import require_modules
from tests.models_helpers import SweepDir, sweep_dir
from tests.serve_helpers import free_port, start_serve, stop_serve, wait_until_serving

pytestmark = pytest.mark.slow

CONFIG = {
    "data": {"source": "breast_cancer"},
    "budget.trials": 1,
    "budget.epochs": 8,
    "search_space.params.learning_rate": {"type": "float", "low": 1e-2, "high": 2e-2},
}


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    for folder in sweep_dir(tmp_path_factory, "raw"):
        summary = folder.run_sweep("r", **CONFIG)
        import mlflow.keras

        from hpo.config.experiment import Experiment
        from hpo.data.dataset import load_dataset

        config = yaml.safe_load((folder.path / "exp.yaml").read_text())
        data = load_dataset(Experiment.model_validate(config).data, config["seed"])
        run_id = summary["best"]["run_id"]
        model = mlflow.keras.load_model(f"runs:/{run_id}/model")
        labels = np.asarray(model(data.x_val, training=False)).argmax(axis=1)
        logged = folder.client().get_run(run_id).data.metrics["accuracy"]
        yield {
            "dir": folder,
            "summary": summary,
            "data": data,
            "model": model,
            "labels": labels,
            "accuracy": logged,
            "uri": f"runs:/{run_id}/model",
        }


def _accuracy(labels: np.ndarray, y: np.ndarray) -> float:
    return float((labels == y).mean())


def _agree(labels: np.ndarray, raw: dict[str, Any], minimum: float = 0.99) -> None:
    assert _accuracy(labels, raw["labels"]) >= minimum
    # and they score what the sweep logged for this trial (exact formats: the same labels)
    tolerance = 1e-9 if minimum >= 0.99 else 0.05
    assert abs(_accuracy(labels, raw["data"].y_val) - raw["accuracy"]) <= tolerance


def test_the_splits_are_raw_and_the_model_scales_them(raw: dict[str, Any]) -> None:
    from sklearn.datasets import load_breast_cancer

    data = raw["data"]
    assert data.x_train.max() > 100  # raw areas, not standardized values
    known = {tuple(r) for r in load_breast_cancer().data.astype(np.float32)}
    assert {tuple(r) for r in data.x_val} <= known
    assert raw["model"].get_layer("input_scaling") is not None
    assert _accuracy(raw["labels"], data.y_val) == pytest.approx(raw["accuracy"])


def test_scaled_rows_lose_accuracy(raw: dict[str, Any]) -> None:
    """The test that can fail: the model really scales itself, scaling twice is wrong."""
    from hpo.data.dataset import pre_scaled

    scaled = pre_scaled(raw["data"]).x_val
    labels = np.asarray(raw["model"](scaled, training=False)).argmax(axis=1)
    assert _accuracy(labels, raw["data"].y_val) < raw["accuracy"] - 0.15


def test_predict_takes_raw_rows(raw: dict[str, Any]) -> None:
    folder: SweepDir = raw["dir"]
    np.savez(folder.path / "val.npz", x=raw["data"].x_val)
    out = folder.path / "pred.npz"
    result = folder.invoke(
        "predict", raw["uri"], str(folder.path / "val.npz"), "--output", str(out)
    )
    assert result.exit_code == 0, result.output
    with np.load(out) as saved:
        _agree(saved["labels"], raw)


def test_serve_takes_raw_rows(raw: dict[str, Any]) -> None:
    folder: SweepDir = raw["dir"]
    port = free_port()
    server = start_serve(folder, raw["uri"], port)
    try:
        wait_until_serving(server, port)
        payload = json.dumps({"inputs": raw["data"].x_val.tolist()}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            data=payload,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            answer = json.loads(response.read())
        _agree(np.asarray(answer["predictions"]).argmax(axis=1), raw)
    finally:
        stop_serve(server)


@pytest.mark.parametrize(
    ("fmt", "quantize"), [("tflite", "none"), ("tflite", "int8"), ("onnx", "none")]
)
def test_exports_take_raw_rows(raw: dict[str, Any], tmp_path: Any, fmt: str, quantize: str) -> None:
    if fmt == "onnx":
        require_modules("tf2onnx", "onnx", "onnxruntime", install="pip install -e '.[export]'")
    output = tmp_path / f"model.{fmt}"
    result = raw["dir"].invoke(
        "export", raw["uri"], "--format", fmt, "--quantize", quantize, "--output", str(output)
    )
    assert result.exit_code == 0, result.output  # hpo's own parity check, on raw rows
    x = raw["data"].x_val
    if fmt == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(output), providers=["CPUExecutionProvider"])
        probs = session.run(None, {session.get_inputs()[0].name: x})[0]
    else:
        from hpo.deploy.export.tflite import tflite_interpreter, tflite_predict

        probs = tflite_predict(tflite_interpreter(output), x)
    _agree(np.asarray(probs).argmax(axis=1), raw, 0.95 if quantize == "int8" else 0.99)


def test_trial_runs_say_raw_input_and_reference_their_data(raw: dict[str, Any]) -> None:
    from hpo.tracking import schema
    from hpo.tracking.datasets import digest_of

    client = raw["dir"].client()
    sweep = client.get_run(raw["summary"]["sweep_run_id"])
    fingerprint = sweep.data.tags[schema.DATA_SHA256]

    def contexts(run: Any) -> dict[str, str]:
        found = {}
        for item in run.inputs.dataset_inputs:
            tags = {t.key: t.value for t in item.tags}
            assert item.dataset.digest == digest_of(fingerprint)
            assert tags[schema.DATA_SHA256] == fingerprint
            found[tags["mlflow.data.context"]] = item.dataset.name
        return found

    assert contexts(sweep) == {
        "training": "tiny-train",
        "validation": "tiny-validation",
        "test": "tiny-test",
    }
    trial = client.get_run(raw["summary"]["best"]["run_id"])
    assert trial.data.tags[schema.INPUT] == schema.INPUT_RAW
    assert set(contexts(trial)) == {"training", "validation"}


@pytest.mark.parametrize("tagged", [True, False])
def test_a_run_without_the_raw_tag_is_a_legacy_model_fed_scaled_rows(tagged: bool) -> None:
    """Models logged before raw input expect scaled rows: promote and export rebuild them."""
    from hpo.config.experiment import Experiment
    from hpo.deploy.model_card import input_contract
    from hpo.tracking import schema
    from hpo.tracking.lineage import trained_on
    from hpo.tracking.reads import RunLineage
    from tests.conftest import tiny_experiment

    experiment = Experiment.model_validate(tiny_experiment(data={"source": "wine"}))
    tags = {schema.INPUT: schema.INPUT_RAW} if tagged else {}
    lineage = RunLineage("r", "tiny", "s", 0, tags, {}, {}, {}, experiment.to_yaml())
    trained = trained_on(lineage)
    assert trained.raw_input is tagged
    means = np.abs(trained.dataset.x_train.mean(axis=0))
    assert bool(means.max() > 10) == tagged  # raw wine (proline ~750) vs standardized (~0)
    card = input_contract("standard", trained.raw_input, is_text=False)
    assert card.startswith("raw features" if tagged else "scaled features")
