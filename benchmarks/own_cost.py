"""hpo's own cost per trial, without Keras: sampler + ledger, and the MLflow writes.

Replays the orchestrator's per-trial bookkeeping for the digits MLP search space on the
embedded default (journal ledger, SQLite MLflow) with a fake result instead of training:
ask (TPE) + record the trial in the ledger + tell, then create the trial run, log its
params, metrics (10 epochs of loss / val_loss) and tags, and end it. Target: <= 50 ms.
Usage: python benchmarks/own_cost.py [--trials 50]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=50)
    args = parser.parse_args()
    from hpo.config.experiment import load_experiment
    from hpo.search import strategy_for
    from hpo.search.base import Outcome
    from hpo.study.ledger import Ledger
    from hpo.tracking.runs import Tracker

    experiment = load_experiment(ROOT / "experiments" / "digits_mlp.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        ledger = Ledger.open(f"{tmp}/ledger.journal", "bench", ["maximize"])
        strategy = strategy_for(experiment, experiment.space)
        strategy.attach(ledger)
        tracker = Tracker(f"sqlite:///{tmp}/mlflow.db")
        experiment_id = tracker.experiment_id("bench")
        assert experiment_id is not None
        sweep = tracker.start_sweep(experiment_id, "bench", {}, "x: 1\n", None)
        sampler_ms, mlflow_ms = [], []
        history = {"loss": [0.5] * 10, "val_loss": [0.6] * 10}
        metrics = {
            "accuracy": 0.9,
            "precision": 0.9,
            "recall": 0.9,
            "f1": 0.9,
            "fit_seconds": 1.5,
            "trial_seconds": 1.7,
            "n_params": 5000.0,
        }
        for i in range(args.trials):
            start = time.perf_counter()
            request = strategy.ask()
            value = 0.5 + 0.4 * (i % 7) / 7
            ledger.finish(request.number, "COMPLETE", [value], metrics={"f1": value})
            strategy.tell(request, Outcome("COMPLETE", (value,)))
            middle = time.perf_counter()
            run_id = tracker.start_trial(
                experiment_id, sweep, request.number, request.params, {"hpo.strategy": "optuna-tpe"}
            )
            tracker.finish_trial(run_id, "COMPLETE", metrics=metrics, history=history)
            end = time.perf_counter()
            sampler_ms.append((middle - start) * 1000)
            mlflow_ms.append((end - middle) * 1000)
    print(f"{args.trials} trials, digits MLP space (13 parameters), TPE, embedded default")
    print(f"sampler + ledger (ask, record, tell): median {statistics.median(sampler_ms):5.1f} ms")
    print(
        f"MLflow trial run (create, params, metrics, tags, end): "
        f"median {statistics.median(mlflow_ms):5.1f} ms"
    )
    total = statistics.median(sampler_ms) + statistics.median(mlflow_ms)
    print(f"total per trial: {total:.1f} ms (the MLflow part overlaps the next trial's training)")


if __name__ == "__main__":
    main()
