"""`hpo ui`: MLflow's own UI on the same tracking backend, bound to loopback."""

from __future__ import annotations

import sys

import click

from hpo.cli.errors import friendly_errors
from hpo.cli.options import port_option, tracking_uri_option


@click.command()
@port_option(5000)
@tracking_uri_option
@friendly_errors()
def ui(port: int, tracking_uri: str | None) -> None:
    """Open the MLflow UI on the same backend, bound to 127.0.0.1."""
    import subprocess

    from hpo.tracking.store import resolve_tracking_uri

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


COMMANDS = (ui,)
