"""The shared model factory: builder name -> function, looked up lazily.

A builder has the signature `build(params, input_shape, n_classes) -> keras.Model` and
returns a compiled model. A builder that also takes a keyword `x_train` (or `**kwargs`)
is given the training split's features, so it can fit preprocessing (a TextVectorization
vocabulary, a Normalization layer) on the train split only. A user's own builder is named
`python:package.module:function`.

A built-in family is one module here, registered with one line in `FAMILY_MODULES`. Beside
its `build` it declares `PARAMS` (the parameter names it takes, per-layer names as
`units_*`) and `check(options, input_shape, is_text)` (its Keras-free value checks), so a
typo in a search space or a value the data cannot take is caught when the config is
validated, not in the middle of a sweep. Family modules import keras only inside their
functions: reading `PARAMS` and running `check` never loads TensorFlow.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any

from hpo.config.space import SearchSpace
from hpo.errors import UserInputError

Builder = Callable[..., Any]

# name -> the module holding the family's PARAMS, check and build
FAMILY_MODULES: dict[str, str] = {
    "mlp": "hpo.models.mlp",
    "cnn": "hpo.models.cnn",
    "transfer": "hpo.models.transfer",
    "rnn": "hpo.models.rnn",
    "attention": "hpo.models.attention",
}


def family(name: str) -> ModuleType:
    """The module of a registered family (light: keras loads only when it builds)."""
    return importlib.import_module(FAMILY_MODULES[name])


# name -> (module, parameter names it takes), read from the family modules
FAMILIES: dict[str, tuple[str, frozenset[str]]] = {
    name: (module, family(name).PARAMS) for name, module in FAMILY_MODULES.items()
}

_NO_FUNCTION = (
    "no model builder: name one in the config (model.builder: mlp, cnn, ... or "
    "python:module:function) or pass a function as hpo.run(builder=...)"
)

# parameters the trial pipeline consumes itself (passed to fit), valid for every builder
TRAINING_PARAMS = frozenset({"batch_size", "class_weight"})


# `function:<name>@<hash>`: a Python function handed to `hpo.run(builder=...)` (a notebook
# cell, a closure). It lives in this process's registry; the pool ships it to the training
# processes by value (cloudpickle) and they register it again (`receive_builder`).
FUNCTION_PREFIX = "function:"
_FUNCTIONS: dict[str, Builder] = {}


def register_function(name: str, function: Builder) -> None:
    """Make `function` the builder named `name` (`function:...`) in this process."""
    _FUNCTIONS[name] = function


def shipped_builder(name: str) -> bytes | None:
    """The registered function `name`, pickled by value for a training process (None: a
    builder the training process resolves by name itself)."""
    if name not in _FUNCTIONS:
        return None
    import sys

    import cloudpickle

    function = _FUNCTIONS[name]
    module = sys.modules.get(getattr(function, "__module__", "") or "")
    # a function of an importable module (a test module, a script) is pickled by reference
    # unless told otherwise: the training process may not find that module on its path
    by_value = (
        module is not None
        and module.__name__ not in ("__main__", "builtins")
        and not module.__name__.startswith("hpo.")
        and "-packages" not in str(getattr(module, "__file__", "") or "")
    )
    if by_value and module is not None:
        cloudpickle.register_pickle_by_value(module)
    try:
        return bytes(cloudpickle.dumps(function))
    finally:
        if by_value and module is not None:
            cloudpickle.unregister_pickle_by_value(module)


def receive_builder(name: str, payload: bytes) -> None:
    """The training process's side of `shipped_builder`."""
    import cloudpickle

    register_function(name, cloudpickle.loads(payload))


def get_builder(name: str) -> Builder:
    """Resolve a builder name (a family, python:module:function, or a registered function)."""
    if name.startswith(FUNCTION_PREFIX):
        if name not in _FUNCTIONS:
            raise UserInputError(_NO_FUNCTION, field="model.builder")
        return _FUNCTIONS[name]
    if name.startswith("python:"):
        target = name.removeprefix("python:")
        module_name, _, attr = target.partition(":")
        if not module_name or not attr:
            raise UserInputError(
                "a Python builder is written python:package.module:function", field="model.builder"
            )
        try:
            module = importlib.import_module(module_name)
        except Exception as err:
            raise UserInputError(
                f"cannot import {module_name!r}: {err}", field="model.builder"
            ) from None
        user_builder = getattr(module, attr, None)
        if not callable(user_builder):
            raise UserInputError(f"{module_name!r} has no function {attr!r}", field="model.builder")
        return user_builder
    if name not in FAMILIES:
        raise UserInputError(
            f"unknown builder {name!r} (known: {', '.join(FAMILIES)}, or python:module:function)",
            field="model.builder",
        )
    family_builder: Builder = family(name).build
    return family_builder


