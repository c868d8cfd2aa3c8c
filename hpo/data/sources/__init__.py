"""Data sources: the name in `data.source` -> the loader that reads it, imported when used.

A loader is `load(config, seed) -> (x, y)`: every row's features and its label, before any
split (hpo/data/dataset.py splits, scales and fingerprints). Loaders import scikit-learn or
pandas inside themselves, so naming a source costs nothing. Add a source: a module here with
its `load` function, one line in `SOURCES`, and its name in `DataSource` in
hpo/config/experiment.py (the schema users write; a test keeps the two in step).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from hpo.config.data_config import DataConfig

Loader = Callable[["DataConfig", int], tuple["np.ndarray", "np.ndarray"]]

SOURCES: dict[str, str] = {
    "digits": "hpo.data.sources.bundled:load",
    "digits_images": "hpo.data.sources.bundled:load",
    "breast_cancer": "hpo.data.sources.bundled:load",
    "wine": "hpo.data.sources.bundled:load",
    "iris": "hpo.data.sources.bundled:load",
    "synthetic": "hpo.data.sources.synthetic:load",
    "csv": "hpo.data.sources.table:load",
    "parquet": "hpo.data.sources.table:load",
    "npz": "hpo.data.sources.npz:load",
    "text_demo": "hpo.data.sources.text_demo:load",
    "text_csv": "hpo.data.sources.text_csv:load",
    "image_folder": "hpo.data.sources.image_folder:load",
    "memory": "hpo.data.sources.in_memory:load",
}


def loader(source: str) -> Loader:
    """The loader registered for `source` (config validation has already checked the name)."""
    module, attr = SOURCES[source].split(":")
    found: Loader = getattr(importlib.import_module(module), attr)
    return found


def load_raw(config: DataConfig, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The full feature array and label vector of `config.source`, before any split."""
    return loader(config.source)(config, seed)
