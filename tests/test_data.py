"""Unit tests for dataset loading, splitting, scaling and fingerprinting."""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args

import numpy as np
import pandas as pd
import pytest

from hpo.config.data_config import DataConfig, DataSource
from hpo.data.dataset import Dataset, load_dataset, pre_scaled
from hpo.data.sources import SOURCES, loader
from hpo.errors import UserInputError
from tests.conftest import modules_loaded_by


def _load(seed: int = 0, **fields: Any) -> Dataset:
    return load_dataset(DataConfig(**fields), seed)


def _tabular(n: int = 90, n_classes: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % n_classes
    x = rng.normal(size=(n, 4)) * [1.0, 5.0, 0.1, 3.0] + [10.0, -3.0, 0.0, 100.0]
    x[:, 0] += y  # a little signal
    return x.astype(np.float32), y


def _frame(n: int = 90) -> pd.DataFrame:
    x, y = _tabular(n)
    frame = pd.DataFrame(x, columns=["f0", "f1", "f2", "f3"])
    frame["label"] = np.array(["cat", "dog", "eel"])[y]
    return frame


def _total(ds: Dataset) -> int:
    return len(ds.y_train) + len(ds.y_val) + len(ds.y_test)


# --------------------------------------------------------------------------- sources


@pytest.mark.parametrize(
    ("source", "rows", "shape", "n_classes"),
    [
        ("digits", 1797, (64,), 10),
        ("digits_images", 1797, (8, 8, 1), 10),
        ("breast_cancer", 569, (30,), 2),
        ("wine", 178, (13,), 3),
        ("iris", 150, (4,), 3),
    ],
)
def test_sklearn_sources(source: str, rows: int, shape: tuple[int, ...], n_classes: int) -> None:
    ds = _load(source=source)
    assert ds.input_shape == shape
    assert ds.x_train.shape == (len(ds.y_train), *shape)
    assert ds.x_val.shape[1:] == shape and ds.x_test.shape[1:] == shape
    assert ds.n_classes == n_classes
    assert _total(ds) == rows
    assert ds.x_train.dtype == np.float32
    assert ds.y_train.dtype == np.int64
    assert set(np.unique(ds.y_train)) == set(range(n_classes))
    assert ds.summary()["input_shape"] == list(shape)
    assert ds.summary()["train"] == len(ds.y_train)


def test_synthetic_source() -> None:
    ds = _load(
        source="synthetic",
        synthetic={"n_samples": 200, "n_features": 6, "n_informative": 3, "n_classes": 4},
    )
    assert ds.input_shape == (6,)
    assert ds.n_classes == 4
    assert _total(ds) == 200


def test_synthetic_depends_on_seed() -> None:
    opts = {"n_samples": 100, "n_features": 5, "n_informative": 3, "n_redundant": 1}
    a = _load(seed=1, source="synthetic", synthetic=opts, scaling="none")
    b = _load(seed=1, source="synthetic", synthetic=opts, scaling="none")
    c = _load(seed=2, source="synthetic", synthetic=opts, scaling="none")
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert a.x_train.shape == c.x_train.shape
    assert not np.array_equal(a.x_train, c.x_train)


def test_synthetic_too_many_informative_features() -> None:
    with pytest.raises(UserInputError) as info:
        _load(
            source="synthetic",
            synthetic={"n_features": 4, "n_informative": 3, "n_redundant": 2},
        )
    assert info.value.field == "data.synthetic"


def test_csv_source(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    _frame().to_csv(path, index=False)
    ds = _load(source="csv", path=str(path), target="label", scaling="none")
    assert ds.input_shape == (4,)
    assert ds.class_names == ("cat", "dog", "eel")
    assert _total(ds) == 90
    # unscaled features are the file's own values
    assert ds.x_train[:, 3].mean() == pytest.approx(100.0, abs=2.0)


def _all_rows(ds: Dataset) -> tuple[np.ndarray, np.ndarray]:
    return np.concatenate([ds.x_train, ds.x_val, ds.x_test]), np.concatenate(
        [ds.y_train, ds.y_val, ds.y_test]
    )


def test_csv_feature_selection(tmp_path: Path) -> None:
    """The named columns, in the named order, each row with its own label."""
    frame = _frame()
    path = tmp_path / "rows.csv"
    frame.to_csv(path, index=False)
    ds = _load(source="csv", path=str(path), target="label", features=["f3", "f0"], scaling="none")
    assert ds.input_shape == (2,)
    x, y = _all_rows(ds)
    source = pd.read_csv(path)  # the values as the file holds them
    expected = source[["f3", "f0"]].to_numpy(dtype=np.float32)
    row_of = {value: i for i, value in enumerate(expected[:, 0])}  # f3 is unique per row
    assert len(row_of) == len(source) == len(x)
    rows = [row_of[value] for value in x[:, 0]]
    assert sorted(rows) == list(range(len(source)))
    np.testing.assert_array_equal(x, expected[rows])
    labels = np.asarray(ds.class_names)[y]
    assert labels.tolist() == source["label"].to_numpy()[rows].tolist()


def test_csv_default_target_column(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    _frame().rename(columns={"label": "target"}).to_csv(path, index=False)
    assert _load(source="csv", path=str(path)).n_classes == 3


def test_parquet_source(tmp_path: Path) -> None:
    path = tmp_path / "rows.parquet"
    _frame().to_parquet(path)
    ds = _load(source="parquet", path=str(path), target="label")
    assert ds.input_shape == (4,)
    assert ds.class_names == ("cat", "dog", "eel")
    assert _total(ds) == 90


def test_npz_source(tmp_path: Path) -> None:
    x, y = _tabular()
    path = tmp_path / "arrays.npz"
    np.savez(path, x=x.reshape(90, 2, 2), y=y + 5)
    ds = _load(source="npz", path=str(path))
    assert ds.input_shape == (2, 2)
    assert ds.class_names == ("5", "6", "7")
    assert set(np.unique(ds.y_val)) == {0, 1, 2}


def test_npz_named_arrays(tmp_path: Path) -> None:
    """The named arrays are the features and the labels (not the default `x`, `y`)."""
    x, y = _tabular()
    x[:, 1] = np.arange(len(x))  # a row id, to find each row again
    path = tmp_path / "arrays.npz"
    decoy_x, decoy_y = np.zeros_like(x), (np.arange(len(y)) + 1) % 3
    np.savez(path, features=x, labels=y, x=decoy_x, y=decoy_y)
    ds = _load(source="npz", path=str(path), features=["features"], target="labels", scaling="none")
    assert ds.input_shape == (4,)
    rows, labels = _all_rows(ds)
    ids = rows[:, 1].astype(int)
    assert sorted(ids) == list(range(len(x)))
    np.testing.assert_array_equal(rows, x[ids])
    assert np.asarray(ds.class_names)[labels].tolist() == [str(v) for v in y[ids]]


# --------------------------------------------------------------------------- splitting


def test_split_sizes() -> None:
    ds = _load(source="digits", validation_size=0.25, test_size=0.15)
    assert _total(ds) == 1797
    assert len(ds.y_val) == pytest.approx(0.25 * 1797, abs=2)
    assert len(ds.y_test) == pytest.approx(0.15 * 1797, abs=2)
    assert len(ds.y_train) == pytest.approx(0.60 * 1797, abs=2)


def _split_ids(ds: Dataset) -> list[list[int]]:
    """The source row ids (feature 0) in train, validation and test."""
    return [part[:, 0].astype(int).tolist() for part in (ds.x_train, ds.x_val, ds.x_test)]


@pytest.mark.parametrize("max_samples", [None, 120])
def test_splits_do_not_overlap(tmp_path: Path, max_samples: int | None) -> None:
    """Train, validation and test are pairwise disjoint and together hold every row
    (every sampled row with max_samples), each with its own features and label."""
    x, y = _tabular(300)
    x[:, 0] = np.arange(300)  # every row unique: its id
    path = tmp_path / "arrays.npz"
    np.savez(path, x=x, y=y)
    ds = _load(source="npz", path=str(path), scaling="none", max_samples=max_samples)
    train, val, test = (set(ids) for ids in _split_ids(ds))
    assert sum(map(len, _split_ids(ds))) == len(train) + len(val) + len(test)  # no repeats
    assert not train & val and not train & test and not val & test
    union = train | val | test
    assert len(union) == (max_samples or 300) and union <= set(range(300))
    for part, labels in ((ds.x_train, ds.y_train), (ds.x_val, ds.y_val), (ds.x_test, ds.y_test)):
        ids = part[:, 0].astype(int)
        np.testing.assert_array_equal(part, x[ids])
        assert [int(ds.class_names[label]) for label in labels] == y[ids].tolist()


def test_splits_are_stratified() -> None:
    ds = _load(source="digits")
    overall = np.bincount(np.concatenate([ds.y_train, ds.y_val, ds.y_test])) / 1797
    for part in (ds.y_train, ds.y_val, ds.y_test):
        share = np.bincount(part, minlength=10) / len(part)
        assert np.abs(share - overall).max() < 0.01


def test_stratified_on_imbalanced_binary(tmp_path: Path) -> None:
    x, _ = _tabular(200)
    y = (np.arange(200) < 20).astype(int)  # 10% positives
    path = tmp_path / "imb.npz"
    np.savez(path, x=x, y=y)
    ds = _load(source="npz", path=str(path))
    for part in (ds.y_train, ds.y_val, ds.y_test):
        assert part.mean() == pytest.approx(0.1, abs=0.01)


def test_same_seed_same_fingerprint_and_rows() -> None:
    a = _load(seed=5, source="wine")
    b = _load(seed=5, source="wine")
    assert a.fingerprint == b.fingerprint
    np.testing.assert_array_equal(a.x_val, b.x_val)
    np.testing.assert_array_equal(a.y_test, b.y_test)


def test_other_seed_other_fingerprint_and_split() -> None:
    a = _load(seed=5, source="wine")
    b = _load(seed=6, source="wine")
    assert a.fingerprint != b.fingerprint
    assert not np.array_equal(a.y_train, b.y_train)


def test_fingerprint_depends_on_scaling_and_split() -> None:
    base = _load(source="wine").fingerprint
    assert _load(source="wine", scaling="minmax").fingerprint != base
    assert _load(source="wine", validation_size=0.3).fingerprint != base
    assert _load(source="iris").fingerprint != base


# --------------------------------------------------------------------------- scaling
# The splits stay raw; the train statistics (Dataset.scaling) are applied by the model's first
# layer. `pre_scaled` applies them as that layer does (and as models logged earlier expect).


def test_standard_scaling_is_fitted_on_train_only() -> None:
    ds = pre_scaled(_load(source="wine"))
    np.testing.assert_allclose(ds.x_train.mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(ds.x_train.std(axis=0), 1.0, atol=1e-3)
    # validation/test use the train statistics, so they are close to but not exactly standard
    assert np.abs(ds.x_val.mean(axis=0)).max() > 1e-3
    assert np.abs(ds.x_test.mean(axis=0)).max() > 1e-3
    assert np.abs(ds.x_val.mean(axis=0)).max() < 1.0


def test_standard_scaling_of_images_is_per_pixel() -> None:
    ds = pre_scaled(_load(source="digits_images"))
    assert ds.x_train.shape[1:] == (8, 8, 1)
    means = ds.x_train.mean(axis=0)
    np.testing.assert_allclose(means, 0.0, atol=1e-4)
    stds = ds.x_train.std(axis=0)
    varying = stds > 0  # constant border pixels stay 0
    np.testing.assert_allclose(stds[varying], 1.0, atol=1e-3)


def test_minmax_scaling() -> None:
    ds = pre_scaled(_load(source="wine", scaling="minmax"))
    np.testing.assert_allclose(ds.x_train.min(axis=0), 0.0, atol=1e-6)
    np.testing.assert_allclose(ds.x_train.max(axis=0), 1.0, atol=1e-6)


def test_no_scaling_keeps_raw_values() -> None:
    from sklearn.datasets import load_wine

    raw = {tuple(r) for r in load_wine().data.astype(np.float32)}
    for scaling in ("none", "standard", "minmax"):  # the splits are raw whatever the scaling
        ds = _load(source="wine", scaling=scaling)
        assert {tuple(r) for r in ds.x_train} <= raw
        assert (ds.scaling is None) == (scaling == "none")


# --------------------------------------------------------------------------- subsampling


def test_max_samples_subsamples_stratified() -> None:
    ds = _load(source="digits", max_samples=300)
    assert _total(ds) == 300
    assert ds.n_classes == 10
    counts = np.bincount(np.concatenate([ds.y_train, ds.y_val, ds.y_test]), minlength=10)
    assert counts.min() >= 25 and counts.max() <= 35
    assert _load(source="digits").fingerprint != ds.fingerprint


def test_max_samples_above_size_is_ignored() -> None:
    assert _total(_load(source="iris", max_samples=1000)) == 150
    assert _load(source="iris", max_samples=1000).fingerprint == _load(source="iris").fingerprint


# --------------------------------------------------------------------------- errors


def test_missing_file(tmp_path: Path) -> None:
    for source in ("csv", "parquet", "npz"):
        with pytest.raises(UserInputError) as info:
            _load(source=source, path=str(tmp_path / f"none.{source}"))
        assert info.value.field == "data.path"
        assert info.value.detail == "file not found"
        assert "none." in str(info.value)


def test_missing_target_column(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    _frame().to_csv(path, index=False)
    with pytest.raises(UserInputError) as info:
        _load(source="csv", path=str(path))  # default target 'target' is absent
    assert info.value.field == "data.target"
    assert info.value.source == str(path)
    assert "'target'" in info.value.detail and "label" in info.value.detail


def test_missing_feature_column(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    _frame().to_csv(path, index=False)
    with pytest.raises(UserInputError) as info:
        _load(source="csv", path=str(path), target="label", features=["f0", "nope"])
    assert info.value.field == "data.features"
    assert "'nope'" in info.value.detail


def test_non_numeric_column(tmp_path: Path) -> None:
    frame = _frame()
    frame["colour"] = "red"
    path = tmp_path / "rows.parquet"
    frame.to_parquet(path)
    with pytest.raises(UserInputError) as info:
        _load(source="parquet", path=str(path), target="label")
    assert info.value.field == "data"
    assert "'colour' is not numeric" in info.value.detail


def test_missing_feature_values(tmp_path: Path) -> None:
    frame = _frame()
    frame.loc[3, "f1"] = np.nan
    path = tmp_path / "rows.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(UserInputError, match="missing values"):
        _load(source="csv", path=str(path), target="label")


def test_unreadable_parquet(tmp_path: Path) -> None:
    path = tmp_path / "rows.parquet"
    path.write_text("not parquet at all")
    with pytest.raises(UserInputError, match="cannot read parquet"):
        _load(source="parquet", path=str(path))


def test_npz_missing_array(tmp_path: Path) -> None:
    x, y = _tabular()
    path = tmp_path / "arrays.npz"
    np.savez(path, x=x, labels=y)
    with pytest.raises(UserInputError) as info:
        _load(source="npz", path=str(path))
    assert info.value.field == "data.target"
    assert "'y'" in info.value.detail and "labels" in info.value.detail
    with pytest.raises(UserInputError) as info:
        _load(source="npz", path=str(path), features=["pixels"], target="labels")
    assert info.value.field == "data.features"


def test_npz_non_numeric_features(tmp_path: Path) -> None:
    path = tmp_path / "arrays.npz"
    np.savez(path, x=np.array(["a", "b", "c"] * 10), y=np.arange(30) % 3)
    with pytest.raises(UserInputError, match="'x' is not numeric"):
        _load(source="npz", path=str(path))


def test_npz_different_lengths(tmp_path: Path) -> None:
    x, y = _tabular()
    path = tmp_path / "arrays.npz"
    np.savez(path, x=x, y=y[:-1])
    with pytest.raises(UserInputError, match="different lengths"):
        _load(source="npz", path=str(path))


def test_single_class(tmp_path: Path) -> None:
    x, _ = _tabular()
    path = tmp_path / "arrays.npz"
    np.savez(path, x=x, y=np.zeros(90, dtype=int))
    with pytest.raises(UserInputError) as info:
        _load(source="npz", path=str(path))
    assert info.value.field == "data.target"
    assert "fewer than two classes" in info.value.detail


def test_class_too_small_to_stratify(tmp_path: Path) -> None:
    x, y = _tabular()
    y[:2] = 9  # class 9 has two rows
    path = tmp_path / "arrays.npz"
    np.savez(path, x=x, y=y)
    with pytest.raises(UserInputError) as info:
        _load(source="npz", path=str(path))
    assert info.value.field == "data.target"
    assert "class 9 has 2 rows: too few for a stratified" in info.value.detail
    assert "at least 5 rows of every class" in info.value.detail


def test_class_too_small_message_shows_plain_label(tmp_path: Path) -> None:
    x, y = _tabular()
    y[:2] = 9
    path = tmp_path / "arrays.npz"
    np.savez(path, x=x, y=y)
    with pytest.raises(UserInputError) as info:
        _load(source="npz", path=str(path))
    assert "class 9 has 2 rows" in info.value.detail


def test_synthetic_too_few_informative_features_for_classes() -> None:
    with pytest.raises(UserInputError):
        _load(
            source="synthetic",
            synthetic={"n_features": 5, "n_informative": 2, "n_redundant": 1, "n_classes": 3},
        )


def test_npz_object_array_is_a_user_error(tmp_path: Path) -> None:
    x, _ = _tabular()
    path = tmp_path / "arrays.npz"
    np.savez(path, x=x, y=np.array(["a", 1, 2.0] * 30, dtype=object))
    with pytest.raises(UserInputError):
        _load(source="npz", path=str(path))


def test_npz_column_vector_labels(tmp_path: Path) -> None:
    x, y = _tabular()
    path = tmp_path / "arrays.npz"
    np.savez(path, x=x, y=y.reshape(-1, 1))
    try:
        ds = _load(source="npz", path=str(path))
    except UserInputError:
        return  # a clear one-line error is an acceptable fix too
    assert ds.n_classes == 3


def test_csv_missing_target_values_are_rejected(tmp_path: Path) -> None:
    frame = _frame()
    frame.loc[frame.index % 10 == 0, "label"] = None
    path = tmp_path / "rows.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(UserInputError):
        _load(source="csv", path=str(path), target="label")


# --------------------------------------------------------------------------- source registry


def test_every_source_users_can_name_has_a_loader() -> None:
    assert set(SOURCES) == set(get_args(DataSource))
    assert all(callable(loader(name)) for name in SOURCES)


def test_resolving_every_loader_imports_no_heavy_library() -> None:
    """Loaders import scikit-learn and pandas only when they load."""
    statement = "from hpo.data.sources import SOURCES, loader\n[loader(n) for n in SOURCES]"
    assert modules_loaded_by(statement, ("sklearn", "pandas", "keras")) == []
