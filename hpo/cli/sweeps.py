"""`hpo run`, `hpo validate`, `hpo compare`: commands that check or run sweeps of a CONFIG."""

from __future__ import annotations

import sys
import typing

import click

from hpo.cli.errors import friendly_errors
from hpo.cli.options import (
    LazyChoice,
    check_workers,
    config_argument,
    count_option,
    db_patience_option,
    devices_option,
    epochs_option,
    json_option,
    quiet_option,
    safe_study_name,
    storage_option,
    tracking_uri_option,
    trials_per_device_option,
    workers_for,
)
from hpo.cli.output import echo_json, echo_result, note, warn


def _pruners() -> tuple[str, ...]:
    """The pruner names the config accepts (its `Literal`), so the two never disagree."""
    from hpo.config.experiment import StrategyConfig

    return typing.get_args(StrategyConfig.model_fields["pruner"].annotation)


@click.command()
@config_argument
@click.option("--strategy", help="Search strategy (see `hpo strategies`).")
@click.option(
    "--pruner", type=LazyChoice(_pruners), help="Stop poor trials early (Optuna strategies)."
)
@click.option(
    "--enqueue",
    type=click.Path(dir_okay=False),
    help="JSON list of known-good parameter sets to evaluate first.",
)
@click.option("--trials", type=click.IntRange(min=1), help="Trial budget (finished trials).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), help="Seconds budget.")
@epochs_option
@click.option("--seed", type=int, help="Seed for the split and the strategy.")
@click.option("--study", callback=safe_study_name, help="Study name; an existing study is resumed.")
@click.option(
    "--allow-strategy-change",
    is_flag=True,
    help="Resume a study with another strategy (or options) than it was run with.",
)
@tracking_uri_option
@storage_option
@db_patience_option
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="Training processes on this machine (at most its CPUs; default: one per device).",
)
@devices_option
@trials_per_device_option
@click.option("--force-workers", is_flag=True, help="Allow --workers above the CPU count.")
@json_option()
@quiet_option
@click.option(
    "--no-report", is_flag=True, help="Do not log the sweep report (plots, HTML) at the end."
)
@friendly_errors()
def run(
    config: str,
    strategy: str | None,
    pruner: str | None,
    enqueue: str | None,
    trials: int | None,
    timeout: float | None,
    epochs: int | None,
    seed: int | None,
    study: str | None,
    allow_strategy_change: bool,
    tracking_uri: str | None,
    storage: str | None,
    db_patience: float,
    workers: int | None,
    devices: str,
    trials_per_device: int,
    force_workers: bool,
    as_json: bool,
    quiet: bool,
    no_report: bool,
) -> None:
    """Run (or resume) a sweep described by CONFIG."""
    workers = workers_for(workers, devices, trials_per_device)
    check_workers(workers, force_workers)
    from hpo.api.sweeps import sweep

    summary = sweep(
        config,
        overrides={
            "strategy.name": strategy,
            "strategy.pruner": pruner,
            "budget.trials": trials,
            "budget.timeout_s": timeout,
            "budget.epochs": epochs,
            "seed": seed,
        },
        study=study,
        tracking_uri=tracking_uri,
        storage=storage,
        workers=workers,
        devices=devices,
        trials_per_device=trials_per_device,
        enqueue=enqueue,
        db_patience=db_patience,
        allow_strategy_change=allow_strategy_change,
        progress=not quiet and sys.stderr.isatty(),
        notebook=False,
        partial=False,
        notify=warn,
    )
    if summary.experiment_config.tracking.report and not no_report:
        from hpo.cli.reports import auto_report

        auto_report(summary.experiment, summary.study, summary.tracking_uri)
    from hpo.reporting.tables import sweep_text

    echo_result(summary.raw, as_json, sweep_text)


@click.command()
@config_argument
@friendly_errors()
def validate(config: str) -> None:
    """Check CONFIG, its search space and its data source; print a summary."""
    from hpo.config.experiment import load_experiment
    from hpo.sweep.preflight import check

    checked = check(load_experiment(config), source=config)
    from hpo.reporting.tables import validation_text

    click.echo(validation_text(checked.summary()))
    from hpo.data.class_weight import counts_text, imbalance_warning

    click.echo(counts_text(checked.dataset))
    warning = imbalance_warning(checked.dataset)
    if warning:
        click.echo(warning, err=True)


@click.command()
@config_argument
@click.option(
    "--strategies",
    "names",
    required=True,
    help="Comma-separated, e.g. grid,random,optuna-tpe,bayes-opt,skopt-gp.",
)
@click.option("--trials", type=click.IntRange(min=1), required=True, help="Budget per sweep.")
@count_option("--repeats", 3, "Paired seeds per strategy.")
@epochs_option
@click.option("--target", type=float, help="Objective value to reach (default: the median best).")
@tracking_uri_option
@storage_option
@json_option()
@friendly_errors()
def compare(
    config: str,
    names: str,
    trials: int,
    repeats: int,
    epochs: int | None,
    target: float | None,
    tracking_uri: str | None,
    storage: str | None,
    as_json: bool,
) -> None:
    """Run several strategies on the same split and budget, and rank them."""
    from hpo.api.sweeps import compare as run_comparison
    from hpo.reporting.tables import comparison_table

    report = run_comparison(
        config,
        [n.strip() for n in names.split(",") if n.strip()],
        trials,
        repeats,
        epochs=epochs,
        target=target,
        tracking_uri=tracking_uri,
        storage=storage,
        notify=note,
        partial=False,
    )
    if as_json:
        echo_json(report)
    else:
        click.echo(comparison_table(report))


COMMANDS = (run, validate, compare)
