"""The `hpo` command line: parse, call, print. Heavy libraries load inside commands only."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from hpo.cli.support import db_patience_option, friendly_errors, run_with_progress

F = TypeVar("F", bound=Callable[..., Any])


def _echo_json(payload: Any) -> None:
    click.echo(json.dumps(payload, indent=None, default=str))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="hpo")
def main() -> None:
    """hpo: hyperparameter sweeps for Keras models, every trial tracked in MLflow."""


tracking_option = click.option(
    "--tracking-uri",
    help="MLflow tracking URI (default: sqlite:///mlflow.db, artifacts in mlruns/).",
)


@main.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--strategy", help="Search strategy (see `hpo strategies`).")
@click.option(
    "--pruner",
    type=click.Choice(["none", "median", "asha", "hyperband"]),
    help="Stop poor trials early (Optuna strategies).",
)
@click.option(
    "--enqueue",
    type=click.Path(dir_okay=False),
    help="JSON list of known-good parameter sets to evaluate first.",
)
@click.option("--trials", type=click.IntRange(min=1), help="Trial budget (finished trials).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), help="Seconds budget.")
@click.option("--epochs", type=click.IntRange(min=1), help="Epochs per trial.")
@click.option("--seed", type=int, help="Seed for the split and the strategy.")
@click.option("--study", help="Study name; an existing study is resumed.")
@tracking_option
@click.option("--storage", help="Ledger URL (default: the journal file hpo-ledger.journal).")
@db_patience_option
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Training processes on this machine.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option(
    "--no-report", is_flag=True, help="Do not log the sweep report (plots, HTML) at the end."
)
@friendly_errors
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
    tracking_uri: str | None,
    storage: str | None,
    db_patience: float,
    workers: int,
    as_json: bool,
    quiet: bool,
    no_report: bool,
) -> None:
    """Run (or resume) a sweep described by CONFIG."""
    from hpo.config.experiment import load_experiment
    from hpo.sweep.preflight import check, load_enqueued

    experiment = load_experiment(config).with_overrides(
        **{
            "strategy.name": strategy,
            "strategy.pruner": pruner,
            "budget.trials": trials,
            "budget.timeout_s": timeout,
            "budget.epochs": epochs,
            "seed": seed,
        }
    )
    checked = check(experiment, source=config)
    queued = load_enqueued(enqueue, checked.space) if enqueue else []

    from hpo.sweep.loop import SweepOptions, default_study_name
    from hpo.tracking.runs import resolve_tracking_uri

    options = SweepOptions(
        study=study or default_study_name(experiment.name),
        tracking_uri=resolve_tracking_uri(tracking_uri, experiment.tracking.uri),
        storage=storage,
        workers=workers,
        enqueue=queued,
        db_patience_s=db_patience,
    )
    summary = run_with_progress(checked, options, quiet=quiet)
    if experiment.tracking.report and not no_report:
        from hpo.cli.reports import auto_report

        auto_report(summary, options.tracking_uri)
    if as_json:
        _echo_json(summary.to_json())
    else:
        from hpo.reporting.tables import sweep_text

        click.echo(sweep_text(summary))


@main.command()
@click.argument("config", type=click.Path(dir_okay=False))
@friendly_errors
def validate(config: str) -> None:
    """Check CONFIG, its search space and its data source; print a summary."""
    from hpo.config.experiment import load_experiment
    from hpo.sweep.preflight import check

    checked = check(load_experiment(config), source=config)
    from hpo.reporting.tables import validation_text

    click.echo(validation_text(checked.summary()))


def _open_sweep(experiment: str, study: str | None, tracking_uri: str | None) -> Any:
    from hpo.tracking.sweeps import open_sweep

    return open_sweep(experiment, study, tracking_uri)


@main.command()
@click.argument("experiment")
@click.option("--study", help="Study name (default: the latest sweep of EXPERIMENT).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
)
@tracking_option
@friendly_errors
def trials(experiment: str, study: str | None, fmt: str, tracking_uri: str | None) -> None:
    """List the trials of a sweep, best first."""
    from hpo.reporting.tables import trials_csv, trials_table

    sweep = _open_sweep(experiment, study, tracking_uri)
    records = sweep.sorted_trials()
    if fmt == "json":
        _echo_json([sweep.record_json(r) for r in records])
    elif fmt == "csv":
        click.echo(trials_csv(records), nl=False)
    else:
        click.echo(trials_table(records, sweep.info.objective))


@main.command()
@click.argument("experiment")
@click.option("--study", help="Study name (default: the latest sweep of EXPERIMENT).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@tracking_option
@friendly_errors
def best(experiment: str, study: str | None, as_json: bool, tracking_uri: str | None) -> None:
    """Show the best trial of a sweep."""
    from hpo.reporting.tables import best_text, pareto_text

    sweep = _open_sweep(experiment, study, tracking_uri)
    if sweep.multi_objective:  # a Pareto set, not one trial
        front = sweep.pareto()
        if as_json:
            _echo_json([{"study": sweep.info.study, **sweep.record_json(r)} for r in front])
        else:
            click.echo(pareto_text(sweep.info, front, [o.metric for o in sweep.objectives]))
        return
    record = sweep.best()
    if as_json:
        _echo_json({"study": sweep.info.study, **sweep.record_json(record)})
    else:
        click.echo(best_text(sweep.info, record))


@main.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option(
    "--strategies",
    "names",
    required=True,
    help="Comma-separated, e.g. grid,random,optuna-tpe,bayes-opt,skopt-gp.",
)
@click.option("--trials", type=click.IntRange(min=1), required=True, help="Budget per sweep.")
@click.option(
    "--repeats",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Paired seeds per strategy.",
)
@click.option("--epochs", type=click.IntRange(min=1), help="Epochs per trial.")
@click.option("--target", type=float, help="Objective value to reach (default: the median best).")
@tracking_option
@click.option("--storage", help="Ledger URL (default: the journal file hpo-ledger.journal).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@friendly_errors
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
    from hpo.config.experiment import load_experiment
    from hpo.sweep.compare import compare as run_comparison
    from hpo.sweep.compare import comparison_table
    from hpo.tracking.runs import resolve_tracking_uri

    experiment = load_experiment(config).with_overrides(**{"budget.epochs": epochs})
    report = run_comparison(
        experiment,
        source=config,
        strategies=[n.strip() for n in names.split(",") if n.strip()],
        trials=trials,
        repeats=repeats,
        tracking_uri=resolve_tracking_uri(tracking_uri, experiment.tracking.uri),
        storage=storage,
        target=target,
        notify=lambda m: click.echo(f"hpo: note: {m}", err=True),
    )
    if as_json:
        _echo_json(report)
    else:
        click.echo(comparison_table(report))


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
def strategies(as_json: bool) -> None:
    """List the search strategies and what each can handle."""
    from dataclasses import asdict

    from hpo.reporting.tables import table
    from hpo.search import REGISTRY, strategy_class

    rows = {name: asdict(strategy_class(name).capabilities) for name in REGISTRY}
    if as_json:
        _echo_json([{"name": name, **caps} for name, caps in rows.items()])
        return
    features = [f for f in next(iter(rows.values())) if f != "notes"]
    click.echo(
        table(
            ["strategy", *features, "notes"],
            [
                [name, *("yes" if caps[f] else "-" for f in features), caps["notes"]]
                for name, caps in rows.items()
            ],
        )
    )


@main.command()
@click.option("--port", type=click.IntRange(1, 65535), default=5000, show_default=True)
@tracking_option
@friendly_errors
def ui(port: int, tracking_uri: str | None) -> None:
    """Open the MLflow UI on the same backend, bound to 127.0.0.1."""
    import subprocess

    from hpo.tracking.runs import resolve_tracking_uri

    uri = resolve_tracking_uri(tracking_uri, None)
    click.echo(f"MLflow UI for {uri} at http://127.0.0.1:{port} (Ctrl-C to stop)", err=True)
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "ui",
        "--backend-store-uri",
        uri,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    try:
        sys.exit(subprocess.call(command))
    except KeyboardInterrupt:
        sys.exit(130)


# the promote / export / serve / predict commands (hpo/cli/models.py)
from hpo.cli.models import register as _register_model_commands  # noqa: E402

_register_model_commands(main)
from hpo.cli.reports import register as _register_report_commands  # noqa: E402

_register_report_commands(main)
from hpo.cli.workers import register as _register_worker_command  # noqa: E402

_register_worker_command(main)  # hpo worker (hpo/cli/workers.py)
