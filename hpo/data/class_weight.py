"""Class imbalance: `class_weight: none | balanced` weights and the class counts `hpo
validate` prints.

`balanced` is scikit-learn's rule, computed from the TRAIN split's class counts only:
weight(c) = n_train / (n_classes * count(c)), so every class carries the same total weight
in the loss. Keras `fit(class_weight=...)` takes the resulting {class index: weight}.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from hpo.data.dataset import Dataset

CLASS_WEIGHTS = ("none", "balanced")
# `hpo validate` warns when the smallest class has fewer rows than this share of the largest
IMBALANCE_WARNING = 0.10


def class_weights(kind: object, y_train: np.ndarray, n_classes: int) -> dict[int, float] | None:
    """The `fit(class_weight=...)` for a trial's `class_weight` value (None: unweighted)."""
    if kind in (None, "none"):
        return None
    if kind != "balanced":
        raise ValueError(f"unknown class_weight {kind!r} (known: {', '.join(CLASS_WEIGHTS)})")
    counts = np.bincount(y_train, minlength=n_classes)
    return {c: len(y_train) / (n_classes * int(n)) for c, n in enumerate(counts) if n > 0}


def split_counts(dataset: Dataset) -> dict[str, list[int]]:
    """Rows of each class (model output order) in each split."""
    k = dataset.n_classes
    return {
        "train": np.bincount(dataset.y_train, minlength=k).tolist(),
        "validation": np.bincount(dataset.y_val, minlength=k).tolist(),
        "test": np.bincount(dataset.y_test, minlength=k).tolist(),
    }


def counts_text(dataset: Dataset) -> str:
    """`class counts (train / validation / test):` then one line per class."""
    counts = split_counts(dataset)
    lines = ["class counts (train / validation / test):"]
    for c, name in enumerate(dataset.class_names):
        per_split = " / ".join(str(counts[split][c]) for split in counts)
        lines.append(f"    {name}: {per_split}")
    return "\n".join(lines)


def imbalance_warning(dataset: Dataset) -> str | None:
    """One line when the smallest class is under 10 % of the largest (train + validation +
    test), naming both and the parameter that answers it."""
    counts = np.bincount(
        np.concatenate([dataset.y_train, dataset.y_val, dataset.y_test]),
        minlength=dataset.n_classes,
    )
    small, large = int(counts.argmin()), int(counts.argmax())
    if counts[small] >= IMBALANCE_WARNING * counts[large]:
        return None
    names = dataset.class_names
    return (
        f"warning: class {names[small]} has {counts[small]} rows, under "
        f"{IMBALANCE_WARNING:.0%} of class {names[large]} ({counts[large]} rows): consider "
        "searching class_weight: [none, balanced] and an objective such as f1 (macro average)"
    )
