"""The text set hpo generates itself (hpo/data/textgen.py), seeded: raw strings and labels."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from hpo.config.data_config import TextDemoOptions
from hpo.data.textgen import generate

if TYPE_CHECKING:
    from hpo.config.data_config import DataConfig


def load(config: DataConfig, seed: int) -> tuple[np.ndarray, np.ndarray]:
    opts = config.text_demo or TextDemoOptions()
    texts, labels, names = generate(opts.n_samples, opts.n_classes, seed, opts.label_noise)
    return texts, np.asarray(names)[labels]
