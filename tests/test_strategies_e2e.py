"""Every strategy drives the same real Keras pipeline and lands in MLflow with one schema;
pruning, several objectives, constraints and warm starts end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow import MlflowClient

from tests.conftest import tiny_experiment

pytestmark = pytest.mark.slow

# a couple of random points first, so the model-based part of each backend runs too
OPTIONS = {
    "optuna-tpe": {"n_startup_trials": 2},
    "optuna-gp": {"n_startup_trials": 2},
    "bayes-opt": {"n_initial_points": 2},
    "skopt-gp": {"n_initial_points": 2},
    "skopt-forest": {"n_initial_points": 2},
    "skopt-gbrt": {"n_initial_points": 2},
    "optuna-nsga2": {"population_size": 2},
}
STRATEGIES = [
    "random",
    "optuna-tpe",
    "optuna-gp",
    "optuna-cmaes",
    "optuna-qmc",
    "optuna-nsga2",
    "bayes-opt",
    "skopt-gp",
    "skopt-forest",
    "skopt-gbrt",
]


def _trial_runs(workdir: Path, experiment: str = "tiny") -> list:
    client = MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}")
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    return [r for r in runs if r.data.tags.get("hpo.kind") == "trial"]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_each_strategy_runs_a_real_sweep_with_the_same_schema(strategy, cli, write_config, workdir):
    config = tiny_experiment(
        **{
            "budget.trials": 3,
            "strategy.name": strategy,
            "strategy.options": OPTIONS.get(strategy, {}),
        }
    )
    config["search_space"]["params"]["optimizer"] = {
        "type": "categorical",
        "choices": ["adam", "rmsprop"],
    }
    done = cli("run", str(write_config(config)), "--study", strategy, "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["strategy"] == strategy
    assert summary["states"]["COMPLETE"] == 3
    runs = _trial_runs(workdir)
    assert len(runs) == 3
    for run in runs:
        assert run.data.tags["hpo.strategy"] == strategy
        assert set(run.data.params) == {"learning_rate", "units", "batch_size", "optimizer"}
        assert {"accuracy", "precision", "recall", "f1", "fit_seconds", "n_params"} <= set(
            run.data.metrics
        )


def test_pruning_stops_poor_trials_and_logs_them_pruned(cli, write_config, workdir):
    config = tiny_experiment(
        **{
            "budget.trials": 8,
            "budget.epochs": 6,
            "strategy.pruner": "asha",
            "data.max_samples": 400,
        }
    )
    config["search_space"]["params"]["learning_rate"] = {
        "type": "float",
        "low": 1e-5,
        "high": 3e-2,
        "log": True,
    }
    done = cli("run", str(write_config(config)), "--study", "p", "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["states"]["PRUNED"] >= 1
    pruned = [r for r in _trial_runs(workdir) if r.data.tags["hpo.state"] == "PRUNED"]
    assert len(pruned) == summary["states"]["PRUNED"]
    for run in pruned:
        epoch = int(run.data.tags["hpo.pruned_epoch"])
        assert 1 <= epoch < 5  # epochs trained when pruned
        assert run.data.metrics["epochs"] == epoch  # stopped where it was pruned
        assert run.info.status == "FINISHED"


def test_pruner_refused_for_a_backend_that_cannot_prune(cli, write_config, workdir):
    path = write_config(**{"strategy.name": "bayes-opt"})
    done = cli("run", str(path), "--pruner", "median")
    assert done.returncode == 2
    assert "cannot prune" in done.stderr and "Traceback" not in done.stderr


def test_two_objectives_give_a_pareto_set(cli, write_config, workdir):
    config = tiny_experiment(
        **{
            "budget.trials": 4,
            "strategy.name": "optuna-nsga2",
            "strategy.options": {"population_size": 2},
        }
    )
    config["objective"] = [{"metric": "f1"}, {"metric": "n_params"}]
    done = cli("run", str(write_config(config)), "--study", "mo", "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    pareto = summary["pareto"]
    assert pareto and {p["trial"] for p in pareto} <= set(range(4))
    runs = {r.data.tags["hpo.trial"]: r for r in _trial_runs(workdir)}
    points = [
        (runs[str(p["trial"])].data.metrics["f1"], runs[str(p["trial"])].data.metrics["n_params"])
        for p in pareto
    ]
    for f1, n in points:  # nobody in the set is dominated by another trial
        for run in runs.values():
            m = run.data.metrics
            assert not (
                m["f1"] >= f1 and m["n_params"] <= n and (m["f1"], m["n_params"]) != (f1, n)
            )
    best = json.loads(cli("best", "tiny", "--json").stdout)
    assert isinstance(best, list) and {b["trial"] for b in best} == {p["trial"] for p in pareto}


def test_constraints_are_respected_when_picking_the_best(cli, write_config, workdir):
    config = tiny_experiment(**{"budget.trials": 2})
    config["constraints"] = ["n_params <= 10"]  # no MLP on 64 inputs is that small
    done = cli("run", str(write_config(config)), "--study", "c", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["best"] is None
    best = cli("best", "tiny")
    assert best.returncode == 2 and "meets the constraints" in best.stderr


def test_enqueued_configurations_run_first(cli, write_config, workdir):
    known = {"learning_rate": 0.005, "units": 17}
    (workdir / "known.json").write_text(json.dumps([known]))
    path = write_config(**{"budget.trials": 2, "strategy.name": "skopt-forest"})
    done = cli("run", str(path), "--study", "e", "--enqueue", "known.json", "--json")
    assert done.returncode == 0, done.stderr
    first = next(r for r in _trial_runs(workdir) if r.data.tags["hpo.trial"] == "0")
    assert first.data.params["learning_rate"] == "0.005" and first.data.params["units"] == "17"


def test_bad_enqueue_file_is_refused(cli, write_config, workdir):
    (workdir / "bad.json").write_text(json.dumps([{"learning_rate": 5.0, "units": 17}]))
    done = cli("run", str(write_config()), "--enqueue", "bad.json")
    assert done.returncode == 2
    assert "bad.json" in done.stderr and "learning_rate" in done.stderr
    assert not (workdir / "mlflow.db").exists()
