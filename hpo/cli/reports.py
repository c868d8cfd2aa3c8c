"""`hpo report`, and the automatic report at the end of `hpo run`.

Imports stay light (click only): matplotlib, optuna and mlflow load inside the functions.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from hpo.cli.errors import friendly_errors
from hpo.cli.models import trust_model_option
from hpo.cli.options import experiment_argument, study_option, tracking_uri_option
from hpo.cli.output import note, warn
from hpo.errors import first_line


def auto_report(experiment: str, study: str, tracking_uri: str) -> None:
    """Log the sweep report on STUDY's sweep run; never fails the run, never writes to stdout.

    stdout is the `--json` contract, so anything a library prints goes to stderr, and any
    error becomes one warning line: the sweep itself already succeeded.
    """
    import contextlib

    started = time.perf_counter()
    try:
        from hpo.reporting.build import log_sweep_report

        with contextlib.redirect_stdout(sys.stderr):
            report = log_sweep_report(experiment, study, tracking_uri)
    except Exception as err:
        warn(f"the sweep report was not written: {first_line(err, limit=200)}")
        return
    for message in report.warnings:
        warn(message)
    click.echo(
        f"hpo: report logged to the sweep run under report/ "
        f"({len(report.files)} files, {time.perf_counter() - started:.1f} s)",
        err=True,
    )


@click.command()
@experiment_argument
@study_option
@click.option(
    "--output",
    required=True,
    type=click.Path(file_okay=False),
    help="Folder for the PNG files, report.html and report.json.",
)
@trust_model_option
@tracking_uri_option
@friendly_errors()
def report(
    experiment: str, study: str | None, output: str, trust_model: bool, tracking_uri: str | None
) -> None:
    """Plots, warnings and one HTML page for a sweep (default: the latest)."""
    from hpo.api.reads import report as write_report

    done = write_report(
        experiment, output, study=study, tracking_uri=tracking_uri, trust_model=trust_model
    )
    for message in done["warnings"]:
        warn(message)
    for line in done["notes"]:
        note(line)
    click.echo(f"report for {experiment}: {len(done['files'])} files in {done['folder']}")
    for name in done["files"]:
        click.echo(f"  {Path(done['folder']) / name}")


COMMANDS = (report,)
