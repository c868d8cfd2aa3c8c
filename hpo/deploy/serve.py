"""`hpo serve` (MLflow's scoring server) and `hpo predict` (batch files, same pyfunc model).

Both take any model URI, and load it only when its MLmodel names a plain Keras model (or the
user passed `--trust-model`); `predict` checks the number of features against the model's
signature first, so a wrong file is a one-line error (exit 2), not a TensorFlow traceback.
`serve` stays the parent of MLflow's server and stops the server's whole process tree when
it is stopped (child_process.py).
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hpo.errors import UserInputError, first_line


def serve_command(
    model_uri: str, host: str, port: int, tracking_uri: str, workers: int = 1
) -> tuple[list[str], dict[str, str]]:
    """`mlflow models serve` with the local environment, and the env it needs."""
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "models",
        "serve",
        "-m",
        model_uri,
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--env-manager",
        "local",
    ]
    env = dict(os.environ)
    env["MLFLOW_TRACKING_URI"] = tracking_uri
    env["MLFLOW_REGISTRY_URI"] = tracking_uri
    # MLflow starts `uvicorn` through bash: it must be found beside this interpreter
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return command, env


def serve(
    model_uri: str,
    host: str,
    port: int,
    tracking_uri: str | None,
    workers: int,
    *,
    trust_model: bool = False,
) -> int:
    """Check the URI, the model and the port, then run MLflow's scoring server on the checked
    local copy until it exits or hpo is stopped (SIGINT, SIGTERM, SIGHUP), when its whole
    process tree is stopped too. Returns the exit code."""
    from hpo.child_process import port_free, run_child
    from hpo.tracking.registry import Registry

    registry = Registry(tracking_uri)
    registry.resolve(model_uri)
    local, _ = registry.checked_copy(model_uri, trust_model=trust_model)
    threshold_note(local)
    if not port_free(host, port):
        raise UserInputError(f"port {port} on {host} is in use", field="--port")
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"hpo: warning: serving on {host}: reachable from other machines", file=sys.stderr)
    command, env = serve_command(str(local), host, port, registry.uri, workers)
    print(
        f"hpo: serving {model_uri} at http://{host}:{port}/invocations (Ctrl-C to stop)",
        file=sys.stderr,
        flush=True,
    )
    sys.stdout.flush()
    return run_child(command, env)


# ---------------------------------------------------------------------------- predict


def threshold_note(model_folder: Path) -> float | None:
    """Say on stderr which decision threshold is stored with the model (binary models
    tuned with `objective.threshold`); MLflow's server returns the probabilities, so a
    client applies it as `hpo predict` does."""
    from hpo.trial.model_extras import read_threshold

    threshold = read_threshold(model_folder)
    if threshold is not None:
        print(
            f"hpo: decision threshold {threshold:.6g} in force: label 1 when "
            "probability of class 1 >= it (stored with the model)",
            file=sys.stderr,
        )
    return threshold


@dataclass(frozen=True)
class Predictions:
    labels: np.ndarray
    probabilities: np.ndarray
    threshold: float | None = None  # the decision threshold the labels are at (binary)

    def csv(self) -> str:
        k = self.probabilities.shape[1]
        lines = [",".join(["label", *(f"prob_{i}" for i in range(k))])]
        for label, row in zip(self.labels, self.probabilities, strict=True):
            lines.append(",".join([str(int(label)), *(f"{p:.6g}" for p in row)]))
        return "\n".join(lines) + "\n"


def read_input(path: Path) -> np.ndarray:
    """Rows from a CSV (a header row is optional) or an NPZ (array `x`, or its only array)."""
    if not path.is_file():
        raise UserInputError("file not found", source=str(path))
    suffix = path.suffix.lower()
    if suffix == ".npz":
        try:
            arrays = np.load(path, allow_pickle=False)
        except Exception as err:
            raise UserInputError(f"cannot read npz: {err}", source=str(path)) from None
        names = list(arrays.files)
        key = "x" if "x" in names else (names[0] if len(names) == 1 else None)
        if key is None:
            raise UserInputError(
                f"name the rows 'x' (arrays: {', '.join(names) or 'none'})", source=str(path)
            )
        try:
            return np.asarray(arrays[key])
        except ValueError as err:  # object arrays need pickle, which is never allowed
            raise UserInputError(f"cannot read npz: {err}", source=str(path)) from None
    if suffix == ".csv":
        import pandas as pd

        try:
            frame = pd.read_csv(path, header=None)
            if len(frame) and not _numeric_header(frame.iloc[0]):
                frame = pd.read_csv(path)  # the first line names the columns
        except Exception as err:
            first = first_line(err)
            raise UserInputError(f"cannot read csv: {first}", source=str(path)) from None
        if frame.empty:
            raise UserInputError("no rows", source=str(path))
        if all(pd.api.types.is_numeric_dtype(t) for t in frame.dtypes):
            x = frame.to_numpy(dtype=np.float32)
            if np.isnan(x).any():
                raise UserInputError("missing values in the rows", source=str(path))
            return x
        return frame.astype(str).to_numpy(dtype=object)
    raise UserInputError("input must be a .csv or .npz file", source=str(path))


def _numeric_header(cells: Any) -> bool:
    """True when every cell of a first line reads as a number (so it is a row, not names)."""
    try:
        [float(c) for c in cells]
    except (TypeError, ValueError):
        return False
    return True


def expected_input(model: Any) -> tuple[tuple[int, ...] | None, bool]:
    """(per-row shape, takes strings) from the model's signature; None when unknown."""
    schema = model.metadata.get_input_schema()
    if schema is None or not schema.inputs:
        return None, False
    spec = schema.inputs[0]
    shape = getattr(spec, "shape", None)
    dtype = getattr(spec, "type", None)
    is_text = dtype is not None and np.dtype(dtype).kind in ("U", "S", "O")
    if shape is None:
        return None, is_text
    return tuple(int(d) for d in shape[1:]), is_text


