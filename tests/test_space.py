"""Unit tests for the neutral search space: compilation, sampling, membership, validation."""

from __future__ import annotations

import random
from typing import Any

import pytest
from pydantic import ValidationError

from hpo.config.param_specs import CategoricalSpec
from hpo.config.space import (
    Condition,
    Param,
    SearchSpace,
    SearchSpaceSpec,
    compile_space,
    per_layer,
)


def _space(raw: dict[str, Any]) -> SearchSpace:
    return compile_space(SearchSpaceSpec.model_validate(raw))


MLP_SPACE: dict[str, Any] = {
    "params": {
        "learning_rate": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
        "optimizer": {"type": "categorical", "choices": ["adam", "sgd"]},
        "momentum": {"type": "float", "low": 0.0, "high": 0.9, "when": {"optimizer": "sgd"}},
        "batch_size": 64,
    },
    "layers": {
        "n_layers": {
            "count": {"low": 1, "high": 3},
            "per_layer": {
                "units": {"type": "int", "low": 8, "high": 64},
                "dropout": {"type": "float", "low": 0.0, "high": 0.5},
            },
        }
    },
}


def _random_draw(rng: random.Random) -> Any:
    def draw(param: Param) -> Any:
        if param.kind == "fixed":
            return param.value
        if param.kind == "categorical":
            return rng.choice(param.choices)
        assert param.low is not None and param.high is not None
        if param.kind == "int":
            return rng.randint(int(param.low), int(param.high))
        return rng.uniform(param.low, param.high)

    return draw


# --------------------------------------------------------------------------- compilation


def test_per_layer_group_expands_into_conditional_params() -> None:
    space = _space(MLP_SPACE)
    assert space.layer_groups["n_layers"] == (
        "units_0",
        "dropout_0",
        "units_1",
        "dropout_1",
        "units_2",
        "dropout_2",
    )
    count = space["n_layers"]
    assert (count.kind, count.low, count.high) == ("int", 1, 3)
    # layers below the minimum count are always active
    assert space["units_0"].condition is None
    assert space["dropout_0"].condition is None
    # layer i is active when the count is at least i + 1
    assert space["units_1"].condition == Condition("n_layers", (2, 3))
    assert space["dropout_1"].condition == Condition("n_layers", (2, 3))
    assert space["units_2"].condition == Condition("n_layers", (3,))
    units_2 = space["units_2"]
    assert (units_2.kind, units_2.low, units_2.high) == ("int", 8, 64)


def test_layer_count_with_zero_minimum_makes_every_layer_conditional() -> None:
    space = _space(
        {
            "layers": {
                "n_layers": {
                    "count": {"low": 0, "high": 2},
                    "per_layer": {"units": {"type": "int", "low": 1, "high": 4}},
                }
            }
        }
    )
    assert space["units_0"].condition == Condition("n_layers", (1, 2))
    assert space["units_1"].condition == Condition("n_layers", (2,))
    assert space.contains({"n_layers": 0})
    assert not space.contains({"n_layers": 0, "units_0": 2})


def test_when_condition_is_compiled() -> None:
    space = _space(MLP_SPACE)
    assert space["momentum"].condition == Condition("optimizer", ("sgd",))
    assert space["learning_rate"].condition is None
    assert space["learning_rate"].log is True


def test_when_with_list_of_values() -> None:
    space = _space(
        {
            "params": {
                "opt": {"type": "categorical", "choices": ["adam", "sgd", "rmsprop"]},
                "momentum": {
                    "type": "float",
                    "low": 0,
                    "high": 1,
                    "when": {"opt": ["sgd", "rmsprop"]},
                },
            }
        }
    )
    assert space["momentum"].condition == Condition("opt", ("sgd", "rmsprop"))
    assert space.active_names({"opt": "rmsprop", "momentum": 0.5}) == ["opt", "momentum"]
    assert space.active_names({"opt": "adam", "momentum": 0.5}) == ["opt"]


def test_fixed_shorthand() -> None:
    space = _space({"params": {"batch_size": 64, "name": "x"}})
    assert space["batch_size"] == Param("batch_size", "fixed", value=64)
    assert space["name"].value == "x"
    assert space.contains({"batch_size": 64, "name": "x"})
    assert not space.contains({"batch_size": 32, "name": "x"})


