"""One trial's evaluation, before and after the richer metrics (issue 15), side by side.

Trains an MLP (64 units, 1 epoch) on the split of experiments/digits_mlp.yaml once,
then times, alternating, on its validation split:
- before: the chunked predict -> argmax -> accuracy/precision/recall/F1 (the old evaluation);
- after: the same predict -> `score_probabilities` (label metrics, roc_auc, pr_auc, log_loss,
  brier, ece, per-class metrics), and the same with a tuned threshold on a binary task
  (breast_cancer, `threshold: tune`).
Prints one JSON object: median milliseconds of each and the difference per trial.
Usage: python benchmarks/evaluation_cost.py [--repeats 30]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent


def _median_ms(run: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _trained(source: str) -> tuple[Any, Any, Any]:
    import keras

    from hpo.config.experiment import load_experiment
    from hpo.data.dataset import load_dataset
    from hpo.models import get_builder

    experiment = load_experiment(ROOT / "experiments" / "digits_mlp.yaml")
    data_config = experiment.data.model_copy(update={"source": source})
    data = load_dataset(data_config, experiment.seed)
    keras.utils.set_random_seed(0)
    params = {"units": 64, "learning_rate": 1e-3, "dropout": 0.1, "n_layers": 1}
    model = get_builder("mlp")(params, data.input_shape, data.n_classes)
    model.fit(data.x_train, data.y_train, epochs=1, batch_size=64, verbose=0)
    return experiment, data, model


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    from hpo.metrics import classification_metrics
    from hpo.trial.predict import predict_labels, predict_proba, score_probabilities

    experiment, data, model = _trained("digits")
    average = experiment.primary.average

    def before() -> None:
        classification_metrics(data.y_val, predict_labels(model, data.x_val), average)

    def after() -> None:
        probs = predict_proba(model, data.x_val)
        score_probabilities(probs, data.y_val, data.class_names, average)

    _, binary, binary_model = _trained("breast_cancer")

    def binary_before() -> None:
        classification_metrics(binary.y_val, predict_labels(binary_model, binary.x_val), "binary")

    def binary_tuned() -> None:
        probs = predict_proba(binary_model, binary.x_val)
        score_probabilities(probs, binary.y_val, binary.class_names, "binary", "tune", "f1")

    for warm in (before, after, binary_before, binary_tuned):  # imports and tracing
        warm()
    results: dict[str, list[float]] = {k: [] for k in ("before", "after", "bb", "bt")}
    for _ in range(3):  # alternate, so load drifts hit both sides alike
        results["before"].append(_median_ms(before, args.repeats))
        results["after"].append(_median_ms(after, args.repeats))
        results["bb"].append(_median_ms(binary_before, args.repeats))
        results["bt"].append(_median_ms(binary_tuned, args.repeats))
    ms = {k: round(statistics.median(v), 2) for k, v in results.items()}
    print(
        json.dumps(
            {
                "digits_rows": len(data.y_val),
                "digits_before_ms": ms["before"],
                "digits_after_ms": ms["after"],
                "digits_added_ms_per_trial": round(ms["after"] - ms["before"], 2),
                "breast_cancer_rows": len(binary.y_val),
                "binary_before_ms": ms["bb"],
                "binary_tuned_threshold_ms": ms["bt"],
                "load_average": os.getloadavg()[0],
            }
        )
    )


if __name__ == "__main__":
    main()