def fit_to_model(x: np.ndarray, shape: tuple[int, ...] | None, is_text: bool) -> np.ndarray:
    """Reshape flat rows to the model's per-row shape; refuse a wrong feature count."""
    if is_text:
        if x.ndim == 2 and x.shape[1] != 1:
            raise UserInputError(f"the model takes one text column, the input has {x.shape[1]}")
        return np.asarray(x.reshape(len(x)), dtype=str)
    if x.dtype == object or not np.issubdtype(x.dtype, np.number):
        raise UserInputError("the rows are not all numbers")
    x = x.astype(np.float32)
    if shape is None or any(d < 0 for d in shape):
        return x
    want = math.prod(shape)
    have = math.prod(x.shape[1:]) if x.ndim > 1 else 1
    if have != want:
        raise UserInputError(
            f"the input has {have} features per row, the model expects {want} (shape {list(shape)})"
        )
    return x.reshape((len(x), *shape))


def predict_file(
    model_uri: str, input_path: str, tracking_uri: str | None, *, trust_model: bool = False
) -> Predictions:
    """Labels and probabilities for the rows of a file, predicted in chunks (one row of
    probabilities per input row)."""
    from hpo.scoring import labels_at, two_columns
    from hpo.tracking.registry import Registry
    from hpo.trial.predict import predict_proba

    registry = Registry(tracking_uri)
    registry.resolve(model_uri)
    x_raw = read_input(Path(input_path))
    local, _ = registry.checked_copy(model_uri, trust_model=trust_model)
    model = registry.load_pyfunc(str(local), trust_model=trust_model)
    shape, is_text = expected_input(model)
    x = fit_to_model(x_raw, shape, is_text)
    # Keras prints a progress bar on stdout; stdout belongs to the predictions
    with contextlib.redirect_stdout(io.StringIO()):
        probs = predict_proba(model.predict, x)
    threshold = threshold_note(local)
    return Predictions(labels_at(two_columns(probs), threshold), probs, threshold)


def check_output(output: str | None) -> None:
    """Refuse an output format we cannot write before the model is even loaded."""
    if output is not None and Path(output).suffix.lower() not in (".csv", ".npz"):
        raise UserInputError("output must end in .csv or .npz", field="--output")


def write_predictions(result: Predictions, output: str | None) -> str | None:
    """CSV on stdout (returned) or to a .csv / .npz file (labels, probabilities)."""
    if output is None:
        return result.csv()
    check_output(output)
    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".npz":
        arrays: dict[str, Any] = {"labels": result.labels, "probabilities": result.probabilities}
        if result.threshold is not None:
            arrays["threshold"] = np.float64(result.threshold)
        np.savez(path, **arrays)
    else:
        path.write_text(result.csv(), encoding="utf-8")
    return None
