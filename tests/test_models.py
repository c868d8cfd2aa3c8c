"""Unit tests for the model families and builder/parameter checks (tiny Keras models)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hpo.errors import UserInputError
from hpo.models import accepted_params, check_builder, check_params, get_builder
from tests.conftest import import_or_skip_unless_ci

keras = import_or_skip_unless_ci("keras", install="pip install -e .")


@pytest.fixture(autouse=True)
def _seeded() -> None:
    keras.utils.set_random_seed(0)


def _mlp(params: dict[str, Any], input_shape: tuple[int, ...] = (10,), n_classes: int = 3) -> Any:
    return get_builder("mlp")(params, input_shape, n_classes)


def _cnn(
    params: dict[str, Any], input_shape: tuple[int, ...] = (8, 8, 1), n_classes: int = 3
) -> Any:
    return get_builder("cnn")(params, input_shape, n_classes)


def _layers(model: Any, cls: type) -> list[Any]:
    return [layer for layer in model.layers if isinstance(layer, cls)]


def _blobs(n: int = 96, shape: tuple[int, ...] = (10,), n_classes: int = 3) -> tuple[Any, Any]:
    """Well separated classes: each class shifts all features by a different offset."""
    rng = np.random.default_rng(0)
    y = np.arange(n) % n_classes
    x = rng.normal(scale=0.5, size=(n, *shape)) + (y - 1).reshape(-1, *([1] * len(shape)))
    return x.astype("float32"), y.astype("int64")


# --------------------------------------------------------------------------- mlp


def test_mlp_output_is_a_softmax_over_classes() -> None:
    model = _mlp({"n_layers": 2, "units": 8}, n_classes=4)
    assert model.output_shape == (None, 4)
    x, _ = _blobs(5)
    probs = np.asarray(model(x))
    assert probs.shape == (5, 4)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert (probs >= 0).all()
    assert model.loss == "sparse_categorical_crossentropy"


def test_mlp_param_count_matches_formula() -> None:
    model = _mlp({"n_layers": 2, "units_0": 8, "units_1": 4})
    # (10*8 + 8) + (8*4 + 4) + (4*3 + 3)
    assert model.count_params() == 88 + 36 + 15


def test_mlp_per_layer_units_and_dropout() -> None:
    model = _mlp(
        {
            "n_layers": 3,
            "units_0": 12,
            "units_1": 7,
            "units_2": 5,
            "dropout_0": 0.2,
            "dropout_1": 0.0,
            "dropout_2": 0.4,
            "activation": "tanh",
        }
    )
    dense = _layers(model, keras.layers.Dense)
    assert [d.units for d in dense] == [12, 7, 5, 3]
    assert [d.rate for d in _layers(model, keras.layers.Dropout)] == [0.2, 0.4]
    activations = _layers(model, keras.layers.Activation)
    assert len(activations) == 3
    assert all(a.activation.__name__ == "tanh" for a in activations)


def test_mlp_flattens_image_input() -> None:
    model = _mlp({"units": 4}, input_shape=(8, 8, 1))
    assert isinstance(model.layers[0], keras.layers.Flatten)
    assert model.count_params() == (64 * 4 + 4) + (4 * 3 + 3)


def test_mlp_batch_norm_before_activation() -> None:
    model = _mlp({"n_layers": 2, "units_0": 8, "units_1": 4, "batch_norm": "before"})
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds[:3] == ["Dense", "BatchNormalization", "Activation"]
    hidden = _layers(model, keras.layers.Dense)[:-1]
    assert not any(d.use_bias for d in hidden)  # batch norm's beta replaces the bias
    # 10*8 + 4*8 (BN) + 8*4 + 4*4 (BN) + 4*3 + 3
    assert model.count_params() == 80 + 32 + 32 + 16 + 15


def test_mlp_batch_norm_after_activation() -> None:
    model = _mlp({"n_layers": 1, "units": 8, "batch_norm": "after"})
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["Dense", "Activation", "BatchNormalization", "Dense"]


def test_mlp_batch_norm_after_keeps_bias() -> None:
    model = _mlp({"n_layers": 1, "units": 8, "batch_norm": "after"})
    assert _layers(model, keras.layers.Dense)[0].use_bias
    assert model.count_params() == (10 * 8 + 8) + 4 * 8 + (8 * 3 + 3)


@pytest.mark.parametrize(
    ("kind", "cls", "l1", "l2"),
    [
        ("l1", "L1", 0.01, None),
        ("l2", "L2", None, 0.01),
        ("l1_l2", "L1L2", 0.01, 0.01),
    ],
)
def test_mlp_kernel_regularizers(kind: str, cls: str, l1: float | None, l2: float | None) -> None:
    model = _mlp({"n_layers": 2, "units": 4, "kernel_regularizer": kind, "regularization": 0.01})
    hidden, head = _layers(model, keras.layers.Dense)[:-1], _layers(model, keras.layers.Dense)[-1]
    for dense in hidden:
        reg = dense.kernel_regularizer
        assert type(reg).__name__ == cls
        if l1 is not None:
            assert float(reg.l1) == pytest.approx(l1)
        if l2 is not None:
            assert float(reg.l2) == pytest.approx(l2)
    assert head.kernel_regularizer is None
    model(np.zeros((1, 10), dtype="float32"))
    assert len(model.losses) == 2
    assert all(float(loss) > 0 for loss in model.losses)


@pytest.mark.parametrize(
    "params",
    [{}, {"kernel_regularizer": "l2"}, {"kernel_regularizer": "none", "regularization": 0.1}],
)
def test_mlp_no_regularizer(params: dict[str, Any]) -> None:
    model = _mlp({"units": 4, **params})
    assert all(d.kernel_regularizer is None for d in _layers(model, keras.layers.Dense))


def test_mlp_unknown_regularizer() -> None:
    with pytest.raises(ValueError, match="unknown kernel_regularizer 'l3'"):
        _mlp({"units": 4, "kernel_regularizer": "l3", "regularization": 0.1})


def test_mlp_kernel_initializer() -> None:
    model = _mlp({"units": 4, "kernel_initializer": "he_normal"})
    assert type(_layers(model, keras.layers.Dense)[0].kernel_initializer).__name__ == "HeNormal"


@pytest.mark.parametrize(
    ("params", "cls"),
    [
        ({}, "Adam"),
        ({"optimizer": "rmsprop"}, "RMSprop"),
        ({"optimizer": "NADAM"}, "Nadam"),
        ({"optimizer": "adagrad"}, "Adagrad"),
    ],
)
def test_optimizers(params: dict[str, Any], cls: str) -> None:
    model = _mlp({"units": 4, "learning_rate": 0.02, **params})
    assert type(model.optimizer).__name__ == cls
    assert float(model.optimizer.learning_rate) == pytest.approx(0.02)


def test_sgd_with_momentum() -> None:
    model = _mlp({"units": 4, "optimizer": "sgd", "learning_rate": 0.1, "momentum": 0.9})
    assert isinstance(model.optimizer, keras.optimizers.SGD)
    assert model.optimizer.momentum == pytest.approx(0.9)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.1)


def test_adamw_weight_decay() -> None:
    model = _mlp({"units": 4, "optimizer": "adamw", "weight_decay": 0.05})
    assert isinstance(model.optimizer, keras.optimizers.AdamW)
    assert model.optimizer.weight_decay == pytest.approx(0.05)


def test_unknown_optimizer() -> None:
    with pytest.raises(ValueError, match="unknown optimizer 'lion'"):
        _mlp({"units": 4, "optimizer": "lion"})


# --------------------------------------------------------------------------- cnn


def test_cnn_two_conv_average_pooling_global_head() -> None:
    model = _cnn(
        {
            "n_conv": 2,
            "filters_0": 4,
            "filters_1": 6,
            "pooling": "average",
            "head": "global_average",
            "dense_units": 5,
        }
    )
    assert model.output_shape == (None, 3)
    assert [c.filters for c in _layers(model, keras.layers.Conv2D)] == [4, 6]
    assert len(_layers(model, keras.layers.AveragePooling2D)) == 2
    assert not _layers(model, keras.layers.MaxPooling2D)
    assert len(_layers(model, keras.layers.GlobalAveragePooling2D)) == 1
    assert not _layers(model, keras.layers.Flatten)
    # conv 3*3*1*4+4, conv 3*3*4*6+6, dense 6*5+5, head 5*3+3
    assert model.count_params() == 40 + 222 + 35 + 18


def test_cnn_one_conv_flatten_head() -> None:
    model = _cnn({"n_conv": 1, "filters": 4, "dense_units": 5, "dropout": 0.25})
    assert len(_layers(model, keras.layers.Conv2D)) == 1
    assert len(_layers(model, keras.layers.MaxPooling2D)) == 1
    assert len(_layers(model, keras.layers.Flatten)) == 1
    assert [d.rate for d in _layers(model, keras.layers.Dropout)] == [0.25]
    # conv 3*3*1*4+4, flatten 4*4*4=64 -> dense 64*5+5, head 5*3+3
    assert model.count_params() == 40 + 325 + 18
    x, _ = _blobs(4, shape=(8, 8, 1))
    np.testing.assert_allclose(np.asarray(model(x)).sum(axis=1), 1.0, atol=1e-5)


def test_cnn_conv_batch_norm_and_kernel_size() -> None:
    model = _cnn({"n_conv": 1, "filters": 2, "kernel_size": 5, "conv_batch_norm": True})
    assert _layers(model, keras.layers.Conv2D)[0].kernel_size == (5, 5)
    assert len(_layers(model, keras.layers.BatchNormalization)) == 1


def test_cnn_stops_pooling_at_one_pixel() -> None:
    model = _cnn({"n_conv": 4, "filters": 2, "dense_units": 4}, input_shape=(4, 4, 1))
    assert len(_layers(model, keras.layers.Conv2D)) == 4
    assert len(_layers(model, keras.layers.MaxPooling2D)) == 2  # 4 -> 2 -> 1, then no more
    assert model.output_shape == (None, 3)


def test_cnn_needs_image_input() -> None:
    with pytest.raises(ValueError, match="needs image input"):
        _cnn({}, input_shape=(64,))


# --------------------------------------------------------------------------- training


def test_mlp_training_lowers_the_loss() -> None:
    x, y = _blobs(96)
    model = _mlp({"n_layers": 1, "units": 16, "learning_rate": 0.05, "steps_per_execution": 1})
    before = model.evaluate(x, y, verbose=0, batch_size=96)[0]
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    after = model.evaluate(x, y, verbose=0, batch_size=96)[0]
    assert after < before * 0.8


def test_cnn_training_lowers_the_loss() -> None:
    x, y = _blobs(48, shape=(8, 8, 1))
    model = _cnn(
        {
            "n_conv": 1,
            "filters": 4,
            "dense_units": 8,
            "learning_rate": 0.02,
            "head": "global_average",
        }
    )
    before = model.evaluate(x, y, verbose=0, batch_size=48)[0]
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    after = model.evaluate(x, y, verbose=0, batch_size=48)[0]
    assert after < before


# --------------------------------------------------------------------------- checks


def test_check_params_accepts_family_names() -> None:
    check_params("mlp", ["learning_rate", "n_layers", "units_0", "units_12", "dropout_3"])
    check_params("mlp", ["batch_size", "optimizer", "momentum", "kernel_regularizer"])
    check_params("cnn", ["n_conv", "filters_1", "pooling", "head", "batch_size"])


@pytest.mark.parametrize(
    ("family", "param"),
    [("mlp", "n_heads"), ("mlp", "units_x"), ("mlp", "filters_0"), ("cnn", "units_0")],
)
def test_check_params_rejects_and_lists_accepted(family: str, param: str) -> None:
    with pytest.raises(UserInputError) as info:
        check_params(family, ["learning_rate", param])
    assert info.value.field == f"search_space.{param}"
    assert f"builder {family!r} does not take {param!r}" in info.value.detail
    accepted = accepted_params(family)
    assert accepted is not None
    listed = info.value.detail.split("(it takes: ")[1].rstrip(")").split(", ")
    assert listed == sorted(accepted)
    assert "batch_size" in listed and "learning_rate" in listed


def test_check_params_skips_python_builders() -> None:
    assert accepted_params("python:mod:fn") is None
    check_params("python:mod:fn", ["anything", "goes"])


def test_unknown_builder() -> None:
    for check in (check_builder, get_builder):
        with pytest.raises(UserInputError) as info:
            check("transformer")
        assert info.value.field == "model.builder"
        assert "unknown builder 'transformer'" in info.value.detail
        assert "mlp" in info.value.detail and "cnn" in info.value.detail


def test_family_builders_resolve() -> None:
    check_builder("mlp")
    check_builder("cnn")
    assert callable(get_builder("mlp"))


@pytest.mark.parametrize("name", ["python:", "python:mod", "python::fn"])
def test_malformed_python_builder(name: str) -> None:
    for check in (check_builder, get_builder):
        with pytest.raises(UserInputError, match=r"python:package\.module:function"):
            check(name)


def test_python_builder_module_missing() -> None:
    with pytest.raises(UserInputError) as info:
        check_builder("python:hpo_no_such_module_xyz:build")
    assert info.value.field == "model.builder"
    assert "cannot import 'hpo_no_such_module_xyz'" in info.value.detail
    with pytest.raises(UserInputError, match="hpo_no_such_module_xyz"):
        get_builder("python:hpo_no_such_module_xyz:build")
    with pytest.raises(UserInputError, match=r"cannot import 'hpo_no_such_pkg_xyz\.sub'"):
        check_builder("python:hpo_no_such_pkg_xyz.sub:build")


USER_MODULE = """
from math import sqrt as imported_sqrt

