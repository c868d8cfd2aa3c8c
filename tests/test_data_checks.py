"""Odd data is refused before anything runs: exit 2, one line naming the file, the column or
array and the problem, no traceback, nothing written (issue 12, item 5)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.test_bad_input import _assert_clean_failure

Writer = Callable[[Path], dict[str, Any]]  # writes the data file, returns the `data:` section


def _table(n: int = 60, classes: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(n, 3)), columns=["a", "b", "c"])
    frame["target"] = np.arange(n) % classes
    return frame


def _csv_with(column: str, row: int, value: float) -> Writer:
    def write(folder: Path) -> dict[str, Any]:
        frame = _table()
        frame.loc[row, column] = value
        frame.to_csv(folder / "d.csv", index=False)
        return {"source": "csv", "path": "d.csv"}

    return write


def _parquet_inf(folder: Path) -> dict[str, Any]:
    frame = _table()
    frame.loc[7, "c"] = -np.inf
    frame.to_parquet(folder / "d.parquet")
    return {"source": "parquet", "path": "d.parquet"}


def _npz_with(value: float) -> Writer:
    def write(folder: Path) -> dict[str, Any]:
        x = np.random.default_rng(0).normal(size=(60, 4))
        x[5, 2] = value
        np.savez(folder / "d.npz", x=x, y=np.arange(60) % 3)
        return {"source": "npz", "path": "d.npz"}

    return write


def _csv_only_target(folder: Path) -> dict[str, Any]:
    _table()[["target"]].to_csv(folder / "d.csv", index=False)
    return {"source": "csv", "path": "d.csv"}


def _csv_target_as_feature(folder: Path) -> dict[str, Any]:
    _table().to_csv(folder / "d.csv", index=False)
    return {"source": "csv", "path": "d.csv", "features": ["a", "target"]}


def _npz_target_as_feature(folder: Path) -> dict[str, Any]:
    np.savez(folder / "d.npz", x=np.ones((60, 2)), y=np.arange(60) % 3)
    return {"source": "npz", "path": "d.npz", "features": ["y"]}


def _text_column_is_the_label(folder: Path) -> dict[str, Any]:
    pd.DataFrame({"text": [f"t{i}" for i in range(60)], "label": ["a", "b", "c"] * 20}).to_csv(
        folder / "d.csv", index=False
    )
    return {"source": "text_csv", "path": "d.csv", "text_column": "label", "target": "label"}


def _ten_classes_three_rows(folder: Path) -> dict[str, Any]:
    _table(n=30, classes=10).to_csv(folder / "d.csv", index=False)
    return {"source": "csv", "path": "d.csv"}


def _digits_20(folder: Path) -> dict[str, Any]:
    return {"source": "digits", "max_samples": 20}


CASES: dict[str, tuple[Writer, list[str]]] = {
    "csv inf": (
        _csv_with("b", 3, np.inf),
        ["d.csv", "data.features", "column 'b'", "infinite values", "data row 4"],
    ),
    "csv beyond float32": (
        _csv_with("a", 10, 1e39),
        ["d.csv", "data.features", "column 'a'", "beyond float32's range", "1e+39"],
    ),
    "parquet -inf": (_parquet_inf, ["d.parquet", "column 'c'", "infinite values"]),
    "npz nan": (_npz_with(np.nan), ["d.npz", "array 'x'", "missing values", "(5, 2)"]),
    "npz inf": (_npz_with(np.inf), ["d.npz", "array 'x'", "infinite values"]),
    "npz beyond float32": (_npz_with(-4e38), ["d.npz", "array 'x'", "beyond float32's range"]),
    "no feature columns": (
        _csv_only_target,
        ["d.csv", "data.features", "no feature columns", "only the target column 'target'"],
    ),
    "target among csv features": (
        _csv_target_as_feature,
        ["d.csv", "data.features", "'target'", "also listed as a feature", "leak"],
    ),
    "target among npz features": (
        _npz_target_as_feature,
        ["d.npz", "data.features", "'y'", "leak"],
    ),
    "text column is the label": (
        _text_column_is_the_label,
        ["d.csv", "data.text_column", "'label'", "both the text and the label"],
    ),
    "10 classes x 3 rows": (
        _ten_classes_three_rows,
        ["exp.yaml", "data.target", "has 3 rows", "at least 5 rows of every class"],
    ),
    "digits max_samples 20": (
        _digits_20,
        ["exp.yaml", "data.max_samples", "has 2 rows", "at least 5 rows", "raise max_samples"],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_data_is_refused_by_validate(case, cli, write_config, workdir: Path) -> None:
    writer, fragments = CASES[case]
    path = write_config(data=writer(workdir))
    _assert_clean_failure(cli("validate", str(path)), workdir, *fragments)


def test_bad_data_is_refused_by_run_before_anything_is_written(cli, write_config, workdir) -> None:
    path = write_config(data=_npz_with(np.nan)(workdir))
    done = cli("run", str(path), "--trials", "1")
    _assert_clean_failure(done, workdir, "d.npz", "array 'x'", "missing values")
    assert sorted(p.name for p in workdir.iterdir()) == ["d.npz", "exp.yaml"]


def test_too_few_rows_for_the_cv_folds_names_the_fix(cli, write_config, workdir) -> None:
    """Grid's k-fold cross-validation needs k rows of every class in train + validation."""
    path = write_config(
        **{
            "data.max_samples": 100,  # 10 rows a class: 8 of them in train + validation
            "strategy": {"name": "grid", "options": {"cv": 10}},
        }
    )
    _assert_clean_failure(
        cli("validate", str(path)),
        workdir,
        "exp.yaml",
        "strategy.options.cv",
        "10-fold cross-validation needs at least 10 rows of every class",
        "fewer cv splits",
    )


def test_a_split_that_just_works_is_accepted(cli, write_config, workdir) -> None:
    """The minimum the message names is enough: 10 classes x 5 rows splits three ways."""
    _table(n=50, classes=10).to_csv(workdir / "d.csv", index=False)
    path = write_config(data={"source": "csv", "path": "d.csv"})
    done = cli("validate", str(path))
    assert done.returncode == 0, done.stderr
    sizes = dict(line.split() for line in done.stdout.splitlines() if line.startswith("  t"))
    assert (sizes["train"], sizes["test"]) == ("30", "10")
