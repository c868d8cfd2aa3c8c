"""What a trial cost (CPU seconds, peak RSS), and issue 16's other checks on ONE real sweep.

The module's sweep (`hpo run --json`, a few one-epoch trials) also stops by its
`budget.stop_when` rule, trains pinned to a fake GPU (HPO_FAKE_GPUS: this machine has none,
so TensorFlow trains on the CPU) and in mixed precision (mixed_bfloat16 on the CPU).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from hpo.trial.resources import Meter
from tests.conftest import run_cli, tiny_experiment


def test_the_meter_counts_this_trials_cpu_and_peak_memory() -> None:
    meter = Meter()
    meter.start()
    block = bytearray(64 * 2**20)  # 64 MB touched
    for i in range(0, len(block), 4096):
        block[i] = 1
    sum(range(2_000_000))
    usage = meter.stop()
    assert usage.cpu_seconds > 0
    assert usage.peak_rss_mb >= 64
    assert usage.peak_rss_scope == "trial"  # Linux lets a process reset its own peak
    del block
    meter.start()
    assert meter.stop().peak_rss_mb < usage.peak_rss_mb  # the next trial's own peak


@pytest.fixture(scope="module")
def stopped_sweep(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("resources")
    config = tiny_experiment(
        **{
            "budget.trials": 8,
            # the first trial sets the best; no later one can beat it by 0.9: stops after 2
            "budget.stop_when": {
                "no_improvement": {"trials": 1, "min_delta": 0.9},
                "min_trials": 2,
            },
            "budget.mixed_precision": True,
        }
    )
    (folder / "exp.yaml").write_text(yaml.safe_dump(config))
    done = run_cli(
        "run", "exp.yaml", "--devices", "1", "--json", "--quiet",
        cwd=folder, env={"HPO_FAKE_GPUS": "2"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{Path(folder) / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("tiny")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    return {
        "json": json.loads(done.stdout),
        "sweep": next(r for r in runs if r.data.tags["hpo.kind"] == "sweep"),
        "trials": [r for r in runs if r.data.tags["hpo.kind"] == "trial"],
    }


@pytest.mark.slow
def test_a_sweep_that_stops_learning_ends_finished_and_says_why(
    stopped_sweep: dict[str, Any],
) -> None:
    summary, sweep = stopped_sweep["json"], stopped_sweep["sweep"]
    assert summary["stop_reason"] == "no_improvement"
    assert summary["n_trials"] == 2 < 8
    assert sweep.info.status == "FINISHED"
    assert sweep.data.tags["hpo.stop_reason"] == "no_improvement"
    assert "1 trial did not improve" in sweep.data.tags["hpo.stop_detail"]


@pytest.mark.slow
def test_each_trial_records_what_it_cost(stopped_sweep: dict[str, Any]) -> None:
    for run in stopped_sweep["trials"]:
        metrics = run.data.metrics
        assert 0 < metrics["cpu_seconds"] < 600
        weight_mb = metrics["n_params"] * 4 / 2**20  # float32 weights
        assert metrics["peak_rss_mb"] > weight_mb
        assert metrics["peak_rss_mb"] > 100  # a process with TensorFlow loaded
        assert run.data.tags["hpo.peak_rss_scope"] == "trial"
        assert 0 < metrics["score_std"] < 0.5  # the bootstrap noise of the validation f1


@pytest.mark.slow
def test_trials_train_pinned_to_their_device_in_mixed_precision(
    stopped_sweep: dict[str, Any],
) -> None:
    for run in stopped_sweep["trials"]:
        # read back from the training process's own CUDA_VISIBLE_DEVICES
        assert run.data.tags["hpo.device"] == "gpu:1"
        assert run.data.tags["hpo.precision_policy"] == "mixed_bfloat16"
        assert run.data.tags["hpo.state"] == "COMPLETE" and run.data.metrics["f1"] >= 0
