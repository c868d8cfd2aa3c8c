"""`hpo.load_model`, `hpo.promote`, `hpo.export`: from a sweep to a model in hand."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hpo.deploy.export import ExportResult
    from hpo.deploy.promote import Promotion


def model_uri_of(ref: str, tracking_uri: str | None = None) -> str:
    """A model URI as is; an experiment name: its latest sweep's best trial's model."""
    if ":/" in ref:
        return ref
    from hpo.api.reads import best
    from hpo.tracking.schema import MODEL_ARTIFACT

    return f"runs:/{best(ref, tracking_uri=tracking_uri).run_id}/{MODEL_ARTIFACT}"


def load_model(ref: str, *, tracking_uri: str | None = None, trust_model: bool = False) -> Any:
    """A trained Keras model, ready to `predict`.

    Args:
        ref: an experiment name (its latest sweep's best trial), `models:/<name>@<alias>`,
            `models:/<name>/<version>` or `runs:/<run_id>/model`.
        tracking_uri: MLflow (default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db).
        trust_model: load a model that is not a plain Keras model (runs its code).

    Returns:
        The `keras.Model`.

    Raises:
        UserInputError: no such model, or not a plain Keras model and not trusted.
    """
    from hpo.tracking.registry import Registry

    uri = model_uri_of(ref, tracking_uri)
    return Registry(tracking_uri).load_keras(uri, trust_model=trust_model)


def promotion(experiment: str, model_name: str, **options: Any) -> Promotion:
    """`promote`'s result object (the CLI prints its text); `options` are the fields of
    `hpo.deploy.promote.PromoteOptions`, so a new `hpo promote` option needs no change here."""
    from hpo.deploy.promote import PromoteOptions
    from hpo.deploy.promote import promote as promote_best

    if "where" in options:
        options["where"] = tuple(options["where"])
    return promote_best(PromoteOptions(experiment=experiment, model_name=model_name, **options))


def promote(
    experiment: str,
    model_name: str,
    *,
    study: str | None = None,
    metric: str | None = None,
    where: Sequence[str] = (),
    alias: str = "champion",
    min_test_f1: float | None = None,
    force: bool = False,
    tracking_uri: str | None = None,
    trust_model: bool = False,
) -> dict[str, Any]:
    """Register a sweep's best trial, tested on the held-out split, under an alias
    (`hpo promote`).

    Args:
        experiment: the MLflow experiment (the config's `name`).
        model_name: the registered model name.
        study: the study (default: the latest sweep).
        metric: the metric that picks the trial (default: the sweep's objective).
        where: constraints on trial metrics, e.g. `["precision>=0.9"]`.
        alias: the registry alias to set.
        min_test_f1: a gate: below it nothing is registered (`GateFailed`).
        force: move the alias even if the new version tests worse.
        tracking_uri: MLflow (default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db).
        trust_model: load a model that is not a plain Keras model (runs its code).

    Returns:
        The dict `hpo promote --json` prints (`model_uri`, `version`, `test_metrics`, ...).

    Raises:
        UserInputError: no such sweep, no trial that qualifies, a bad name.
        GateFailed: test F1 below `min_test_f1` (nothing registered).
    """
    return promotion(
        experiment,
        model_name,
        study=study,
        metric=metric,
        where=where,
        alias=alias,
        min_test_f1=min_test_f1,
        force=force,
        tracking_uri=tracking_uri,
        trust_model=trust_model,
    ).to_json()


def exported(
    model_uri: str,
    format: str,
    output: str,
    *,
    quantize: str = "none",
    max_abs_diff: float | None = None,
    min_agreement: float | None = None,
    tracking_uri: str | None = None,
    trust_model: bool = False,
) -> ExportResult:
    """`export`'s result object (the CLI prints its text)."""
    from hpo.deploy.export import check_request, export_model

    check_request(format, quantize, output)
    return export_model(
        model_uri,
        format,
        output,
        quantize=quantize,
        max_abs_diff=max_abs_diff,
        min_agreement=min_agreement,
        tracking_uri=tracking_uri,
        trust_model=trust_model,
    )


def export(
    model_uri: str,
    format: str = "tflite",
    output: str = "model.tflite",
    *,
    quantize: str = "none",
    max_abs_diff: float | None = None,
    min_agreement: float | None = None,
    tracking_uri: str | None = None,
    trust_model: bool = False,
) -> dict[str, Any]:
    """Export a model to another format and check parity on the validation rows
    (`hpo export`).

    Args:
        model_uri: `models:/<name>@<alias>`, `runs:/<run_id>/model`, or an experiment name.
        format: `keras`, `tflite`, `onnx` or `savedmodel`.
        output: the file (.keras, .tflite, .onnx) or folder to write.
        quantize: TFLite only: `none`, `dynamic`, `float16` or `int8`.
        max_abs_diff: the parity limit on probabilities (default 1e-4).
        min_agreement: the minimum share of identical labels (default 0.99).
        tracking_uri: MLflow (default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db).
        trust_model: load a model that is not a plain Keras model (runs its code).

    Returns:
        The dict `hpo export --json` prints (the file, its size, the parity measured).

    Raises:
        UserInputError: a bad format, output or model.
        GateFailed: parity not met (its `.result` holds the measurements).
    """
    return exported(
        model_uri_of(model_uri, tracking_uri),
        format,
        output,
        quantize=quantize,
        max_abs_diff=max_abs_diff,
        min_agreement=min_agreement,
        tracking_uri=tracking_uri,
        trust_model=trust_model,
    ).to_json()
