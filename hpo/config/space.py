"""The neutral search space: one description every strategy backend compiles from.

A space is an ordered tuple of parameters. Order matters: a conditional parameter always
comes after the parameter it depends on, so any backend can walk the tuple define-by-run
(Optuna style) and skip what is inactive. Per-layer groups ("a layer count, then per-layer
units/dropout") are expanded here into plain parameters with conditions, so backends only
ever see four kinds: float, int, categorical and fixed. The YAML form of each parameter is in
hpo/config/param_specs.py; this module assembles it (`SearchSpaceSpec`) and compiles it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hpo.config.param_specs import (
    AnyParamSpec,
    CategoricalSpec,
    FixedSpec,
    FloatSpec,
    LayerGroupSpec,
    Scalar,
)

# --------------------------------------------------------------------------- YAML schema


class SearchSpaceSpec(BaseModel):
    """The YAML form of a search space (inline in an experiment or a file in search_spaces/)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    params: dict[str, AnyParamSpec] = Field(default_factory=dict)
    layers: dict[str, LayerGroupSpec] = Field(default_factory=dict)

    @field_validator("params", mode="before")
    @classmethod
    def _shorthand(cls, params: Any) -> Any:
        """`batch_size: 64` is shorthand for `{type: fixed, value: 64}`."""
        if not isinstance(params, dict):
            return params
        return {
            name: value if isinstance(value, dict) else {"type": "fixed", "value": value}
            for name, value in params.items()
        }

    @model_validator(mode="after")
    def _compiles(self) -> SearchSpaceSpec:
        if not self.params and not self.layers:
            raise ValueError("the search space is empty: add 'params' or 'layers'")
        compile_space(self)  # raises ValueError with the offending parameter named
        return self


# --------------------------------------------------------------------------- neutral space

Kind = Literal["float", "int", "categorical", "fixed"]


@dataclass(frozen=True)
class Condition:
    """Active only when `parent` currently has one of `values`."""

    parent: str
    values: tuple[Scalar, ...]

    def holds(self, assigned: Mapping[str, Any]) -> bool:
        return self.parent in assigned and assigned[self.parent] in self.values


@dataclass(frozen=True)
class Param:
    """One searchable (or fixed) hyperparameter in backend-neutral form."""

    name: str
    kind: Kind
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Scalar, ...] = ()
    value: Scalar = None
    condition: Condition | None = None
    grid_points: int | None = None
    grid_values: tuple[float, ...] | None = None

    def from_text(self, raw: str) -> Any:
        """The value behind its MLflow param, which MLflow stores as text."""
        if self.kind == "int":
            return int(float(raw))
        if self.kind == "float":
            return float(raw)
        options = self.choices if self.kind == "categorical" else (self.value,)
        return next((option for option in options if str(option) == raw), raw)

    def contains(self, value: Any) -> bool:
        """True when `value` is a value this parameter can take."""
        if self.kind == "fixed":
            return bool(value == self.value)
        if self.kind == "categorical":
            return value in self.choices
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        assert self.low is not None and self.high is not None
        if self.kind == "int" and int(value) != value:
            return False
        if self.step:
            offset = (value - self.low) / self.step
            if abs(offset - round(offset)) > 1e-9:
                return False
        return self.low - 1e-12 <= value <= self.high + 1e-12

    def default(self) -> Scalar:
        """A deterministic in-range value (the middle), used for dry runs and docs."""
        if self.kind == "fixed":
            return self.value
        if self.kind == "categorical":
            return self.choices[0]
        assert self.low is not None and self.high is not None
        mid = math.sqrt(self.low * self.high) if self.log else (self.low + self.high) / 2
        return round(mid) if self.kind == "int" else mid


@dataclass(frozen=True)
class SearchSpace:
    """An ordered, validated tuple of parameters (parents always before children)."""

    params: tuple[Param, ...]
    layer_groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def __getitem__(self, name: str) -> Param:
        for param in self.params:
            if param.name == name:
                return param
        raise KeyError(name)

    def uses(self, kind: Kind) -> bool:
        return any(p.kind == kind for p in self.params)

    @property
    def has_log(self) -> bool:
        return any(p.log for p in self.params)

    @property
    def has_conditions(self) -> bool:
        return any(p.condition is not None for p in self.params)

    def sample(self, draw: Callable[[Param], Any]) -> dict[str, Any]:
        """Walk the space define-by-run: `draw` is asked only for active parameters (fixed
        ones too, so a backend that records its trials records those as well)."""
        assigned: dict[str, Any] = {}
        for param in self.params:
            if param.condition is not None and not param.condition.holds(assigned):
                continue
            assigned[param.name] = draw(param)
        return assigned

    def active_names(self, assigned: Mapping[str, Any]) -> list[str]:
        """The names that are active given a full assignment."""
        active: dict[str, Any] = {}
        for param in self.params:
            holds = param.condition is None or param.condition.holds(active)
            if holds and param.name in assigned:
                active[param.name] = assigned[param.name]
        return list(active)

    def contains(self, assigned: Mapping[str, Any]) -> bool:
        """True when `assigned` is exactly a valid point: every active parameter present and
        in range, no inactive or unknown one."""
        seen: dict[str, Any] = {}
        for param in self.params:
            if param.condition is not None and not param.condition.holds(seen):
                continue
            if param.name not in assigned or not param.contains(assigned[param.name]):
                return False
            seen[param.name] = assigned[param.name]
        return set(seen) == set(assigned)


