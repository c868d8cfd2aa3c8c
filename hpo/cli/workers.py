"""`hpo worker`: one of any number of workers on one study (scale-out).

Every worker is the same orchestrator as `hpo run` (hpo.sweep.Sweep) joining a study in a
shared PostgreSQL ledger and logging to a shared `mlflow server`: the ledger hands out the
trials (Optuna RDB storage, heartbeats for dead workers), MLflow holds one sweep run with
every worker's trials as children. Nothing home-made: no queue, no server of our own.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import click

from hpo.cli.support import db_patience_option, friendly_errors, run_with_progress
from hpo.errors import UserInputError

F = TypeVar("F", bound=Callable[..., Any])


def _check_urls(storage: str, tracking_uri: str) -> None:
    """Several workers need a database every machine reaches; SQLite locks under
    concurrent writers (both Optuna and MLflow say so), a journal file is one machine."""
    from hpo.study.ledger import is_database, is_sqlite, mask_url

    if not is_database(storage) or is_sqlite(storage):
        raise UserInputError(
            "hpo worker needs a shared database ledger (postgresql://user@host/db); "
            "SQLite and the journal file are for one `hpo run` only",
            field=f"--storage {mask_url(storage)}",
        )
    if is_sqlite(tracking_uri) or "://" not in tracking_uri:
        click.echo(
            f"hpo: warning: tracking URI {mask_url(tracking_uri)} is local and locks under "
            "several writers: it is for one worker only; use an `mlflow server` "
            "(--tracking-uri http://host:5000) for several",
            err=True,
        )


@click.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--study", required=True, help="Study to join (created when absent).")
@click.option(
    "--storage", required=True, help="Shared ledger: postgresql://user[:password]@host/db."
)
@click.option("--tracking-uri", help="MLflow server, e.g. http://host:5000.")
@click.option("--trials", type=click.IntRange(min=1), help="Study budget (finished trials).")
@click.option("--epochs", type=click.IntRange(min=1), help="Epochs per trial.")
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    help="TensorFlow threads (default: all cores; give each of N workers on one machine cores/N).",
)
@click.option(
    "--heartbeat",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="Seconds between heartbeats of a running trial.",
)
@click.option(
    "--grace",
    type=click.IntRange(min=1),
    help="Seconds without heartbeat before a trial is stale (default: 2 x heartbeat).",
)
@click.option(
    "--retries",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    help="Times a dead worker's trial is retried.",
)
@db_patience_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@friendly_errors
def worker(
    config: str,
    study: str,
    storage: str,
    tracking_uri: str | None,
    trials: int | None,
    epochs: int | None,
    threads: int | None,
    heartbeat: int,
    grace: int | None,
    retries: int,
    db_patience: float,
    as_json: bool,
    quiet: bool,
) -> None:
    """Join STUDY and run trials of CONFIG until the study's budget is spent."""
    from hpo.config.experiment import load_experiment
    from hpo.sweep.preflight import check
    from hpo.tracking.runs import resolve_tracking_uri

    experiment = load_experiment(config).with_overrides(
        **{"budget.trials": trials, "budget.epochs": epochs}
    )
    uri = resolve_tracking_uri(tracking_uri, experiment.tracking.uri)
    _check_urls(storage, uri)
    checked = check(experiment, source=config)

    from hpo.study.ledger import Heartbeat
    from hpo.sweep.loop import SweepOptions

    options = SweepOptions(
        study=study,
        tracking_uri=uri,
        storage=storage,
        workers=1,
        heartbeat=Heartbeat(interval_s=heartbeat, grace_s=grace, retries=retries),
        joined=True,
        threads=threads,
        db_patience_s=db_patience,
    )
    summary = run_with_progress(checked, options, quiet=quiet)
    if as_json:
        click.echo(
            json.dumps({**summary.to_json(), "worker_trials": summary.new_trials}, default=str)
        )
    else:
        from hpo.reporting.tables import sweep_text

        click.echo(sweep_text(summary))
        click.echo(f"this worker ran {summary.new_trials} trial(s)")


def register(group: click.Group) -> None:
    """Add `hpo worker` to the `hpo` group (heavy imports stay inside the command)."""
    group.add_command(worker)
