"""What the file-based sources share: the file must exist, and a table must parse."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from hpo.errors import UserInputError, first_line

if TYPE_CHECKING:
    import pandas as pd

    from hpo.config.data_config import DataConfig


def existing_file(config: DataConfig) -> Path:
    """`data.path`, which config validation guarantees is set for a file source."""
    assert config.path is not None
    path = Path(config.path)
    if not path.is_file():
        raise UserInputError("file not found", source=str(path), field="data.path")
    return path


def read_table(path: Path, kind: Literal["csv", "parquet"]) -> pd.DataFrame:
    """A csv or parquet file as a frame; an unreadable file is a one-line user error."""
    import pandas as pd

    try:
        return pd.read_csv(path) if kind == "csv" else pd.read_parquet(path)
    except Exception as err:  # pandas raises many types for unreadable files
        raise UserInputError(f"cannot read {kind}: {first_line(err)}", source=str(path)) from None
