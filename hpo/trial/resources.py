"""What a trial cost its training process: CPU seconds, peak resident memory, GPU memory.

Measured inside the training process, around the trial, and returned with its result (not
MLflow's system metrics: its `SystemMetricsMonitor` samples the whole machine from a thread
of the process that holds the run, here the orchestrator, so with several workers the
trials' usage cannot be told apart, and it needs psutil).

CPU seconds are `getrusage(RUSAGE_SELF)` user + system time, a delta over the trial: every
TensorFlow thread of the process counts. Peak RSS is the high-water mark of the process
(`VmHWM`); the process is recycled and trains many trials, so before each trial the mark is
reset (`/proc/self/clear_refs` "5", Linux >= 4.0) and the peak is then the trial's own
(`peak_rss_scope` "trial"). Where that reset is not allowed the peak is the process's
lifetime one (`ru_maxrss`, scope "process"): an upper bound that includes earlier trials.
GPU memory is TensorFlow's own peak counter per visible GPU (reset before the trial);
GPU utilisation is not recorded (it needs NVML sampling).
"""

from __future__ import annotations

import resource
import sys
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

CLEAR_REFS = "/proc/self/clear_refs"
STATUS = "/proc/self/status"


@dataclass
class Usage:
    cpu_seconds: float
    peak_rss_mb: float
    peak_rss_scope: str  # "trial" (reset before it) or "process" (lifetime of the process)
    gpu_peak_mb: float | None = None


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _reset_peak() -> bool:
    try:
        with open(CLEAR_REFS, "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def _hwm_mb() -> float | None:
    try:
        with open(STATUS) as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return None


def _lifetime_peak_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS


def _gpus() -> list[Any]:
    """TensorFlow's visible GPUs, if TensorFlow is loaded (it is, in a training process)."""
    tf = sys.modules.get("tensorflow")
    if tf is None:
        return []
    try:
        return list(tf.config.list_logical_devices("GPU"))
    except Exception:
        return []


class Meter:
    """`start()` before the trial, `stop()` after it: the trial's `Usage`."""

    def start(self) -> None:
        self._gpus = _gpus()
        for gpu in self._gpus:
            with suppress(Exception):  # not every TensorFlow build counts GPU memory
                sys.modules["tensorflow"].config.experimental.reset_memory_stats(gpu.name)
        self._scope = "trial" if _reset_peak() and _hwm_mb() is not None else "process"
        self._cpu = _cpu()

    def stop(self) -> Usage:
        cpu = _cpu() - self._cpu
        peak = _hwm_mb() if self._scope == "trial" else None
        usage = Usage(
            cpu, peak if peak is not None else _lifetime_peak_mb(), self._scope, self._gpu_peak()
        )
        return usage

    def _gpu_peak(self) -> float | None:
        peaks = []
        for gpu in self._gpus:
            try:
                info = sys.modules["tensorflow"].config.experimental.get_memory_info(gpu.name)
                peaks.append(info["peak"] / 2**20)
            except Exception:
                pass
        return max(peaks) if peaks else None
