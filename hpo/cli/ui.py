"""`hpo ui`: MLflow's own UI on the same tracking backend, bound to loopback.

The store URI, password and all, reaches `mlflow server` through its environment, never its
command line (which `ps` shows every user of the machine); what hpo prints, and what the
server prints through it, has the password masked. The server runs in a process group of
its own that is stopped as a whole (hpo/child_process.py), and starts only what browsing
needs: one web worker, no job runner, no telemetry. It prints the direct link to the newest
sweep's runs: MLflow 3 otherwise opens an experiment on its GenAI overview (an empty traces
page).
"""

from __future__ import annotations

import os
import sys

import click

from hpo.cli.errors import friendly_errors
from hpo.cli.options import port_option, tracking_uri_option
from hpo.cli.output import warn
from hpo.errors import UserInputError, first_line

HOST = "127.0.0.1"
# MLflow 3.17's UI picks GenAI or model training for the whole UI from this parameter (else
# from what the browser last chose, else GenAI); the experiment's `mlflow.experimentKind`
# tag, which hpo sets too, decides only where that switch is off
MODEL_TRAINING_VIEW = "workflowType=machine_learning"
# `mlflow server` options through their environment variables, so nothing lands in argv
BROWSING_ONLY = {
    "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",  # the job runner: huey consumers, ~240 MB each
    "MLFLOW_DISABLE_TELEMETRY": "true",
}


@click.command()
@port_option(5000)
@tracking_uri_option
@friendly_errors()
def ui(port: int, tracking_uri: str | None) -> None:
    """Open the MLflow UI on the same backend, bound to 127.0.0.1."""
    from hpo.child_process import child_process, port_free
    from hpo.tracking.rest import wait_until_up
    from hpo.tracking.store import DEFAULT_TRACKING_URI, resolve_tracking_uri
    from hpo.urls import mask_secrets, mask_url

    uri = resolve_tracking_uri(tracking_uri, None)
    if uri.startswith(("http://", "https://")):
        raise UserInputError(
            f"{mask_url(uri)} is an MLflow server: it serves the UI itself, open it in a browser",
            field="--tracking-uri",
        )
    if not port_free(HOST, port):
        raise UserInputError(f"port {port} on {HOST} is in use", field="--port")
    base = f"http://{HOST}:{port}"
    click.echo(f"hpo: MLflow UI for {mask_url(uri)} at {base} (Ctrl-C to stop)", err=True)
    command, env = _command(port), _environment(uri)
    with child_process(command, env, filter_output=mask_secrets, grace_s=5.0) as server:
        if wait_until_up(base, alive=lambda: server.poll() is None):
            _point_at_newest_sweep(base, default_store=uri == DEFAULT_TRACKING_URI)
        code = server.wait()
    sys.exit(code)


def _command(port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        "1",
    ]


def _environment(uri: str) -> dict[str, str]:
    from hpo.urls import with_driver

    return {**os.environ, **BROWSING_ONLY, "MLFLOW_BACKEND_STORE_URI": with_driver(uri)}


def _point_at_newest_sweep(base: str, *, default_store: bool) -> None:
    """Print `<base>/#/experiments/<id>/runs` of the newest sweep: its runs, in one click."""
    from hpo.tracking.rest import newest_sweep

    try:
        sweep = newest_sweep(base)
    except (OSError, ValueError, KeyError) as err:  # a convenience: the UI itself is up
        warn(f"cannot find the newest sweep: {first_line(err)}")
        return
    if sweep is None:
        warn("no sweep in this store yet" + (" (run `hpo run` first)" if default_store else ""))
        return
    url = f"{base}/#/experiments/{sweep.experiment_id}/runs?{MODEL_TRAINING_VIEW}"
    click.echo(f"hpo: newest sweep {sweep.study!r}: {url}", err=True)


COMMANDS = (ui,)
