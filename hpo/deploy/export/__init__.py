"""`hpo export`: a logged model as .keras, SavedModel, TFLite or ONNX, with a parity check.

The parity check always runs, because a converter that silently changes predictions is worse
than no export: the exported file and the original model both predict the validation rows of
the sweep's own split, and the command fails (exit 1) below the thresholds (parity.py).

Formats are a registry: a name -> the module that writes it, imported only when that format
is used. A new format is one module declaring `FORMAT = ExportFormat(...)` and one line here.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpo.errors import GateFailed, UserInputError, first_line
from hpo.tracking.schema import THRESHOLD_FILE

if TYPE_CHECKING:
    import numpy as np

    from hpo.deploy.export.parity import Parity

# format name -> the module (named after it, beside this file) that declares its FORMAT
REGISTRY: dict[str, str] = {
    name: f"hpo.deploy.export.{name}" for name in ("keras", "savedmodel", "tflite", "onnx")
}
FORMATS = tuple(REGISTRY)
QUANTIZE = ("none", "dynamic", "float16", "int8")

# predicts probabilities for a batch of rows with the exported file
Predict = Callable[["np.ndarray"], Any]


def _any_output(output: str) -> None:
    """Any file or folder name will do."""


@dataclass(frozen=True)
class ExportFormat:
    """What a format module declares: how it writes (and reloads) the file, what it takes."""

    # (model, output path, quantize, train rows for calibration) -> predict with the file
    write: Callable[[Any, Path, str, np.ndarray], Predict]
    # refuses a request this format cannot satisfy, before anything is loaded
    check_request: Callable[[str], None] = _any_output
    quantizable: bool = False
    text_input: bool = True


def export_format(name: str) -> ExportFormat:
    if name not in REGISTRY:
        raise UserInputError(f"unknown format {name!r} (one of {', '.join(FORMATS)})")
    chosen: ExportFormat = importlib.import_module(REGISTRY[name]).FORMAT
    return chosen


def _formats_that(has: Callable[[ExportFormat], bool]) -> list[str]:
    return [name for name in REGISTRY if has(export_format(name))]


@dataclass(frozen=True)
class ExportResult:
    model_uri: str
    format: str
    quantize: str
    output: str
    bytes: int
    parity: Parity
    # a binary model's tuned decision threshold: the exported file returns probabilities,
    # the labels are at this threshold (written beside it, `threshold_file`)
    threshold: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "parity": asdict(self.parity)}


class ExportParityFailed(GateFailed):
    """Exit 1; carries the measurements so `--json` still prints them."""

    def __init__(self, result: ExportResult, message: str):
        super().__init__(message)
        self.result = result


def check_request(fmt: str, quantize: str, output: str) -> None:
    """Refuse impossible combinations before loading anything."""
    chosen = export_format(fmt)
    if quantize not in QUANTIZE:
        raise UserInputError(f"unknown quantization {quantize!r}", field="--quantize")
    if quantize != "none" and not chosen.quantizable:
        quantizable = " / ".join(_formats_that(lambda f: f.quantizable))
        raise UserInputError(f"quantization is only for --format {quantizable}", field="--quantize")
    chosen.check_request(output)


def _write(fmt: str, model: Any, target: Path, quantize: str, x_train: np.ndarray) -> Predict:
    """Write the file; converters narrate on stdout, which belongs to `--json`."""
    with contextlib.redirect_stdout(sys.stderr), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return export_format(fmt).write(model, target, quantize, x_train)


def export_model(
    model_uri: str,
    fmt: str,
    output: str,
    *,
    quantize: str = "none",
    max_abs_diff: float | None = None,
    min_agreement: float | None = None,
    tracking_uri: str | None = None,
    trust_model: bool = False,
) -> ExportResult:
    """Write the export, then judge it against the original on the validation rows (the
    model is loaded only if it is a plain Keras model, or the user trusts it)."""
    import numpy as np

    from hpo.deploy.export.parity import failure_message, measure
    from hpo.tracking.lineage import trained_on
    from hpo.tracking.registry import Registry
    from hpo.trial.model_extras import read_threshold
    from hpo.trial.predict import predict_proba

    check_request(fmt, quantize, output)
    registry = Registry(tracking_uri)
    ref = registry.resolve(model_uri)
    if ref.run_id is None:
        raise UserInputError(
            "export needs a models:/ or runs:/ URI: the parity check rebuilds the sweep's "
            "validation split from the model's run",
            field=model_uri,
        )
    data = trained_on(registry.lineage(ref.run_id)).dataset
    if data.is_text and not export_format(fmt).text_input:
        takes_text = " or ".join(_formats_that(lambda f: f.text_input))
        raise UserInputError(
            f"{fmt} export of a text model (string input) is not supported; use {takes_text}",
            field="--format",
        )
    local, mlmodel = registry.checked_copy(ref.uri, trust_model=trust_model)
    model = registry.keras_from_copy(local, mlmodel, ref.uri)
    threshold = read_threshold(local)
    x_val = np.asarray(data.x_val, dtype=np.float32)
    original = predict_proba(model, x_val)

    target = Path(output).expanduser().resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        predict = _write(fmt, model, target, quantize, data.x_train)
    except (ValueError, RuntimeError, TypeError, NotImplementedError) as err:
        line = first_line(err)
        raise UserInputError(f"{fmt} conversion failed: {line}", field=model_uri) from None
    parity = measure(original, predict_proba(predict, x_val), quantize, max_abs_diff, min_agreement)
    if threshold is not None:
        write_threshold_beside(target, local)
    size = _size(target)
    result = ExportResult(model_uri, fmt, quantize, str(target), size, parity, threshold)
    if not parity.passed:
        raise ExportParityFailed(result, failure_message(parity, target))
    return result


def threshold_file(target: Path) -> Path:
    """Where an export's decision threshold goes: inside an exported folder (SavedModel),
    else beside the file as `<name>.threshold.json`."""
    if target.is_dir():
        return target / THRESHOLD_FILE
    return target.with_name(f"{target.name}.{THRESHOLD_FILE}")


def write_threshold_beside(target: Path, model_folder: Path) -> Path:
    """Copy the model's threshold.json (value, positive class, rule) next to the export, so
    whoever deploys the file applies the threshold the sweep tuned."""
    destination = threshold_file(target)
    destination.write_bytes((model_folder / THRESHOLD_FILE).read_bytes())
    return destination


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def export_text(result: ExportResult) -> str:
    p = result.parity
    return (
        f"wrote {result.output} ({result.format}"
        + (f", quantize {result.quantize}" if result.quantize != "none" else "")
        + f", {result.bytes} bytes)\n"
        f"parity on {p.rows} validation rows: max abs diff {p.max_abs_diff:.3g}, "
        f"label agreement {p.label_agreement:.2%} -> {'ok' if p.passed else 'FAILED'}"
        + (
            f"\ndecision threshold {result.threshold:.6g} in force: label 1 when the "
            f"probability of class 1 >= it (the file returns probabilities; written to "
            f"{threshold_file(Path(result.output))})"
            if result.threshold is not None
            else ""
        )
    )