def per_layer(params: Mapping[str, Any], key: str, count: str = "n_layers") -> list[Any]:
    """Per-layer values `key_0 .. key_{n-1}` for a model builder, `key` as the fallback."""
    n = int(params.get(count, 1))
    return [params.get(f"{key}_{i}", params.get(key)) for i in range(n)]


# --------------------------------------------------------------------------- compilation


def _param_from_spec(name: str, spec: Any, condition: Condition | None) -> Param:
    if isinstance(spec, CategoricalSpec):
        return Param(name, "categorical", choices=tuple(spec.choices), condition=condition)
    if isinstance(spec, FixedSpec):
        return Param(name, "fixed", value=spec.value, condition=condition)
    is_float = isinstance(spec, FloatSpec)
    return Param(
        name,
        "float" if is_float else "int",
        spec.low,
        spec.high,
        spec.log,
        spec.step if is_float else (float(spec.step) if spec.step != 1 else None),
        condition=condition,
        grid_points=spec.grid_points,
        grid_values=tuple(spec.values) if spec.values is not None else None,
    )


def _takes(param: Param, value: Scalar) -> bool | None:
    """Can `param` take `value`? None when it is a float (a condition cannot name its values).

    Int ranges are checked with arithmetic, never by building the range (`high: 1e10`)."""
    if param.kind == "categorical":
        return value in param.choices
    if param.kind == "fixed":
        return bool(value == param.value)
    if param.kind == "float":
        return None
    assert param.low is not None and param.high is not None
    if not isinstance(value, int | float) or not math.isfinite(value) or value != int(value):
        return False
    whole, low = int(value), int(param.low)
    return low <= whole <= int(param.high) and (whole - low) % int(param.step or 1) == 0


def compile_space(spec: SearchSpaceSpec) -> SearchSpace:
    """Turn the YAML form into the neutral form, checking every condition refers to a
    finite-valued parameter and a value it can actually take."""
    pending: dict[str, Param] = {}
    layer_groups: dict[str, tuple[str, ...]] = {}

    for count_name, group in spec.layers.items():
        count = Param(count_name, "int", group.count.low, group.count.high)
        pending[count_name] = count
        names: list[str] = []
        for i in range(group.count.high):
            active_counts = tuple(range(max(i + 1, group.count.low), group.count.high + 1))
            for key, layer_spec in group.per_layer.items():
                layer_name = f"{key}_{i}"
                if layer_name in pending:
                    raise ValueError(f"{layer_name}: defined twice (by two per-layer groups)")
                condition = None if i < group.count.low else Condition(count_name, active_counts)
                pending[layer_name] = _param_from_spec(layer_name, layer_spec, condition)
                names.append(layer_name)
        layer_groups[count_name] = tuple(names)

    for name, param_spec in spec.params.items():
        if name in pending:
            raise ValueError(f"{name}: defined twice (once by a per-layer group)")
        condition = None
        if param_spec.when is not None:
            if len(param_spec.when) != 1:
                raise ValueError(f"{name}: 'when' takes exactly one parent parameter")
            ((parent, values),) = param_spec.when.items()
            wanted = tuple(values) if isinstance(values, list) else (values,)
            condition = Condition(parent, wanted)
        pending[name] = _param_from_spec(name, param_spec, condition)

    ordered: list[Param] = []
    placed: set[str] = set()
    while pending:
        progressed = False
        for name, param in list(pending.items()):
            cond = param.condition
            if cond is not None and cond.parent not in placed:
                if cond.parent not in pending:
                    raise ValueError(f"{name}: 'when' refers to unknown parameter {cond.parent!r}")
                continue
            if cond is not None:
                parent_param = next(p for p in ordered if p.name == cond.parent)
                taken = [_takes(parent_param, v) for v in cond.values]
                if None in taken:
                    raise ValueError(
                        f"{name}: 'when' needs a categorical, int or fixed parent, "
                        f"but {cond.parent!r} is a float"
                    )
                missing = [v for v, ok in zip(cond.values, taken, strict=True) if not ok]
                if missing:
                    raise ValueError(
                        f"{name}: 'when' value {missing[0]!r} is not a value of {cond.parent!r}"
                    )
            ordered.append(param)
            placed.add(name)
            del pending[name]
            progressed = True
        if not progressed:
            raise ValueError(f"conditions form a cycle among: {', '.join(sorted(pending))}")
    return SearchSpace(tuple(ordered), layer_groups)
