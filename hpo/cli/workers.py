"""`hpo worker`: one of any number of workers on one study (scale-out).

Every worker is the same sweep loop as `hpo run` (hpo/sweep/) joining a study in a
shared PostgreSQL ledger and logging to a shared `mlflow server`: the ledger hands out the
trials (Optuna RDB storage, heartbeats for dead workers), MLflow holds one sweep run with
every worker's trials as children. Nothing home-made: no queue, no server of our own.
"""

from __future__ import annotations

import click

from hpo.cli import options
from hpo.cli.errors import friendly_errors
from hpo.cli.output import echo_json, warn
from hpo.cli.progress import run_with_progress
from hpo.errors import UserInputError


def _check_urls(storage: str, tracking_uri: str) -> None:
    """Several workers need a database every machine reaches; SQLite locks under
    concurrent writers (both Optuna and MLflow say so), a journal file is one machine."""
    from hpo.urls import is_database, is_sqlite, mask_url

    if not is_database(storage) or is_sqlite(storage):
        raise UserInputError(
            "hpo worker needs a shared database ledger (postgresql://user@host/db); "
            "SQLite and the journal file are for one `hpo run` only",
            field=f"--storage {mask_url(storage)}",
        )
    if is_sqlite(tracking_uri) or "://" not in tracking_uri:
        warn(
            f"tracking URI {mask_url(tracking_uri)} is local and locks under "
            "several writers: it is for one worker only; use an `mlflow server` "
            "(--tracking-uri http://host:5000) for several"
        )


@click.command()
@options.config_argument
@click.option(
    "--study",
    required=True,
    callback=options.safe_study_name,
    help="Study to join (created when absent).",
)
@click.option(
    "--allow-strategy-change",
    is_flag=True,
    help="Join a study run with another strategy (or options), continuing with this one.",
)
@options.shared_storage_option
@options.tracking_uri_option
@click.option("--trials", type=click.IntRange(min=1), help="Study budget (finished trials).")
@options.epochs_option
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    help="TensorFlow threads (default: all cores; give each of N workers on one machine cores/N).",
)
@options.devices_option
@options.trials_per_device_option
@options.count_option("--heartbeat", 10, "Seconds between heartbeats of a running trial.")
@click.option(
    "--grace",
    type=click.IntRange(min=1),
    help="Seconds without heartbeat before a trial is stale (default: 2 x heartbeat).",
)
@options.count_option("--retries", 1, "Times a dead worker's trial is retried.", low=0)
@options.db_patience_option
@options.json_option()
@options.quiet_option
@friendly_errors()
def worker(
    config: str,
    study: str,
    allow_strategy_change: bool,
    storage: str,
    tracking_uri: str | None,
    trials: int | None,
    epochs: int | None,
    threads: int | None,
    devices: str,
    trials_per_device: int,
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
    from hpo.tracking.store import resolve_tracking_uri

    experiment = load_experiment(config).with_overrides(
        **{"budget.trials": trials, "budget.epochs": epochs}
    )
    uri = resolve_tracking_uri(tracking_uri, experiment.tracking.uri)
    _check_urls(storage, uri)
    # TensorFlow starts in the training process now, while the rest is checked and set up
    from hpo.sweep.devices import device_envs
    from hpo.sweep.pool import early_training_processes

    # one training process per device and place (the CPU alone: one)
    processes = options.workers_for(None, devices, trials_per_device)
    envs = device_envs(devices, processes, trials_per_device)
    with early_training_processes(experiment, processes, threads, envs) as early:
        checked = check(experiment, source=config)

        from hpo.study.heartbeat import Heartbeat
        from hpo.sweep.setup import SweepOptions

        sweep_options = SweepOptions(
            study=study,
            tracking_uri=uri,
            storage=storage,
            workers=processes,
            devices=devices,
            trials_per_device=trials_per_device,
            heartbeat=Heartbeat(interval_s=heartbeat, grace_s=grace, retries=retries),
            joined=True,
            threads=threads,
            db_patience_s=db_patience,
            allow_strategy_change=allow_strategy_change,
            early=early,
        )
        summary = run_with_progress(checked, sweep_options, quiet=quiet)
    if as_json:
        echo_json({**summary.to_json(), "worker_trials": summary.new_trials})
    else:
        from hpo.reporting.tables import sweep_text

        click.echo(sweep_text(summary))
        click.echo(f"this worker ran {summary.new_trials} trial(s)")


COMMANDS = (worker,)
