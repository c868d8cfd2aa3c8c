"""`hpo promote`, `hpo export`, `hpo serve`, `hpo predict`: from a sweep to production.

Imports stay light (click only): the model and its libraries load inside each command, which
also quiets TensorFlow's and MLflow's chatter (`friendly_errors(quiet_libraries=True)`).
"""

from __future__ import annotations

import sys
from typing import Any

import click

from hpo.cli.errors import friendly_errors
from hpo.cli.options import (
    LazyChoice,
    count_option,
    experiment_argument,
    json_option,
    model_uri_argument,
    port_option,
    study_option,
    tracking_uri_option,
)
from hpo.cli.output import echo_result

# shared with `hpo report` (hpo/cli/reports.py)
trust_model_option = click.option(
    "--trust-model",
    is_flag=True,
    help="Load the model even if its MLmodel is not a plain Keras model (a loader module, "
    "code paths, a pickled python_model, an exported TensorFlow graph): this RUNS THE "
    "MODEL'S OWN CODE. Only for models from someone you trust.",
)


def _formats() -> tuple[str, ...]:
    from hpo.deploy.export import FORMATS

    return FORMATS


def _quantizations() -> tuple[str, ...]:
    from hpo.deploy.export import QUANTIZE

    return QUANTIZE


@click.command()
@experiment_argument
@click.option("--model-name", required=True, help="Registered model name.")
@study_option
@click.option("--metric", help="Metric that picks the trial (default: the sweep objective).")
@click.option(
    "--where",
    multiple=True,
    help="Constraint on a trial metric, e.g. 'precision>=0.9' (repeatable, or comma-separated).",
)
@click.option("--alias", default="champion", show_default=True, help="Registry alias to set.")
@click.option(
    "--min-test-f1",
    type=click.FloatRange(0, 1),
    help="Gate: exit 1 and register nothing when test F1 is below this.",
)
@click.option("--force", is_flag=True, help="Move the alias even if the new version is worse.")
@click.option(
    "--reevaluate",
    type=click.IntRange(1),
    help="Retrain the top K trials with --seeds fresh seeds each; pick by the mean.",
)
@click.option(
    "--seeds", type=click.IntRange(1), default=3, show_default=True, help="Seeds per trial."
)
@click.option("--refit", is_flag=True, help="Train the pick on train + validation first.")
@trust_model_option
@json_option()
@tracking_uri_option
@friendly_errors(quiet_libraries=True)
def promote(as_json: bool, **options: Any) -> None:
    """Register the best trial of a sweep (tested on the held-out split) under an alias."""
    from hpo.api.deploy import promotion
    from hpo.deploy.promote import promotion_text

    result = promotion(**options)  # the options are hpo.promote's keywords
    echo_result(result, as_json, promotion_text)


@click.command()
@model_uri_argument
@click.option("--format", "fmt", type=LazyChoice(_formats), required=True)
@click.option("--output", required=True, help="File (.keras, .tflite, .onnx) or folder.")
@click.option(
    "--quantize",
    type=LazyChoice(_quantizations),
    default="none",
    show_default=True,
    help="TFLite only; int8 calibrates on training rows.",
)
@click.option(
    "--max-abs-diff",
    type=click.FloatRange(min=0),
    help="Parity limit on probabilities (default 1e-4; not judged when quantized).",
)
@click.option(
    "--min-agreement",
    type=click.FloatRange(0, 1),
    help="Parity: minimum share of identical labels (default 0.99; quantized 0.95).",
)
@trust_model_option
@json_option()
@tracking_uri_option
@friendly_errors(quiet_libraries=True)
def export(
    model_uri: str,
    fmt: str,
    output: str,
    quantize: str,
    max_abs_diff: float | None,
    min_agreement: float | None,
    trust_model: bool,
    as_json: bool,
    tracking_uri: str | None,
) -> None:
    """Export MODEL_URI to another format and check parity on the validation rows."""
    from hpo.api.deploy import exported
    from hpo.deploy.export import export_text

    result = exported(
        model_uri,
        fmt,
        output,
        quantize=quantize,
        max_abs_diff=max_abs_diff,
        min_agreement=min_agreement,
        tracking_uri=tracking_uri,
        trust_model=trust_model,
    )
    echo_result(result, as_json, export_text)


@click.command()
@model_uri_argument
@click.option("--host", default="127.0.0.1", show_default=True, help="Bind address.")
@port_option(5001)
@count_option("--workers", 1)
@trust_model_option
@tracking_uri_option
@friendly_errors(quiet_libraries=True)
def serve(
    model_uri: str,
    host: str,
    port: int,
    workers: int,
    trust_model: bool,
    tracking_uri: str | None,
) -> None:
    """Serve MODEL_URI with MLflow's scoring server (POST /invocations).

    SIGINT, SIGTERM and SIGHUP stop the server and all its processes."""
    from hpo.deploy.serve import serve as run_server

    sys.exit(run_server(model_uri, host, port, tracking_uri, workers, trust_model=trust_model))


@click.command()
@model_uri_argument
@click.argument("input_path", metavar="INPUT", type=click.Path(dir_okay=False))
@click.option("--output", help="Write .csv or .npz (default: CSV on stdout).")
@trust_model_option
@tracking_uri_option
@friendly_errors(quiet_libraries=True)
def predict(
    model_uri: str,
    input_path: str,
    output: str | None,
    trust_model: bool,
    tracking_uri: str | None,
) -> None:
    """Predict class labels and probabilities for the rows of a CSV or NPZ file."""
    from hpo.deploy.serve import check_output, predict_file, write_predictions

    check_output(output)
    result = predict_file(model_uri, input_path, tracking_uri, trust_model=trust_model)
    text = write_predictions(result, output)
    if text is not None:
        click.echo(text, nl=False)
    else:
        click.echo(f"wrote {len(result.labels)} predictions to {output}", err=True)


COMMANDS = (promote, export, serve, predict)
