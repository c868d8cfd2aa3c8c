"""The `hpo` command group: one module per command family, registered here.

Thin commands: parse, call the library, print. Heavy libraries load inside commands only, so
`hpo --help` starts in tens of milliseconds (tests/test_quality.py checks it).
"""

from __future__ import annotations

import click

from hpo.cli import models, reads, reports, sweeps, ui, workers


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="hpo")
def main() -> None:
    """hpo: hyperparameter sweeps for Keras models, every trial tracked in MLflow."""


for family in (sweeps, reads, ui, models, reports, workers):
    for command in family.COMMANDS:
        main.add_command(command)
