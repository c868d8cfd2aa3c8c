"""Image folders: trials per minute and a trial's peak memory for 500 vs 5,000 images, and
tf.data streaming vs the same images preloaded as arrays.

1. Sweep: for each folder size, `hpo run` of the CNN (fixed small architecture) on generated
   64x64 PNG digits (python -m hpo.data.make_images), `--trials` x `--epochs`; trials per
   minute from the sweep's wall time, and the peak resident memory (VmRSS, sampled 4x a
   second) of the training processes. Run with the memory cache off (HPO_IMAGE_CACHE_MB=0:
   every epoch decodes, memory must stay flat) and with the default cache.
2. Fit: in this process, one CNN fitted on the largest folder's training split streamed
   from the files (hpo/trial/streaming.py; with the default cache, and with none: every
   epoch decodes) and on the same pixels preloaded as a numpy array; median seconds per
   epoch after the first, ratio goal <= 1.2.

Usage: python benchmarks/images.py [--sizes 500 5000] [--trials 5] [--epochs 3]
Small check: python benchmarks/images.py --sizes 100 200 --trials 2 --epochs 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
SIZE = 64
CNN = {"n_conv": 2, "filters": 16, "kernel_size": 3, "dense_units": 64, "batch_size": 32}


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def descendants(pid: int) -> list[int]:
    try:
        direct = [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []
    return direct + [d for child in direct for d in descendants(child)]


def sweep(folder: Path, work: Path, trials: int, epochs: int, cache_mb: str) -> dict[str, Any]:
    """One `hpo run` on `folder`: wall time, trials per minute, peak RSS per process."""
    config = {
        "name": "images-bench",
        "seed": 0,
        "data": {"source": "image_folder", "path": str(folder), "image_size": [SIZE, SIZE]},
        "model": {"builder": "cnn"},
        "search_space": {
            "params": {**CNN, "learning_rate": {"type": "float", "low": 1e-3, "high": 3e-3}}
        },
        "objective": {"metric": "f1"},
        "strategy": {"name": "random"},
        "budget": {"trials": trials, "epochs": epochs},
        "tracking": {"report": False, "log_models": False},
    }
    path = work / f"bench-{folder.name}-{cache_mb}.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HPO_IMAGE_CACHE_MB": cache_mb}
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "hpo.cli", "run", str(path), "--json", "--quiet"],
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    peaks: dict[int, float] = {}
    while process.poll() is None:
        for pid in [process.pid, *descendants(process.pid)]:
            value = rss_mb(pid)
            if value is not None:
                peaks[pid] = max(peaks.get(pid, 0.0), value)
        time.sleep(0.25)
    wall = time.perf_counter() - started
    summary = json.loads(process.stdout.read() if process.stdout else "{}")
    workers = {pid: mb for pid, mb in peaks.items() if pid != process.pid}
    trial_seconds = trials_span(work, str(summary.get("sweep_run_id")))
    return {
        "images": sum(1 for _ in folder.rglob("*.png")),
        "cache_mb": cache_mb,
        "states": summary.get("states"),
        "sweep_seconds": round(wall, 1),
        "trials_per_minute": round(60 * trials / trial_seconds, 2),
        "peak_rss_training_mb": round(max(workers.values(), default=0.0)),
        "peak_rss_orchestrator_mb": round(peaks.get(process.pid, 0.0)),
    }


def trials_span(work: Path, sweep_run_id: str) -> float:
    """Seconds from the first trial's start to the last one's end (start-up excluded)."""
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{work}/mlflow.db")
    sweep_run = client.get_run(sweep_run_id)
    runs = client.search_runs(
        [sweep_run.info.experiment_id], f"tags.mlflow.parentRunId = '{sweep_run_id}'"
    )
    if not runs:
        return float("nan")
    start = min(r.info.start_time for r in runs)
    end = max(r.info.end_time or r.info.start_time for r in runs)
    return (end - start) / 1000


def fit_epochs(folder: Path, epochs: int) -> dict[str, Any]:
    """Seconds per epoch: the files streamed with tf.data vs the same pixels as an array."""
    import keras
    import numpy as np

    from hpo.config.data_config import DataConfig
    from hpo.data.dataset import load_dataset
    from hpo.models.cnn import build
    from hpo.trial.streaming import image_batches

    config = DataConfig(source="image_folder", path=str(folder), image_size=(SIZE, SIZE))
    data = load_dataset(config, 0)

    class Timer(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.seconds: list[float] = []

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            self.seconds.append(time.perf_counter() - self.start)

    def timed(fit: Any) -> list[float]:
        keras.backend.clear_session()
        keras.utils.set_random_seed(0)
        model = build(CNN, data.input_shape, data.n_classes, x_train=data.x_train)
        timer = Timer()
        fit(model, timer)
        return timer.seconds

    batch = int(CNN["batch_size"])
    streamed = timed(
        lambda model, timer: model.fit(
            image_batches(data.x_train, data.y_train, batch, shuffle_seed=0),  # type: ignore[arg-type]
            epochs=epochs,
            callbacks=[timer],
            verbose=0,
            shuffle=False,  # the dataset reshuffles itself every epoch
        )
    )
    uncached = timed(
        lambda model, timer: model.fit(
            image_batches(data.x_train, data.y_train, batch, shuffle_seed=0, cache=False),  # type: ignore[arg-type]
            epochs=epochs,
            callbacks=[timer],
            verbose=0,
            shuffle=False,
        )
    )
    x_train = np.asarray(data.x_train)
    preloaded = timed(
        lambda model, timer: model.fit(
            x_train,
            data.y_train,
            batch_size=batch,
            epochs=epochs,
            callbacks=[timer],
            verbose=0,
            shuffle=True,
        )
    )
    later = slice(1, None) if epochs > 1 else slice(None)
    stream_s = statistics.median(streamed[later])
    uncached_s = statistics.median(uncached[later])
    array_s = statistics.median(preloaded[later])
    return {
        "train_images": len(data.y_train),
        "streamed_first_epoch_s": round(streamed[0], 3),
        "streamed_epoch_s": round(stream_s, 3),
        "streamed_uncached_epoch_s": round(uncached_s, 3),
        "preloaded_epoch_s": round(array_s, 3),
        "ratio": round(stream_s / array_s, 3),
        "ratio_uncached": round(uncached_s / array_s, 3),
        "goal": "<= 1.2",
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 5000])
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    from hpo.data.make_images import make_images

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        folders = [make_images(work / f"png{n}", count=n, size=SIZE, seed=1) for n in args.sizes]
        rows = [
            sweep(folder, work, args.trials, args.epochs, cache_mb)
            for cache_mb in ("0", "256")
            for folder in folders
        ]
        for row in rows:
            print(json.dumps(row))
        for cache_mb in ("0", "256"):
            mine = [r for r in rows if r["cache_mb"] == cache_mb]
            ratio = mine[-1]["peak_rss_training_mb"] / max(mine[0]["peak_rss_training_mb"], 1)
            print(
                f"cache {cache_mb} MB: peak training RSS {mine[-1]['images']} vs "
                f"{mine[0]['images']} images = {ratio:.2f}x"
            )
        print(json.dumps({"fit": fit_epochs(folders[-1], max(args.epochs, 4))}))


if __name__ == "__main__":
    main()
