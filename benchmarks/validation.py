"""What per-epoch validation costs a trial, option by option (issue 17).

One training process (1 intra-op thread, as a sweep's), the same seed and configuration for
every option, each model new (as in a sweep: a new model per trial). Times `fit` + the
trial's final predict for:
- `validation_data`: `fit(validation_data=(x_val, y_val))` (hpo before issue 17);
- `callback`: hpo's `EpochValidation` (one direct inference pass per epoch, loss in NumPy);
- `every 3`: the callback, but validation only every 3rd epoch (what "only the curve needs
  it" would allow);
- `none`: no per-epoch validation at all (what a hand-written loop does; the lower bound).
Families: the digits MLP and CNN (8x8 digits), and the LSTM on the generated text set.
Usage: python benchmarks/validation.py [--repeats 5] [--epochs 10] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "digits mlp": (
        "mlp",
        {"n_layers": 2, "units": 128, "dropout": 0.2, "learning_rate": 1e-3, "batch_size": 64},
    ),
    "digits cnn": (
        "cnn",
        {"n_conv": 2, "filters": 16, "dense_units": 64, "learning_rate": 1e-3},
    ),
}


def _data(name: str) -> Any:
    from hpo.config.data_config import DataConfig
    from hpo.data.dataset import load_dataset

    if name == "digits cnn":
        return load_dataset(DataConfig(source="digits_images"), seed=0)
    if name.startswith("digits"):
        return load_dataset(DataConfig(source="digits"), seed=0)
    raise ValueError(name)


def _every(k: int, inner: Any) -> Any:
    import keras

    class EveryK(keras.callbacks.Callback):
        def set_model(self, model: Any) -> None:
            super().set_model(model)
            inner.set_model(model)

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            last = epoch + 1 == self.params.get("epochs")
            if (epoch + 1) % k == 0 or last:
                inner.on_epoch_end(epoch, logs)

    return EveryK()


def one_trial(family: str, params: dict[str, Any], data: Any, option: str, epochs: int) -> float:
    """Seconds inside fit + the final predict for one new model."""
    import keras

    from hpo.models import get_builder
    from hpo.trial.predict import predict_labels
    from hpo.trial.validation import EpochPredictions, validation_callback

    keras.backend.clear_session(free_memory=False)
    keras.utils.set_random_seed(0)
    model = get_builder(family)(params, data.input_shape, data.n_classes)
    kwargs: dict[str, Any] = {}
    callbacks: list[Any] = []
    if option == "validation_data":
        kwargs["validation_data"] = (data.x_val, data.y_val)
    elif option == "callback":
        callbacks.append(validation_callback(EpochPredictions(data.x_val), data.y_val))
    elif option == "every 3":
        callbacks.append(_every(3, validation_callback(EpochPredictions(data.x_val), data.y_val)))
    start = time.perf_counter()
    model.fit(
        data.x_train,
        data.y_train,
        epochs=epochs,
        batch_size=int(params.get("batch_size", 32)),
        callbacks=callbacks,
        verbose=0,
        **kwargs,
    )
    predict_labels(model, data.x_val)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    options = ("validation_data", "callback", "every 3", "none")
    print(f"load average: {os.getloadavg()[0]:.2f}; threads {args.threads}; {args.epochs} epochs")
    print(f"| case | {' | '.join(options)} | callback / validation_data | callback / none |")
    print("|---|" + "---|" * (len(options) + 2))
    for case, (family, params) in CASES.items():
        data = _data(case)
        one_trial(family, params, data, "none", 1)  # warm TensorFlow's kernels once
        times: dict[str, list[float]] = {o: [] for o in options}
        for _ in range(args.repeats):  # interleaved, so machine noise hits every option
            for option in options:
                times[option].append(one_trial(family, params, data, option, args.epochs))
        med = {option: statistics.median(seconds) for option, seconds in times.items()}
        cells = " | ".join(f"{med[o]:.2f} s" for o in options)
        print(
            f"| {case} | {cells} | {med['callback'] / med['validation_data']:.2f} | "
            f"{med['callback'] / med['none']:.2f} |"
        )


if __name__ == "__main__":
    main()
