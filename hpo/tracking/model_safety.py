"""Which MLflow models hpo loads without being told to trust them.

Loading an MLflow model can run code the model brought along: a `python_function` flavor
names a `loader_module` to import, `code` folders to put on `sys.path`, a cloudpickled
`python_model`, or a Keras flavor with `save_exported_model: true` loads a TensorFlow graph
instead of a Keras file. Anyone who can write a run's artifacts or move an alias on a shared
tracking server could run code on every host that serves or predicts. So before any load hpo
reads the model's `MLmodel` and accepts only what hpo itself logs: the `keras` flavor (a
`.keras` file, loaded with Keras' `safe_mode`), optionally with the `python_function` flavor
whose loader is MLflow's Keras module. Anything else is refused (exit 2) unless the user
passes `--trust-model`. The model is downloaded once and the checked copy is the one loaded,
so an alias moved or an artifact rewritten on the server in between changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from hpo.errors import UserInputError, first_line

TRUST_FLAG = "--trust-model"
KERAS_FLAVOR = "keras"
PYFUNC_FLAVOR = "python_function"
KERAS_LOADER = "mlflow.keras"  # the loader_module MLflow writes for the Keras flavor
MLMODEL_FILE = "MLmodel"
RUNS_CODE = "(runs the model's own code)"


class UntrustedModel(UserInputError):
    """A model whose MLmodel would run code or load something other than a Keras file."""

    def __init__(self, uri: str, reasons: list[str]):
        self.reasons = reasons
        super().__init__(
            f"refusing to load {uri}: its MLmodel {' and '.join(reasons)}; "
            f"pass {TRUST_FLAG} if you trust who wrote it"
        )


def read_mlmodel(folder: Path, uri: str) -> dict[str, Any]:
    """The MLmodel file of a local model folder, parsed with a safe YAML loader."""
    import yaml

    path = folder / MLMODEL_FILE
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise UserInputError(f"cannot read its MLmodel: {err}", field=uri) from None
    if not isinstance(loaded, dict):
        raise UserInputError("its MLmodel is not a mapping", field=uri)
    return loaded


def refusals(mlmodel: Mapping[str, Any]) -> list[str]:
    """Why hpo would not load this model by default (empty: a plain Keras model), the parts
    that would run code first."""
    flavors = mlmodel.get("flavors")
    if not isinstance(flavors, Mapping):
        return ["has no flavors"]
    keras = flavors.get(KERAS_FLAVOR, {})
    pyfunc = flavors.get(PYFUNC_FLAVOR, {})
    if not isinstance(keras, Mapping) or not isinstance(pyfunc, Mapping):
        return ["has a flavor that is not a mapping"]
    found: list[str] = []
    if PYFUNC_FLAVOR in flavors and pyfunc.get("loader_module") != KERAS_LOADER:
        found.append(f"names loader_module {pyfunc.get('loader_module')} {RUNS_CODE}")
    if pyfunc.get("python_model"):
        found.append(f"names python_model {pyfunc['python_model']} (a pickle: it runs code)")
    if pyfunc.get("model_code_path"):
        found.append(f"names model_code_path {pyfunc['model_code_path']} {RUNS_CODE}")
    for name, flavor in ((PYFUNC_FLAVOR, pyfunc), (KERAS_FLAVOR, keras)):
        if flavor.get("code"):
            found.append(f"names code path {flavor['code']} in {name} {RUNS_CODE}")
        data = flavor.get("data")
        if data is not None and not _inside(data):
            found.append(f"names data path {data} outside the model folder")
    if keras.get("save_exported_model"):
        found.append("sets save_exported_model: true (a TensorFlow graph, not a Keras file)")
    others = sorted(str(name) for name in flavors if name not in (KERAS_FLAVOR, PYFUNC_FLAVOR))
    if others:
        found.append(f"names flavor {', '.join(others)} (hpo loads only Keras models)")
    if KERAS_FLAVOR not in flavors:
        found.append("has no keras flavor (hpo loads only Keras models)")
    return found


def _inside(path: object) -> bool:
    """A relative path that stays inside the model folder."""
    if not isinstance(path, str) or not path:
        return False
    pure = PurePosixPath(path.replace("\\", "/"))
    return not pure.is_absolute() and ".." not in pure.parts and ":" not in path


def check_model_folder(folder: Path, uri: str, *, trust_model: bool) -> dict[str, Any]:
    """Refuse (UntrustedModel, exit 2) a model that is not a plain Keras model, unless the
    user trusts it; returns the parsed MLmodel."""
    mlmodel = read_mlmodel(folder, uri)
    found = refusals(mlmodel)
    if found and not trust_model:
        raise UntrustedModel(uri, found)
    return mlmodel


def require_keras(mlmodel: Mapping[str, Any], uri: str) -> None:
    """Promote, export and report need the Keras model itself (layers, not a pyfunc or a
    TensorFlow graph): trust cannot supply what the model does not have."""
    flavors = mlmodel.get("flavors")
    keras = flavors.get(KERAS_FLAVOR) if isinstance(flavors, Mapping) else None
    if not isinstance(keras, Mapping):
        raise UserInputError("the model has no keras flavor (hpo needs a Keras model)", field=uri)
    if keras.get("save_exported_model"):
        raise UserInputError(
            "the model is an exported TensorFlow graph (save_exported_model: true); "
            "this command needs the Keras model",
            field=uri,
        )


def checked_copy(
    uri: str, tracking_uri: str, *, trust_model: bool, source: str | None = None
) -> tuple[Path, dict[str, Any]]:
    """A local copy of the model whose MLmodel passed the check, and that MLmodel. `source`
    is where its files are when `uri` names them indirectly (a registered version's storage
    location). Downloads are removed when the process exits (a trusted model may read its
    files after loading)."""
    local = _local_copy(source or uri, tracking_uri, uri)
    return local, check_model_folder(local, uri, trust_model=trust_model)


def _local_copy(source: str, tracking_uri: str, uri: str) -> Path:
    scheme = source.split(":", 1)[0] if ":/" in source else ""
    if scheme in ("", "file"):
        return Path(source.removeprefix("file://"))  # a local folder: nothing to copy
    import atexit
    import shutil
    import tempfile

    import mlflow.artifacts
    from mlflow.exceptions import MlflowException

    folder = tempfile.mkdtemp(prefix="hpo-model-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    try:
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=source, dst_path=folder, tracking_uri=tracking_uri
        )
    except (MlflowException, OSError) as err:
        raise UserInputError(f"cannot download the model: {first_line(err)}", field=uri) from None
    return Path(local)
