"""Where a training process computes: its device, GPU memory growth, mixed precision.

The orchestrator picks each process's device (hpo/sweep/devices.py) and passes the
environment (`CUDA_VISIBLE_DEVICES`, `TF_FORCE_GPU_ALLOW_GROWTH`) to the pool's initializer,
which sets it before TensorFlow is imported; this module reads that environment back (the
`hpo.device` tag says what the process really got) and sets up TensorFlow in the process.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextlib import suppress

CUDA_VISIBLE = "CUDA_VISIBLE_DEVICES"
CPU_ONLY = "-1"  # CUDA's value for "no GPU": TensorFlow then trains on the CPU


def device_env(gpus: str | None) -> dict[str, str]:
    """The environment of a training process given GPU ids "0" or "0,1" (None: the CPU)."""
    if gpus is None:
        return {CUDA_VISIBLE: CPU_ONLY}
    return {CUDA_VISIBLE: gpus, "TF_FORCE_GPU_ALLOW_GROWTH": "true"}


def device_label(env: Mapping[str, str]) -> str:
    """`cpu`, or `gpu:<ids>` from the process's own CUDA_VISIBLE_DEVICES; unset: `any` (the
    process was not pinned and TensorFlow takes what it finds)."""
    value = env.get(CUDA_VISIBLE)
    if value is None:
        return "any"
    if value.strip() in ("", CPU_ONLY):
        return "cpu"
    return f"gpu:{value}"


def grow_gpu_memory() -> None:
    """Take GPU memory as needed, not all of it at start (several trials may share a GPU).
    A process pinned to the CPU (`CUDA_VISIBLE_DEVICES=-1` or empty) never asks CUDA: the
    question alone makes TensorFlow print a cuInit error on every machine without a GPU."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", "").strip() in ("", "-1"):
        return
    import tensorflow as tf

    for gpu in tf.config.list_physical_devices("GPU"):
        with suppress(RuntimeError):  # already initialized: the env variable did it
            tf.config.experimental.set_memory_growth(gpu, True)


def use_mixed_precision() -> str:
    """Keras's global dtype policy for this process: float16 maths on a GPU (tensor cores),
    bfloat16 on a CPU (float16 is emulated and slow there); variables stay float32."""
    import keras
    import tensorflow as tf

    policy = "mixed_float16" if tf.config.list_physical_devices("GPU") else "mixed_bfloat16"
    keras.mixed_precision.set_global_policy(policy)
    return policy
