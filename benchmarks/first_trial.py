"""Time to the first trial: how long `hpo run` takes around a one-trial sweep (issue 17).

Runs `hpo run experiments/digits_mlp.yaml --trials 1 --epochs 1` in a fresh folder (a new
MLflow store and ledger, as a user's first run) and reports the whole process's wall time,
the trial's own time inside its training process (`trial_seconds`), and their difference:
what the user waits for before (and after) the one trial. With `--old DIR` (a checkout of
an earlier commit, e.g. `git worktree add /tmp/old <commit>`) both trees run interleaved
in one session, so machine noise hits both alike. The floor is `python -c "import
tensorflow"`, which every Keras tool pays once.
Usage: python benchmarks/first_trial.py [--runs 5] [--old /tmp/old]
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

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "experiments" / "digits_mlp.yaml"


def one_run(tree: Path) -> tuple[float, float]:
    """(process wall seconds, the trial's seconds inside its training process)."""
    from mlflow import MlflowClient

    env = {**os.environ, "PYTHONPATH": str(tree)}
    env.pop("MLFLOW_TRACKING_URI", None)
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "hpo.cli", "run", str(CONFIG)]
        options = ["--trials", "1", "--epochs", "1", "--json", "--quiet", "--no-report"]
        start = time.perf_counter()
        done = subprocess.run(
            [*command, *options], cwd=tmp, env=env, capture_output=True, text=True, check=True
        )
        wall = time.perf_counter() - start
        best = json.loads(done.stdout)["best"]
        run = MlflowClient(f"sqlite:///{tmp}/mlflow.db").get_run(best["run_id"])
        return wall, float(run.data.metrics["trial_seconds"])


def tensorflow_import() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import tensorflow"], capture_output=True, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--old", type=Path, help="an earlier checkout to compare with")
    args = parser.parse_args()
    trees = {"this tree": ROOT, **({"old": args.old} if args.old else {})}
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in trees}
    floor = []
    for _ in range(args.runs):  # interleaved
        for name, tree in trees.items():
            results[name].append(one_run(tree))
        floor.append(tensorflow_import())
    print(f"load average: {os.getloadavg()[0]:.2f}; {args.runs} runs, medians")
    print("| tree | process wall s | trial s | wall - trial s |")
    print("|---|---|---|---|")
    for name, runs in results.items():
        wall = statistics.median(w for w, _ in runs)
        trial = statistics.median(t for _, t in runs)
        outside = statistics.median(w - t for w, t in runs)
        print(f"| {name} | {wall:.2f} | {trial:.2f} | {outside:.2f} |")
    print(f"| `python -c 'import tensorflow'` | {statistics.median(floor):.2f} | | |")


if __name__ == "__main__":
    main()
