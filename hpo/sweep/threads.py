"""How many TensorFlow intra-op threads each training process gets: a rule read off a
measurement (benchmarks/threads.py; the table is in docs/benchmarks.md "Threads").

Each training process runs one trial at a time, and `--workers N` runs N of them side by
side, so the question is per family and per worker count. `hpo worker --threads` overrides
the rule (several workers sharing one machine).
"""

from __future__ import annotations

import os

from hpo.config.experiment import Experiment


def threads_per_process(experiment: Experiment, workers: int, cpus: int | None = None) -> int:
    """Intra-op threads for each of `workers` training processes on a machine of `cpus`."""
    cpus = cpus or os.cpu_count() or 1
    return max(1, cpus // workers)
