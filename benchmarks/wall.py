"""Whole-sweep wall time: hpo vs a hand-written Optuna + MLflow loop vs KerasTuner (issue 17).

All three evaluate **the same 20 configurations** of a digits MLP (1-3 layers of 32-256 units,
dropout, log learning rate, batch 32/64/128; Adam; 10 epochs) on the same train/validation
split, and each is timed as a whole process (Python + TensorFlow start-up included, as a user
waits for it):
- hpo: `hpo run exp.yaml --enqueue configs.json --trials 20 --no-report` (the 20 configs
  are enqueued, so the strategy proposes nothing of its own; the end-of-run report is off
  because the peers write none);
- the loop: what users write (`study.enqueue_trial` for each config, a Sequential model
  compiled with Keras's defaults, `fit` without per-epoch validation, predict, F1, a child
  MLflow run per trial with params and metrics, the best model logged with explicit pip
  requirements);
- KerasTuner `RandomSearch` over a fixed-list hypermodel: one `hp.Choice("config", 0..19)`
  picks the configuration, so its 20 trials are the 20 configs (checked), with
  `validation_data` as KerasTuner's docs use it (its objective is `val_accuracy`).
Repeats are interleaved (tool by tool, then the next repeat) so machine noise hits all alike.
Usage: python benchmarks/wall.py [--repeats 3] [--trials 20] [--epochs 10] [--tools hpo,loop,kt]
(KerasTuner is a benchmark-only dependency: pip install 'keras-tuner>=1.4,<2')
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SEED = 0


def configurations(n: int, seed: int = SEED) -> list[dict[str, Any]]:
    """`n` configurations of the issue's MLP space, in hpo's parameter names."""
    rng = random.Random(seed)
    configs = []
    for _ in range(n):
        layers = rng.randint(1, 3)
        config: dict[str, Any] = {"n_layers": layers}
        for i in range(layers):
            config[f"units_{i}"] = round(2 ** rng.uniform(5, 8))  # 32..256, log
            config[f"dropout_{i}"] = round(rng.uniform(0.0, 0.4), 4)
        config["learning_rate"] = float(f"{10 ** rng.uniform(-4, -1.5):.6g}")
        config["batch_size"] = rng.choice([32, 64, 128])
        configs.append(config)
    return configs


EXPERIMENT = {
    "name": "wall-bench",
    "seed": SEED,
    "data": {"source": "digits"},
    "model": {"builder": "mlp"},
    "search_space": {
        "params": {
            "learning_rate": {"type": "float", "low": 1e-4, "high": 0.0317, "log": True},
            "batch_size": {"type": "categorical", "choices": [32, 64, 128]},
        },
        "layers": {
            "n_layers": {
                "count": {"low": 1, "high": 3},
                "per_layer": {
                    "units": {"type": "int", "low": 32, "high": 256, "log": True},
                    "dropout": {"type": "float", "low": 0.0, "high": 0.4},
                },
            }
        },
    },
    "objective": {"metric": "f1", "average": "macro"},
    "strategy": {"name": "random"},
    "budget": {"trials": 20, "epochs": 10},
}


def _data() -> Any:
    """hpo's split of digits (the same rows for every tool)."""
    from hpo.config.experiment import Experiment
    from hpo.data.dataset import load_dataset

    experiment = Experiment.model_validate(EXPERIMENT)
    return load_dataset(experiment.data, experiment.seed)