def test_children_are_ordered_after_parents() -> None:
    # children listed before their parents (and a chain) still compile parent-first
    space = _space(
        {
            "params": {
                "c": {"type": "float", "low": 0, "high": 1, "when": {"b": 1}},
                "b": {"type": "int", "low": 0, "high": 2, "when": {"a": "on"}},
                "a": {"type": "categorical", "choices": ["on", "off"]},
                "z": {"type": "float", "low": 0, "high": 1, "when": {"n_layers": 2}},
            },
            "layers": {
                "n_layers": {
                    "count": {"low": 1, "high": 2},
                    "per_layer": {"units": {"type": "int", "low": 1, "high": 3}},
                }
            },
        }
    )
    names = list(space.names)
    for param in space.params:
        if param.condition is not None:
            assert names.index(param.condition.parent) < names.index(param.name), names
    assert names.index("a") < names.index("b") < names.index("c")
    assert space.has_conditions


def test_int_step_and_kind_flags() -> None:
    space = _space(
        {
            "params": {
                "u": {"type": "int", "low": 0, "high": 10, "step": 5},
                "v": {"type": "int", "low": 1, "high": 10},
                "lr": {"type": "float", "low": 0.1, "high": 1.0, "step": 0.1},
            }
        }
    )
    assert space["u"].step == 5.0
    assert space["v"].step is None
    assert space["lr"].step == 0.1
    assert space.uses("int") and space.uses("float")
    assert not space.uses("categorical")
    assert not space.has_log
    assert not space.has_conditions


def test_when_on_int_parent_and_fixed_parent() -> None:
    space = _space(
        {
            "params": {
                "k": {"type": "int", "low": 1, "high": 3},
                "f": "always",
                "x": {"type": "float", "low": 0, "high": 1, "when": {"k": 2}},
                "y": {"type": "float", "low": 0, "high": 1, "when": {"f": "always"}},
            }
        }
    )
    assert space.active_names({"k": 2, "f": "always", "x": 0.1, "y": 0.2}) == ["k", "f", "x", "y"]
    assert space.active_names({"k": 1, "f": "always", "x": 0.1, "y": 0.2}) == ["k", "f", "y"]


# --------------------------------------------------------------------------- sampling


def test_sample_only_asks_active_params() -> None:
    space = _space(MLP_SPACE)
    asked: list[str] = []

    def draw(param: Param) -> Any:
        asked.append(param.name)
        return {"optimizer": "adam", "n_layers": 2}.get(param.name, param.default())

    params = space.sample(draw)
    assert set(asked) == set(params)
    assert "momentum" not in params
    assert "units_2" not in params and "dropout_2" not in params
    assert {"units_0", "units_1", "dropout_0", "dropout_1", "batch_size"} <= set(params)
    assert params["batch_size"] == 64
    assert space.contains(params)


def test_sample_with_sgd_and_three_layers_includes_children() -> None:
    space = _space(MLP_SPACE)
    params = space.sample(lambda p: {"optimizer": "sgd", "n_layers": 3}.get(p.name, p.default()))
    assert "momentum" in params
    assert {"units_2", "dropout_2"} <= set(params)
    assert space.contains(params)


def test_random_samples_are_always_contained() -> None:
    space = _space(MLP_SPACE)
    rng = random.Random(0)
    seen_layers = set()
    for _ in range(200):
        params = space.sample(_random_draw(rng))
        assert space.contains(params), params
        seen_layers.add(params["n_layers"])
        assert ("momentum" in params) == (params["optimizer"] == "sgd")
    assert seen_layers == {1, 2, 3}


def test_contains_rejects_bad_points() -> None:
    space = _space(MLP_SPACE)
    good = {
        "n_layers": 1,
        "units_0": 16,
        "dropout_0": 0.1,
        "learning_rate": 0.01,
        "optimizer": "adam",
        "batch_size": 64,
    }
    assert space.contains(good)
    # an inactive parameter present
    assert not space.contains({**good, "momentum": 0.5})
    assert not space.contains({**good, "units_1": 16})
    assert space.contains({**good, "optimizer": "sgd", "momentum": 0.3})
    # values outside the range or of the wrong type
    assert not space.contains({**good, "units_0": 65})
    assert not space.contains({**good, "units_0": 16.5})
    assert not space.contains({**good, "units_0": "16"})
    assert not space.contains({**good, "units_0": True})
    assert not space.contains({**good, "learning_rate": 0.5})
    assert not space.contains({**good, "optimizer": "nadam"})
    assert not space.contains({**good, "batch_size": 32})
    # an unknown parameter
    assert not space.contains({**good, "bogus": 1})


