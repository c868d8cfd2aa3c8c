"""TensorFlow threads per training process: measured per family and worker count (issue 17).

For each shipped family (a mid-sized configuration of its shipped search space, on its
shipped data) and each worker count W (1, and the machine's CPU count), W training processes
run side by side, each fitting new models with T intra-op threads, T from 1 to CPUs // W
and CPUs (oversubscribed). Reported: seconds per trial (fit + the final predict, median over
the repeats, mean over the W processes) and trials per minute for the whole machine. The
rule in hpo/sweep/threads.py is read off this table (docs/benchmarks.md "Threads").
Usage: python benchmarks/threads.py [--repeats 3] [--epochs 3]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import time
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# family -> (data source, a mid-sized configuration of its shipped search space)
CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "mlp": (
        "digits",
        {"n_layers": 2, "units": 128, "dropout": 0.2, "learning_rate": 1e-3, "batch_size": 32},
    ),
    "cnn": (
        "digits_images",
        {"n_conv": 2, "filters": 16, "kernel_size": 3, "dense_units": 64, "learning_rate": 1e-3},
    ),
    "rnn": (
        "text_demo",
        {
            "max_tokens": 2000,
            "sequence_length": 24,
            "embedding_dim": 32,
            "cell": "gru",
            "n_layers": 1,
            "units": 32,
            "batch_size": 64,
        },
    ),
    "attention": (
        "text_demo",
        {
            "max_tokens": 2000,
            "sequence_length": 24,
            "embedding_dim": 32,
            "attention": "multihead",
            "num_heads": 2,
            "key_dim": 16,
            "batch_size": 64,
        },
    ),
}


def _measure(family: str, threads: int, repeats: int, epochs: int, out: Any) -> None:
    """In a fresh process: seconds per trial with `threads` intra-op threads."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import keras

    from hpo.config.data_config import DataConfig
    from hpo.data.dataset import load_dataset
    from hpo.models import get_builder
    from hpo.trial.pipeline import builder_kwargs
    from hpo.trial.predict import predict_labels
    from hpo.trial.validation import EpochPredictions, validation_callback

    source, params = CASES[family]
    data = load_dataset(DataConfig.model_validate({"source": source}), seed=0)
    build = get_builder(family)
    seconds = []
    for repeat in range(repeats + 1):  # the first one warms TensorFlow's kernels
        keras.backend.clear_session(free_memory=False)
        keras.utils.set_random_seed(repeat)
        start = time.perf_counter()
        model = build(params, data.input_shape, data.n_classes, **builder_kwargs(build, data))
        model.fit(
            data.x_train,
            data.y_train,
            epochs=epochs,
            batch_size=int(params.get("batch_size", 32)),
            callbacks=[validation_callback(EpochPredictions(data.x_val), data.y_val)],
            verbose=0,
        )
        predict_labels(model, data.x_val)
        if repeat:
            seconds.append(time.perf_counter() - start)
    out.put(statistics.median(seconds))


def side_by_side(family: str, workers: int, threads: int, repeats: int, epochs: int) -> float:
    """Mean seconds per trial of `workers` processes training at the same time."""
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    processes = [
        context.Process(target=_measure, args=(family, threads, repeats, epochs, out))
        for _ in range(workers)
    ]
    for process in processes:
        process.start()
    results = [out.get() for _ in processes]
    for process in processes:
        process.join()
    return statistics.mean(results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--families", nargs="*", default=list(CASES))
    args = parser.parse_args()
    cpus = os.cpu_count() or 1
    print(f"load average before: {os.getloadavg()[0]:.2f}; {cpus} CPUs; {args.epochs} epochs")
    print("| family | workers | threads each | s per trial | trials per minute (machine) |")
    print("|---|---|---|---|---|")
    for family in args.families:
        for workers in sorted({1, cpus}):
            for threads in sorted({*range(1, cpus // workers + 1), cpus}):
                seconds = side_by_side(family, workers, threads, args.repeats, args.epochs)
                print(
                    f"| {family} | {workers} | {threads} | {seconds:.2f} | "
                    f"{60 * workers / seconds:.1f} |",
                    flush=True,
                )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
