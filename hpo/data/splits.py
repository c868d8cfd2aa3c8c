"""The stratified train / validation / test split, refused up front when a class is too small.

scikit-learn's stratified split raises deep inside the second split when a class has too
few rows (10 classes x 3 rows; `digits` with `max_samples: 20`). Each split here is checked
first with scikit-learn's own rules (every class of the part being split has >= 2 rows; both
sides get >= one row per class), and every class must end up in all three splits; otherwise
one line says how many rows a class has, how many every class needs, and what to change.
"""

from __future__ import annotations

import math
from functools import cache
from typing import TYPE_CHECKING

import numpy as np

from hpo.errors import UserInputError

if TYPE_CHECKING:
    from hpo.config.data_config import DataConfig

Splits = tuple[np.ndarray, np.ndarray, np.ndarray]


class _TooFew(Exception):
    """A split cannot be stratified, or leaves a class out; `label` is the class (code)."""

    def __init__(self, label: int) -> None:
        self.label = label


def _split(
    indices: np.ndarray,
    y: np.ndarray,
    seed: int,
    *,
    test_size: float | None = None,
    train_size: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """`train_test_split(..., stratify=...)` after checking what it would raise about."""
    from sklearn.model_selection import train_test_split

    labels, counts = np.unique(y[indices], return_counts=True)
    n = len(indices)
    n_test = math.ceil(test_size * n) if test_size is not None else n - (train_size or 0)
    if counts.min() < 2 or min(n_test, n - n_test) < len(labels):
        raise _TooFew(int(labels[counts.argmin()]))
    first, second = train_test_split(
        indices, test_size=test_size, train_size=train_size, stratify=y[indices], random_state=seed
    )
    return first, second


def _three_ways(
    indices: np.ndarray, y: np.ndarray, n_classes: int, v: float, t: float, seed: int
) -> Splits:
    holdout = v + t
    train, rest = _split(indices, y, seed, test_size=holdout)
    val, test = _split(rest, y, seed, test_size=t / holdout)
    for part in (train, val, test):
        present = np.bincount(y[part], minlength=n_classes)
        if present.min() == 0:
            raise _TooFew(int(present.argmin()))
    return train, val, test


@cache
def rows_needed(n_classes: int, validation_size: float, test_size: float, seed: int) -> int:
    """The fewest rows per class (all classes that size) that split three ways with every
    class in every split: found by trying, so it is scikit-learn's rounding, not a guess."""
    for rows in range(2, 10_000):
        y = np.repeat(np.arange(n_classes), rows)
        try:
            _three_ways(np.arange(len(y)), y, n_classes, validation_size, test_size, seed)
        except _TooFew:
            continue
        return rows
    return 10_000


def split_indices(config: DataConfig, y: np.ndarray, classes: np.ndarray, seed: int) -> Splits:
    """Train, validation and test row indices of `y` (class codes 0..k-1), stratified and
    seeded, after the optional `max_samples` subsample; a class too small is a user error."""
    n_classes = len(classes)
    indices = np.arange(len(y))
    subsampled = config.max_samples is not None and config.max_samples < len(y)
    if subsampled:
        assert config.max_samples is not None
        if min(config.max_samples, len(y) - config.max_samples) < n_classes:
            raise UserInputError(
                f"max_samples {config.max_samples} must keep and leave out at least one row "
                f"per class ({n_classes} classes, {len(y)} rows): use at most "
                f"{len(y) - n_classes} or remove it",
                field="data.max_samples",
            )
        try:
            indices, _ = _split(indices, y, seed, train_size=config.max_samples)
        except _TooFew as err:
            raise _too_few(config, y, np.arange(len(y)), classes, err.label, seed) from None
    try:
        return _three_ways(indices, y, n_classes, config.validation_size, config.test_size, seed)
    except _TooFew as err:
        raise _too_few(config, y, indices, classes, err.label, seed) from None


def _splits(
    indices: np.ndarray, y: np.ndarray, n_classes: int, v: float, t: float, seed: int
) -> bool:
    try:
        _three_ways(indices, y, n_classes, v, t, seed)
    except _TooFew:
        return False
    return True


def _too_few(
    config: DataConfig,
    y: np.ndarray,
    indices: np.ndarray,
    classes: np.ndarray,
    label: int,
    seed: int,
) -> UserInputError:
    """The one-line refusal: the class, its rows, the minimum, and changes that would work
    (each suggestion is tried on the real labels first)."""
    k, v, t = len(classes), config.validation_size, config.test_size
    have = int(np.count_nonzero(y[indices] == label))
    needed = max(rows_needed(k, v, t, seed), have + 1)  # uneven classes can need more
    fixes = []
    subsampled = len(indices) < len(y)
    if subsampled and _splits(np.arange(len(y)), y, k, v, t, seed):
        about = math.ceil(needed * len(y) / int(np.bincount(y).min()))
        fixes.append(
            f"raise max_samples to about {about}" if about < len(y) - k else "remove max_samples"
        )
    else:
        fixes.append("add rows to the small classes")
    fraction = next((f for f in (0.25, 0.3, 0.33, 0.4) if _splits(indices, y, k, f, f, seed)), None)
    if fraction is not None and fraction not in (v, t):
        fixes.append(f"set validation_size and test_size to {fraction}")
    within = f" of the {len(indices)} max_samples rows" if subsampled else ""
    return UserInputError(
        f"class {classes[label]} has {have} row{'s' if have != 1 else ''}{within}: too few "
        f"for a stratified train/validation/test split (validation_size {v:g}, test_size "
        f"{t:g} need at least {needed} rows of every class); {' or '.join(fixes)}",
        field="data.max_samples" if subsampled else "data.target",
    )


def fold_indices(y: np.ndarray, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, validation) row indices of `y` for each of `folds` stratified folds,
    shuffled with `seed`: every row is validated exactly once. The one fold split of hpo
    (`evaluation.cv` and grid's `cv: k` both use it)."""
    from sklearn.model_selection import StratifiedKFold

    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(y)), y))
