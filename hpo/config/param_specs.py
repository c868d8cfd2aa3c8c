"""The YAML form of one search-space parameter: float, int, categorical or fixed (told
apart by `type`), and of a per-layer group. Each spec checks its own ranges here;
hpo/config/space.py assembles them into a `SearchSpaceSpec` and compiles that into the
neutral space every backend reads.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Scalar = str | int | float | bool | None
# bounds, steps and grid values: NaN or infinity would pass every `low <= high` check and
# then break sampling, so they are refused where they are read
Finite = Annotated[float, Field(allow_inf_nan=False)]
# values one range parameter may take in a grid (its values are built as a list)
MAX_GRID_POINTS = 10_000


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    when: dict[str, Scalar | list[Scalar]] | None = Field(
        default=None, description="active only when another parameter has one of these values"
    )

    @field_validator("when")
    @classmethod
    def _finite_when(
        cls, when: dict[str, Scalar | list[Scalar]] | None
    ) -> dict[str, Scalar | list[Scalar]] | None:
        for values in (when or {}).values():
            _check_finite(values if isinstance(values, list) else [values], "when values")
        return when


class _RangeSpec(_Spec):
    """float / int ranges: how the `grid` strategy discretises them can be overridden."""

    grid_points: int | None = Field(
        default=None, ge=1, le=MAX_GRID_POINTS, description="values for grid search"
    )
    values: list[Finite] | None = Field(default=None, description="explicit grid values")


class FloatSpec(_RangeSpec):
    type: Literal["float"]
    low: Finite
    high: Finite
    log: bool = False
    step: Finite | None = None

    @model_validator(mode="after")
    def _check_range(self) -> FloatSpec:
        _check_bounds(self.low, self.high, self.log)
        _check_values(self.values, self.low, self.high)
        if self.step is not None and (self.step <= 0 or self.log):
            raise ValueError("step must be > 0 and cannot be combined with log")
        return self


class IntSpec(_RangeSpec):
    type: Literal["int"]
    low: int
    high: int
    step: int = 1
    log: bool = False

    @model_validator(mode="after")
    def _check_range(self) -> IntSpec:
        _check_bounds(self.low, self.high, self.log)
        _check_values(self.values, self.low, self.high)
        if self.values and any(int(v) != v for v in self.values):
            raise ValueError("grid values of an int parameter must be whole numbers")
        if self.step < 1:
            raise ValueError("step must be >= 1")
        if self.log and self.step != 1:
            raise ValueError("step cannot be combined with log")
        return self


class CategoricalSpec(_Spec):
    type: Literal["categorical"]
    choices: list[Scalar]

    @field_validator("choices")
    @classmethod
    def _non_empty(cls, choices: list[Scalar]) -> list[Scalar]:
        if not choices:
            raise ValueError("choices must not be empty")
        if len({repr(c) for c in choices}) != len(choices):
            raise ValueError("choices must be unique")
        _check_finite(choices, "choices")
        return choices


class FixedSpec(_Spec):
    type: Literal["fixed"]
    value: Scalar

    @field_validator("value")
    @classmethod
    def _finite(cls, value: Scalar) -> Scalar:
        _check_finite([value], "value")
        return value


# the YAML form of one parameter: whichever of the four specs its `type` names
AnyParamSpec = Annotated[
    FloatSpec | IntSpec | CategoricalSpec | FixedSpec, Field(discriminator="type")
]


class LayerCountSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    low: int = Field(ge=0)
    high: int = Field(ge=1, le=64)

    @model_validator(mode="after")
    def _check_range(self) -> LayerCountSpec:
        _check_bounds(self.low, self.high, log=False)
        return self


class LayerGroupSpec(BaseModel):
    """`n_layers: {count: {low, high}, per_layer: {units: ..., dropout: ...}}`."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    count: LayerCountSpec
    per_layer: dict[str, AnyParamSpec]

    @field_validator("per_layer")
    @classmethod
    def _no_conditions(cls, per_layer: dict[str, AnyParamSpec]) -> dict[str, AnyParamSpec]:
        for name, spec in per_layer.items():
            if spec.when is not None:
                raise ValueError(f"{name}: per-layer parameters cannot have 'when'")
        return per_layer


def _check_finite(values: list[Scalar], what: str) -> None:
    bad = next((v for v in values if isinstance(v, float) and not math.isfinite(v)), None)
    if bad is not None:
        raise ValueError(f"{what} must be finite, not {bad}")


def _check_values(values: list[float] | None, low: float, high: float) -> None:
    if values is None:
        return
    if not values:
        raise ValueError("values must not be empty")
    outside = [v for v in values if not low <= v <= high]
    if outside:
        raise ValueError(f"grid value {outside[0]} is outside [{low}, {high}]")


def _check_bounds(low: float, high: float, log: bool) -> None:
    if low > high:
        raise ValueError(f"low ({low}) must be <= high ({high})")
    if log and low <= 0:
        raise ValueError(f"log scale needs low > 0 (got {low})")
