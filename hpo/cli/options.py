"""Every option and argument that more than one `hpo` command takes, defined once.

As MLflow's `utils/cli_args.py`: a command lists the shared options it takes by name, so
`--tracking-uri` means (and says) the same thing everywhere. Choices that belong to a lower
layer (pruners, export formats) are read from there when a command needs them, not copied.
"""

from __future__ import annotations

import os
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


def safe_study_name(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """`--study` follows the naming rule of hpo/config/names.py (a usage error otherwise): a
    name with a quote was never found again."""
    from hpo.config.names import name_problem

    problem = None if value is None else name_problem(value)
    if problem is not None:
        raise click.BadParameter(f"the study name {problem}", ctx=ctx, param=param)
    return value


study_option = click.option(
    "--study",
    callback=safe_study_name,
    help="Study name (default: the latest sweep of EXPERIMENT).",
)
tracking_uri_option = click.option(
    "--tracking-uri",
    help="MLflow tracking and model registry URI (default: $MLFLOW_TRACKING_URI, else "
    "sqlite:///mlflow.db, artifacts in mlruns/; an MLflow server: http://host:5000, its "
    "login in $MLFLOW_TRACKING_USERNAME and $MLFLOW_TRACKING_PASSWORD, not in the URI).",
)
STORAGE_ENVVAR = "HPO_STORAGE"  # keeps a ledger password off the command line (`ps` shows it)
storage_option = click.option(
    "--storage",
    envvar=STORAGE_ENVVAR,
    help=f"Ledger URL (default: ${STORAGE_ENVVAR}, else the journal file hpo-ledger.journal). "
    "A database password belongs in ~/.pgpass, $PGPASSWORD or $HPO_STORAGE, not here.",
)
shared_storage_option = click.option(
    "--storage",
    envvar=STORAGE_ENVVAR,
    required=True,
    help=f"Shared ledger: postgresql://user@host/db (default: ${STORAGE_ENVVAR}). "
    "The password from ~/.pgpass or $PGPASSWORD, or the whole URL in $HPO_STORAGE: a "
    "command line is visible to every user of the machine.",
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


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, e.g. a container's share)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def check_workers(workers: int, force: bool) -> None:
    """More training processes than CPUs only slows every trial down (and multiplies memory):
    refused unless forced."""
    cpus = usable_cpus()
    if workers > cpus and not force:
        from hpo.errors import UserInputError

        raise UserInputError(
            f"{workers} is more than the {cpus} CPU{'s' if cpus != 1 else ''} this process "
            "may use; lower it, or pass --force-workers",
            field="--workers",
        )


def port_option(default: int) -> Decorator:
    return click.option("--port", type=click.IntRange(1, 65535), default=default, show_default=True)


devices_option = click.option(
    "--devices",
    default="auto",
    show_default=True,
    help="Where training processes train: auto (every visible GPU, else the CPU), cpu, or "
    "GPU ids such as 0,1; each process is pinned by CUDA_VISIBLE_DEVICES.",
)
trials_per_device_option = count_option(
    "--trials-per-device", 1, "Training processes (trials at once) per device."
)


def workers_for(workers: int | None, devices: str, trials_per_device: int) -> int:
    """`--workers`, by default every device busy: devices x trials per device."""
    if workers is not None:
        return workers
    from hpo.sweep.devices import default_workers, parse

    return default_workers(parse(devices), trials_per_device)