def test_contains_rejects_missing_active_params() -> None:
    space = _space(MLP_SPACE)
    good = {
        "n_layers": 1,
        "units_0": 16,
        "dropout_0": 0.1,
        "learning_rate": 0.01,
        "optimizer": "adam",
        "batch_size": 64,
    }
    assert space.contains(good)
    missing = dict(good)
    del missing["units_0"]
    assert not space.contains(missing)  # units_0 is always active
    assert not space.contains({**good, "optimizer": "sgd"})  # momentum is now active


def test_active_names_follows_definition_order() -> None:
    space = _space(MLP_SPACE)
    assigned = {
        "units_1": 8,
        "n_layers": 2,
        "optimizer": "adam",
        "momentum": 0.5,
        "units_0": 8,
        "units_2": 8,
    }
    assert space.active_names(assigned) == ["n_layers", "units_0", "units_1", "optimizer"]


def test_param_default_is_in_range() -> None:
    space = _space(MLP_SPACE)
    assert space["learning_rate"].default() == pytest.approx((1e-4 * 1e-1) ** 0.5)
    assert space["units_0"].default() == 36
    assert space["optimizer"].default() == "adam"
    assert space["batch_size"].default() == 64
    for param in space.params:
        assert param.contains(param.default())


def test_getitem_unknown_raises_key_error() -> None:
    with pytest.raises(KeyError):
        _space(MLP_SPACE)["nope"]


def test_contains_respects_step() -> None:
    space = _space({"params": {"u": {"type": "int", "low": 0, "high": 10, "step": 5}}})
    assert space.contains({"u": 5})
    assert not space.contains({"u": 3})


# --------------------------------------------------------------------------- per_layer


