"""The model zoo: every family builds from sampled parameters, has the right output shape
and parameter count, learns on tiny data, and rejects bad input with exit 2."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from hpo.config.data_config import DataConfig
from hpo.config.space import SearchSpaceSpec, compile_space
from hpo.data.dataset import Dataset, load_dataset, pre_scaled
from hpo.models import FAMILIES, get_builder
from hpo.trial.pipeline import builder_kwargs
from tests.conftest import ROOT, import_or_skip_unless_ci, tiny_experiment

keras = import_or_skip_unless_ci("keras", install="pip install -e .")

SPACES = ROOT / "search_spaces"


def _sample(space_file: str, seed: int, **fixed: Any) -> dict[str, Any]:
    """One random point of a shipped search-space template (what a strategy would ask)."""
    space = compile_space(
        SearchSpaceSpec.model_validate(yaml.safe_load((SPACES / space_file).read_text()))
    )
    rng = random.Random(seed)

    def draw(param: Any) -> Any:
        if param.kind == "fixed":
            return param.value
        if param.kind == "categorical":
            return rng.choice(param.choices)
        if param.kind == "int":
            return rng.randint(int(param.low), int(param.high))
        return rng.uniform(param.low, param.high)

    return {**space.sample(draw), **fixed}


@pytest.fixture(scope="module")
def datasets() -> dict[str, Dataset]:
    """Scaled as a family's model sees its rows (the pipeline puts the train split's scaling
    in front of the built model, hpo/trial/preprocessing.py)."""
    return {
        "tabular": pre_scaled(load_dataset(DataConfig(source="digits", max_samples=200), 0)),
        "images": pre_scaled(load_dataset(DataConfig(source="digits_images", max_samples=200), 0)),
        "text": load_dataset(DataConfig(source="text_demo", text_demo={"n_samples": 400}), 0),
    }


# family, search-space template, data, sampled-param overrides (keep transfer tiny)
CASES = [
    ("mlp", "mlp.yaml", "tabular", {}),
    ("cnn", "cnn.yaml", "images", {}),
    ("transfer", "transfer.yaml", "images", {"dense_units": 32, "fine_tune_layers": 2}),
    ("rnn", "rnn.yaml", "text", {}),
    ("attention", "attention.yaml", "text", {}),
]


def _build(family: str, params: dict[str, Any], data: Dataset) -> Any:
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    builder = get_builder(family)
    return builder(params, data.input_shape, data.n_classes, **builder_kwargs(builder, data))


@pytest.mark.parametrize(
    ("family", "space", "data_name", "overrides"), CASES, ids=[c[0] for c in CASES]
)
def test_family_builds_predicts_and_learns(family, space, data_name, overrides, datasets):
    data = datasets[data_name]
    params = _sample(space, seed=1, **overrides)
    params["learning_rate"] = 0.01
    params.pop("dropout", None)  # deterministic loss comparison
    model = _build(family, params, data)

    probs = np.asarray(model(data.x_val[:5], training=False))
    assert probs.shape == (5, data.n_classes)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-4)
    # the head maps its input to one probability per class; the template stays small
    head = model.layers[-1]
    assert head.count_params() == (head.input.shape[-1] + 1) * data.n_classes
    assert 0 < model.count_params() < 1_000_000
    assert model.optimizer is not None  # compiled, as the builder contract says

    x, y = data.x_train[:64], data.y_train[:64]
    before = float(model.evaluate(x, y, verbose=0)[0])
    for _ in range(8):
        model.train_on_batch(x, y)
    after = float(model.evaluate(x, y, verbose=0)[0])
    assert after < before, (family, params, before, after)


def test_mlp_parameter_count_is_exact(datasets):
    data = datasets["tabular"]
    model = _build("mlp", {"n_layers": 2, "units_0": 16, "units_1": 8}, data)
    assert model.count_params() == (64 * 16 + 16) + (16 * 8 + 8) + (8 * 10 + 10)
    bn = _build("mlp", {"n_layers": 1, "units": 16, "batch_norm": "before"}, data)
    # no Dense bias under batch norm; BN has gamma, beta + 2 non-trainable statistics
    assert bn.count_params() == 64 * 16 + 4 * 16 + (16 * 10 + 10)


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "elu", "selu", "gelu"])
def test_mlp_activations(activation, datasets):
    data = datasets["tabular"]
    model = _build(
        "mlp",
        {
            "units": 8,
            "activation": activation,
            "kernel_initializer": "he_normal",
            "kernel_regularizer": "l1_l2",
            "regularization": 1e-4,
            "batch_norm": "after",
        },
        data,
    )
    assert np.asarray(model(data.x_val[:2])).shape == (2, 10)


def test_text_vocabulary_is_fitted_on_the_train_split_only(datasets):
    data = datasets["text"]
    x_train = np.array(["alpha beta", "beta gamma"] * 10, dtype=object)
    model = get_builder("rnn")({"units": 4}, (), 2, x_train=x_train)
    vocabulary = model.get_layer("vectorize").get_vocabulary()
    assert set(vocabulary) == {"", "[UNK]", "alpha", "beta", "gamma"}
    # the trial pipeline hands builders the train split, never validation or test
    assert builder_kwargs(get_builder("rnn"), data)["x_train"] is data.x_train
    assert builder_kwargs(get_builder("mlp"), data) == {}


def test_text_model_without_training_texts_is_a_clear_error():
    with pytest.raises(ValueError, match="training texts"):
        get_builder("attention")({}, (), 3)


def test_numeric_sequences_token_ids_and_floats():
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 50, size=(40, 12)).astype(np.float32)
    model = get_builder("rnn")({"units": 4}, (12,), 3, x_train=tokens)
    assert model.get_layer("embed").input_dim == int(tokens.max()) + 1
    series = rng.normal(size=(40, 12, 2)).astype(np.float32)
    model = get_builder("attention")({"attention": "dot"}, (12, 2), 3, x_train=series)
    assert np.asarray(model(series[:4])).shape == (4, 3)


def test_transfer_freezes_the_base_and_fine_tunes_the_top(datasets):
    data = datasets["images"]
    frozen = _build("transfer", {"alpha": 0.35, "dense_units": 8}, data)
    base = next(layer for layer in frozen.layers if isinstance(layer, keras.Model))
    assert not base.trainable_weights
    tuned = _build("transfer", {"alpha": 0.35, "dense_units": 8, "fine_tune_layers": 3}, data)
    base = next(layer for layer in tuned.layers if isinstance(layer, keras.Model))
    assert [layer.name for layer in base.layers if layer.trainable_weights] == [
        layer.name for layer in base.layers[-3:] if layer.weights
    ]


def test_transfer_fine_tuned_layers_learn_at_the_lower_rate(datasets):
    data = datasets["images"]
    model = _build(
        "transfer",
        {
            "alpha": 0.35,
            "dense_units": 8,
            "fine_tune_layers": 3,
            "fine_tune_lr_factor": 0.0,
            "learning_rate": 0.05,
        },
        data,
    )
    base = next(layer for layer in model.layers if isinstance(layer, keras.Model))
    before = [np.array(v) for v in base.trainable_variables]
    head_before = np.array(model.get_layer("classes").kernel)
    model.train_on_batch(data.x_train[:32], data.y_train[:32])
    assert all(
        np.array_equal(b, np.array(v))
        for b, v in zip(before, base.trainable_variables, strict=True)
    )  # factor 0: frozen
    assert not np.array_equal(head_before, np.array(model.get_layer("classes").kernel))


def test_every_family_is_registered_with_its_module():
    assert set(FAMILIES) >= {"mlp", "cnn", "transfer", "rnn", "attention"}
    for module, names in FAMILIES.values():
        assert module.startswith("hpo.models.") and "learning_rate" in names


def test_validate_never_imports_keras(workdir, write_config):
    """The orchestrating process (validate, run's parent) stays free of TensorFlow."""
    path = write_config(
        tiny_experiment(
            **{
                "data": {"source": "text_demo", "text_demo": {"n_samples": 200}},
                "model.builder": "attention",
                "search_space.params": {
                    "attention": {"type": "categorical", "choices": ["dot", "multihead"]}
                },
            }
        )
    )
    code = (
        "import sys\nfrom click.testing import CliRunner\nfrom hpo.cli.main import main\n"
        f"r = CliRunner().invoke(main, ['validate', {str(path)!r}])\n"
        "assert r.exit_code == 0, r.output\n"
        "heavy = [m for m in ('keras', 'tensorflow') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=workdir,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr


# ------------------------------------------------------------------ bad input: exit 2


def _write_csv(path: Path, text_values: list[Any]) -> None:
    lines = ["text,label"] + [f"{v},{i % 2}" for i, v in enumerate(text_values)]
    path.write_text("\n".join(lines) + "\n")


BAD = {
    "unknown base": (
        {
            "data": {"source": "digits_images"},
            "model.builder": "transfer",
            "search_space.params": {
                "base": {"type": "categorical", "choices": ["mobilenet_v2", "inception_v9"]}
            },
        },
        ["search_space.base", "'inception_v9' is not one of", "mobilenet_v2"],
    ),
    "flat features into a transfer base": (
        {"model.builder": "transfer", "search_space.params": {"dense_units": 8}},
        ["model.builder", "cannot take input shape (64,)", "digits_images"],
    ),
    "image size below the base minimum": (
        {
            "data": {"source": "digits_images"},
            "model.builder": "transfer",
            "search_space.params": {
                "base": "vgg16",
                "image_size": {"type": "int", "low": 16, "high": 64},
            },
        },
        ["search_space.image_size", "at least 32x32", "16"],
    ),
    "imagenet weights not in the cache": (
        {
            "data": {"source": "digits_images"},
            "model.builder": "transfer",
            "search_space.params": {"base": "resnet50", "weights": "imagenet"},
        },
        [
            "search_space.weights",
            "not in the local Keras cache",
            "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
            "keras-home/models/",
        ],
    ),
    "weights file missing": (
        {
            "data": {"source": "digits_images"},
            "model.builder": "transfer",
            "search_space.params": {"weights": "nope/base.weights.h5"},
        },
        ["search_space.weights", "'nope/base.weights.h5' not found"],
    ),
    "cnn on flat features": (
        {"model.builder": "cnn", "search_space.params": {"dense_units": 8}},
        ["model.builder", "needs image input", "(64,)"],
    ),
    "text into an mlp": (
        {"data": {"source": "text_demo", "text_demo": {"n_samples": 200}}},
        ["model.builder", "data is text", "rnn or attention"],
    ),
    "unknown cell": (
        {
            "data": {"source": "text_demo", "text_demo": {"n_samples": 200}},
            "model.builder": "rnn",
            "search_space.params": {"cell": {"type": "categorical", "choices": ["lstm", "tcn"]}},
        },
        ["search_space.cell", "'tcn' is not one of lstm, gru"],
    ),
    "param an rnn does not take": (
        {
            "data": {"source": "text_demo", "text_demo": {"n_samples": 200}},
            "model.builder": "rnn",
            "search_space.params": {"num_heads": 2},
        },
        ["search_space.num_heads", "'rnn' does not take 'num_heads'", "cell"],
    ),
    "text_column on a non-text source": (
        {"data": {"source": "digits", "text_column": "body"}},
        ["data", "'text_column' is only for source 'text_csv'"],
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_model_input_exits_2_with_one_line(case, cli, write_config, workdir):
    changes, fragments = BAD[case]
    config = tiny_experiment(**changes)
    path = write_config(config)
    done = cli("run", str(path), env={"KERAS_HOME": str(workdir / "keras-home")})
    assert done.returncode == 2, (done.returncode, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert not (workdir / "mlflow.db").exists()


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ([str(i) for i in range(40)], "column 'text' is not text"),
        (["ok words"] * 20 + [str(i) for i in range(20)], None),  # numbers as words are text
    ],
)
def test_text_csv_column_must_be_text(values, fragment, cli, write_config, workdir):
    _write_csv(workdir / "t.csv", values)
    config = tiny_experiment(
        **{"data": {"source": "text_csv", "path": "t.csv"}, "model.builder": "rnn"}
    )
    done = cli("validate", str(write_config(config)))
    if fragment is None:
        assert done.returncode == 0, done.stderr
        return
    assert done.returncode == 2 and fragment in done.stderr and "data.text_column" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
