"""What MLflow dataset inputs cost: building the three split entities once per sweep, and
each trial run's `log_inputs` (training + validation references) on the embedded SQLite store.

Compares, per trial, creating a trial run alone with creating it and logging its inputs
(the `TrialRuns.start` path). Target: a few ms per trial, flat in the number of trials.
Usage: python benchmarks/dataset_inputs.py [--trials 200] [--source digits]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--source", default="digits")
    args = parser.parse_args()
    from hpo.config.data_config import DataConfig
    from hpo.data.dataset import load_dataset
    from hpo.tracking.datasets import log_inputs, split_inputs
    from hpo.tracking.runs import Tracker

    config = DataConfig(source=args.source)
    data = load_dataset(config, 0)
    with tempfile.TemporaryDirectory() as tmp:
        tracker = Tracker(f"sqlite:///{tmp}/mlflow.db")
        experiment_id = tracker.experiment_id("bench")
        assert experiment_id is not None
        started = time.perf_counter()
        inputs = split_inputs(data, config, "bench")
        build_ms = (time.perf_counter() - started) * 1000
        sweep = tracker.client.create_run(experiment_id).info.run_id
        started = time.perf_counter()
        log_inputs(tracker.client, sweep, inputs.for_sweep())
        sweep_ms = (time.perf_counter() - started) * 1000
        plain, with_inputs, inputs_only = [], [], []
        for trial in range(args.trials):
            started = time.perf_counter()
            run_id = tracker.start_trial(experiment_id, sweep, 2 * trial, {"units": 8}, {})
            plain.append(time.perf_counter() - started)
            started = time.perf_counter()
            run_id = tracker.start_trial(experiment_id, sweep, 2 * trial + 1, {"units": 8}, {})
            middle = time.perf_counter()
            log_inputs(tracker.client, run_id, inputs.for_trial())
            done = time.perf_counter()
            with_inputs.append(done - started)
            inputs_only.append(done - middle)
    half = args.trials // 2
    print(f"{args.source}: {len(data.y_train)} train rows, {args.trials} trials")
    print(
        f"build the three entities once: {build_ms:.1f} ms; sweep run log_inputs {sweep_ms:.1f} ms"
    )
    print(f"trial run created: median {statistics.median(plain) * 1000:.1f} ms")
    print(
        f"  + log_inputs:    median {statistics.median(inputs_only) * 1000:.1f} ms "
        f"(first half {statistics.median(inputs_only[:half]) * 1000:.1f}, "
        f"second half {statistics.median(inputs_only[half:]) * 1000:.1f})"
    )
    print(f"trial run with inputs: median {statistics.median(with_inputs) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