SIZE = 3


def build(params, input_shape, n_classes):
    return ("built", dict(params), input_shape, n_classes)


class Factory:
    pass
"""


@pytest.fixture
def user_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    name = "hpo_test_user_builders"
    (tmp_path / f"{name}.py").write_text(USER_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, name, raising=False)
    yield name
    sys.modules.pop(name, None)


def test_python_builder_present(user_module: str) -> None:
    for attr in ("build", "Factory", "SIZE", "imported_sqrt"):
        check_builder(f"python:{user_module}:{attr}")  # found without importing
    assert user_module not in sys.modules
    builder = get_builder(f"python:{user_module}:build")
    assert builder({"a": 1}, (4,), 2) == ("built", {"a": 1}, (4,), 2)


def test_python_builder_function_missing(user_module: str) -> None:
    with pytest.raises(UserInputError) as info:
        check_builder(f"python:{user_module}:make_model")
    assert info.value.field == "model.builder"
    assert f"{user_module!r}" in info.value.detail
    assert "defines no function 'make_model'" in info.value.detail
    with pytest.raises(UserInputError, match="has no function 'make_model'"):
        get_builder(f"python:{user_module}:make_model")


def test_python_builder_not_callable(user_module: str) -> None:
    with pytest.raises(UserInputError, match="has no function 'SIZE'"):
        get_builder(f"python:{user_module}:SIZE")


def test_python_builder_with_syntax_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "hpo_test_broken_builder.py").write_text("def build(:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(UserInputError):
        check_builder("python:hpo_test_broken_builder:build")