def _plain_mlp(config: dict[str, Any], input_dim: int, n_classes: int) -> Any:
    """The model as a user writes it (Keras defaults), the same architecture as hpo's."""
    import keras

    model = keras.Sequential([keras.Input((input_dim,))])
    for i in range(config["n_layers"]):
        model.add(keras.layers.Dense(config[f"units_{i}"], activation="relu"))
        model.add(keras.layers.Dropout(config[f"dropout_{i}"]))
    model.add(keras.layers.Dense(n_classes, activation="softmax"))
    model.compile(
        optimizer=keras.optimizers.Adam(config["learning_rate"]),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


# ---------------------------------------------------------------- the tools (child processes)


def run_loop(configs: list[dict[str, Any]], epochs: int) -> dict[str, Any]:
    """The hand-written Optuna + MLflow loop."""
    import keras
    import mlflow
    import mlflow.keras
    import optuna
    from sklearn.metrics import f1_score

    data = _data()
    mlflow.set_tracking_uri("sqlite:///loop.db")
    mlflow.set_experiment("loop")
    best = {"f1": -1.0}
    fit_predict = 0.0

    def objective(trial: optuna.Trial) -> float:
        nonlocal fit_predict
        # the search space as a user writes it; the enqueued values come back from it
        config: dict[str, Any] = {"n_layers": trial.suggest_int("n_layers", 1, 3)}
        for i in range(config["n_layers"]):
            config[f"units_{i}"] = trial.suggest_int(f"units_{i}", 32, 256, log=True)
            config[f"dropout_{i}"] = trial.suggest_float(f"dropout_{i}", 0.0, 0.4)
        config["learning_rate"] = trial.suggest_float("learning_rate", 1e-4, 0.0317, log=True)
        config["batch_size"] = trial.suggest_categorical("batch_size", [32, 64, 128])
        with mlflow.start_run(run_name=f"trial-{trial.number}", nested=True):
            mlflow.log_params(config)
            keras.backend.clear_session()
            keras.utils.set_random_seed(SEED + trial.number)
            model = _plain_mlp(config, data.x_train.shape[1], data.n_classes)
            start = time.perf_counter()
            model.fit(
                data.x_train,
                data.y_train,
                epochs=epochs,
                batch_size=config["batch_size"],
                verbose=0,
            )
            predicted = model.predict(data.x_val, verbose=0).argmax(axis=1)
            fit_predict += time.perf_counter() - start
            f1 = float(f1_score(data.y_val, predicted, average="macro"))
            mlflow.log_metric("f1", f1)
            if f1 > best["f1"]:
                best["f1"] = f1
                mlflow.keras.log_model(model, name="model", pip_requirements=["tensorflow"])
            return f1

    with mlflow.start_run(run_name="sweep"):
        study = optuna.create_study(direction="maximize")
        for config in configs:
            study.enqueue_trial(config)
        study.optimize(objective, n_trials=len(configs))
    return {"best_f1": best["f1"], "fit_predict_seconds": fit_predict}


def run_kerastuner(configs: list[dict[str, Any]], epochs: int) -> dict[str, Any]:
    """KerasTuner RandomSearch over a fixed-list hypermodel."""
    import keras_tuner
    from sklearn.metrics import f1_score

    data = _data()

    class FixedList(keras_tuner.HyperModel):
        def build(self, hp: Any) -> Any:
            config = configs[hp.Choice("config", list(range(len(configs))))]
            return _plain_mlp(config, data.x_train.shape[1], data.n_classes)

        def fit(self, hp: Any, model: Any, *args: Any, **kwargs: Any) -> Any:
            config = configs[hp.get("config")]
            return model.fit(*args, batch_size=config["batch_size"], **kwargs)

    tuner = keras_tuner.RandomSearch(
        FixedList(),
        objective="val_accuracy",
        max_trials=len(configs),
        seed=SEED,
        directory="kt",
        project_name="wall",
        overwrite=True,
    )
    tuner.search(
        data.x_train,
        data.y_train,
        epochs=epochs,
        validation_data=(data.x_val, data.y_val),
        verbose=0,
    )
    evaluated = {t.hyperparameters.get("config") for t in tuner.oracle.trials.values()}
    best = tuner.get_best_models(1)[0]
    f1 = float(f1_score(data.y_val, best.predict(data.x_val, verbose=0).argmax(1), average="macro"))
    return {"best_f1": f1, "configs_evaluated": len(evaluated)}


def run_hpo(
    configs: list[dict[str, Any]], epochs: int, tmp: Path, env: dict[str, str]
) -> dict[str, Any]:
    import yaml

    (tmp / "exp.yaml").write_text(yaml.safe_dump({**EXPERIMENT}))
    (tmp / "configs.json").write_text(json.dumps(configs))
    command = [sys.executable, "-m", "hpo.cli", "run", "exp.yaml", "--enqueue", "configs.json"]
    options = ["--trials", str(len(configs)), "--epochs", str(epochs), "--json", "--quiet"]
    done = subprocess.run(
        [*command, *options, "--no-report"],
        cwd=tmp,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    summary = json.loads(done.stdout)
    return {"best_f1": summary["best"]["metrics"]["f1"], "n_trials": summary["n_trials"]}


# ---------------------------------------------------------------- the harness


def timed(tool: str, trials: int, epochs: int) -> tuple[float, dict[str, Any]]:
    """Run one tool as a whole fresh process in a fresh folder."""
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
        env.pop("MLFLOW_TRACKING_URI", None)
        start = time.perf_counter()
        if tool == "hpo":  # the hpo command itself is the process
            extra = run_hpo(configurations(trials), epochs, tmp, env)
        else:
            done = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    tool,
                    "--trials",
                    f"{trials}",
                    "--epochs",
                    f"{epochs}",
                ],
                cwd=tmp,
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            extra = json.loads(done.stdout.strip().splitlines()[-1])
        return time.perf_counter() - start, extra


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--tools", default="hpo,loop,kt")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        runner = {"loop": run_loop, "kt": run_kerastuner}[args.child]
        print(json.dumps(runner(configurations(args.trials), args.epochs)))
        return
    tools = args.tools.split(",")
    names = {"hpo": "hpo run (enqueued)", "loop": "Optuna + MLflow loop", "kt": "KerasTuner"}
    walls: dict[str, list[float]] = {t: [] for t in tools}
    extras: dict[str, list[dict[str, Any]]] = {t: [] for t in tools}
    load = [os.getloadavg()[0]]
    for _ in range(args.repeats):
        for tool in tools:
            seconds, extra = timed(tool, args.trials, args.epochs)
            walls[tool].append(seconds)
            extras[tool].append(extra)
            print(f"{tool}: {seconds:.1f} s {extra}", file=sys.stderr, flush=True)
        load.append(os.getloadavg()[0])
    print(f"load average (1 min) at start and after each repeat: {load}")
    print(f"{args.trials} configurations x {args.epochs} epochs, {args.repeats} repeats")
    print("| tool | wall s per repeat | median | best val F1 |")
    print("|---|---|---|---|")
    for tool in tools:
        runs = " / ".join(f"{s:.1f}" for s in walls[tool])
        f1s = " / ".join(f"{e['best_f1']:.4f}" for e in extras[tool])
        print(f"| {names[tool]} | {runs} | {statistics.median(walls[tool]):.1f} | {f1s} |")
    peers = [statistics.median(walls[t]) for t in tools if t != "hpo"]
    if "hpo" in tools and peers:
        ratio = statistics.median(walls["hpo"]) / min(peers)
        print(f"hpo median / fastest peer median: {ratio:.2f} (goal: at most 0.85)")


if __name__ == "__main__":
    main()
