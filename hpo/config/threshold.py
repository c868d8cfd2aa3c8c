"""`objective.threshold`: how a binary trial picks its decision threshold.

`tune` maximises the objective's metric on the validation split; a target (exactly one of
`precision_at_recall`, `recall_at_precision`) picks the threshold meeting it. The values are
read by hpo.scoring.ThresholdRule; the config only checks their shape.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class ThresholdTarget(BaseModel):
    """`{precision_at_recall: 0.9}` or `{recall_at_precision: 0.95}` (exactly one)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    precision_at_recall: float | None = Field(default=None, gt=0, le=1)
    recall_at_precision: float | None = Field(default=None, gt=0, le=1)

    @model_validator(mode="after")
    def _one(self) -> ThresholdTarget:
        if (self.precision_at_recall is None) == (self.recall_at_precision is None):
            raise ValueError("give exactly one of precision_at_recall, recall_at_precision")
        return self


Threshold = Literal["tune"] | ThresholdTarget | None


def parse_threshold(value: Any) -> Any:
    """One clear message for a wrong threshold, instead of one per union member."""
    if value is None or value == "tune" or isinstance(value, ThresholdTarget):
        return value
    if isinstance(value, dict):
        try:
            return ThresholdTarget.model_validate(value)
        except ValidationError as err:
            problem = err.errors()[0]
            where = ".".join(str(p) for p in problem["loc"])
            raise ValueError(
                f"{where + ': ' if where else ''}{problem['msg'].removeprefix('Value error, ')}"
            ) from None
    raise ValueError(
        f"write 'tune', {{precision_at_recall: 0.9}} or {{recall_at_precision: 0.95}}, "
        f"not {value!r}"
    )


def threshold_rule(threshold: Threshold) -> dict[str, float] | str | None:
    """The threshold as hpo.scoring.ThresholdRule.parse reads it."""
    if isinstance(threshold, ThresholdTarget):
        return threshold.model_dump(exclude_none=True)
    return threshold