def test_per_layer_reads_indexed_values_with_fallback() -> None:
    params = {"n_layers": 3, "units_0": 8, "units_2": 32, "units": 16}
    assert per_layer(params, "units") == [8, 16, 32]
    assert per_layer({"units": 5}, "units") == [5]  # count defaults to 1
    assert per_layer({"n_layers": 0, "units": 5}, "units") == []
    assert per_layer({"n_conv": 2, "filters_1": 4}, "filters", count="n_conv") == [None, 4]


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ({"params": {"u": {"type": "int", "low": 5, "high": 1}}}, "low (5) must be <= high (1)"),
        (
            {"params": {"lr": {"type": "float", "low": 1.0, "high": 0.5}}},
            "low (1.0) must be <= high (0.5)",
        ),
        (
            {"params": {"lr": {"type": "float", "low": 0, "high": 1, "log": True}}},
            "log scale needs low > 0",
        ),
        (
            {"params": {"u": {"type": "int", "low": -1, "high": 4, "log": True}}},
            "log scale needs low > 0",
        ),
        ({"params": {"c": {"type": "categorical", "choices": []}}}, "choices must not be empty"),
        (
            {"params": {"c": {"type": "categorical", "choices": ["a", "b", "a"]}}},
            "choices must be unique",
        ),
        (
            {"params": {"m": {"type": "float", "low": 0, "high": 1, "when": {"optimizer": "sgd"}}}},
            "'when' refers to unknown parameter 'optimizer'",
        ),
        (
            {
                "params": {
                    "lr": {"type": "float", "low": 0.1, "high": 1},
                    "m": {"type": "float", "low": 0, "high": 1, "when": {"lr": 0.5}},
                }
            },
            "'lr' is a float",
        ),
        (
            {
                "params": {
                    "opt": {"type": "categorical", "choices": ["adam", "sgd"]},
                    "m": {"type": "float", "low": 0, "high": 1, "when": {"opt": "nadam"}},
                }
            },
            "'when' value 'nadam' is not a value of 'opt'",
        ),
        (
            {
                "params": {
                    "a": {"type": "categorical", "choices": [1, 2]},
                    "b": {"type": "categorical", "choices": [1, 2]},
                    "m": {"type": "float", "low": 0, "high": 1, "when": {"a": 1, "b": 1}},
                }
            },
            "'when' takes exactly one parent",
        ),
        (
            {
                "layers": {
                    "n_layers": {
                        "count": {"low": 1, "high": 2},
                        "per_layer": {
                            "units": {
                                "type": "int",
                                "low": 1,
                                "high": 4,
                                "when": {"n_layers": 2},
                            }
                        },
                    }
                }
            },
            "units: per-layer parameters cannot have 'when'",
        ),
        (
            {
                "params": {"units_0": 4},
                "layers": {
                    "n_layers": {
                        "count": {"low": 1, "high": 2},
                        "per_layer": {"units": {"type": "int", "low": 1, "high": 4}},
                    }
                },
            },
            "units_0: defined twice",
        ),
        (
            {
                "layers": {
                    "n_layers": {
                        "count": {"low": 3, "high": 2},
                        "per_layer": {"units": {"type": "int", "low": 1, "high": 4}},
                    }
                }
            },
            "low (3) must be <= high (2)",
        ),
        ({}, "the search space is empty"),
        ({"params": {}, "layers": {}}, "the search space is empty"),
        (
            {
                "params": {
                    "a": {"type": "categorical", "choices": [1, 2], "when": {"b": 1}},
                    "b": {"type": "categorical", "choices": [1, 2], "when": {"a": 1}},
                    "c": {"type": "categorical", "choices": [1, 2]},
                }
            },
            "conditions form a cycle among: a, b",
        ),
        (
            {"params": {"a": {"type": "categorical", "choices": [1, 2], "when": {"a": 1}}}},
            "conditions form a cycle among: a",
        ),
        (
            {"params": {"s": {"type": "float", "low": 0.1, "high": 1, "step": 0.1, "log": True}}},
            "step must be > 0 and cannot be combined with log",
        ),
        ({"params": {"s": {"type": "int", "low": 0, "high": 4, "step": 0}}}, "step must be >= 1"),
        ({"params": {"s": {"type": "int", "low": 1, "high": 4, "bogus": 0}}}, "Extra inputs"),
    ],
    ids=[
        "int low>high",
        "float low>high",
        "float log low<=0",
        "int log low<=0",
        "empty choices",
        "duplicate choices",
        "unknown when parent",
        "float parent",
        "when value not a parent value",
        "when with two parents",
        "per-layer with when",
        "name clashes with per-layer",
        "layer count low>high",
        "empty space",
        "empty params and layers",
        "cycle",
        "self cycle",
        "float step with log",
        "int step 0",
        "unknown key",
    ],
)
def test_invalid_spaces_are_rejected(raw: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValidationError) as info:
        SearchSpaceSpec.model_validate(raw)
    assert fragment in str(info.value)


def test_unknown_param_type_is_rejected() -> None:
    with pytest.raises(ValidationError) as info:
        SearchSpaceSpec.model_validate({"params": {"u": {"type": "integer", "low": 1}}})
    assert info.value.errors()[0]["type"] == "union_tag_invalid"


def test_compile_space_reports_cycle_directly() -> None:
    # compile_space itself (not only the pydantic model) raises ValueError naming the params
    spec = SearchSpaceSpec.model_construct(
        params={
            "p": CategoricalSpec(type="categorical", choices=[1], when={"q": 1}),
            "q": CategoricalSpec(type="categorical", choices=[1], when={"p": 1}),
        },
        layers={},
    )
    with pytest.raises(ValueError, match="cycle among: p, q"):
        compile_space(spec)


def test_two_layer_groups_with_same_key_are_rejected() -> None:
    group = {
        "count": {"low": 1, "high": 2},
        "per_layer": {"units": {"type": "int", "low": 1, "high": 4}},
    }
    with pytest.raises(ValidationError, match="units_0"):
        SearchSpaceSpec.model_validate({"layers": {"n_layers": group, "n_conv": group}})


def test_params_come_back_from_mlflow_text_with_their_types() -> None:
    assert Param("u", "int", low=1, high=9).from_text("7") == 7
    assert Param("lr", "float", low=1e-4, high=1.0, log=True).from_text("0.001") == 0.001
    choice = Param("act", "categorical", choices=(True, "relu", 3))
    assert [choice.from_text(t) for t in ("True", "relu", "3")] == [True, "relu", 3]
    assert Param("b", "fixed", value=64).from_text("64") == 64
    assert choice.from_text("unknown") == "unknown"  # not a choice: the text as it is
