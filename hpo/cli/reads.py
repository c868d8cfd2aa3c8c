"""`hpo trials`, `hpo best`, `hpo strategies`: read what the sweeps logged, change nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from hpo.cli.errors import friendly_errors
from hpo.cli.options import experiment_argument, json_option, study_option, tracking_uri_option
from hpo.cli.output import echo_json, note

if TYPE_CHECKING:
    from hpo.tracking.sweeps import SweepView


def _open_sweep(experiment: str, study: str | None, tracking_uri: str | None) -> SweepView:
    from hpo.api.reads import open_sweep

    return open_sweep(experiment, study, tracking_uri)


@click.command()
@experiment_argument
@study_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
)
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=50,
    show_default=True,
    help="Show the best N trials (0: all); a big sweep is read one page, not every run.",
)
@tracking_uri_option
@friendly_errors()
def trials(
    experiment: str, study: str | None, fmt: str, limit: int, tracking_uri: str | None
) -> None:
    """List the trials of a sweep, best first."""
    from hpo.reporting.tables import trials_csv, trials_table

    sweep = _open_sweep(experiment, study, tracking_uri)
    records = sweep.top(limit)
    if fmt == "table" and limit and len(records) == limit:
        note(f"the best {limit} trials; --limit 0 lists all")
    if fmt == "json":
        echo_json([sweep.record_json(r) for r in records])
    elif fmt == "csv":
        click.echo(trials_csv(records), nl=False)
    else:
        click.echo(trials_table(records, sweep.info.objective))


@click.command()
@experiment_argument
@study_option
@json_option()
@tracking_uri_option
@friendly_errors()
def best(experiment: str, study: str | None, as_json: bool, tracking_uri: str | None) -> None:
    """Show the best trial of a sweep."""
    from hpo.reporting.tables import best_text, pareto_text

    sweep = _open_sweep(experiment, study, tracking_uri)
    if sweep.multi_objective:  # a Pareto set, not one trial
        front = sweep.pareto()
        if as_json:
            echo_json([{"study": sweep.info.study, **sweep.record_json(r)} for r in front])
        else:
            click.echo(pareto_text(sweep.info, front, [o.metric for o in sweep.objectives]))
        return
    record = sweep.best()
    if as_json:
        from hpo.tracking.schema import REEVAL_STD_SUFFIX

        # the objective's spread over `hpo promote --reevaluate`'s seeds, when measured
        noise = record.metrics.get(sweep.info.objective + REEVAL_STD_SUFFIX)
        echo_json({"study": sweep.info.study, **sweep.record_json(record), "noise": noise})
    else:
        click.echo(best_text(sweep.info, record))


@click.command()
@json_option("a JSON list")
@friendly_errors()
def strategies(as_json: bool) -> None:
    """List the search strategies and what each can handle."""
    from dataclasses import asdict

    from hpo.reporting.tables import table
    from hpo.search import REGISTRY, strategy_class

    rows = {name: asdict(strategy_class(name).capabilities) for name in REGISTRY}
    if as_json:
        echo_json([{"name": name, **caps} for name, caps in rows.items()])
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


COMMANDS = (trials, best, strategies)
