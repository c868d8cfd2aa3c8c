"""The `data:` section of an experiment: which source, its options, and how it is split.

Its own module so the experiment stays one screenful per concern; `hpo.config.experiment`
composes it into `Experiment`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

from hpo.config.strict import Strict

# the names `data.source` takes; hpo.data.sources maps each to its loader (a test keeps the
# two in step)
DataSource = Literal[
    "digits",
    "digits_images",
    "breast_cancer",
    "wine",
    "iris",
    "synthetic",
    "csv",
    "parquet",
    "npz",
    "text_demo",
    "text_csv",
    "image_folder",
    "memory",
]
# a partial experiment (`Experiment.from_dict`, `hpo.run`) may leave out the data source and
# the model: the data then comes from `hpo.run(data=...)`, the builder from `builder=`
MEMORY_SOURCE = "memory"
FILE_SOURCES = ("csv", "parquet", "npz", "text_csv", "image_folder")
IMAGE_KEYS = ("image_size", "color_mode", "skip_bad_files", "demo_images")


class SyntheticOptions(Strict):
    """Arguments of scikit-learn's make_classification."""

    n_samples: int = Field(default=1000, ge=20)
    n_features: int = Field(default=20, ge=2)
    n_informative: int = Field(default=10, ge=1)
    n_redundant: int = Field(default=2, ge=0)
    n_classes: int = Field(default=3, ge=2)
    class_sep: float = Field(default=1.0, gt=0)
    flip_y: float = Field(default=0.01, ge=0, le=1)
    # class proportions, for an imbalanced set (e.g. [0.95, 0.05]); left out of the dump
    # (and so of the config hashes) when unset, so earlier studies still resume
    weights: list[Annotated[float, Field(gt=0, lt=1)]] | None = None

    @model_serializer(mode="wrap")
    def _without_unset_weights(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        dumped: dict[str, Any] = handler(self)
        if dumped.get("weights") is None:
            dumped.pop("weights", None)
        return dumped


class TextDemoOptions(Strict):
    """The generated text data set (`source: text_demo`, see hpo/data/textgen.py)."""

    n_samples: int = Field(default=3000, ge=60, le=200_000)
    n_classes: int = Field(default=4, ge=2, le=6)
    label_noise: float = Field(default=0.04, ge=0, lt=0.5)


class DataConfig(Strict):
    source: DataSource
    path: str | None = None
    target: str | None = Field(default=None, description="csv/parquet column or npz array")
    features: list[str] | None = Field(default=None, description="feature columns or npz array")
    synthetic: SyntheticOptions = SyntheticOptions()
    text_column: str | None = Field(default=None, description="text_csv: the text column")
    text_demo: TextDemoOptions | None = Field(
        default=None, description="text_demo: size of the generated set (defaults when absent)"
    )
    image_size: (
        tuple[Annotated[int, Field(ge=8, le=4096)], Annotated[int, Field(ge=8, le=4096)]] | None
    ) = Field(default=None, description="image_folder: [height, width] every image is resized to")
    color_mode: Literal["rgb", "grayscale"] | None = Field(
        default=None, description="image_folder: rgb (default) or grayscale"
    )
    skip_bad_files: bool | None = Field(
        default=None, description="image_folder: skip undecodable files with a warning"
    )
    demo_images: int | None = Field(
        default=None,
        ge=30,
        le=100_000,
        description="image_folder: when 'path' does not exist, first write this many "
        "generated digit PNGs there (python -m hpo.data.make_images)",
    )
    validation_size: float = Field(default=0.2, gt=0, lt=1)
    test_size: float = Field(default=0.2, gt=0, lt=1)
    scaling: Literal["standard", "minmax", "none"] = "standard"
    max_samples: int | None = Field(default=None, ge=20, description="stratified subsample")
    seed: int | None = Field(
        default=None, description="seed of the split (default: the experiment's seed)"
    )

    @model_validator(mode="after")
    def _check(self) -> DataConfig:
        if self.source in FILE_SOURCES and not self.path:
            raise ValueError(f"source {self.source!r} needs 'path'")
        if self.source not in FILE_SOURCES and self.path:
            raise ValueError(f"'path' is only for sources {', '.join(FILE_SOURCES)}")
        if self.text_column is not None and self.source != "text_csv":
            raise ValueError("'text_column' is only for source 'text_csv'")
        if self.text_demo is not None and self.source != "text_demo":
            raise ValueError("'text_demo' options are only for source 'text_demo'")
        if self.source == "image_folder" and self.image_size is None:
            raise ValueError("source 'image_folder' needs 'image_size: [height, width]'")
        if self.source != "image_folder" and any(getattr(self, k) is not None for k in IMAGE_KEYS):
            raise ValueError(f"{', '.join(IMAGE_KEYS)} are only for source 'image_folder'")
        if self.validation_size + self.test_size >= 0.9:
            raise ValueError("validation_size + test_size must leave at least 10% for training")
        return self

    @model_serializer(mode="wrap")
    def _drop_unset_text(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Leave the text keys out when unset, so configs written before the text sources
        existed keep their hashes (and their studies stay resumable)."""
        data: dict[str, Any] = handler(self)
        for key in ("text_column", "text_demo", "seed", *IMAGE_KEYS):
            if data.get(key) is None:
                data.pop(key, None)
        return data
