"""`--devices auto|cpu|0,1,...`: which device each training process trains on.

Discovery never imports TensorFlow in the orchestrator (seconds of start-up, and it would
grab the GPUs): it asks `nvidia-smi -L`. `HPO_FAKE_GPUS=N` (test-only) pretends N GPUs are
visible, so the assignment can be tested on a machine without one; the processes then get
`CUDA_VISIBLE_DEVICES` of GPUs that do not exist and TensorFlow trains on the CPU.

Each device takes `trials_per_device` training processes (several small trials can share a
GPU, with memory growth on); slot i of the pool trains on device i // trials_per_device.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from hpo.errors import UserInputError
from hpo.trial.placement import device_env

FAKE_GPUS_ENV = "HPO_FAKE_GPUS"  # test-only: this many fake GPUs instead of nvidia-smi's
CPU = "cpu"
AUTO = "auto"


@dataclass(frozen=True)
class Device:
    """A GPU id (as CUDA_VISIBLE_DEVICES takes it) or the CPU (gpu None)."""

    gpu: str | None

    @property
    def label(self) -> str:
        return CPU if self.gpu is None else f"gpu:{self.gpu}"

    def env(self) -> dict[str, str]:
        return device_env(self.gpu)


def visible_gpus() -> list[str]:
    """The GPU ids this machine shows (`nvidia-smi -L`), or HPO_FAKE_GPUS's fake ones."""
    fake = os.environ.get(FAKE_GPUS_ENV)
    if fake is not None:
        if not fake.strip().isdigit():
            raise UserInputError(f"{FAKE_GPUS_ENV} must be a whole number, not {fake!r}")
        return [str(i) for i in range(int(fake))]
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        listing = subprocess.run(
            [smi, "-L"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return re.findall(r"^GPU (\d+):", listing, flags=re.MULTILINE)


def parse(spec: str) -> list[Device]:
    """`auto` (every visible GPU, else the CPU), `cpu`, or GPU ids `0,1,...`."""
    text = spec.strip().lower()
    if text == AUTO:
        gpus = visible_gpus()
        return [Device(g) for g in gpus] if gpus else [Device(None)]
    if text == CPU:
        return [Device(None)]
    ids = [part.strip() for part in text.split(",")]
    if not ids or not all(part.isdigit() for part in ids):
        raise UserInputError(
            f"{spec!r}: write auto, cpu, or GPU ids such as 0,1", field="--devices"
        )
    if len(set(ids)) != len(ids):
        raise UserInputError(f"{spec!r} names a GPU twice", field="--devices")
    known = visible_gpus()
    missing = [i for i in ids if i not in known]
    if missing:
        seen = ", ".join(known) if known else "none"
        raise UserInputError(
            f"GPU {missing[0]} is not visible on this machine (visible: {seen})",
            field="--devices",
        )
    return [Device(i) for i in ids]


def default_workers(devices: Sequence[Device], trials_per_device: int) -> int:
    """`--workers` when not given: every device busy with its share of processes."""
    return len(devices) * trials_per_device


def assign(devices: Sequence[Device], workers: int, trials_per_device: int = 1) -> list[Device]:
    """The device of each of `workers` pool slots: `trials_per_device` slots per device, in
    order, wrapping around when there are more workers than places."""
    if not devices:
        raise ValueError("no device to train on")
    return [devices[(slot // trials_per_device) % len(devices)] for slot in range(workers)]


def device_envs(spec: str, workers: int, trials_per_device: int = 1) -> list[dict[str, str]]:
    """The environment of each pool slot's training processes (its device), in slot order."""
    return [device.env() for device in assign(parse(spec), workers, trials_per_device)]
