"""`hpo --help` start-up time (target: under 0.5 s on 2 cores): median of repeated runs.

Heavy libraries (tensorflow, keras, mlflow, optuna, sklearn) must not load at start-up;
tests/test_quality.py checks that, this measures what it buys.
Usage: python benchmarks/startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    hpo = shutil.which("hpo") or f"{sys.executable} -m hpo.cli"
    command = [*hpo.split(), "--help"]
    baseline = [sys.executable, "-c", "pass"]
    timings: dict[str, list[float]] = {"hpo --help": [], "python -c pass": []}
    for _ in range(args.runs):  # interleaved, so machine noise hits both alike
        for name, cmd in (("hpo --help", command), ("python -c pass", baseline)):
            start = time.perf_counter()
            subprocess.run(cmd, capture_output=True, check=True)
            timings[name].append(time.perf_counter() - start)
    for name, values in timings.items():
        print(
            f"{name:<16} median {statistics.median(values) * 1000:6.0f} ms "
            f"(min {min(values) * 1000:.0f}, max {max(values) * 1000:.0f}, {args.runs} runs)"
        )


if __name__ == "__main__":
    main()
