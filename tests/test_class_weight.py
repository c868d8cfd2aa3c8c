"""`class_weight: none | balanced`: weights from the train split, passed to fit, searchable for
every family; `hpo validate` prints class counts and warns about a small class."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from hpo.config.experiment import Experiment
from hpo.data.class_weight import class_weights, imbalance_warning, split_counts
from hpo.data.dataset import load_dataset
from hpo.errors import UserInputError
from hpo.models import check_params, get_builder
from hpo.sweep.preflight import check
from tests.conftest import ROOT, tiny_experiment

IMBALANCED = {
    "data": {
        "source": "synthetic",
        "synthetic": {
            "n_samples": 1500,
            "n_features": 8,
            "n_informative": 4,
            "n_redundant": 0,
            "n_classes": 2,
            "class_sep": 0.7,
            "flip_y": 0.0,
            "weights": [0.95, 0.05],
        },
    },
}


def _experiment(**changes: Any) -> Experiment:
    return Experiment.model_validate(tiny_experiment(**{**IMBALANCED, **changes}))


def test_balanced_is_scikit_learns_rule_on_the_train_split() -> None:
    from sklearn.utils.class_weight import compute_class_weight

    y = np.array([0] * 90 + [1] * 10 + [2] * 5)
    weights = class_weights("balanced", y, 3)
    expected = compute_class_weight("balanced", classes=np.arange(3), y=y)
    assert weights is not None
    np.testing.assert_allclose([weights[c] for c in range(3)], expected)
    assert class_weights("none", y, 3) is None and class_weights(None, y, 3) is None
    with pytest.raises(ValueError, match="unknown class_weight 'heavy'"):
        class_weights("heavy", y, 3)


def test_class_weight_is_a_parameter_of_every_family_and_checked() -> None:
    for family in ("mlp", "cnn", "transfer", "rnn", "attention"):
        check_params(family, ["class_weight"])  # accepted everywhere
    bad = _experiment(**{"search_space.params.class_weight": "heavy"})
    with pytest.raises(UserInputError, match="class_weight 'heavy' is not one of none, balanced"):
        check(bad, source="exp.yaml")


def test_synthetic_weights_make_an_imbalanced_set_and_leave_other_configs_hash() -> None:
    data = load_dataset(_experiment().data, 3)
    counts = split_counts(data)
    assert counts["train"][1] < 0.1 * counts["train"][0]
    plain = Experiment.model_validate(tiny_experiment())
    assert "weights" not in plain.data.synthetic.model_dump()  # unset: old hashes unchanged


@pytest.mark.slow
def test_balanced_raises_minority_recall() -> None:
    """The same model, seed and data; only class_weight differs."""
    from hpo.trial.pipeline import train_and_evaluate
    from hpo.trial.task import TrialInputs

    experiment = _experiment(**{"budget.epochs": 3})
    data = load_dataset(experiment.data, experiment.seed)
    recalls = {}
    for kind in ("none", "balanced"):
        params = {"units": 16, "learning_rate": 0.01, "batch_size": 64, "class_weight": kind}
        inputs = TrialInputs(experiment, data, params, 3, get_builder("mlp"), [])
        result, _ = train_and_evaluate(inputs)
        assert result.state == "COMPLETE", result.error
        matrix = np.asarray(result.confusion)
        recalls[kind] = matrix[1, 1] / matrix[1].sum()
    assert recalls["balanced"] > recalls["none"] + 0.2, recalls


def test_validate_prints_class_counts_and_warns(
    write_config: Callable[..., Path], workdir: Path
) -> None:
    from hpo.cli.main import main

    path = write_config(tiny_experiment(**IMBALANCED))
    done = CliRunner().invoke(main, ["validate", str(path)])
    assert done.exit_code == 0, done.output
    assert "class counts (train / validation / test):" in done.stdout
    data = load_dataset(_experiment().data, 3)
    counts = split_counts(data)
    minority = " / ".join(str(counts[s][1]) for s in ("train", "validation", "test"))
    assert f"\n    1: {minority}" in done.stdout
    assert "warning: class 1 has" in done.stderr and "under 10% of class 0" in done.stderr
    balanced = CliRunner().invoke(main, ["validate", str(write_config())])
    assert balanced.exit_code == 0 and "warning" not in balanced.stderr


def test_the_imbalanced_example_searches_class_weight() -> None:
    import yaml

    example = yaml.safe_load((ROOT / "experiments" / "imbalanced_mlp.yaml").read_text())
    assert example["search_space"]["params"]["class_weight"]["choices"] == ["none", "balanced"]
    data = load_dataset(Experiment.model_validate(example).data, example["seed"])
    assert imbalance_warning(data) is not None
