"""End to end: the real CLI trains real Keras models and MLflow holds the contract schema."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from mlflow import MlflowClient

from tests.conftest import ROOT, tiny_experiment

pytestmark = pytest.mark.slow


def _client(workdir: Path) -> MlflowClient:
    return MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}")


def _runs(workdir: Path, experiment: str = "tiny") -> tuple[object, list]:
    client = _client(workdir)
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    sweeps = [r for r in runs if r.data.tags.get("hpo.kind") == "sweep"]
    trials = [r for r in runs if r.data.tags.get("hpo.kind") == "trial"]
    return sweeps, trials


def test_run_logs_the_contract_schema(cli, write_config, workdir):
    config = write_config(**{"budget.trials": 3})
    done = cli("run", str(config), "--study", "s1", "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)  # exactly one JSON object on stdout
    assert set(summary) == {
        "experiment",
        "study",
        "strategy",
        "sweep_run_id",
        "n_trials",
        "states",
        "best",
        "stop_reason",  # issue 16: null unless budget.stop_when ended the sweep
    }
    assert summary["stop_reason"] is None
    assert summary["experiment"] == "tiny" and summary["study"] == "s1"
    assert summary["strategy"] == "random"
    assert summary["n_trials"] == 3
    assert summary["states"] == {"COMPLETE": 3, "PRUNED": 0, "FAIL": 0}
    best = summary["best"]
    assert set(best) == {"trial", "run_id", "params", "metrics"}
    assert set(best["metrics"]) == {"accuracy", "precision", "recall", "f1"}
    assert set(best["params"]) == {"learning_rate", "units", "batch_size"}

    sweeps, trials = _runs(workdir)
    assert len(sweeps) == 1 and len(trials) == 3
    sweep = sweeps[0]
    assert sweep.info.run_id == summary["sweep_run_id"]
    assert sweep.info.status == "FINISHED"
    tags = sweep.data.tags
    assert tags["hpo.kind"] == "sweep" and tags["hpo.study"] == "s1"
    assert tags["hpo.strategy"] == "random"
    assert len(tags["hpo.config_sha256"]) == 64 and len(tags["hpo.data_sha256"]) == 64
    assert tags["hpo.best_run_id"] == best["run_id"]
    assert sweep.data.metrics["best_f1"] == pytest.approx(best["metrics"]["f1"])
    client = _client(workdir)
    assert "config.yaml" in [a.path for a in client.list_artifacts(sweep.info.run_id)]

    for run in trials:
        t = run.data.tags
        assert t["mlflow.parentRunId"] == sweep.info.run_id
        assert t["hpo.kind"] == "trial" and t["hpo.state"] == "COMPLETE"
        assert t["hpo.strategy"] == "random" and t["hpo.trial"] in {"0", "1", "2"}
        assert set(run.data.params) == {"learning_rate", "units", "batch_size"}
        m = run.data.metrics
        for key in ("accuracy", "precision", "recall", "f1", "fit_seconds", "trial_seconds"):
            assert key in m
        assert 0 <= m["f1"] <= 1 and 0 < m["fit_seconds"] <= m["trial_seconds"]
        assert run.info.status == "FINISHED"
        history = client.get_metric_history(run.info.run_id, "val_loss")
        assert [h.step for h in history] == [0]  # one epoch, step = epoch

    best_run = next(r for r in trials if r.info.run_id == best["run_id"])
    assert best_run.data.tags.get("hpo.model") == "logged"
    import mlflow.pyfunc

    model = mlflow.pyfunc.load_model(f"runs:/{best['run_id']}/model")
    assert model.metadata.signature is not None
    probs = np.asarray(model.predict(np.zeros((2, 64), dtype=np.float32)))
    assert probs.shape == (2, 10)

    # the read-back commands agree with the run
    best_cli = json.loads(cli("best", "tiny", "--json").stdout)
    assert best_cli["study"] == "s1" and best_cli["run_id"] == best["run_id"]
    assert best_cli["params"] == best["params"]  # typed as the run printed them, not text
    listed = json.loads(cli("trials", "tiny", "--study", "s1", "--format", "json").stdout)
    assert listed[0]["run_id"] == best["run_id"]  # best first
    assert {row["state"] for row in listed} == {"COMPLETE"}
    assert set(listed[0]) == {"trial", "run_id", "state", "params", "metrics"}
    table = cli("trials", "tiny").stdout
    assert "trial" in table and "learning_rate" in table
    csv_out = cli("trials", "tiny", "--format", "csv").stdout.splitlines()
    assert len(csv_out) == 4


def test_resume_keeps_completed_trials_and_one_sweep_run(cli, write_config, workdir):
    config = write_config(**{"budget.trials": 2, "strategy.name": "optuna-tpe"})
    first = cli("run", str(config), "--study", "r", "--json", "--quiet")
    assert first.returncode == 0, first.stderr
    _, trials_before = _runs(workdir)
    again = cli("run", str(config), "--study", "r", "--trials", "4", "--json")
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    assert summary["n_trials"] == 4
    sweeps, trials_after = _runs(workdir)
    assert len(sweeps) == 1 and sweeps[0].info.run_id == summary["sweep_run_id"]
    assert len(trials_after) == 4
    assert sorted(int(r.data.tags["hpo.trial"]) for r in trials_after) == [0, 1, 2, 3]
    before_ids = {r.info.run_id for r in trials_before}
    assert before_ids <= {r.info.run_id for r in trials_after}  # not redone
    # the budget counts finished trials: asking for 4 again runs nothing new
    third = cli("run", str(config), "--study", "r", "--trials", "4", "--json")
    assert json.loads(third.stdout)["n_trials"] == 4


def test_failing_and_nan_trials_are_logged_and_the_sweep_goes_on(cli, write_config, workdir):
    (workdir / "flaky_builders.py").write_text(
        "import keras\n"
        "from hpo.models.mlp import build as mlp\n"
        "def build(params, input_shape, n_classes):\n"
        "    if params['mode'] == 'crash':\n"
        "        raise RuntimeError('boom from the builder')\n"
        "    model = mlp(params, input_shape, n_classes)\n"
        "    if params['mode'] == 'nan':\n"
        "        model.compile(optimizer=keras.optimizers.SGD(learning_rate=1e30),\n"
        "                      loss='sparse_categorical_crossentropy')\n"
        "    return model\n"
    )
    config = tiny_experiment(**{"budget.trials": 5, "model.builder": "python:flaky_builders:build"})
    config["search_space"]["params"]["mode"] = {
        "type": "categorical",
        "choices": ["ok", "crash", "nan"],
    }
    path = write_config(config)
    # every mode certainly runs: the first trials are queued, the strategy draws the rest
    queued = [
        {"learning_rate": 0.005, "units": 16, "mode": mode} for mode in ("crash", "ok", "nan")
    ]
    (workdir / "queued.json").write_text(json.dumps(queued))
    done = cli(
        *("run", str(path), "--study", "f", "--enqueue", "queued.json", "--json"),
        env={"PYTHONPATH": f"{workdir}{os.pathsep}{ROOT}"},
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    sweeps, trials = _runs(workdir)
    by_mode: dict[str, list] = {}
    for run in trials:
        by_mode.setdefault(run.data.params["mode"], []).append(run)
    assert summary["n_trials"] == 5 and len(trials) == 5
    first = {r.data.tags["hpo.trial"]: r.data.params["mode"] for r in trials}
    assert [first[n] for n in ("0", "1", "2")] == ["crash", "ok", "nan"]
    assert by_mode["crash"] and by_mode["nan"] and by_mode["ok"]
    for run in by_mode["crash"]:
        assert run.info.status == "FAILED" and run.data.tags["hpo.state"] == "FAIL"
        assert "boom from the builder" in run.data.tags["hpo.error"]
    for run in by_mode["nan"]:
        assert run.data.tags["hpo.state"] == "FAIL" and run.info.status == "FAILED"
        assert run.data.tags["hpo.error"] == "loss became NaN at epoch 0"
    for run in by_mode["ok"]:
        assert run.data.tags["hpo.state"] == "COMPLETE" and run.info.status == "FINISHED"
    n_fail = len(by_mode["crash"]) + len(by_mode["nan"])
    assert summary["states"] == {"COMPLETE": len(by_mode["ok"]), "PRUNED": 0, "FAIL": n_fail}
    # the sweep run counts them too (the schema's n_complete / n_pruned / n_fail)
    counts = {k: v for k, v in sweeps[0].data.metrics.items() if k.startswith("n_")}
    assert counts == {"n_complete": len(by_mode["ok"]), "n_pruned": 0, "n_fail": n_fail}


def test_sweep_stops_when_the_first_trials_all_fail(cli, write_config, workdir):
    (workdir / "broken.py").write_text(
        "def build(params, input_shape, n_classes):\n    raise ValueError('always broken')\n"
    )
    path = write_config(
        **{
            "model.builder": "python:broken:build",
            "budget.trials": 10,
            "budget.max_initial_failures": 3,
        }
    )
    done = cli("run", str(path), "--study", "b", env={"PYTHONPATH": f"{workdir}{os.pathsep}{ROOT}"})
    assert done.returncode == 1
    assert "first 3 trials all failed" in done.stderr and "always broken" in done.stderr
    assert "Traceback" not in done.stderr
    sweeps, trials = _runs(workdir)
    assert len(trials) == 3 and sweeps[0].info.status == "FAILED"
    assert all(r.info.status == "FAILED" for r in trials)
