"""The `hpo report` command and the automatic report at the end of `hpo run`.

Kept apart from hpo/cli.py and registered on its group with `register(main)`. Imports stay
light (click only): matplotlib, optuna and mlflow load inside the functions.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import click

from hpo.errors import HpoError, first_line


def auto_report(summary: Any, tracking_uri: str) -> None:
    """Log the sweep report on the sweep run; never fails the run, never writes to stdout.

    stdout is the `--json` contract, so anything a library prints goes to stderr, and any
    error becomes one warning line: the sweep itself already succeeded.
    """
    import contextlib

    started = time.perf_counter()
    try:
        from hpo.reporting.build import log_sweep_report

        with contextlib.redirect_stdout(sys.stderr):
            report = log_sweep_report(summary.experiment, summary.study, tracking_uri)
    except Exception as err:
        first = first_line(err, limit=200)
        click.echo(f"hpo: warning: the sweep report was not written: {first}", err=True)
        return
    for message in report.warnings:
        click.echo(f"hpo: warning: {message}", err=True)
    click.echo(
        f"hpo: report logged to the sweep run under report/ "
        f"({len(report.files)} files, {time.perf_counter() - started:.1f} s)",
        err=True,
    )


@click.command()
@click.argument("experiment")
@click.option("--study", help="Study name (default: the latest sweep of EXPERIMENT).")
@click.option(
    "--output",
    required=True,
    type=click.Path(file_okay=False),
    help="Folder for the PNG files, report.html and report.json.",
)
@click.option(
    "--tracking-uri",
    help="MLflow tracking URI (default: sqlite:///mlflow.db, artifacts in mlruns/).",
)
def report(experiment: str, study: str | None, output: str, tracking_uri: str | None) -> None:
    """Plots, warnings and one HTML page for a sweep (default: the latest)."""
    try:
        from hpo.reporting.build import write_report

        done = write_report(experiment, study, Path(output), tracking_uri)
    except HpoError as err:
        click.echo(f"hpo: error: {err}", err=True)
        sys.exit(err.exit_code)
    for message in done.warnings:
        click.echo(f"hpo: warning: {message}", err=True)
    for note in done.notes:
        click.echo(f"hpo: note: {note}", err=True)
    click.echo(f"report for {experiment}: {len(done.files)} files in {done.folder}")
    for name in done.files:
        click.echo(f"  {Path(done.folder) / name}")


def register(group: click.Group) -> None:
    """Add the commands to the `hpo` group."""
    group.add_command(report)
