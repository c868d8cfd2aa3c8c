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
