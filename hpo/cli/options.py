"""Every option and argument that more than one `hpo` command takes, defined once.

As MLflow's `utils/cli_args.py`: a command lists the shared options it takes by name, so
`--tracking-uri` means (and says) the same thing everywhere. Choices that belong to a lower
layer (pruners, export formats) are read from there when a command needs them, not copied.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import click

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


class LazyChoice(click.Choice[str]):
    """A `click.Choice` whose values are loaded when a command needs them (its help, parsing),
    so `hpo --help` does not import the module that defines them."""

    def __init__(self, load: Callable[[], Sequence[str]]) -> None:
        self._load = load
        super().__init__(())

    @property
    def choices(self) -> tuple[str, ...]:
        return tuple(self._load())

    @choices.setter
    def choices(self, value: Sequence[str]) -> None:
        """`click.Choice.__init__` assigns its eager list here; the loader is the source."""


config_argument = click.argument("config", type=click.Path(dir_okay=False))
experiment_argument = click.argument("experiment")
model_uri_argument = click.argument("model_uri")

study_option = click.option("--study", help="Study name (default: the latest sweep of EXPERIMENT).")
tracking_uri_option = click.option(
    "--tracking-uri",
    help="MLflow tracking and model registry URI (default: sqlite:///mlflow.db, artifacts in "
    "mlruns/; an MLflow server: http://host:5000).",
)
storage_option = click.option(
    "--storage", help="Ledger URL (default: the journal file hpo-ledger.journal)."
)
db_patience_option = click.option(
    "--db-patience",
    type=click.FloatRange(min=0),
    default=120.0,
    show_default=True,
    help="Seconds to keep retrying (with backoff) while the ledger database or MLflow is "
    "unreachable (or its SQLite file locked).",
)
epochs_option = click.option("--epochs", type=click.IntRange(min=1), help="Epochs per trial.")
quiet_option = click.option("--quiet", is_flag=True, help="No progress bar.")


def json_option(prints: str = "one JSON object") -> Decorator:
    """`--json`: the command's result as JSON on stdout (a contract: nothing else goes there)."""
    return click.option("--json", "as_json", is_flag=True, help=f"Print {prints} on stdout.")


def count_option(name: str, default: int, help: str | None = None, *, low: int = 1) -> Decorator:
    """A whole number (at least `low`) whose default the help shows."""
    return click.option(
        name, type=click.IntRange(min=low), default=default, show_default=True, help=help
    )


def port_option(default: int) -> Decorator:
    return click.option("--port", type=click.IntRange(1, 65535), default=default, show_default=True)
