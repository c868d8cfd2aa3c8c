"""Hostile MLflow models for tests/test_model_safety.py: each runs code when it is loaded
(or called) and proves it by writing a marker file.

Every one starts from a real hpo-logged Keras model folder and changes what an attacker with
write access to a tracking server could change:
- `loader`: the python_function flavor names its own `loader_module` in a `code/` folder
  (the loader writes the marker on import, then loads the Keras model as MLflow would);
- `pickle`: the python_function flavor is a cloudpickled `python_model` whose unpickling
  writes the marker;
- `graph`: the Keras flavor says `save_exported_model: true` and holds a TensorFlow graph
  that writes the marker whenever it predicts;
- `lambda`: a clean MLmodel whose `.keras` file holds a Lambda layer (Python bytecode) that
  writes the marker when the model is rebuilt: only Keras' safe_mode stops it.
"""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path
from typing import Any

import yaml

KINDS = ("loader", "pickle", "graph", "lambda")
LOADER_MODULE = "evil_loader"

LOADER_SOURCE = """\
import pathlib

pathlib.Path({marker!r}).write_text("ran")

from mlflow.keras import _load_pyfunc  # noqa: E402,F401  (then behave like a Keras model)
"""

# evaluated by unpickling: writes the marker, returns a working PythonModel
PICKLE_SOURCE = (
    "(__import__('pathlib').Path({marker!r}).write_text('ran'), "
    "type('Unpickled', (__import__('mlflow.pyfunc').pyfunc.PythonModel,), "
    "{{'predict': lambda self, context, model_input, params=None: "
    "__import__('numpy').full((len(model_input), 10), 0.1)}})())[1]"
)


class _Payload:
    def __init__(self, source: str):
        self.source = source

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (eval, (self.source,))


def _edit_mlmodel(folder: Path, change: Any) -> None:
    path = folder / "MLmodel"
    conf = yaml.safe_load(path.read_text())
    change(conf["flavors"])
    path.write_text(yaml.safe_dump(conf))


def _loader(pristine: Path, target: Path, marker: Path) -> None:
    shutil.copytree(pristine, target)
    (target / "code").mkdir()
    (target / "code" / f"{LOADER_MODULE}.py").write_text(LOADER_SOURCE.format(marker=str(marker)))
    _edit_mlmodel(
        target,
        lambda f: f["python_function"].update(loader_module=LOADER_MODULE, code="code"),
    )


def _pickle(pristine: Path, target: Path, marker: Path) -> None:
    shutil.copytree(pristine, target)
    payload = _Payload(PICKLE_SOURCE.format(marker=str(marker)))
    (target / "python_model.pkl").write_bytes(pickle.dumps(payload))
    _edit_mlmodel(
        target,
        lambda f: f["python_function"].update(
            loader_module="mlflow.pyfunc.model", python_model="python_model.pkl"
        ),
    )


def _graph(pristine: Path, target: Path, marker: Path) -> None:
    import keras
    import mlflow.keras
    import numpy as np
    import tensorflow as tf
    from mlflow.models import infer_signature

    class WritesMarker(keras.layers.Layer):
        def call(self, x: Any) -> Any:
            tf.io.write_file(str(marker), "ran")  # a stateful op: kept in the exported graph
            return x

    trained = keras.saving.load_model(pristine / "data" / "model.keras")
    inputs = keras.Input((64,))
    model = keras.Model(inputs, trained(WritesMarker()(inputs)))
    x = np.zeros((2, 64), dtype=np.float32)
    signature = infer_signature(x, np.zeros((2, 10), dtype=np.float32))
    mlflow.keras.save_model(
        model, str(target), save_exported_model=True, signature=signature, pip_requirements=[]
    )


def _lambda(pristine: Path, target: Path, marker: Path) -> None:
    import keras
    import mlflow.keras

    trained = keras.saving.load_model(pristine / "data" / "model.keras")
    writes = keras.layers.Lambda(
        lambda x, m=str(marker): (__import__("pathlib").Path(m).write_text("ran"), x)[1]
    )
    model = keras.Sequential([keras.Input((64,)), writes, trained])
    mlflow.keras.save_model(model, str(target), pip_requirements=[])


def make_hostile(kind: str, pristine: Path, target: Path, marker: Path) -> Path:
    """A hostile copy of the model folder `pristine` in `target` that writes `marker`."""
    {"loader": _loader, "pickle": _pickle, "graph": _graph, "lambda": _lambda}[kind](
        pristine, target, marker
    )
    marker.unlink(missing_ok=True)  # building a Keras model may call its layers once
    return target
