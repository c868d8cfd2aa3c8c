"""How much of a sweep is spent outside Keras' fit and predict: hpo vs a hand-written loop.

Runs, side by side in fresh temporary folders, `hpo run` and `handwritten_loop.py` on the
digits MLP (20 trials x 10 epochs by default) and reports, for each:
- overhead share = (wall - fit - predict) / wall, for the sweep loop itself and for the
  whole process (which adds Python + TensorFlow start-up, ~5 s, paid once by any tool);
- for hpo, its own cost per trial (sampler, ledger, MLflow logging, process hand-off):
  the sweep loop's wall time minus the time inside its trials, per trial.
Usage: python benchmarks/overhead.py [--trials 20] [--epochs 10] [--repeats 1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "experiments" / "digits_mlp.yaml"


def run_hpo(trials: int, epochs: int) -> dict[str, Any]:
    from mlflow import MlflowClient

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "hpo.cli",
                "run",
                str(CONFIG),
                "--trials",
                str(trials),
                "--epochs",
                str(epochs),
                "--json",
                "--quiet",
                "--study",
                "bench",
            ],
            cwd=tmp,
            capture_output=True,
            text=True,
            check=True,
        )
        process = time.perf_counter() - start
        summary = json.loads(done.stdout)
        client = MlflowClient(f"sqlite:///{tmp}/mlflow.db")
        sweep = client.get_run(summary["sweep_run_id"])
        runs = client.search_runs([sweep.info.experiment_id], max_results=1000)
        trial_runs = [r for r in runs if r.data.tags.get("hpo.kind") == "trial"]
        fit = sum(r.data.metrics["fit_seconds"] for r in trial_runs)
        predict = sum(r.data.metrics["predict_seconds"] for r in trial_runs)
        inside_trials = sum(r.data.metrics["trial_seconds"] for r in trial_runs)
        build = sum(r.data.metrics["build_seconds"] for r in trial_runs)
        first_start = min(r.info.start_time for r in trial_runs) / 1000
        loop = (sweep.info.end_time - sweep.info.start_time) / 1000
        steady = sweep.info.end_time / 1000 - first_start
        return {
            "process_seconds": process,
            "loop_seconds": loop,
            "fit_seconds": fit,
            "predict_seconds": predict,
            "build_seconds": build,
            "own_ms_per_trial": 1000 * (steady - inside_trials) / len(trial_runs),
            "best_f1": summary["best"]["metrics"]["f1"],
        }


def run_baseline(trials: int, epochs: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        done = subprocess.run(
            [
                sys.executable,
                str(ROOT / "benchmarks" / "handwritten_loop.py"),
                str(CONFIG),
                str(trials),
                str(epochs),
            ],
            cwd=tmp,
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        )
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        result["process_seconds"] = time.perf_counter() - start
        return result


def shares(result: dict[str, Any]) -> dict[str, float]:
    inside = result["fit_seconds"] + result["predict_seconds"]
    return {
        "loop_overhead": (result["loop_seconds"] - inside) / result["loop_seconds"],
        "process_overhead": (result["process_seconds"] - inside) / result["process_seconds"],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    rows: dict[str, list[dict[str, Any]]] = {"hpo": [], "hand-written": []}
    for _ in range(args.repeats):  # alternate so machine noise hits both alike
        rows["hpo"].append(run_hpo(args.trials, args.epochs))
        rows["hand-written"].append(run_baseline(args.trials, args.epochs))
    print(f"{args.trials} trials x {args.epochs} epochs, digits MLP, {args.repeats} repeat(s)")
    print("tool           loop s  process s  fit+predict s  loop overhead  process overhead")
    for name, results in rows.items():
        med = {k: statistics.median(r[k] for r in results) for k in results[0]}
        sh = shares(med)
        inside = med["fit_seconds"] + med["predict_seconds"]
        print(
            f"{name:<13} {med['loop_seconds']:7.1f} {med['process_seconds']:10.1f} "
            f"{inside:14.1f} {sh['loop_overhead']:13.1%} {sh['process_overhead']:17.1%}"
        )
        if name == "hpo":
            print(
                f"  hpo: model build {med['build_seconds']:.1f} s in all; own cost per trial "
                f"(sampler, ledger, MLflow, hand-off) {med['own_ms_per_trial']:.0f} ms; "
                f"best f1 {med['best_f1']:.3f}"
            )
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