def check_builder(name: str) -> None:
    """Check a builder exists without running user code or importing keras.

    A family name is looked up in the registry; for `python:module:function` the module is
    found on the path and its source checked for a top-level `function`. The real import
    happens in the training processes.
    """
    if name.startswith(FUNCTION_PREFIX):
        get_builder(name)  # registered by hpo.run(builder=...) in this process, or refused
        return
    if not name.startswith("python:"):
        if name not in FAMILIES:
            get_builder(name)  # raises the standard unknown-builder error
        return
    import ast
    import importlib.util

    module_name, _, attr = name.removeprefix("python:").partition(":")
    if not module_name or not attr:
        raise UserInputError(
            "a Python builder is written python:package.module:function", field="model.builder"
        )
    try:
        spec = importlib.util.find_spec(module_name)
    except (ImportError, ValueError) as err:
        raise UserInputError(
            f"cannot import {module_name!r}: {err}", field="model.builder"
        ) from None
    if spec is None:
        raise UserInputError(
            f"cannot import {module_name!r}: no such module on the Python path",
            field="model.builder",
        )
    if spec.origin and spec.origin.endswith(".py"):
        from pathlib import Path

        try:
            tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"), spec.origin)
        except SyntaxError as err:
            raise UserInputError(
                f"{spec.origin} line {err.lineno}: syntax error: {err.msg}", field="model.builder"
            ) from None
        names = (
            {
                node.name
                for node in tree.body
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            }
            | {
                target.id
                for node in tree.body
                if isinstance(node, ast.Assign)
                for target in node.targets
                if isinstance(target, ast.Name)
            }
            | {
                alias.asname or alias.name
                for node in tree.body
                if isinstance(node, ast.ImportFrom)
                for alias in node.names
            }
        )
        if attr not in names:
            raise UserInputError(
                f"{module_name!r} ({spec.origin}) defines no function {attr!r}",
                field="model.builder",
            )


def accepted_params(name: str) -> frozenset[str] | None:
    """The parameter names a built-in family takes (None: a user builder, unchecked)."""
    if name not in FAMILIES:
        return None
    return FAMILIES[name][1] | TRAINING_PARAMS


def check_params(name: str, params: Iterable[str]) -> None:
    """Reject a search-space parameter the builder does not take, listing the ones it does."""
    accepts = accepted_params(name)
    if accepts is None:
        return
    patterns = [re.compile(re.escape(a).replace(r"\*", r"\d+") + "$") for a in accepts]
    for param in params:
        if not any(p.match(param) for p in patterns):
            raise UserInputError(
                f"builder {name!r} does not take {param!r} "
                f"(it takes: {', '.join(sorted(accepts))})",
                field=f"search_space.{param}",
            )


def _possible_values(space: SearchSpace, name: str) -> list[Any]:
    """Values worth checking: all choices, or the two ends of a numeric range."""
    param = space[name]
    if param.kind == "fixed":
        return [param.value]
    if param.kind == "categorical":
        return list(param.choices)
    assert param.low is not None and param.high is not None
    cast = int if param.kind == "int" else float
    return [cast(param.low), cast(param.high)]


def check_model(name: str, space: SearchSpace, input_shape: tuple[int, ...], is_text: bool) -> None:
    """Check every value the space can give a built-in family against the data, without
    importing keras (a user's builder is checked when it runs)."""
    from hpo.models.checks import ModelInputError

    if name not in FAMILY_MODULES:
        return
    check = family(name).check
    options = {p: _possible_values(space, p) for p in space.names}
    try:
        check(options, input_shape, is_text)
    except ModelInputError as err:
        raise UserInputError(str(err), field=err.field) from None
