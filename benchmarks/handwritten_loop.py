"""Baseline: the Optuna + MLflow loop people write by hand, on the same task as hpo.

Same data split, same model family (hpo's MLP builder), same search space, 20 trials x 10
epochs, TPE, a child run per trial with params, per-epoch losses, the four metrics, and the
best model logged (with explicit pip requirements, to be fair: without them MLflow spends
~10 s inferring requirements per model). Prints one JSON object with its timings.
"""

from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
process_start = time.perf_counter()

import keras  # noqa: E402
import mlflow  # noqa: E402
import mlflow.keras  # noqa: E402
import numpy as np  # noqa: E402
import optuna  # noqa: E402

from hpo.config.experiment import load_experiment  # noqa: E402
from hpo.data.dataset import load_dataset  # noqa: E402
from hpo.metrics import classification_metrics  # noqa: E402
from hpo.models.mlp import build  # noqa: E402
from hpo.study.distributions import suggest  # noqa: E402


def main(config_path: str, trials: int, epochs: int) -> None:
    experiment = load_experiment(config_path)
    data = load_dataset(experiment.data, experiment.seed)
    space = experiment.space
    mlflow.set_tracking_uri("sqlite:///baseline.db")
    mlflow.set_experiment("baseline")
    fit_total = predict_total = 0.0
    best = {"value": -1.0}

    def objective(trial: optuna.Trial) -> float:
        nonlocal fit_total, predict_total
        params = space.sample(lambda p: suggest(trial, p))
        with mlflow.start_run(run_name=f"trial-{trial.number}", nested=True):
            mlflow.log_params(params)
            keras.backend.clear_session()
            keras.utils.set_random_seed(experiment.seed + trial.number)
            model = build(params, data.input_shape, data.n_classes)
            t0 = time.perf_counter()
            history = model.fit(
                data.x_train,
                data.y_train,
                validation_data=(data.x_val, data.y_val),
                epochs=epochs,
                batch_size=int(params.get("batch_size", 32)),
                verbose=0,
            )
            fit_total += time.perf_counter() - t0
            t0 = time.perf_counter()
            y_pred = model.predict(data.x_val, verbose=0).argmax(axis=1)
            predict_total += time.perf_counter() - t0
            metrics = classification_metrics(data.y_val, y_pred, "macro")
            mlflow.log_metrics(metrics)
            for epoch, (loss, val) in enumerate(
                zip(history.history["loss"], history.history["val_loss"], strict=True)
            ):
                mlflow.log_metrics({"loss": loss, "val_loss": val}, step=epoch)
            if metrics["f1"] > best["value"]:
                best["value"] = metrics["f1"]
                mlflow.keras.log_model(
                    model,
                    name="model",
                    pip_requirements=["tensorflow"],
                    signature=mlflow.models.infer_signature(
                        data.x_val[:5], np.asarray(model(data.x_val[:5]))
                    ),
                )
            return metrics["f1"]

    loop_start = time.perf_counter()
    with mlflow.start_run(run_name="sweep"):
        study = optuna.create_study(
            direction="maximize", sampler=optuna.samplers.TPESampler(seed=experiment.seed)
        )
        study.optimize(objective, n_trials=trials)
    loop_seconds = time.perf_counter() - loop_start
    print(
        json.dumps(
            {
                "loop_seconds": loop_seconds,
                "process_seconds": time.perf_counter() - process_start,
                "fit_seconds": fit_total,
                "predict_seconds": predict_total,
                "best_f1": study.best_value,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
