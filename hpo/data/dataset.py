"""Datasets: load once, split once (stratified, seeded), scale on train only, fingerprint.

The fingerprint is a hash of the raw arrays, the split indices and the scaling, so two
sweeps with the same fingerprint saw exactly the same train/validation/test rows.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hpo.config.experiment import DataConfig
from hpo.errors import UserInputError, first_line


@dataclass(frozen=True)
class Dataset:
    """A split dataset. The test split is for promotion only: search never reads it."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    fingerprint: str

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Per-example shape; `()` for text (one string per example)."""
        return tuple(int(d) for d in self.x_train.shape[1:])

    @property
    def is_text(self) -> bool:
        """Raw strings (text sources): the model vectorizes them itself."""
        return self.x_train.dtype == object

    def summary(self) -> dict[str, Any]:
        return {
            "input_shape": list(self.input_shape),
            "n_classes": self.n_classes,
            "train": len(self.y_train),
            "validation": len(self.y_val),
            "test": len(self.y_test),
            "fingerprint": self.fingerprint,
        }


def _sklearn_dataset(source: str) -> tuple[np.ndarray, np.ndarray]:
    from sklearn import datasets

    if source in ("digits", "digits_images"):
        bunch = datasets.load_digits()
        x = bunch.data if source == "digits" else bunch.images[..., np.newaxis]
        return np.asarray(x, dtype=np.float32), bunch.target
    loader = {
        "breast_cancer": datasets.load_breast_cancer,
        "wine": datasets.load_wine,
        "iris": datasets.load_iris,
    }[source]
    bunch = loader()
    return np.asarray(bunch.data, dtype=np.float32), bunch.target


def _synthetic(config: DataConfig, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import make_classification

    opts = config.synthetic
    if opts.n_informative + opts.n_redundant > opts.n_features:
        raise UserInputError(
            "n_informative + n_redundant must be <= n_features", field="data.synthetic"
        )
    try:
        x, y = make_classification(**opts.model_dump(), random_state=seed)
    except ValueError as err:  # e.g. too many classes for n_informative
        raise UserInputError(str(err), field="data.synthetic") from None
    return x.astype(np.float32), y


def _table(config: DataConfig) -> tuple[np.ndarray, np.ndarray]:
    import pandas as pd

    assert config.path is not None
    path = Path(config.path)
    if not path.is_file():
        raise UserInputError("file not found", source=str(path), field="data.path")
    try:
        frame = pd.read_csv(path) if config.source == "csv" else pd.read_parquet(path)
    except Exception as err:  # pandas raises many types for unreadable files
        first = first_line(err)
        raise UserInputError(f"cannot read {config.source}: {first}", source=str(path)) from None
    target = config.target or "target"
    if target not in frame.columns:
        raise UserInputError(
            f"no target column {target!r} (columns: {', '.join(map(str, frame.columns[:20]))})",
            source=str(path),
            field="data.target",
        )
    features = config.features or [c for c in frame.columns if c != target]
    missing = [c for c in features if c not in frame.columns]
    if missing:
        raise UserInputError(f"no column {missing[0]!r}", source=str(path), field="data.features")
    non_numeric = [c for c in features if not pd.api.types.is_numeric_dtype(frame[c])]
    if non_numeric:
        raise UserInputError(
            f"feature column {non_numeric[0]!r} is not numeric", source=str(path), field="data"
        )
    x = frame[features].to_numpy(dtype=np.float32)
    if np.isnan(x).any():
        raise UserInputError("feature columns contain missing values", source=str(path))
    if frame[target].isna().any():
        raise UserInputError(
            f"target column {target!r} has missing values", source=str(path), field="data.target"
        )
    return x, frame[target].to_numpy()


def _npz(config: DataConfig) -> tuple[np.ndarray, np.ndarray]:
    assert config.path is not None
    path = Path(config.path)
    if not path.is_file():
        raise UserInputError("file not found", source=str(path), field="data.path")
    try:
        arrays = np.load(path, allow_pickle=False)
    except Exception as err:
        raise UserInputError(f"cannot read npz: {err}", source=str(path)) from None
    x_key = (config.features or ["x"])[0]
    y_key = config.target or "y"
    for key, field in ((x_key, "data.features"), (y_key, "data.target")):
        if key not in arrays:
            raise UserInputError(
                f"no array {key!r} (arrays: {', '.join(arrays.files)})",
                source=str(path),
                field=field,
            )
    try:
        x, y = arrays[x_key], arrays[y_key]
    except ValueError as err:  # object arrays need pickle, which we never allow
        raise UserInputError(f"cannot read npz: {err}", source=str(path)) from None
    if not np.issubdtype(x.dtype, np.number):
        raise UserInputError(f"array {x_key!r} is not numeric", source=str(path), field="data")
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise UserInputError(
            f"array {y_key!r} must be one label per row, got shape {y.shape}",
            source=str(path),
            field="data.target",
        )
    return x.astype(np.float32), y


def _text_demo(config: DataConfig, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from hpo.config.experiment import TextDemoOptions
    from hpo.data.textgen import generate

    opts = config.text_demo or TextDemoOptions()
    texts, labels, names = generate(opts.n_samples, opts.n_classes, seed, opts.label_noise)
    return texts, np.asarray(names)[labels]


def _text_csv(config: DataConfig) -> tuple[np.ndarray, np.ndarray]:
    """A text column and a label column; the text stays raw (vectorized inside the model,
    with the vocabulary fitted on the train split only)."""
    import pandas as pd

    assert config.path is not None
    path = Path(config.path)
    if not path.is_file():
        raise UserInputError("file not found", source=str(path), field="data.path")
    try:
        frame = pd.read_csv(path)
    except Exception as err:
        first = first_line(err)
        raise UserInputError(f"cannot read csv: {first}", source=str(path)) from None
    columns = ", ".join(map(str, frame.columns[:20]))
    text_column = config.text_column or "text"
    target = config.target or "label"
    for column, field in ((text_column, "data.text_column"), (target, "data.target")):
        if column not in frame.columns:
            raise UserInputError(
                f"no column {column!r} (columns: {columns})", source=str(path), field=field
            )
    values = frame[text_column]
    present = values.dropna()
    if present.empty or pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        raise UserInputError(
            f"column {text_column!r} is not text (dtype {values.dtype}); name the text column "
            "in data.text_column",
            source=str(path),
            field="data.text_column",
        )
    if not all(isinstance(v, str) for v in present):
        raise UserInputError(
            f"column {text_column!r} mixes text with other values",
            source=str(path),
            field="data.text_column",
        )
    labels = frame[target]
    if labels.isna().any():
        raise UserInputError(
            f"label column {target!r} has missing values", source=str(path), field="data.target"
        )
    texts = np.array([v if isinstance(v, str) else "" for v in values], dtype=object)
    return texts, labels.to_numpy()


def load_raw(config: DataConfig, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The full feature array and label vector, before any split."""
    if config.source == "text_demo":
        return _text_demo(config, seed)
    if config.source == "text_csv":
        return _text_csv(config)
    if config.source == "synthetic":
        return _synthetic(config, seed)
    if config.source in ("csv", "parquet"):
        return _table(config)
    if config.source == "npz":
        return _npz(config)
    return _sklearn_dataset(config.source)


