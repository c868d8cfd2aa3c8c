"""A sweep's data splits as MLflow dataset inputs: what the MLflow UI shows as "Datasets used".

The sweep run logs its train / validation / test splits (context `training` / `validation`
/ `test`); each trial run references the training and validation ones. Only metadata is
logged (name, digest, source, schema, profile), never the rows: the entities are built once
per sweep and every trial's `log_inputs` is one small write of the same three references
MLflow already holds (its store keeps one dataset row per name + digest).

The digest ties to `hpo.data_sha256`: it is that fingerprint's first 16 hex characters
(MLflow allows 36), the same for the three splits of one sweep (the fingerprint covers the
rows of all three, split indices and scaling included); the name tells the split apart
(`<experiment name>-train`). The full fingerprint rides along as the input tag
`hpo.data_sha256`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hpo.data.images import is_image_array
from hpo.tracking import schema

if TYPE_CHECKING:
    from mlflow.entities import DatasetInput

    from hpo.config.data_config import DataConfig
    from hpo.data.dataset import Dataset

DIGEST_CHARS = 16
CONTEXT_TAG = "mlflow.data.context"  # MLflow's own input tag (mlflow.utils.mlflow_tags)
# split -> the MLflow context it is logged under
CONTEXTS = {"train": "training", "validation": "validation", "test": "test"}
TRIAL_SPLITS = ("train", "validation")  # what a trial run trained and was scored on


def digest_of(fingerprint: str) -> str:
    """The MLflow dataset digest of a sweep's splits: `hpo.data_sha256`'s first 16 chars."""
    return fingerprint[:DIGEST_CHARS]


@dataclass(frozen=True)
class SplitInputs:
    """The three splits as MLflow `DatasetInput`s, built once per sweep."""

    by_split: dict[str, DatasetInput]

    def for_sweep(self) -> list[DatasetInput]:
        return list(self.by_split.values())

    def for_trial(self) -> list[DatasetInput]:
        return [self.by_split[s] for s in TRIAL_SPLITS]


def _source(data: DataConfig) -> Any:
    """The file it was read from (a local dataset source), else the loader's name."""
    from mlflow.data.code_dataset_source import CodeDatasetSource

    path = getattr(data, "path", None)
    if path:
        import warnings

        from mlflow.data.dataset_source_registry import resolve_dataset_source

        with warnings.catch_warnings():  # "can be interpreted in multiple ways": all local
            warnings.simplefilter("ignore")
            return resolve_dataset_source(str(Path(path).expanduser().resolve()))
    return CodeDatasetSource(tags={"hpo.data.source": str(data.source)})


def _split_dataset(x: np.ndarray, y: np.ndarray, name: str, digest: str, source: Any) -> Any:
    column: tuple[str, Any] | None = None
    if is_image_array(x):  # image files: their relative paths, never the decoded pixels
        files: Any = x  # an ImageArray: its relative paths
        column = ("file", list(files.files))
    elif x.dtype == object:  # text: one string column (a tensor schema has no string dtype)
        column = ("text", x.astype(str))
    if column is not None:
        import warnings

        import pandas as pd

        frame = pd.DataFrame({column[0]: column[1], "label": y})
        with warnings.catch_warnings():  # "integer column(s)": labels are never missing
            warnings.simplefilter("ignore")
            from mlflow.data.pandas_dataset import from_pandas

            return from_pandas(frame, source=source, targets="label", name=name, digest=digest)
    from mlflow.data.numpy_dataset import from_numpy

    return from_numpy(x, source=source, targets=y, name=name, digest=digest)


def split_inputs(dataset: Dataset, data: DataConfig, experiment_name: str) -> SplitInputs:
    """Name, digest, source and schema of each split (rows are described, not logged)."""
    from mlflow.entities import DatasetInput, InputTag

    digest, source = digest_of(dataset.fingerprint), _source(data)
    arrays = {
        "train": (dataset.x_train, dataset.y_train),
        "validation": (dataset.x_val, dataset.y_val),
        "test": (dataset.x_test, dataset.y_test),
    }
    by_split = {}
    for split, (x, y) in arrays.items():
        entity = _split_dataset(x, y, f"{experiment_name}-{split}", digest, source)
        by_split[split] = DatasetInput(
            entity._to_mlflow_entity(),
            tags=[
                InputTag(CONTEXT_TAG, CONTEXTS[split]),
                InputTag(schema.DATA_SHA256, dataset.fingerprint),
            ],
        )
    return SplitInputs(by_split)


def log_inputs(client: Any, run_id: str, inputs: list[DatasetInput]) -> None:
    """One `log_inputs` call (MLflow keeps one row per dataset, so repeats are cheap)."""
    client.log_inputs(run_id, datasets=inputs)
