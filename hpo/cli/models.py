"""CLI commands from a sweep to production: promote, export, serve, predict.

Kept apart from hpo/cli.py and registered on its group with `register(main)`. Imports stay
light (click only): the heavy work is imported inside each command.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click

from hpo.errors import HpoError

F = TypeVar("F", bound=Callable[..., Any])

tracking_option = click.option(
    "--tracking-uri",
    help="MLflow tracking and registry URI (default: sqlite:///mlflow.db).",
)


def _quiet_libraries() -> None:
    """TensorFlow's C++ INFO lines and MLflow's download bars would bury our one-line output."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def _friendly_errors(func: F) -> F:
    """HpoError -> one line on stderr and its exit code (2 bad input, 1 failed gate)."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _quiet_libraries()
        try:
            return func(*args, **kwargs)
        except HpoError as err:
            result = getattr(err, "result", None)
            if result is not None and kwargs.get("as_json"):
                click.echo(json.dumps(result.to_json(), default=str))
            click.echo(f"hpo: error: {err}", err=True)
            sys.exit(err.exit_code)

    return wrapper  # type: ignore[return-value]


@click.command()
@click.argument("experiment")
@click.option("--model-name", required=True, help="Registered model name.")
@click.option("--study", help="Study name (default: the latest sweep of EXPERIMENT).")
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
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@tracking_option
@_friendly_errors
def promote(
    experiment: str,
    model_name: str,
    study: str | None,
    metric: str | None,
    where: tuple[str, ...],
    alias: str,
    min_test_f1: float | None,
    force: bool,
    as_json: bool,
    tracking_uri: str | None,
) -> None:
    """Register the best trial of a sweep (tested on the held-out split) under an alias."""
    from hpo.deploy.promote import PromoteOptions, promote, promotion_text

    result = promote(
        PromoteOptions(
            experiment=experiment,
            model_name=model_name,
            study=study,
            metric=metric,
            where=where,
            alias=alias,
            min_test_f1=min_test_f1,
            force=force,
            tracking_uri=tracking_uri,
        )
    )
    click.echo(json.dumps(result.to_json()) if as_json else promotion_text(result))


@click.command()
@click.argument("model_uri")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["keras", "savedmodel", "tflite", "onnx"]),
    required=True,
)
@click.option("--output", required=True, help="File (.keras, .tflite, .onnx) or folder.")
@click.option(
    "--quantize",
    type=click.Choice(["none", "dynamic", "float16", "int8"]),
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
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@tracking_option
@_friendly_errors
def export(
    model_uri: str,
    fmt: str,
    output: str,
    quantize: str,
    max_abs_diff: float | None,
    min_agreement: float | None,
    as_json: bool,
    tracking_uri: str | None,
) -> None:
    """Export MODEL_URI to another format and check parity on the validation rows."""
    from hpo.deploy.export import check_request, export_model, export_text

    check_request(fmt, quantize, output)
    result = export_model(
        model_uri,
        fmt,
        output,
        quantize=quantize,
        max_abs_diff=max_abs_diff,
        min_agreement=min_agreement,
        tracking_uri=tracking_uri,
    )
    click.echo(json.dumps(result.to_json()) if as_json else export_text(result))


@click.command()
@click.argument("model_uri")
@click.option("--host", default="127.0.0.1", show_default=True, help="Bind address.")
@click.option("--port", type=click.IntRange(1, 65535), default=5001, show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True)
@tracking_option
@_friendly_errors
def serve(model_uri: str, host: str, port: int, workers: int, tracking_uri: str | None) -> None:
    """Serve MODEL_URI with MLflow's scoring server (POST /invocations)."""
    from hpo.deploy.serve import serve as run_server

    run_server(model_uri, host, port, tracking_uri, workers)


@click.command()
@click.argument("model_uri")
@click.argument("input_path", metavar="INPUT", type=click.Path(dir_okay=False))
@click.option("--output", help="Write .csv or .npz (default: CSV on stdout).")
@tracking_option
@_friendly_errors
def predict(model_uri: str, input_path: str, output: str | None, tracking_uri: str | None) -> None:
    """Predict class labels and probabilities for the rows of a CSV or NPZ file."""
    from hpo.deploy.serve import check_output, predict_file, write_predictions

    check_output(output)
    result = predict_file(model_uri, input_path, tracking_uri)
    text = write_predictions(result, output)
    if text is not None:
        click.echo(text, nl=False)
    else:
        click.echo(f"wrote {len(result.labels)} predictions to {output}", err=True)


def register(group: click.Group) -> None:
    """Add the commands to the `hpo` group."""
    for command in (promote, export, serve, predict):
        group.add_command(command)
