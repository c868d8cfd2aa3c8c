"""How many TensorFlow intra-op threads each training process gets: a rule read off a
measurement (benchmarks/threads.py; the table is in docs/benchmarks.md "Threads").

Each training process runs one trial at a time, and `--workers N` runs N of them side by
side, so the question is per family and per worker count. Measured on 2 cores (2026-12-03,
load average 1.0, 3 epochs of a mid-sized configuration of each shipped space):
- one worker: the MLP trains 1.3x faster on both cores (1.06 s vs 1.38 s per trial), while
  the small CNN, the recurrent and the attention models are as fast or faster on one thread
  (their ops are too small to split: 1.49 vs 1.65 s, 2.79 vs 3.37 s, 3.28 vs 3.30 s);
- as many workers as cores: one thread each is best for every family (two threads each
  oversubscribe the cores: up to 30 % fewer trials per minute for the CNN).
So a process gets the cores it does not share with another worker, except for the families
measured faster on one thread. Families not measured (transfer, your own `python:` or
function builders) keep the share. `hpo worker --threads` overrides the rule (several
workers sharing one machine).
"""

from __future__ import annotations

import os

from hpo.config.experiment import Experiment

# families measured as fast or faster with one intra-op thread, whatever the cores
ONE_THREAD_FAMILIES = frozenset({"cnn", "rnn", "attention"})


def threads_per_process(experiment: Experiment, workers: int, cpus: int | None = None) -> int:
    """Intra-op threads for each of `workers` training processes on a machine of `cpus`."""
    if experiment.model.builder in ONE_THREAD_FAMILIES:
        return 1
    return max(1, (cpus or os.cpu_count() or 1) // workers)