def _scale(config: DataConfig, train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    if config.scaling == "none" or train.dtype == object:  # text is never scaled
        return [train, *others]
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    scaler = StandardScaler() if config.scaling == "standard" else MinMaxScaler()
    shape = train.shape[1:]
    scaler.fit(train.reshape(len(train), -1))
    return [
        scaler.transform(a.reshape(len(a), -1)).reshape((len(a), *shape)).astype(np.float32)
        for a in (train, *others)
    ]


def load_dataset(config: DataConfig, seed: int) -> Dataset:
    """Load, split (stratified, seeded) and scale; the same inputs give the same fingerprint."""
    from sklearn.model_selection import train_test_split

    if config.seed is not None:  # pinned split (e.g. `hpo compare` varies only the strategy)
        seed = config.seed
    x, y_raw = load_raw(config, seed)
    if len(x) != len(y_raw):
        raise UserInputError("features and target have different lengths", field="data")
    classes, y = np.unique(y_raw, return_inverse=True)
    if len(classes) < 2:
        raise UserInputError("the target has fewer than two classes", field="data.target")
    counts = np.bincount(y)
    if counts.min() < 3:
        raise UserInputError(
            f"class {classes[counts.argmin()]} has fewer than 3 rows; cannot stratify",
            field="data.target",
        )
    indices = np.arange(len(y))
    if config.max_samples is not None and config.max_samples < len(y):
        indices, _ = train_test_split(
            indices, train_size=config.max_samples, stratify=y, random_state=seed
        )
    holdout = config.validation_size + config.test_size
    train_idx, rest_idx = train_test_split(
        indices, test_size=holdout, stratify=y[indices], random_state=seed
    )
    val_idx, test_idx = train_test_split(
        rest_idx,
        test_size=config.test_size / holdout,
        stratify=y[rest_idx],
        random_state=seed,
    )
    x_train, x_val, x_test = _scale(config, x[train_idx], x[val_idx], x[test_idx])

    digest = hashlib.sha256()
    if x.dtype == object:  # text: hash the strings, not the object pointers
        digest.update("\x1f".join(map(str, x)).encode("utf-8"))
    else:
        digest.update(np.ascontiguousarray(x).tobytes())
    for part in (y, train_idx, val_idx, test_idx):
        digest.update(np.ascontiguousarray(part).tobytes())
    digest.update(config.scaling.encode())
    return Dataset(
        x_train=x_train,
        y_train=y[train_idx].astype(np.int64),
        x_val=x_val,
        y_val=y[val_idx].astype(np.int64),
        x_test=x_test,
        y_test=y[test_idx].astype(np.int64),
        class_names=tuple(str(c) for c in classes),
        fingerprint=digest.hexdigest(),
    )
