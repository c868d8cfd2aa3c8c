"""The splits as MLflow dataset inputs (hpo/tracking/datasets.py), on a real SQLite store:
three on a sweep run, two on a trial run, digests tied to `hpo.data_sha256`. The inputs of
a real sweep are checked in test_raw_input.py."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from hpo.config.data_config import DataConfig
from hpo.data.dataset import load_dataset
from hpo.tracking import schema
from hpo.tracking.datasets import CONTEXT_TAG, digest_of, log_inputs, split_inputs


@pytest.fixture
def client(tmp_path: Path):  # type: ignore[no-untyped-def]
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")


def _contexts(client, run_id: str) -> dict[str, tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    found = {}
    for item in client.get_run(run_id).inputs.dataset_inputs:
        tags = {t.key: t.value for t in item.tags}
        found[tags[CONTEXT_TAG]] = (
            item.dataset.name,
            item.dataset.digest,
            tags[schema.DATA_SHA256],
        )
    return found


def test_sweep_holds_three_splits_and_a_trial_two(client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data_config = DataConfig(source="wine")
    data = load_dataset(data_config, 1)
    inputs = split_inputs(data, data_config, "wine-mlp")
    experiment = client.create_experiment("e", artifact_location=str(tmp_path / "a"))
    sweep = client.create_run(experiment).info.run_id
    trial = client.create_run(experiment).info.run_id
    log_inputs(client, sweep, inputs.for_sweep())
    started = time.perf_counter()
    log_inputs(client, trial, inputs.for_trial())
    per_trial = time.perf_counter() - started

    digest = digest_of(data.fingerprint)
    assert digest == data.fingerprint[:16]
    assert _contexts(client, sweep) == {
        "training": ("wine-mlp-train", digest, data.fingerprint),
        "validation": ("wine-mlp-validation", digest, data.fingerprint),
        "test": ("wine-mlp-test", digest, data.fingerprint),
    }
    assert set(_contexts(client, trial)) == {"training", "validation"}
    logged = client.get_run(sweep).inputs.dataset_inputs[0].dataset
    assert logged.source_type == "code" and "wine" in logged.source
    features = json.loads(json.loads(logged.schema)["mlflow_tensorspec"]["features"])
    assert features[0]["tensor-spec"]["shape"] == [-1, 13]  # the schema, not the rows
    assert per_trial < 5  # one small write per trial (measured for real in the report)


def test_file_sources_name_their_file_and_text_gets_a_column_schema(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    rows = [f"{'good great fine' if i % 2 else 'bad awful poor'} {i},{i % 2}" for i in range(60)]
    path.write_text("text,label\n" + "\n".join(rows) + "\n")
    config = DataConfig(source="text_csv", path=str(path), text_column="text", target="label")
    data = load_dataset(config, 0)
    assert data.x_train.dtype == object
    entity = split_inputs(data, config, "t").by_split["train"].dataset
    assert entity.source_type == "local" and str(path) in entity.source
    assert "text" in entity.schema and entity.digest == digest_of(data.fingerprint)
    assert np.asarray(data.x_val).dtype == object  # text is never scaled
