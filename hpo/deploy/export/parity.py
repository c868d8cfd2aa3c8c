"""The parity check of an export: does the file predict what the original model predicts?

Exact formats must reproduce the probabilities; quantized ones are judged on labels only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

EXACT_MAX_ABS_DIFF = 1e-4
EXACT_MIN_AGREEMENT = 0.99
QUANTIZED_MIN_AGREEMENT = 0.95


@dataclass(frozen=True)
class Parity:
    rows: int
    max_abs_diff: float
    label_agreement: float
    max_abs_diff_limit: float | None
    min_label_agreement: float
    passed: bool


def thresholds(
    quantize: str, max_abs_diff: float | None, min_agreement: float | None
) -> tuple[float | None, float]:
    """Defaults: exact formats 1e-4 and 99% labels; quantized formats 95% labels only."""
    if quantize == "none":
        return (
            EXACT_MAX_ABS_DIFF if max_abs_diff is None else max_abs_diff,
            EXACT_MIN_AGREEMENT if min_agreement is None else min_agreement,
        )
    return max_abs_diff, QUANTIZED_MIN_AGREEMENT if min_agreement is None else min_agreement


def measure(
    original: np.ndarray,
    exported: np.ndarray,
    quantize: str,
    max_abs_diff: float | None,
    min_agreement: float | None,
) -> Parity:
    """Compare the two models' probabilities on the same rows against the thresholds."""
    limit, min_labels = thresholds(quantize, max_abs_diff, min_agreement)
    rows = len(original)
    diff = float(np.abs(exported - original).max()) if rows else 0.0
    agreement = float((exported.argmax(axis=1) == original.argmax(axis=1)).mean()) if rows else 1.0
    passed = agreement >= min_labels and (limit is None or diff <= limit)
    return Parity(rows, diff, agreement, limit, min_labels, passed)


def failure_message(parity: Parity, target: Path) -> str:
    limit = parity.max_abs_diff_limit
    limit_text = f" (limit {limit:g})" if limit is not None else ""
    return (
        f"parity check failed for {target}: max abs diff {parity.max_abs_diff:.3g}{limit_text}, "
        f"label agreement {parity.label_agreement:.2%} (minimum {parity.min_label_agreement:.0%})"
        f" on {parity.rows} validation rows; the file is left for inspection"
    )
